"""The external scanner through the real ingest (moto): a command that finds something refuses the upload with
its words; one that does not answer in time refuses it (``reject``) or lets it through with a warning (``warn``).
moto's Lambda needs Docker, so the Lambda path gets an injected invoker standing in for the SDK."""

from __future__ import annotations

import hashlib
import json
import stat
import sys
from pathlib import Path

import boto3
import pytest

from marketplace.catalog import store as catalog
from marketplace.publishing import scanning, store
from marketplace.publishing.scanning import external as ext
from tests import vsix_factory
from tests.integration.test_ingest import Publisher


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _record(upload_id: str) -> store.UploadRecord:
    record = store.find_upload(upload_id)
    assert record is not None
    return record


def _uploads_left(deployment) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=deployment.env["PACKAGES_BUCKET"], Prefix="uploads/")
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture
def command(monkeypatch):
    def configure(script: str, *, timeout: int | None = None, on_failure: str | None = None) -> None:
        monkeypatch.setenv(ext.COMMAND_SETTING, f"{script} --scan {{path}}")
        for name, value in ((ext.TIMEOUT_SETTING, timeout), (ext.ON_FAILURE_SETTING, on_failure)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))

    monkeypatch.delenv(ext.LAMBDA_SETTING, raising=False)
    return configure


def test_a_clean_answer_publishes(deployment, tmp_path, command):
    seen = tmp_path / "seen"
    command(_script(tmp_path, "clean.py", "import sys, zipfile\nzipfile.ZipFile(sys.argv[-1]).testzip()\n"
                                          f"open({str(seen)!r}, 'w').write(sys.argv[-1])\n"))
    upload_id, _ = Publisher(deployment).upload(vsix_factory.vsix_bytes(version="1.0.0"))
    assert _record(upload_id).status == "published"
    assert seen.read_text().endswith(".vsix")  # it read the package on local disk


def test_a_finding_rejects_the_upload_with_the_scanners_words(deployment, tmp_path, command):
    command(_script(tmp_path, "eicar.py", "print('EICAR test signature')\nraise SystemExit(1)\n"))
    upload_id, _ = Publisher(deployment).upload(vsix_factory.vsix_bytes(version="1.0.0"))
    record = _record(upload_id)
    assert record.status == "rejected"
    assert record.reason == ("the package was refused by the publish-time scan:\n"
                             "- external.command: EICAR test signature")
    assert catalog.versions("somepub.hello") == [] and _uploads_left(deployment) == []


SLEEPER = "import time\ntime.sleep(30)\n"


def test_a_scanner_that_does_not_answer_rejects_under_reject(deployment, tmp_path, command):
    command(_script(tmp_path, "sleeper.py", SLEEPER), timeout=1)
    upload_id, _ = Publisher(deployment).upload(vsix_factory.vsix_bytes(version="1.0.0"))
    record = _record(upload_id)
    assert record.status == "rejected"
    assert record.reason == ("the package was refused by the publish-time scan:\n- external.timeout: the external "
                             "scanner did not answer within 1 s; please upload the package again")
    assert catalog.versions("somepub.hello") == []


def test_a_scanner_that_does_not_answer_publishes_with_a_warning_under_warn(deployment, tmp_path, command):
    command(_script(tmp_path, "sleeper.py", SLEEPER), timeout=1, on_failure="warn")
    upload_id, _ = Publisher(deployment).upload(vsix_factory.vsix_bytes(version="1.0.0"))
    record = _record(upload_id)
    assert record.status == "published"
    assert catalog.get_version("somepub.hello", "1.0.0", "universal") is not None
    assert ("external.timeout: the external scanner did not answer within 1 s; the package was published without "
            "its verdict") in json.dumps(record.warnings)


class FakeInvoker:
    """Stands in for Lambda's Invoke: checks the package is where the request says, then answers."""

    def __init__(self, answer: dict) -> None:
        self.answer = answer
        self.requests: list[dict] = []

    def __call__(self, function: str, payload: bytes, timeout: float) -> bytes:
        request = json.loads(payload)
        body = boto3.client("s3").get_object(Bucket=request["bucket"], Key=request["key"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == request["sha256"]
        self.requests.append({"function": function, **request, "timeout": timeout})
        return json.dumps(self.answer).encode()


@pytest.fixture
def function_scanner(monkeypatch):
    for name in ext.SETTINGS:
        monkeypatch.delenv(name, raising=False)

    def configure(answer: dict) -> FakeInvoker:
        invoker = FakeInvoker(answer)
        settings = ext.Settings(None, "marketplace-scanner", 30, "reject")
        chosen = [ext.ExternalScanner(settings, invoker)]
        monkeypatch.setattr(scanning, "scanners", lambda: chosen)
        return invoker

    return configure


def test_the_function_reads_the_uploaded_package_and_a_malicious_verdict_rejects(deployment, function_scanner):
    invoker = function_scanner({"verdict": "malicious", "findings": [
        {"message": "JS.Trojan.Stealer\nforged line", "file": "extension/out/extension.js"}]})
    upload_id, _ = Publisher(deployment).upload(vsix_factory.vsix_bytes(version="2.0.0"))
    (request,) = invoker.requests
    assert request["function"] == "marketplace-scanner" and request["key"] == f"uploads/{upload_id}"
    assert (request["extension"], request["version"], request["timeout"]) == ("somepub.hello", "2.0.0", 30)
    record = _record(upload_id)
    assert record.status == "rejected"
    assert record.reason == ("the package was refused by the publish-time scan:\n"
                             "- external.lambda in extension/out/extension.js: JS.Trojan.Stealer forged line")


def test_a_clean_verdict_publishes(deployment, function_scanner):
    function_scanner({"verdict": "clean"})
    upload_id, _ = Publisher(deployment).upload(vsix_factory.vsix_bytes(version="2.0.0"))
    assert _record(upload_id).status == "published"
