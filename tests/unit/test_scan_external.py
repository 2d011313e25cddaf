"""The external scanner hook (``publishing.scanning.external``): settings, the command (split without a shell,
the placeholder, exit codes, output caps, the timeout killing the whole process group) and the Lambda answer."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from marketplace.platform import functions as fns
from marketplace.platform.errors import ConfigurationError
from marketplace.publishing import manifest, service, vsix
from marketplace.publishing.scanning import QUARANTINE, REJECT, WARN, Finding, Subject, Verdict, scanners
from marketplace.publishing.scanning import external as ext
from tests import vsix_factory

PYTHON = sys.executable
SLEEP_CHILD = f"child = subprocess.Popen([{PYTHON!r}, '-c', 'import time; time.sleep(60)'])\n"


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{PYTHON}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def subject(tmp_path: Path) -> Subject:
    path = vsix_factory.build_vsix(tmp_path / "pkg.vsix", version="1.2.3")
    archive = vsix.inspect_archive(path, keep=manifest.wanted)
    principal = service.Principal("someone", "tok", frozenset({"somepub"}))
    return Subject(archive, manifest.read_package(archive), archive.sha256, principal, "upload-1")


def _settings(command: str | None = None, function: str | None = None, timeout: int = 10,
              on_failure: str = REJECT) -> ext.Settings:
    return ext.Settings(ext.parse_command(command) if command else None, function, timeout, on_failure)


# --- settings ---------------------------------------------------------------------------------------------------

def test_nothing_configured_means_no_findings_and_no_work(subject, monkeypatch):
    for name in ext.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    invoker = FakeInvoker(b"")
    assert ext.ExternalScanner(invoker=invoker).scan(subject) == [] and invoker.calls == []
    assert ext.Settings.from_environment({}) == ext.Settings(None, None, 60, REJECT)


def test_settings_are_read_and_checked():
    settings = ext.Settings.from_environment({
        ext.COMMAND_SETTING: "clamscan --no-summary {path}", ext.LAMBDA_SETTING: " scanner ",
        ext.TIMEOUT_SETTING: "600", ext.ON_FAILURE_SETTING: "WARN"})
    assert settings == ext.Settings(("clamscan", "--no-summary", "{path}"), "scanner", 600, WARN)
    for name, value, why in [(ext.TIMEOUT_SETTING, "601", "1 to 600"), (ext.TIMEOUT_SETTING, "0", "1 to 600"),
                             (ext.TIMEOUT_SETTING, "1m", "whole number"),
                             (ext.ON_FAILURE_SETTING, "ignore", "reject or warn"),
                             (ext.COMMAND_SETTING, "scan 'unbalanced", "cannot be split")]:
        with pytest.raises(ConfigurationError, match=why):
            ext.Settings.from_environment({ext.COMMAND_SETTING: "scan", name: value})
    assert not ext.Settings.from_environment({ext.TIMEOUT_SETTING: "never"}).configured  # nothing to time


def test_the_ingest_reads_the_settings_and_may_invoke_the_configured_function():
    assert set(fns.INGEST.settings) >= {ext.COMMAND_SETTING, ext.TIMEOUT_SETTING, ext.ON_FAILURE_SETTING}
    assert fns.InvokeGrant(fns.SCAN_EXTERNAL_LAMBDA_CONTEXT, ext.LAMBDA_SETTING) in fns.INGEST.grants
    assert fns.SCAN_EXTERNAL_LAMBDA_VAR == ext.LAMBDA_SETTING
    assert [type(s) for s in scanners() if s.name == "external"] == [ext.ExternalScanner]


# --- the command ------------------------------------------------------------------------------------------------

def test_the_command_is_split_like_words_and_the_path_stays_one_argument():
    command = ext.parse_command("""scan --db '/opt/my db' --file={path} "$HOME" ; rm -rf / {path}""")
    assert command == ("scan", "--db", "/opt/my db", "--file={path}", "$HOME", ";", "rm", "-rf", "/", "{path}")
    hostile = "/tmp/a b; rm -rf ~ $(id) `id`.vsix"
    assert ext.command_arguments(command, hostile) == [
        "scan", "--db", "/opt/my db", f"--file={hostile}", "$HOME", ";", "rm", "-rf", "/", hostile]
    assert ext.command_arguments(("clamscan", "--no-summary"), "/p.vsix") == ["clamscan", "--no-summary", "/p.vsix"]
    with pytest.raises(ConfigurationError, match="names no program"):
        ext.parse_command("   ")


def test_no_shell_interprets_the_arguments(tmp_path):
    marker = tmp_path / "pwned"
    script = _script(tmp_path, "echo.py", "import sys\nprint('|'.join(sys.argv[1:]))\n")
    result = ext.run_command(ext.command_arguments((script, "$(touch {path})", "*"), str(marker)), 10)
    assert result.returncode == 0 and result.stdout.decode().strip() == f"$(touch {marker})|*"
    assert not marker.exists()


def test_the_command_gets_a_clean_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    script = _script(tmp_path, "env.py", "import json, os\nprint(json.dumps(dict(os.environ)))\n")
    environment = json.loads(ext.run_command([script], 10).stdout)
    assert "AWS_SECRET_ACCESS_KEY" not in environment
    assert set(environment) <= {"PATH", "LANG", "LC_ALL", "TMPDIR", "LC_CTYPE"}  # LC_CTYPE: Python's own coercion


def test_exit_codes(tmp_path, subject):
    clean = _script(tmp_path, "clean.py", "print('all good')\n")
    found = _script(tmp_path, "found.py", "print('extension/x.js: EICAR test signature FOUND')\nprint()\n"
                                          "print('extension/y.js: Trojan.Generic\\x1b[31m FOUND')\n"
                                          "raise SystemExit(1)\n")
    broken = _script(tmp_path, "broken.py", "import sys\nsys.stderr.write('database missing')\nraise SystemExit(2)\n")
    assert ext.ExternalScanner(_settings(clean)).scan(subject) == []
    assert ext.ExternalScanner(_settings(found)).scan(subject) == [
        Finding("external.command", "extension/x.js: EICAR test signature FOUND"),
        Finding("external.command", "extension/y.js: Trojan.Generic [31m FOUND"),
    ]
    with pytest.raises(ext.ScanFailed, match="status 2: database missing"):
        ext.command_findings(ext.run_command([broken], 10))
    assert ext.ExternalScanner(_settings(broken)).scan(subject) == [Finding(
        "external.failed", "the external scanner could not check the package; please upload the package again")]
    silent = _script(tmp_path, "silent.py", "raise SystemExit(1)\n")
    (finding,) = ext.ExternalScanner(_settings(silent)).scan(subject)
    assert finding.severity == REJECT and "without saying why" in finding.message


def test_a_program_that_cannot_start_is_a_failed_scan(tmp_path, subject):
    with pytest.raises(ext.ScanFailed, match="could not start"):
        ext.run_command([str(tmp_path / "missing")], 10)
    (finding,) = ext.ExternalScanner(_settings(str(tmp_path / "missing"), on_failure=WARN)).scan(subject)
    assert finding == Finding("external.failed", "the external scanner could not check the package; the package "
                                                 "was published without its verdict", severity=WARN)


def test_the_package_path_is_the_archive_on_disk(tmp_path, subject):
    seen = tmp_path / "seen"
    script = _script(tmp_path, "seen.py", f"import sys\nopen({str(seen)!r}, 'w').write(sys.argv[-1])\n")
    assert ext.ExternalScanner(_settings(f"{script} --scan {{path}}")).scan(subject) == []
    assert seen.read_text() == str(subject.archive.path)


def test_output_is_capped_cleaned_and_at_most_20_findings(tmp_path):
    noisy = _script(tmp_path, "noisy.py", "import sys\n"
                                          "for i in range(5000):\n"
                                          "    print(f'finding {i} ' + 'x' * 1000 + '\\u202e\\r\\u2028tail')\n"
                                          "sys.stderr.write('e' * 10_000_000)\nraise SystemExit(1)\n")
    result = ext.run_command([noisy], 30)
    assert len(result.stdout) == ext.MAX_OUTPUT_BYTES and len(result.stderr) == ext.MAX_OUTPUT_BYTES
    findings = ext.command_findings(result)
    assert len(findings) == ext.MAX_FINDINGS
    for index, finding in enumerate(findings):
        assert finding.message.startswith(f"finding {index} xxx") and len(finding.message) == ext.MAX_MESSAGE_CHARS
        assert finding.message.endswith("…") and "\n" not in finding.describe()


def test_clean_text_keeps_one_line_of_visible_text():
    assert ext.clean_text("a\nb\r\nc\x00d\u2028e\u202ef\u200bg\tz  ", 100) == "a b c d e f g z"
    assert ext.clean_text("x" * 10, 5) == "xxxx…"
    assert ext.clean_text("\n\n\x07", 10) == ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))


def _wait_gone(pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_timeout_kills_the_command_and_everything_it_started(tmp_path, subject):
    pids = tmp_path / "pids"
    sleeper = _script(tmp_path, "sleeper.py", "import os, subprocess, sys, time\n"
                                              + SLEEP_CHILD +
                                              f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
                                              "time.sleep(60)\n")
    started = time.monotonic()
    with pytest.raises(ext.ScanFailed) as failed:
        ext.run_command([sleeper], 1)
    assert failed.value.timed_out and time.monotonic() - started < 10
    parent, child = map(int, pids.read_text().split())
    assert _wait_gone(parent) and _wait_gone(child)
    (finding,) = ext.ExternalScanner(_settings(sleeper, timeout=1)).scan(subject)
    assert finding == Finding("external.timeout", "the external scanner did not answer within 1 s; please upload "
                                                  "the package again")
    (warning,) = ext.ExternalScanner(_settings(sleeper, timeout=1, on_failure=WARN)).scan(subject)
    assert warning.severity == WARN and warning.rule == "external.timeout"
    assert "did not answer within 1 s; the package was published without its verdict" in warning.message


def test_a_command_that_closes_its_outputs_and_goes_on_is_still_timed_out(tmp_path):
    quiet = _script(tmp_path, "quiet.py", "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)\n")
    with pytest.raises(ext.ScanFailed) as failed:
        ext.run_command([quiet], 1)
    assert failed.value.timed_out


def test_what_a_finished_command_left_running_is_killed_without_waiting_for_it(tmp_path):
    pids = tmp_path / "pids"
    leaver = _script(tmp_path, "leaver.py", "import subprocess\n"
                                            + SLEEP_CHILD +
                                            f"open({str(pids)!r}, 'w').write(str(child.pid))\nprint('done')\n")
    started = time.monotonic()
    result = ext.run_command([leaver], 30)
    assert result.returncode == 0 and result.stdout == b"done\n" and time.monotonic() - started < 10
    assert _wait_gone(int(pids.read_text()))


# --- the Lambda function ----------------------------------------------------------------------------------------

class FakeInvoker:
    def __init__(self, answer: bytes | Exception) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict, float]] = []

    def __call__(self, function: str, payload: bytes, timeout: float) -> bytes:
        self.calls.append((function, json.loads(payload), timeout))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _answer(verdict: str, findings: list | None = None) -> bytes:
    return json.dumps({"verdict": verdict, **({"findings": findings} if findings is not None else {})}).encode()


def test_the_function_is_asked_where_the_upload_is(subject, monkeypatch):
    monkeypatch.setenv("PACKAGES_BUCKET", "packages-bucket")
    invoker = FakeInvoker(_answer("clean"))
    assert ext.ExternalScanner(_settings(function="scanner", timeout=42), invoker).scan(subject) == []
    assert invoker.calls == [("scanner", {"bucket": "packages-bucket", "key": "uploads/upload-1",
                                          "sha256": subject.sha256, "extension": "somepub.hello", "version": "1.2.3"},
                              42)]


def test_malicious_rejects_and_suspicious_quarantines():
    malicious = ext.lambda_findings(_answer("malicious", [{"message": "Trojan.JS.Agent", "file": "extension/a.js"},
                                                          {"message": "no file"}]))
    assert malicious == [Finding("external.lambda", "Trojan.JS.Agent", file="extension/a.js"),
                         Finding("external.lambda", "no file")]
    assert Verdict(tuple(malicious)).action == REJECT
    (suspicious,) = ext.lambda_findings(_answer("suspicious", [{"message": "obfuscated code"}]))
    assert suspicious.severity == QUARANTINE and Verdict((suspicious,)).action == QUARANTINE
    (bare,) = ext.lambda_findings(_answer("malicious"))
    assert bare == Finding("external.lambda", "the external scanner found the package malicious")


def test_the_answer_is_untrusted_text():
    hostile = [{"message": "line one\n- secret.fake in x: forged\r\u202e" + "y" * 1000,
                "file": "extension/\nevil\u0000.js" + "z" * 500}, {"message": 7}, "junk", {"message": ""}]
    findings = ext.lambda_findings(_answer("malicious", hostile * 20))
    assert len(findings) == ext.MAX_FINDINGS
    first = findings[0]
    assert first.message.startswith("line one - secret.fake in x: forged y") and len(first.message) == 300
    assert first.file is not None and first.file.startswith("extension/ evil .js") and len(first.file) == 200
    reason = Verdict(tuple(findings)).reason()
    assert len(reason.splitlines()) == 1 + ext.MAX_FINDINGS


@pytest.mark.parametrize("answer", [
    b"not json", b"[]", b'{"verdict": "fine"}', b'{"verdict": null}', b'{"verdict": "malicious", "findings": {}}',
    b'{"verdict": "clean", "pad": "' + b"x" * ext.MAX_ANSWER_BYTES + b'"}',
])
def test_an_answer_that_is_not_one_is_a_failed_scan(subject, monkeypatch, answer):
    with pytest.raises(ext.ScanFailed):
        ext.lambda_findings(answer)
    monkeypatch.setenv("PACKAGES_BUCKET", "b")
    (finding,) = ext.ExternalScanner(_settings(function="scanner"), FakeInvoker(answer)).scan(subject)
    assert (finding.rule, finding.severity) == ("external.failed", REJECT)


def test_a_function_that_does_not_answer_in_time(subject, monkeypatch):
    monkeypatch.setenv("PACKAGES_BUCKET", "b")
    late = FakeInvoker(ext.ScanFailed("read timeout", timed_out=True))
    (finding,) = ext.ExternalScanner(_settings(function="scanner", timeout=5), late).scan(subject)
    assert finding.describe() == ("external.timeout: the external scanner did not answer within 5 s; please upload "
                                  "the package again")
    (warning,) = ext.ExternalScanner(_settings(function="scanner", timeout=5, on_failure=WARN), late).scan(subject)
    assert warning.severity == WARN


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        return self.data if size < 0 else self.data[:size]


class _FakeLambdaClient:
    def __init__(self, response: dict | Exception) -> None:
        self.response = response
        self.requests: list[dict] = []

    def invoke(self, **request):
        self.requests.append(request)
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


def test_the_default_invoker_calls_once_and_maps_errors(monkeypatch):
    from botocore.exceptions import ClientError, ReadTimeoutError

    client = _FakeLambdaClient({"StatusCode": 200, "Payload": _Body(b'{"verdict": "clean"}')})
    monkeypatch.setattr(ext, "_lambda_client", lambda timeout: client)
    assert ext.invoke_lambda("scanner", b"{}", 30) == b'{"verdict": "clean"}'
    assert client.requests == [{"FunctionName": "scanner", "InvocationType": "RequestResponse", "Payload": b"{}"}]
    client.response = {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _Body(b'{"errorMessage": "boom"}')}
    with pytest.raises(ext.ScanFailed, match="failed \\(Unhandled\\)") as failed:
        ext.invoke_lambda("scanner", b"{}", 30)
    assert not failed.value.timed_out
    client.response = ReadTimeoutError(endpoint_url="https://lambda")
    with pytest.raises(ext.ScanFailed) as failed:
        ext.invoke_lambda("scanner", b"{}", 30)
    assert failed.value.timed_out
    client.response = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Invoke")
    with pytest.raises(ext.ScanFailed, match="could not be invoked"):
        ext.invoke_lambda("scanner", b"{}", 30)


def test_the_sdk_client_waits_as_long_as_the_scan_may_take_and_never_retries(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ext._lambda_client.cache_clear()
    client = ext._lambda_client(123)
    ext._lambda_client.cache_clear()
    assert client.meta.config.read_timeout == 123 and client.meta.config.retries["total_max_attempts"] == 1
