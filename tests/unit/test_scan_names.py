"""Look-alike extension names (``publishing.scanning.names``) and the confusable folding of namespace skeletons
(``publishing.namespaces``): the distance, the folding, separator games, and what is (and is not) refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from marketplace.publishing import manifest, namespaces, service, vsix
from marketplace.publishing.scanning import REJECT, Subject, names
from tests import vsix_factory

CYRILLIC_A, CYRILLIC_O, CYRILLIC_ER = "\u0430", "\u043e", "\u0440"


def _popular(*extensions: tuple[str, str]) -> list[tuple[names.Popular, str, str]]:
    found = [names.Popular(extension_id, display_name) for extension_id, display_name in extensions]
    return [(p, p.id_skeleton, p.name_skeleton) for p in found]


POPULAR = _popular(("ms-python.python", "Python"), ("esbenp.prettier-vscode", "Prettier - Code formatter"),
                   ("eamodio.gitlens", "GitLens \u2014 Git supercharged"), ("redhat.java", "Language Support for Java"))


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("", "", 0), ("abc", "", 3), ("", "abc", 3), ("kitten", "sitting", 3), ("prettier", "prettier", 0),
    ("prettier", "pretiter", 1),  # two neighbours swapped: one edit (Damerau)
    ("prettier", "prettir", 1), ("prettier", "prettierr", 1), ("prettier", "prettiex", 1), ("ca", "abc", 3),
])
def test_damerau_levenshtein_distance(a, b, expected):
    assert names.distance(a, b) == expected
    assert names.distance(b, a) == expected


def test_one_edit_counts_only_for_names_of_six_characters_or_more():
    assert names.alike("gitlens", "gitlems")
    assert names.alike("python", "pyhton")
    assert not names.alike("java", "jave")
    assert names.alike("java", "java")
    assert not names.alike("prettier", "pretty")


def test_confusable_folding():
    assert namespaces.fold_confusables(f"P{CYRILLIC_A}th{CYRILLIC_O}n") == "pathon"
    assert namespaces.fold_confusables("\uff4d\uff53-\uff50\uff59\uff54\uff48\uff4f\uff4e") == "ms-python"  # fullwidth
    assert namespaces.fold_confusables("plain-ascii") == "plain-ascii"
    assert names.skeleton(f"{CYRILLIC_ER}ython") == names.skeleton("python")


def test_separator_games_have_one_skeleton():
    assert len({names.skeleton(n) for n in ("ms-python", "ms_python", "mspython", "ms.python", "MS Python")}) == 1


def test_the_namespace_skeleton_folds_confusables_and_keeps_its_old_cases():
    assert namespaces.skeleton("mi\u0441rosoft") == namespaces.skeleton("microsoft")  # a Cyrillic es
    assert namespaces.skeleton(f"micros{CYRILLIC_O}ft") == namespaces.skeleton("microsoft")
    assert namespaces.skeleton(f"micr{CYRILLIC_O}soft") == namespaces.skeleton("microsoft")
    assert namespaces.skeleton(f"microsoft{CYRILLIC_A}") == namespaces.skeleton("microsofta")
    for alike in ("micro-soft", "rnicrosoft", "m1crosoft"):
        assert namespaces.skeleton(alike) == namespaces.skeleton("microsoft")
    assert namespaces.skeleton("microsoft") == "mlcrosoft"  # unchanged for ASCII names: stored claims still match


@pytest.mark.parametrize(("extension_id", "display_name", "imitates"), [
    (f"ms-pyth{CYRILLIC_O}n.python", "Python tools", "ms-python.python"),  # Cyrillic letters in the id
    ("mspython.python", "Python tools", "ms-python.python"),  # a separator game
    ("ms.python-python", "Py", "ms-python.python"),  # the dot moved
    ("someone.helper", f"Pyth{CYRILLIC_O}n", "ms-python.python"),  # the display name, with a Cyrillic o
    ("someone.formatter", "Prettier Code Formatter", "esbenp.prettier-vscode"),  # separators and punctuation
    ("eamodio2.gitlens", "Git lens", "eamodio.gitlens"),  # one edit in the id
    ("someone.tool", "GitLens \u2014 Git supercharged!", "eamodio.gitlens"),
])
def test_lookalikes_are_refused_naming_what_they_imitate(extension_id, display_name, imitates):
    findings = names.lookalikes(extension_id, display_name, POPULAR)
    assert [(f.rule, f.severity) for f in findings] == [("name.lookalike", REJECT)]
    assert imitates in findings[0].message


@pytest.mark.parametrize(("extension_id", "display_name"), [
    ("someone.rust-analyzer", "Rust Analyzer"),  # genuinely different
    ("ms-python.debugpy", "Python Debugger"),  # the popular extension's own namespace
    ("ms-python.python", "Python"),  # the popular extension itself
    ("someone.jave", "Jav"),  # one edit, but too short to count
])
def test_different_names_and_the_own_namespace_pass(extension_id, display_name):
    assert names.lookalikes(extension_id, display_name, POPULAR) == []


def _subject(tmp_path: Path, publisher: str, name: str, display_name: str) -> Subject:
    path = vsix_factory.build_vsix(tmp_path / "pkg.vsix", publisher=publisher, name=name,
                                   package_json_overrides={"displayName": display_name})
    archive = vsix.inspect_archive(path, keep=manifest.wanted)
    principal = service.Principal("someone", "tok", frozenset({publisher}))
    return Subject(archive, manifest.read_package(archive), archive.sha256, principal, "upload-1")


def test_a_new_version_of_an_existing_extension_is_not_checked_again(tmp_path):
    subject = _subject(tmp_path, "mspython", "python", "Python")
    asked: list[str] = []

    def popular():
        asked.append("popular")
        return POPULAR

    scanner = names.NamesScanner(popular=popular, exists=lambda i: True)
    assert scanner.scan(subject) == [] and asked == []
    refusing = names.NamesScanner(popular=lambda: POPULAR, exists=lambda i: False)
    assert [f.rule for f in refusing.scan(subject)] == ["name.lookalike"]


def test_popular_extensions_are_the_most_installed_of_the_snapshot_cached(monkeypatch):
    from marketplace.search import snapshot
    from marketplace.search.encoding import Segment

    class Doc:
        def __init__(self, extension_id: str, installs: int) -> None:
            self.extension_id, self.installs = extension_id, installs
            self.record = json.dumps({"n": extension_id.partition(".")[2], "dn": extension_id.upper()}).encode()

    reads: list[str | None] = []
    manifest_ = snapshot.Manifest({0: snapshot.SegmentInfo(1, "e0", 3), 1: snapshot.SegmentInfo(1, "e1", 1)}, "m1")

    def read_manifest(if_none_match=None):
        reads.append(if_none_match)
        return snapshot.NOT_MODIFIED if if_none_match == "m1" else manifest_

    segments = {0: [Doc("a.one", 5), Doc("b.two", 50), Doc("c.three", 1)], 1: [Doc("d.four", 20)]}
    monkeypatch.setattr(snapshot, "read_manifest", read_manifest)
    monkeypatch.setattr(snapshot, "read_segment", lambda n: (Segment(n, 1, segments[n]), "e"))  # type: ignore[arg-type]
    monkeypatch.setattr(names, "POPULAR", 3)
    names.reset()
    try:
        found = [p.extension_id for p, _, _ in names.popular_extensions()]
        assert found == ["b.two", "d.four", "a.one"]
        assert names.popular_extensions()[0][0].display_name == "B.TWO" and reads == [None]  # cached
        monkeypatch.setattr(names, "CACHE_SECONDS", 0.0)
        names._cache.until = 0.0
        assert [p.extension_id for p, _, _ in names.popular_extensions()] == found and reads == [None, "m1"]
    finally:
        names.reset()


def test_the_name_corpus_cases(tmp_path):
    from tests import scan_corpus
    from tests.unit.test_scan_blocklist import _corpus_outcome

    for case in scan_corpus.NAME_CASES:
        assert _corpus_outcome(case, tmp_path) == (case.expect, case.rules), case.name
