"""A signed version's Open VSX ``files`` name the public key that signed it (``publicKey``), where the signing code
publishes it, so that a mirror of this marketplace verifies what it copies."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from marketplace.catalog.model import ExtensionView, VersionView, version_from_item
from marketplace.gallery import openvsx
from marketplace.publishing import signing

T0 = datetime(2026, 1, 2, tzinfo=UTC)
SIGNATURE = "Marketplace.RepositorySignature"
PACKAGE = "Microsoft.VisualStudio.Services.VSIXPackage"


def _view(version: VersionView) -> ExtensionView:
    return ExtensionView(extension_id="acme.hello", publisher="acme", name="hello", display_name=None, description=None,
                         categories=(), tags=(), latest_version=version.version, latest_prerelease=None,
                         created_at=T0, updated_at=T0, versions=(version,))


def _version(**more: object) -> VersionView:
    values: dict[str, object] = dict(version="1.0.0", target_platform="linux-x64", pre_release=False,
                                     published_at=T0, engine="^1.80.0", asset_base="assets/acme/hello/1.0.0/x/u1",
                                     assets=(PACKAGE, SIGNATURE), sha256="ab" * 32)
    values.update(more)
    return VersionView(**values)  # type: ignore[arg-type]


def test_signed_versions_name_their_public_key_where_the_signing_code_publishes_it():
    version = _version(signature_key_id="0123456789abcdef")
    files = openvsx.files(_view(version), version, openvsx.Urls.of("https://reg.example/"))
    assert files["publicKey"] == f"https://reg.example/{signing.public_key_key('0123456789abcdef')}"
    assert files["publicKey"] == "https://reg.example/assets/-/signing/0123456789abcdef.pem"
    assert files["signature"] == f"https://reg.example/assets/acme/hello/1.0.0/x/u1/{SIGNATURE}"


def test_without_a_key_id_or_a_signature_there_is_no_public_key():
    unsigned_key = _version()
    assert "publicKey" not in openvsx.files(_view(unsigned_key), unsigned_key, openvsx.Urls.of("https://r.example"))
    no_signature = _version(assets=(PACKAGE,), signature_key_id="0123456789abcdef")
    assert "publicKey" not in openvsx.files(_view(no_signature), no_signature, openvsx.Urls.of("https://r.example"))


def test_the_catalog_item_carries_the_key_id_into_the_read_model():
    item = SimpleNamespace(
        version="1.0.0", target_platform="universal", pre_release=False, published_at=T0, engine="^1.80.0",
        asset_base="assets/a", assets={PACKAGE: "x"}, display_name=None, description=None, categories=[], tags=[],
        dependencies=[], extension_pack=[], extension_kind=[], localized_languages=[], enabled_api_proposals=[],
        executes_code=True, web_extension=False, license=None, repository=None, homepage=None, bugs=None,
        sha256="ab" * 32, size=10, published_by="alice", signature_key_id="fedcba9876543210")
    assert version_from_item(item).signature_key_id == "fedcba9876543210"
    del item.signature_key_id
    assert version_from_item(item).signature_key_id is None
