"""Every case of the scan corpus (``tests/scan_corpus.py``) through ``scanning.scan``, as the ingest runs it:
no false positive (a clean package refused, held or warned about, or an unexpected rule) and no false
negative (a bad package let through, or an expected rule missing)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from marketplace.publishing import manifest, scanning, service, vsix
from tests import scan_corpus
from tests.scan_corpus import CASES, Case

_STRICTNESS = {scan_corpus.PUBLISH: 0, scan_corpus.WARN: 1, scan_corpus.QUARANTINE: 2, scan_corpus.REJECT: 3}


def subject_of(path: Path, upload_id: str = "corpus") -> scanning.Subject:
    archive = vsix.inspect_archive(path, keep=manifest.wanted)
    principal = service.Principal("corpus-user", "corpus-token", frozenset({"somepub"}),
                                  datetime(2100, 1, 1, tzinfo=UTC))
    return scanning.Subject(archive, manifest.read_package(archive), archive.sha256, principal, upload_id)


def outcome(verdict: scanning.Verdict) -> str:
    action = verdict.action
    if action == scanning.PUBLISH and verdict.findings:
        return scan_corpus.WARN
    return action


def run(case: Case, tmp: Path) -> tuple[str, frozenset[str], scanning.Verdict]:
    directory = tmp / case.name
    directory.mkdir()
    chosen = [s for s in scanning.scanners() if case.scanners is None or s.name in case.scanners]
    verdict = scanning.scan(subject_of(case.build(directory)), chosen)
    return outcome(verdict), frozenset(f.rule for f in verdict.findings), verdict


def test_the_corpus_has_no_false_positives_or_negatives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    false_positives: list[str] = []
    false_negatives: list[str] = []
    rows: list[str] = []
    for case in CASES:
        got, rules, _ = run(case, tmp_path)
        extra, missing = rules - case.rules, case.rules - rules
        if _STRICTNESS[got] > _STRICTNESS[case.expect] or extra:
            false_positives.append(case.name)
        if _STRICTNESS[got] < _STRICTNESS[case.expect] or missing:
            false_negatives.append(case.name)
        rows.append(f"{case.name:<40} {case.expect:<10} {got:<10} {','.join(sorted(rules)) or '-'}")
    with capsys.disabled():
        print("\n" + "\n".join([f"{'case':<40} {'expected':<10} {'got':<10} rules", *rows]))
        print(f"false positives: {len(false_positives)} {false_positives}")
        print(f"false negatives: {len(false_negatives)} {false_negatives}")
    assert (false_positives, false_negatives) == ([], [])


def test_findings_never_show_more_than_four_characters_of_a_secret(tmp_path: Path) -> None:
    for case in scan_corpus.SECRET_CASES:
        _, _, verdict = run(case, tmp_path)
        text = verdict.reason() + "".join(f.describe() for f in verdict.findings)
        for value in scan_corpus.ALL_SECRET_VALUES:
            assert value[4:12] not in text, (case.name, text)  # nothing past the first 4 characters


def test_a_finding_names_the_file_and_line(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "secret-aws-access-key")
    _, _, verdict = run(case, tmp_path)
    (finding,) = verdict.findings
    assert (finding.file, finding.line, finding.severity) == ("extension/out/config.js", 3, scanning.REJECT)
    assert finding.describe() == ("secret.aws-access-key in extension/out/config.js line 3: an AWS access key id "
                                  "with its secret access key (AKIA…)")
    assert verdict.reason().splitlines()[1] == f"- {finding.describe()}"


def test_operators_set_rules_to_warn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in CASES if c.name == "secret-jwt-issued")
    monkeypatch.setenv("SCAN_WARN_RULES", "secret.github-token, secret.j*")
    got, rules, verdict = run(case, tmp_path)
    assert (got, rules, verdict.action) == (scan_corpus.WARN, frozenset({"secret.jwt"}), scanning.PUBLISH)
    assert [f.severity for f in verdict.findings] == [scanning.WARN]


def test_a_placeholder_is_no_secret() -> None:
    from marketplace.publishing.scanning import secrets

    for value, prefix in ((b"AKIAIOSFODNN7EXAMPLE", 4), (b"ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 4),
                          (b"sk_live_0000000000000000000000", 8), (b"glpat-dummydummydummydummy", 6),
                          (b"npm_FakeTokenForTheTests000000000000000", 4)):
        assert secrets.is_placeholder(value, prefix)
    assert not secrets.is_placeholder(scan_corpus.GITHUB_TOKEN.encode(), 4)


def test_a_text_file_is_searched_line_by_line() -> None:
    from marketplace.publishing.scanning import secrets

    data = (f"a\nb\n{scan_corpus.GOOGLE_KEY} {scan_corpus.STRIPE_KEY}\n\nx = '{scan_corpus.STRIPE_KEY}'\n").encode()
    found = [(f.rule, f.line) for f in secrets.scan_text("extension/x.js", data)]
    assert found == [("secret.google-api-key", 3), ("secret.stripe-key", 5)]  # one finding per line
