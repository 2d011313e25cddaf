"""The update-diff scanner: each signal on small packages, the previous one handed in by a loader."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from marketplace.publishing import manifest, service, vsix
from marketplace.publishing.scanning import PUBLISH, QUARANTINE, Finding, Subject, Verdict, updates
from tests.vsix_factory import build_vsix, vsix_bytes

ALICE = service.Principal("alice", "token-1", frozenset({"somepub"}))


def _subject(tmp_path: Path, principal: service.Principal = ALICE, **options: Any) -> Subject:
    path = build_vsix(tmp_path / "new.vsix", **options)
    archive = vsix.inspect_archive(path, keep=manifest.wanted)
    return Subject(archive, manifest.read_package(archive), archive.sha256, principal, "upload-2")


def _scan(tmp_path: Path, previous: dict[str, Any] | None, publishers: frozenset[str] | None = None,
          principal: service.Principal = ALICE, **options: Any) -> list[Finding]:
    loaded = None if previous is None else updates.Previous(vsix_bytes(**previous), publishers)
    scanner = updates.UpdateScanner(previous=lambda subject: loaded)
    return scanner.scan(_subject(tmp_path, principal, **{"version": "1.0.1", **options}))


def _rules(findings: list[Finding]) -> dict[str, int]:
    return {f.rule: f.score for f in findings}


def test_an_update_that_only_bumps_the_version_has_no_findings(tmp_path: Path) -> None:
    assert _scan(tmp_path, {}) == []


def test_the_first_version_is_not_diffed(tmp_path: Path) -> None:
    assert _scan(tmp_path, None, extra_files={"extension/bin/x.node": b"\x7fELF" + b"\0" * 60}) == []


def test_a_new_native_binary_by_name_or_magic_scores_ten(tmp_path: Path) -> None:
    found = _scan(tmp_path, {}, extra_files={"extension/bin/addon.node": b"anything",
                                             "extension/lib/helper": b"\xcf\xfa\xed\xfe" + b"\0" * 40})
    assert _rules(found) == {"update.native-binary": updates.BINARY_POINTS}
    assert "extension/bin/addon.node" in found[0].message and "extension/lib/helper" in found[0].message


def test_webassembly_counts_as_native_code(tmp_path: Path) -> None:
    found = _scan(tmp_path, {}, extra_files={"extension/dist/m.bin": b"\0asm\x01\0\0\0"})
    assert _rules(found) == {"update.native-binary": 10}


def test_a_binary_the_previous_version_had_is_not_new(tmp_path: Path) -> None:
    files = {"extension/bin/addon.node": b"\x7fELF" + b"\0" * 60}
    changed = {"extension/bin/addon.node": b"\x7fELF" + b"\1" * 60}
    assert _scan(tmp_path, {"extra_files": files}, extra_files=changed) == []


def test_activation_gained(tmp_path: Path) -> None:
    found = _scan(tmp_path, {}, package_json_overrides={"activationEvents": ["*", "onStartupFinished"]})
    assert [(f.rule, f.score) for f in found] == [("update.activation", 6), ("update.activation", 3)]
    same = {"package_json_overrides": {"activationEvents": ["*"]}}
    assert _scan(tmp_path, same, package_json_overrides={"activationEvents": ["*"]}) == []


def test_new_hosts_score_two_each_at_most_six(tmp_path: Path) -> None:
    code = "fetch('https://a.evil.test/x');fetch('http://b.evil.test');fetch('https://c.evil.test');" \
           "fetch('https://d.evil.test');fetch('https://www.w3.org/2000/svg')"
    found = _scan(tmp_path, {}, extra_files={"extension/extension.js": code})
    assert _rules(found) == {"update.network": updates.MAX_HOST_POINTS}
    one = _scan(tmp_path, {}, extra_files={"extension/extension.js": "fetch('https://a.evil.test/x')"})
    assert _rules(one) == {"update.network": 2} and "a.evil.test" in one[0].message


def test_code_execution_gained(tmp_path: Path) -> None:
    code = "const cp = require('child_process'); eval(atob(x));"
    found = _scan(tmp_path, {}, extra_files={"extension/extension.js": code})
    assert _rules(found) == {"update.code-execution": 4}
    assert "child_process" in found[0].message and "eval(" in found[0].message
    assert found[0].file == "extension/extension.js"


def test_obfuscation_gained(tmp_path: Path) -> None:
    payload = base64.b64encode(b"".join(hashlib.sha256(bytes([i, j])).digest() for i in range(40)
                                        for j in range(40))).decode()
    packed = f"var p='{payload}';(0,eval)(atob(p))"
    found = _scan(tmp_path, {}, extra_files={"extension/extension.js": packed})
    assert "update.obfuscation" in _rules(found)
    escaped = "var s=['" + "".join(f"\\x{ord(c):02x}" for c in "require('https').get(host)" * 200) + "'];"
    assert "update.obfuscation" in _rules(_scan(tmp_path, {}, extra_files={"extension/extension.js": escaped}))
    hexed = ";".join(f"var _0x{i:04x}=_0x{i + 1:04x}(_0x{i + 2:04x})" for i in range(3000))
    assert "update.obfuscation" in _rules(_scan(tmp_path, {}, extra_files={"extension/extension.js": hexed}))


def test_a_minified_bundle_is_not_obfuscation() -> None:
    bundle = ("var e=require('vscode');function t(n){return n.map(function(r){return r.id+':'+r.name})}"
              "exports.activate=function(n){n.subscriptions.push(e.commands.registerCommand('x.y',t))};") * 400
    measured = updates.measure(bundle.encode())
    assert not measured.obfuscated and measured.average_line > updates.MIN_AVERAGE_LINE


def test_repository_changed(tmp_path: Path) -> None:
    moved = {"repository": {"type": "git", "url": "https://github.com/someone-else/hello.git"}}
    found = _scan(tmp_path, {}, package_json_overrides=moved)
    assert _rules(found) == {"update.repository": 4}
    same = {"repository": "git+https://github.com/somepub/hello"}
    assert _scan(tmp_path, {}, package_json_overrides=same) == []


def test_a_token_never_used_for_the_extension(tmp_path: Path) -> None:
    assert _rules(_scan(tmp_path, {}, frozenset({"token-0"}))) == {"update.new-token": 3}
    assert _scan(tmp_path, {}, frozenset({"token-0", "token-1"})) == []
    assert _scan(tmp_path, {}, None) == []  # the upload records expired: the signal is skipped


def test_website_sessions_count_as_their_user(tmp_path: Path) -> None:
    session = service.Principal("alice", service.SESSION_PREFIX + "abc", frozenset(), session=True)
    assert _scan(tmp_path, {}, frozenset({"user:alice"}), principal=session) == []


def test_the_operator_is_not_diffed(tmp_path: Path) -> None:
    operator = service.operator_principal("marketplace import")
    assert _scan(tmp_path, {}, principal=operator, extra_files={"extension/a.node": b"x"}) == []


def test_an_unreadable_previous_package_skips_the_diff(tmp_path: Path) -> None:
    scanner = updates.UpdateScanner(previous=lambda subject: updates.Previous(b"not a zip"))
    assert scanner.scan(_subject(tmp_path, version="1.0.1")) == []


@pytest.mark.parametrize(("options", "action"), [
    ({"extra_files": {"extension/a.node": b"x"}}, QUARANTINE),
    ({"package_json_overrides": {"activationEvents": ["*"]}}, PUBLISH),
    ({"package_json_overrides": {"activationEvents": ["*"]},
      "extra_files": {"extension/extension.js": "require('child_process')"}}, QUARANTINE),
])
def test_the_threshold_decides(tmp_path: Path, options: dict[str, Any], action: str) -> None:
    verdict = Verdict(tuple(_scan(tmp_path, {}, **options)))
    assert verdict.action == action


def test_choosing_the_previous_version() -> None:
    class V:
        def __init__(self, version: str, target: str = "universal", *, quarantined: bool = False) -> None:
            self.version, self.target_platform, self.quarantined = version, target, quarantined
            self.unpublished_at = None

    versions = [V("1.0.0"), V("1.2.0"), V("1.1.0", "linux-x64"), V("1.1.5", quarantined=True)]
    assert getattr(updates._choose(versions, "1.1.9", "universal"), "version", None) == "1.0.0"
    assert getattr(updates._choose(versions, "1.3.0", "linux-x64"), "version", None) == "1.1.0"
    assert getattr(updates._choose(versions, "1.3.0", "darwin-arm64"), "version", None) == "1.2.0"
    assert updates._choose([], "1.0.0", "universal") is None


def test_the_corpus_update_cases(tmp_path: Path) -> None:
    from tests import scan_corpus
    from tests.unit.test_scan_corpus import outcome, subject_of

    wrong: list[str] = []
    for case in scan_corpus.UPDATE_CASES:
        directory = tmp_path / case.name
        (directory / "previous").mkdir(parents=True)
        previous = scan_corpus.UPDATE_PREVIOUS[case.name](directory / "previous").read_bytes()
        loaded = updates.Previous(previous)
        scanner = updates.UpdateScanner(previous=lambda subject, found=loaded: found)  # type: ignore[misc]
        verdict = Verdict(tuple(scanner.scan(subject_of(case.build(directory)))))
        rules = frozenset(f.rule for f in verdict.findings)
        if (outcome(verdict), rules) != (case.expect, case.rules):
            wrong.append(f"{case.name}: {outcome(verdict)} {sorted(rules)}")
    assert wrong == []
