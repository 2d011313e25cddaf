"""The control manifest (docs/protocols/vscode-gallery.md A8) built from control entries: malicious, unpublished,
deprecated."""

from __future__ import annotations

from types import SimpleNamespace

from marketplace.gallery import control

NAMES = {"good.replacement": "Good Replacement", "good.other": "Other"}


def entry(extension_id: str, kind: str, replacement: str | None = None, message: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(extension_id=extension_id, kind=kind, replacement=replacement, message=message)


def build(*entries: SimpleNamespace) -> dict:
    return control.manifest(entries, NAMES.get)


def test_an_empty_catalog_gives_every_key_the_client_reads():
    assert build() == {"malicious": [], "deprecated": {}, "migrateToPreRelease": {}, "search": [],
                       "extensionsEnabledWithPreRelease": []}


def test_malicious_extensions_are_listed_sorted_and_nowhere_else():
    manifest = build(entry("zed.bad", "malicious", message="steals tokens"), entry("abc.bad", "malicious"))
    assert manifest["malicious"] == ["abc.bad", "zed.bad"]
    assert manifest["deprecated"] == {}


def test_an_unpublished_extension_cannot_be_installed_again():
    assert build(entry("pub.gone", "unpublished"))["deprecated"] == {"pub.gone": {
        "disallowInstall": True, "additionalInfo": "This extension was unpublished by its publisher."}}


def test_a_deprecation_names_its_replacement_and_carries_the_owner_message():
    manifest = build(entry("pub.old", "deprecated", replacement="good.replacement", message="Use the new one."))
    assert manifest["deprecated"] == {"pub.old": {
        "disallowInstall": False, "extension": {"id": "good.replacement", "displayName": "Good Replacement"},
        "additionalInfo": "Use the new one."}}
    assert manifest["malicious"] == []


def test_a_bare_deprecation_is_true_and_a_missing_replacement_is_left_out():
    manifest = build(entry("pub.plain", "deprecated"), entry("pub.dangling", "deprecated", replacement="no.such"),
                     entry("pub.message", "deprecated", replacement="no.such", message="Gone for good."))
    assert manifest["deprecated"] == {
        "pub.plain": True,
        "pub.dangling": True,  # a replacement that does not exist is not offered to users
        "pub.message": {"disallowInstall": False, "additionalInfo": "Gone for good."},
    }


def test_unknown_kinds_are_ignored_and_kinds_do_not_leak_into_each_other():
    manifest = build(entry("pub.a", "featured"), entry("pub.b", "malicious"), entry("pub.c", "unpublished"),
                     entry("pub.d", "deprecated", replacement="good.other"))
    assert manifest["malicious"] == ["pub.b"]
    assert sorted(manifest["deprecated"]) == ["pub.c", "pub.d"]
    assert manifest["deprecated"]["pub.d"]["extension"] == {"id": "good.other", "displayName": "Other"}
