"""The operator's ``marketplace publisher verify`` and ``marketplace extension feature`` against moto: the
flags land on the namespace and extension items (where the gallery and the search snapshot read them) and
the ingest copies a namespace's verification into extensions published later."""

from __future__ import annotations

from marketplace import cli
from marketplace.catalog import reader
from marketplace.catalog import store as catalog
from marketplace.publishing import store
from tests import vsix_factory
from tests.integration.test_ingest import Publisher


def _flags(extension_id: str) -> tuple[bool, bool]:
    item = catalog.get_extension(extension_id)
    assert item is not None
    return bool(item.verified), bool(item.featured)


def _namespace_verified(name: str) -> bool:
    item = store.get_namespace(name)
    assert item is not None
    return bool(item.verified)


def test_verifying_a_publisher_marks_its_extensions_and_later_ones(deployment, capsys):
    publisher = Publisher(deployment, "trusted")
    publisher.upload(vsix_factory.vsix_bytes(publisher="trusted", name="one", version="1.0.0"))
    other = Publisher(deployment, "bystander")
    other.upload(vsix_factory.vsix_bytes(publisher="bystander", name="two", version="1.0.0"))
    assert _flags("trusted.one") == (False, False) and not _namespace_verified("trusted")

    assert cli.main(["publisher", "verify", "Trusted", "--stage", "test"]) == 0
    assert "Publisher trusted is verified (1 extension(s) updated)." in capsys.readouterr().out
    assert _namespace_verified("trusted") and _flags("trusted.one") == (True, False)
    assert _flags("bystander.two") == (False, False)
    revision = catalog.get_extension("trusted.one").revision  # type: ignore[union-attr]

    # published after the verification: the ingest copies the namespace's flag
    publisher.upload(vsix_factory.vsix_bytes(publisher="trusted", name="three", version="1.0.0"))
    assert _flags("trusted.three") == (True, False)
    # a new version keeps the extension's flag
    publisher.upload(vsix_factory.vsix_bytes(publisher="trusted", name="one", version="1.1.0"))
    one = catalog.get_extension("trusted.one")
    assert one is not None and one.verified and one.latest_version == "1.1.0" and one.revision > revision

    assert cli.main(["publisher", "verify", "trusted", "--revoke", "--stage", "test", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"verified": false' in out and '"trusted.one"' in out and '"trusted.three"' in out
    assert not _namespace_verified("trusted")
    assert _flags("trusted.one") == (False, False) and _flags("trusted.three") == (False, False)
    publisher.upload(vsix_factory.vsix_bytes(publisher="trusted", name="four", version="1.0.0"))
    assert _flags("trusted.four") == (False, False)


def test_verifying_an_unknown_publisher_is_one_clear_line(deployment, capsys):
    assert cli.main(["publisher", "verify", "nobody", "--stage", "test"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "marketplace: namespace 'nobody' does not exist"


def test_featuring_an_extension_and_taking_it_back(deployment, capsys):
    publisher = Publisher(deployment, "shop")
    publisher.upload(vsix_factory.vsix_bytes(publisher="shop", name="window", version="1.0.0"))
    before = catalog.get_extension("shop.window")
    assert before is not None

    assert cli.main(["extension", "feature", "Shop.Window", "--stage", "test"]) == 0
    assert "shop.window is featured." in capsys.readouterr().out
    after = catalog.get_extension("shop.window")
    assert after is not None and after.featured and after.revision == before.revision + 1
    assert after.updated_at == before.updated_at  # featuring is not an update of the extension

    publisher.upload(vsix_factory.vsix_bytes(publisher="shop", name="window", version="1.1.0"))
    assert _flags("shop.window") == (False, True)  # a new version keeps it featured

    assert cli.main(["extension", "feature", "shop.window", "--off", "--stage", "test"]) == 0
    assert "shop.window is no longer featured." in capsys.readouterr().out
    assert _flags("shop.window") == (False, False)


def test_featuring_needs_an_existing_extension(deployment, capsys):
    assert cli.main(["extension", "feature", "shop.nothing", "--stage", "test"]) == 1
    assert capsys.readouterr().err.strip() == "marketplace: extension shop.nothing does not exist"
    assert cli.main(["extension", "feature", "not-an-id", "--stage", "test"]) == 1
    assert "is not an extension id" in capsys.readouterr().err


def test_blocking_an_extension_hides_it_and_lists_it_as_malicious_until_lifted(deployment, capsys):

    publisher = Publisher(deployment, "shady")
    publisher.upload(vsix_factory.vsix_bytes(publisher="shady", name="miner", version="1.0.0"))
    catalog.deprecate("shady.miner", None, "old", catalog.ExtensionItem.updated_at.deserialize(
        "2026-01-01T00:00:00.000000+0000"))
    assert [(e.extension_id, e.kind) for e in reader.control_entries()] == [("shady.miner", "deprecated")]

    assert cli.main(["extension", "block", "Shady.Miner", "--reason", "mines coins", "--stage", "test"]) == 0
    assert "shady.miner is blocked" in capsys.readouterr().out
    (entry,) = reader.control_entries()
    assert (entry.kind, entry.message) == ("malicious", "mines coins")
    view = reader.load("shady.miner")
    assert view is not None and view.versions == () and view.unpublished

    assert cli.main(["extension", "block", "shady.miner", "--off", "--stage", "test"]) == 0
    (entry,) = reader.control_entries()
    assert (entry.kind, entry.message) == ("deprecated", "old")  # what applied before the block applies again
    view = reader.load("shady.miner")
    assert view is not None and [v.version for v in view.versions] == ["1.0.0"]
    assert cli.main(["extension", "block", "not an id", "--stage", "test"]) == 1
    assert cli.main(["extension", "block", "no.such", "--stage", "test"]) == 1
