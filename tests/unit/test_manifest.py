"""Manifest rules: every manifest class of hostile upload decidable from the file (D3 19-30) has its code."""

import json
from typing import Any

import pytest

from marketplace.publishing import manifest as m
from marketplace.publishing.manifest import Expected, read_package, wanted
from marketplace.publishing.vsix import Limits, Rejected, inspect_archive
from tests import vsix_factory as vf

MANIFEST_CASES = [case for case in vf.HOSTILE_CASES if case.code.startswith("manifest.")]


DEFAULT_LIMITS = Limits()


def _read(tmp_path: Any, limits: Limits = DEFAULT_LIMITS, expected: Expected | None = None,
          require_license: bool = False, **options: Any) -> m.PackageInfo:
    path = vf.build_vsix(tmp_path / "p.vsix", **options)
    return read_package(inspect_archive(path, limits, keep=wanted), expected=expected, require_license=require_license)


def _rejected(tmp_path: Any, **options: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        _read(tmp_path, **options)
    return caught.value


def _with(**overrides: Any) -> dict[str, Any]:
    return {"package_json_overrides": overrides}


# --------------------------------------------------------------------------------------------- accepted


def test_a_vsce_like_package_is_read(tmp_path):
    info = _read(tmp_path)
    assert (info.publisher, info.name, info.version, info.id) == ("somepub", "hello", "1.0.0", "somepub.hello")
    assert (info.target_platform, info.pre_release, info.engine) == ("universal", False, "^1.80.0")
    assert (info.display_name, info.description) == ("Hello", "Says hello from a test package.")
    assert info.categories == ("Other",) and info.keywords == info.tags == ("hello", "greeting")
    assert info.extension_kind == ("workspace",) and info.executes_code and not info.web_extension
    assert info.repository == "https://github.com/somepub/hello.git"
    assert info.bugs == "https://github.com/somepub/hello/issues"
    assert info.homepage == "https://github.com/somepub/hello#readme"
    assert info.license == "MIT" and info.icon is None and info.web_resources == ()
    assert info.assets == {
        m.ASSET_MANIFEST: "extension/package.json", m.ASSET_VSIXMANIFEST: "extension.vsixmanifest",
        m.ASSET_DETAILS: "extension/readme.md", m.ASSET_CHANGELOG: "extension/changelog.md",
        m.ASSET_LICENSE: "extension/LICENSE.txt",
    }
    assert info.asset_bytes[m.ASSET_DETAILS] == vf.README.encode()
    assert info.asset_bytes[m.ASSET_LICENSE] == vf.LICENSE_TEXT.encode()
    assert json.loads(info.asset_bytes[m.ASSET_MANIFEST]) == info.package_json
    assert info.asset_bytes[m.ASSET_VSIXMANIFEST].startswith(b'<?xml version="1.0" encoding="utf-8"?>')


@pytest.mark.parametrize("name", vf.VALID_CASES)
def test_every_valid_variant_of_the_factory_is_accepted(tmp_path, name):
    info = _read(tmp_path, **vf.VALID_CASES[name])
    assert info.id == info.id.lower() and info.version


def test_pre_release_and_platform_specific_packages_are_read(tmp_path):
    info = _read(tmp_path, target_platform="linux-x64", pre_release=True, icon=True)
    assert (info.target_platform, info.pre_release) == ("linux-x64", True)
    assert info.icon == "extension/images/icon.png"
    assert info.asset_bytes[m.ASSET_ICON].startswith(b"\x89PNG")
    assert _read(tmp_path, target_platform="universal").target_platform == "universal"


@pytest.mark.parametrize("options", [{"web": True, "package_json_overrides": {"main": None}}, {"web": True},
                                     {"package_json_overrides": {"main": None, "activationEvents": None}}])
def test_web_and_declarative_extensions_serve_their_files_as_web_resources(tmp_path, options):
    info = _read(tmp_path, target_platform=None, **options)
    assert info.web_extension and "web" in info.extension_kind
    assert info.tags[-1] == m.WEB_EXTENSION_TAG
    assert "extension/package.json" in info.web_resources and "extension/readme.md" in info.web_resources
    assert "extension.vsixmanifest" not in info.web_resources


def test_extension_kind_follows_vsce(tmp_path):
    assert _read(tmp_path, **_with(extensionKind=["ui"])).extension_kind == ("ui",)
    assert _read(tmp_path, **_with(extensionKind="ui")).extension_kind == ("ui", "workspace")
    assert _read(tmp_path, web=True, **_with(extensionKind=["workspace"])).extension_kind == ("workspace", "web")
    debugger_only = _with(main=None, contributes={"debuggers": [{"type": "x"}]})
    assert _read(tmp_path, **debugger_only).extension_kind == ("workspace",)
    assert _read(tmp_path, **_with(main=None, extensionPack=["a.b"])).extension_kind == ("workspace", "web")
    assert _rejected(tmp_path, **_with(extensionKind=["browser"])).code == "manifest.field"


def test_mixed_case_identities_keep_their_casing_and_lower_case_ids(tmp_path):
    info = _read(tmp_path, publisher="GitHub", name="Copilot-Chat")
    assert (info.publisher, info.name) == ("GitHub", "Copilot-Chat")
    assert (info.id, info.namespace, info.extension) == ("github.copilot-chat", "github", "copilot-chat")


def test_optional_fields_are_read(tmp_path):
    info = _read(tmp_path, **_with(
        qna="marketplace", sponsor={"url": "https://github.com/sponsors/x"}, markdown="standard", preview=True,
        galleryBanner={"color": "#C80000", "theme": "dark"}, pricing="Trial",
        extensionDependencies=["a.b", "A.b", "c.d"], extensionPack=["e.f"],
        enabledApiProposals=["chatParticipant", "terminalDataWriteEvent@1"],
        contributes={"localizations": [{"languageId": "de", "localizedLanguageName": "Deutsch"}]},
        badges=[{"url": "https://img.shields.io/x.svg", "href": "https://x.example", "description": "build"}],
        license="SEE LICENSE IN LICENSE.txt", description="Emoji \U0001F469\u200d\U0001F4BB family",
    ))
    assert info.qna == "marketplace" and info.sponsor_link == "https://github.com/sponsors/x"
    assert (info.markdown, info.gallery_color, info.gallery_theme, info.pricing, info.preview) == (
        "standard", "#C80000", "dark", "Trial", True)
    assert info.dependencies == ("a.b", "c.d") and info.extension_pack == ("e.f",)
    assert info.enabled_api_proposals == ("chatParticipant", "terminalDataWriteEvent@1")
    assert info.localized_languages == ("Deutsch",) and info.license == "SEE LICENSE IN LICENSE.txt"


def test_jpeg_icons_and_dot_slash_icon_paths_are_accepted(tmp_path):
    info = _read(tmp_path, icon=vf.JPEG_BYTES, icon_path="./media/logo.jpg")
    assert info.icon == "extension/media/logo.jpg" and info.asset_bytes[m.ASSET_ICON] == vf.JPEG_BYTES


def test_an_icon_only_in_the_vsixmanifest_is_used(tmp_path):
    info = _read(tmp_path, icon=True, **_with(icon=None))
    assert info.icon == "extension/images/icon.png"


def test_a_utf8_bom_in_package_json_is_tolerated(tmp_path):
    text = "\ufeff" + json.dumps(vf.package_json())
    assert _read(tmp_path, package_json_text=text.encode()).id == "somepub.hello"


def test_a_manifest_without_namespace_is_read(tmp_path):
    xml = vf.vsixmanifest(vf.package_json()).replace(' xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011"',
                                                      "")
    assert _read(tmp_path, vsixmanifest_text=xml).id == "somepub.hello"


def test_assets_beyond_the_kept_budget_are_read_again(tmp_path):
    info = _read(tmp_path, Limits(max_kept_bytes=0), icon=True)
    assert info.asset_bytes[m.ASSET_ICON].startswith(b"\x89PNG")
    assert info.asset_bytes[m.ASSET_DETAILS] == vf.README.encode()


def test_the_keep_policy(tmp_path):
    assert wanted("extension/package.json") == wanted("extension.vsixmanifest") == m.MANIFEST_MAX_BYTES
    assert wanted("extension/README.md") == wanted("extension/LICENSE") == m.DOC_MAX_BYTES
    assert wanted("extension/images/icon.PNG") == m.ICON_MAX_BYTES
    for name in ("extension/node_modules/x/icon.png", "extension/docs/README.md", "extension/extension.js",
                 "[Content_Types].xml", "extension/images/"):
        assert wanted(name) is None


# ------------------------------------------------------------------------------------------- hostile


@pytest.mark.parametrize("case", MANIFEST_CASES, ids=lambda c: c.name)
def test_hostile_manifests_are_rejected_with_their_code(tmp_path, case):
    path = case.build(tmp_path / f"{case.name}.vsix")
    with pytest.raises(Rejected) as caught:
        read_package(inspect_archive(path, keep=wanted))
    assert caught.value.code == case.code, caught.value.reason
    assert case.mentions in caught.value.reason


@pytest.mark.parametrize(("options", "expected", "field"), [
    ({}, Expected(publisher="otherpub"), "publisher"),
    ({}, Expected(name="other"), "name"),
    ({}, Expected(version="2.0.0"), "version"),
    ({"target_platform": "linux-x64"}, Expected(target_platform="universal"), "target platform"),
    ({}, Expected(target_platform="win32-x64"), "target platform"),
    ({"pre_release": True}, Expected(pre_release=False), "pre-release"),
    ({}, Expected(pre_release=True), "pre-release"),
])
def test_identity_must_match_what_the_upload_declared(tmp_path, options, expected, field):
    rejected = _rejected(tmp_path, expected=expected, **options)
    assert rejected.code == "manifest.mismatch" and field in rejected.reason


def test_a_matching_declaration_is_accepted_case_insensitively_for_ids(tmp_path):
    expected = Expected(publisher="SomePub", name="Hello", version="1.0.0", target_platform="darwin-arm64",
                        pre_release=True)
    assert _read(tmp_path, target_platform="darwin-arm64", pre_release=True, expected=expected).pre_release


@pytest.mark.parametrize(("overrides", "field"), [
    ({"TargetPlatform": "linux-x64", "Microsoft.VisualStudio.Code.PreRelease": "yes"}, "PreRelease"),
    ({"Microsoft.VisualStudio.Code.Engine": "^1.90.0"}, "engines.vscode"),
])
def test_vsixmanifest_properties_must_agree(tmp_path, overrides, field):
    rejected = _rejected(tmp_path, manifest_overrides=overrides)
    assert rejected.code in ("manifest.field", "manifest.mismatch") and field in rejected.reason


@pytest.mark.parametrize("version", ["1.0.0", "0.0.1", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7",
                                     "1.0.0-x.7.z.92", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85",
                                     "1.0.0-x-y-z.--"])
def test_semver_versions_are_accepted(version):
    assert m.check_version(version) == version


@pytest.mark.parametrize("version", ["1.0", "1", "v1.0.0", "01.0.0", "1.00.0", "1.0.0-01", "1.0.0-", "1.0.0+",
                                     "1.0.0 ", "1.0.0\n", "\uff11.0.0", "1.0.0-beta..1", "latest", "pre-release",
                                     "reviews", "1.0.0-" + "a" * 60, "", None, 1])
def test_non_semver_versions_are_rejected(version):
    with pytest.raises(Rejected) as caught:
        m.check_version(version)
    assert caught.value.code == "manifest.version" and '"version"' in caught.value.reason


@pytest.mark.parametrize("engine", ["*", "^1.80.0", ">=1.60.0", "1.80.x", "^1.80.0-insider", "1.x.x",
                                    "^1.75.0-20230101"])
def test_engine_ranges_vscode_accepts(engine):
    assert m.check_engine({"engines": {"vscode": engine}}) == engine


@pytest.mark.parametrize("engine", ["~1.80.0", "1.80", "^1.80", " ^1.80.0", "latest", ">1.0.0", "1.80.0 - 1.90.0",
                                    "^1.80.0 || ^2.0.0", "", "x" * 70, None, 180])
def test_engine_ranges_vscode_cannot_read_are_rejected(engine):
    with pytest.raises(Rejected) as caught:
        m.check_engine({"engines": {"vscode": engine}})
    assert caught.value.code == "manifest.engine" and "engines.vscode" in caught.value.reason


@pytest.mark.parametrize(("overrides", "code", "field"), [
    ({"publisher": ""}, "manifest.publisher", "publisher"),
    ({"publisher": None}, "manifest.publisher", "publisher"),
    ({"publisher": "a" * 129}, "manifest.publisher", "publisher"),
    ({"publisher": "pub_lisher"}, "manifest.publisher", "publisher"),
    ({"name": "hello.world"}, "manifest.name", "name"),
    ({"name": "h\u00e9llo"}, "manifest.name", "name"),
    ({"name": 5}, "manifest.name", "name"),
    ({"displayName": "x" * 256}, "manifest.text", "displayName"),
    ({"displayName": "Hello\u200b"}, "manifest.text", "displayName"),
    ({"displayName": "Hello\u200d"}, "manifest.text", "displayName"),
    ({"displayName": 3}, "manifest.field", "displayName"),
    ({"description": "x" * 2049}, "manifest.text", "description"),
    ({"description": "line\nbreak"}, "manifest.text", "description"),
    ({"description": "private \ue000 use"}, "manifest.text", "description"),
    ({"description": "separator \u2028"}, "manifest.text", "description"),
    ({"description": "unassigned \U000e0fff"}, "manifest.text", "description"),
    ({"categories": "Other"}, "manifest.field", "categories"),
    ({"categories": ["x"] * 33}, "manifest.text", "categories"),
    ({"categories": ["x" * 65]}, "manifest.text", "categories"),
    ({"keywords": [f"k{i}" for i in range(31)]}, "manifest.text", "keywords"),
    ({"keywords": [" "]}, "manifest.text", "keywords"),
    ({"keywords": ["trojan\u202e"]}, "manifest.text", "keywords"),
    ({"keywords": [1]}, "manifest.field", "keywords"),
    ({"license": "MIT\u0000"}, "manifest.text", "license"),
    ({"license": 7}, "manifest.field", "license"),
    ({"main": ""}, "manifest.field", "main"),
    ({"browser": 1}, "manifest.field", "browser"),
    ({"markdown": "html"}, "manifest.field", "markdown"),
    ({"galleryBanner": {"theme": "blue"}}, "manifest.field", "galleryBanner.theme"),
    ({"galleryBanner": {"color": "x" * 17}}, "manifest.field", "galleryBanner.color"),
    ({"pricing": "Paid"}, "manifest.field", "pricing"),
    ({"preview": "yes"}, "manifest.field", "preview"),
    ({"enabledApiProposals": ["bad proposal"]}, "manifest.field", "enabledApiProposals"),
    ({"contributes": {"localizations": [{"languageId": "de", "localizedLanguageName": "De\u202eutsch"}]}},
     "manifest.text", "localizations"),
])
def test_field_rules(tmp_path, overrides, code, field):
    rejected = _rejected(tmp_path, **_with(**overrides))
    assert rejected.code == code and field in rejected.reason, rejected.reason


@pytest.mark.parametrize("url", ["https://github.com/o/r.git", "git+https://github.com/o/r.git", "http://h.example/r",
                                 "git://github.com/o/r.git", "git+ssh://git@github.com/o/r.git",
                                 "ssh://git@host:22/o/r", "git@github.com:o/r.git", "o/r", "github:o/r"])
def test_repository_urls_packagers_write_are_accepted(url):
    assert m.check_url(url, '"repository"', repository=True) == url


@pytest.mark.parametrize(("overrides", "field"), [
    ({"homepage": "javascript:alert(1)"}, "homepage"),
    ({"homepage": "data:text/html,<script>alert(1)</script>"}, "homepage"),
    ({"homepage": "file:///etc/passwd"}, "homepage"),
    ({"homepage": "https://"}, "homepage"),
    ({"homepage": "https://exa mple.com"}, "homepage"),
    ({"homepage": "https://example.com/\u202e"}, "homepage"),
    ({"homepage": "//example.com"}, "homepage"),
    ({"homepage": "https://[::1"}, "homepage"),
    ({"bugs": "ftp://example.com"}, "bugs"),
    ({"bugs": {"url": "javascript:x"}}, "bugs.url"),
    ({"repository": {"type": "git", "url": "javascript:alert(1)"}}, "repository.url"),
    ({"repository": "file:///tmp/repo"}, "repository"),
    ({"qna": "javascript:x"}, "qna"),
    ({"sponsor": {"url": "data:,x"}}, "sponsor.url"),
    ({"badges": [{"url": "http://img.example/b.png", "href": "https://x.example", "description": "d"}]}, "badges"),
    ({"badges": [{"url": "https://img.example/b.png", "href": "javascript:x", "description": "d"}]}, "badges"),
])
def test_url_fields_must_be_http_urls(tmp_path, overrides, field):
    rejected = _rejected(tmp_path, **_with(**overrides))
    assert rejected.code == "manifest.url" and field in rejected.reason, rejected.reason


@pytest.mark.parametrize("overrides", [{"bugs": {"email": "not an email"}}, {"qna": 3}, {"sponsor": "https://x"},
                                       {"badges": "x"}])
def test_link_fields_of_the_wrong_shape_are_rejected(tmp_path, overrides):
    assert _rejected(tmp_path, **_with(**overrides)).code == "manifest.field"


@pytest.mark.parametrize("readme", ["[click](javascript:alert(1))", '<a href="javascript:alert(1)">x</a>',
                                    '<img src="http://tracker.example/p.gif">', "![x](data:image/svg+xml;base64,AAAA)",
                                    "[file](file:///etc/passwd)", "[x]\n\n[x]: javascript:alert(1)"])
def test_readme_links_and_images_are_checked(tmp_path, readme):
    rejected = _rejected(tmp_path, readme=readme)
    assert rejected.code == "manifest.readme" and "extension/readme.md" in rejected.reason


def test_relative_and_https_readme_images_are_accepted(tmp_path):
    readme = "![a](images/a.png) ![b](https://x.example/b.png) [c](#usage) [d](mailto:a@b.c) <img src='./x.png'>"
    assert _read(tmp_path, readme=readme).asset_bytes[m.ASSET_DETAILS] == readme.encode()


@pytest.mark.parametrize(("options", "mentions"), [
    ({"package_json_overrides": {"icon": "/abs/icon.png"}}, "icon"),
    ({"package_json_overrides": {"icon": "images\\icon.png"}}, "icon"),
    ({"package_json_overrides": {"icon": "C:/icon.png"}}, "icon"),
    ({"package_json_overrides": {"icon": 5}}, "icon"),
    ({"icon": b"GIF89a" + b"\x00" * 20, "icon_path": "images/icon.png"}, "PNG or JPEG"),
    ({"icon": vf.png_bytes(), "icon_path": "images/icon"}, ".png"),
    ({"icon": b"\x89PNG\r\n\x1a\n" + vf.incompressible_text(1024 * 1024).encode()}, "bytes"),
    ({"icon": True, "package_json_overrides": {"icon": "images/other.png"}}, "disagree"),
])
def test_icon_rules(tmp_path, options, mentions):
    rejected = _rejected(tmp_path, **options)
    assert rejected.code == "manifest.icon" and mentions in rejected.reason, rejected.reason


@pytest.mark.parametrize(("overrides", "mentions"), [
    ({"extensionDependencies": "a.b"}, "extensionDependencies"),
    ({"extensionDependencies": ["a.b.c"]}, "a.b.c"),
    ({"extensionDependencies": [".b"]}, ".b"),
    ({"extensionDependencies": ["a."]}, "a."),
    ({"extensionDependencies": ["SomePub.Hello"]}, "itself"),
    ({"extensionPack": [f"p.e{i}" for i in range(257)]}, "257"),
    ({"extensionPack": [None]}, "extensionPack"),
])
def test_dependency_rules(tmp_path, overrides, mentions):
    rejected = _rejected(tmp_path, **_with(**overrides))
    assert rejected.code == "manifest.dependency" and mentions in rejected.reason, rejected.reason


@pytest.mark.parametrize(("text", "mentions"), [
    (b'{"name": "a", "name": "b"}', "twice"),
    (b'{"x": NaN}', "NaN"),
    (b'{"x": Infinity}', "Infinity"),
    (b"[1, 2]", "object"),
    (b'"string"', "object"),
    (b'{"x": "\xff"}', "UTF-8"),
    (b'{"x": "\\ud800"}', "surrogate"),
    (b'{"x": ' * 100 + b"1" + b"}" * 100, "nested"),
    (b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested"),
    (b'{"x": 1' + b"0" * 5000 + b"}", "JSON"),
    (b"", "JSON"),
])
def test_package_json_must_be_a_plain_json_object(tmp_path, text, mentions):
    rejected = _rejected(tmp_path, package_json_text=text)
    assert rejected.code == "manifest.json_invalid" and mentions in rejected.reason, rejected.reason


def _xml(**replacements: str) -> str:
    xml = vf.vsixmanifest(vf.package_json(), assets={vf.DETAILS: "extension/readme.md"})
    for old, new in replacements.items():
        assert old in xml
        xml = xml.replace(old, new)
    return xml


@pytest.mark.parametrize(("xml", "code", "mentions"), [
    ("<Package/>", "manifest.xml_invalid", "root element"),
    (_xml(**{"<Identity ": "<Identityx "}), "manifest.xml_invalid", "Identity"),
    (_xml(**{'Publisher="somepub"': ""}), "manifest.xml_invalid", "Publisher"),
    (_xml(**{"</Properties>": '<Property Id="Microsoft.VisualStudio.Code.Engine" Value="*" /></Properties>'}),
     "manifest.xml_invalid", "twice"),
    (_xml(**{"</Assets>": '<Asset Type="Microsoft.VisualStudio.Services.Content.Details" Path="x" /></Assets>'}),
     "manifest.xml_invalid", "twice"),
    (_xml(**{"</Assets>": '<Asset Type="Bad Type!" Path="extension/readme.md" /></Assets>'}),
     "manifest.xml_invalid", "asset type"),
    (_xml(**{"extension/readme.md": "extension/README-missing.md"}), "manifest.asset_missing", "README-missing"),
    (_xml(**{'Path="extension/package.json"': 'Path="extension/readme.md"'}), "manifest.mismatch", "Code.Manifest"),
    (_xml(**{'encoding="utf-8"': 'encoding="klingon"'}), "manifest.xml_invalid", "XML"),
    ('<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://evil.example/x.dtd"><x/>', "manifest.xml_forbidden", "DTD"),
    (b"\xff\xfe<\x00x\x00", "manifest.xml_invalid", "XML"),
])
def test_vsixmanifest_structure(tmp_path, xml, code, mentions):
    rejected = _rejected(tmp_path, vsixmanifest_text=xml)
    assert rejected.code == code and mentions in rejected.reason, rejected.reason


def test_a_license_can_be_required(tmp_path):
    assert _read(tmp_path, require_license=True).license == "MIT"
    assert _read(tmp_path, require_license=True, **_with(license=None)).assets[m.ASSET_LICENSE]
    rejected = _rejected(tmp_path, require_license=True, license_text=None, **_with(license=None))
    assert rejected.code == "manifest.license" and "license" in rejected.reason


def test_an_oversized_icon_listed_only_by_size_is_rejected_before_reading(tmp_path):
    icon = b"\x89PNG\r\n\x1a\n" + vf.incompressible_text(2 * 1024 * 1024).encode()
    rejected = _rejected(tmp_path, icon=icon)
    assert rejected.code == "manifest.icon" and "extension/images/icon.png" in rejected.reason
