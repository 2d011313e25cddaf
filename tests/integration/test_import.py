"""``marketplace import``'s work against moto: every package goes through the real ingest (delivered here as the
S3 notification would, through ``import_package``'s ``wait`` hook), as the operator; versions already here are
present and nothing is sent again; namespaces are created only when asked; mirrored namespaces are the mirror's.
And no token holder can speak as the operator, by any route."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import boto3
import pytest

from functions.ingest import handler as ingest
from functions.publish_api import handler as publish_api
from marketplace.catalog import store as catalog
from marketplace.publishing import direct, importer, service, store, uploads
from tests import vsix_factory
from tests.integration.events import context, http_event, sqs_event
from tests.integration.publishing_api import call
from tests.integration.test_ingest import _keys, _notification


def _bucket(deployment) -> str:
    return str(deployment.env["PACKAGES_BUCKET"])


def deliver(deployment, calls: list[str] | None = None) -> Callable[[str], None]:
    """A ``wait`` hook: the S3 notification of the stored upload, handed to the ingest at once."""
    def wait(upload_id: str) -> None:
        if calls is not None:
            calls.append(upload_id)
        key = uploads.object_key(upload_id)
        size = boto3.client("s3").head_object(Bucket=_bucket(deployment), Key=key)["ContentLength"]
        result = ingest.lambda_handler(sqs_event(_notification(_bucket(deployment), key, size)), context("ingest"))
        assert result == {"batchItemFailures": []}
    return wait


def _upload_records() -> list[store.UploadRecord]:
    return [item for item in store._model(store.UploadRecord).scan(store.UploadRecord.sk == "UPLOAD")]


def test_a_package_is_published_through_the_ingest_as_the_operator(deployment):
    service.create_publisher("somepub", "alice")
    data = vsix_factory.vsix_bytes(version="1.2.3", target_platform="linux-x64")
    outcome = importer.import_package(data, source="pkgs/hello.vsix", wait=deliver(deployment))
    assert outcome == importer.Outcome("pkgs/hello.vsix", "published", "somepub.hello", "1.2.3", "linux-x64")
    version = catalog.get_version("somepub.hello", "1.2.3", "linux-x64")
    assert version is not None and version.published_by == "operator" and version.signature_key_id
    [record] = _upload_records()
    assert (record.status, record.user, record.token_id, record.client, record.file_name) == (
        "published", "operator", "operator:marketplace import", "marketplace import", "hello.vsix")
    published = [e for e in service.audit_log("somepub") if e.action == "extension.publish"]
    assert [(e.actor, e.client, e.target) for e in published] == [("operator", "marketplace import",
                                                                    "somepub.hello")]
    assert _keys(deployment, "uploads/") == []


def test_a_second_import_finds_it_present_and_sends_nothing(deployment):
    service.create_publisher("somepub", "alice")
    data = vsix_factory.vsix_bytes()
    assert importer.import_package(data, source="a.vsix", wait=deliver(deployment)).status == "published"
    calls: list[str] = []
    again = importer.import_package(data, source="a.vsix", wait=deliver(deployment, calls))
    assert (again.status, again.reason) == ("present", None) and calls == [] and len(_upload_records()) == 1
    other = importer.import_package(vsix_factory.vsix_bytes(readme="# Other"), source="b.vsix",
                                    wait=deliver(deployment, calls))
    assert other.status == "present" and "with other contents" in (other.reason or "") and calls == []


def test_a_namespace_is_created_only_when_asked(deployment):
    data = vsix_factory.vsix_bytes(publisher="newpub")
    refused = importer.import_package(data, source="n.vsix", wait=deliver(deployment))
    assert refused.status == "rejected" and "--create-namespaces" in (refused.reason or "")
    assert store.get_namespace("newpub") is None and _upload_records() == []

    landed = importer.import_package(data, source="n.vsix", create_namespaces=True, owner="carol",
                                     wait=deliver(deployment))
    assert landed.status == "published" and landed.extension_id == "newpub.hello"
    assert [(m.user, m.role) for m in store.members("newpub")] == [("carol", "owner")]
    created = [e for e in service.audit_log("newpub") if e.action == "namespace.create"]
    assert [(e.actor, e.client) for e in created] == [("operator", "marketplace import")]

    reserved = importer.import_package(vsix_factory.vsix_bytes(publisher="microsoft"), source="m.vsix",
                                       create_namespaces=True, owner="carol", wait=deliver(deployment))
    assert reserved.status == "rejected" and "reserved" in (reserved.reason or "")
    assert store.get_namespace("microsoft") is None


def test_what_the_ingest_refuses_is_reported_in_its_words(deployment, tmp_path):
    service.create_publisher("somepub", "alice")
    case = next(c for c in vsix_factory.HOSTILE_CASES if c.name == "dot-dot")
    outcome = importer.import_package(case.build(tmp_path / "bad.vsix").read_bytes(), source="bad.vsix",
                                      wait=deliver(deployment))
    assert outcome.status == "rejected" and outcome.extension_id == "somepub.hello"
    [record] = _upload_records()
    assert outcome.reason == record.reason and ".." in (outcome.reason or "")
    assert catalog.versions("somepub.hello") == [] and _keys(deployment, "assets/somepub/") == []


def test_without_a_verdict_in_time_the_package_is_reported_and_a_rerun_finishes_it(deployment):
    service.create_publisher("somepub", "alice")
    data = vsix_factory.vsix_bytes()
    late = importer.import_package(data, source="a.vsix", timeout_seconds=0.3)  # nobody delivers the event
    assert late.status == "rejected"
    assert late.reason == "no verdict within 0.3 s: the ingest may still publish it; run the import again"
    assert importer.import_package(data, source="a.vsix", wait=deliver(deployment)).status == "published"


def test_a_version_another_import_published_meanwhile_is_present(deployment):
    service.create_publisher("somepub", "alice")
    data = vsix_factory.vsix_bytes()

    def racing(upload_id: str) -> None:
        first = importer.import_package(data, source="other.vsix", wait=deliver(deployment))
        assert first.status == "published"
        deliver(deployment)(upload_id)

    outcome = importer.import_package(data, source="a.vsix", wait=racing)
    assert (outcome.status, outcome.reason) == ("present", "published meanwhile by another import")


def test_import_all_publishes_a_directory_in_parallel_and_reports_every_file(deployment, tmp_path):
    service.create_publisher("somepub", "alice")
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        vsix_factory.build_vsix(tmp_path / f"hello-{version}.vsix", version=version)
    case = next(c for c in vsix_factory.HOSTILE_CASES if c.name == "symlink")
    case.build(tmp_path / "evil.vsix")
    (tmp_path / "broken.vsix").write_bytes(b"not a zip")
    outcomes = importer.import_all([tmp_path], jobs=4, wait=deliver(deployment))
    by_file = {o.source.rsplit("/", 1)[-1]: o for o in outcomes}
    assert {name: o.status for name, o in by_file.items()} == {
        "broken.vsix": "rejected", "evil.vsix": "rejected", "hello-1.0.0.vsix": "published",
        "hello-1.1.0.vsix": "published", "hello-2.0.0.vsix": "published"}
    assert "extension/link" in (by_file["evil.vsix"].reason or "")
    assert sorted(v.version for v in catalog.versions("somepub.hello")) == ["1.0.0", "1.1.0", "2.0.0"]
    again = importer.import_all([tmp_path], jobs=4, wait=deliver(deployment))
    assert [o.status for o in again if o.extension_id and o.reason is None] == ["present"] * 3


def test_a_mirrored_namespace_is_the_mirrors_unless_local_publishing_is_allowed(deployment):
    importer.ensure_namespace("mirrored", owner=None, mirrored_from="https://open-vsx.org",
                              client=importer.MIRROR_CLIENT)
    namespace = store.get_namespace("mirrored")
    assert namespace is not None and namespace.mirrored_from == "https://open-vsx.org" and store.members(
        "mirrored") == []
    mirrored = importer.import_package(vsix_factory.vsix_bytes(publisher="mirrored"), source="https://up/x.vsix",
                                       mirrored_from="https://open-vsx.org", client=importer.MIRROR_CLIENT,
                                       wait=deliver(deployment))
    assert mirrored.status == "published"
    entry = next(e for e in service.audit_log("mirrored") if e.action == "extension.publish")
    assert (entry.actor, entry.client) == ("operator", "marketplace mirror")

    service.add_member("mirrored", "dave", "owner")
    token = service.create_token("dave", ["mirrored"])
    principal = service.authenticate(token)
    local = vsix_factory.vsix_bytes(publisher="mirrored", version="9.0.0")

    def publish_locally() -> store.UploadRecord:
        record = direct.publish(principal, local, wait_seconds=0)
        deliver(deployment)(record.upload_id)
        found = store.find_upload(record.upload_id)
        assert found is not None
        return found

    refused = publish_locally()
    assert refused.status == "rejected" and "mirrored from https://open-vsx.org" in (refused.reason or "")
    assert "marketplace publisher mirrored mirrored --allow-local-publishing" in (refused.reason or "")
    service.set_local_publishing("mirrored", True)
    assert publish_locally().status == "published"


def test_a_reserved_namespace_may_be_created_for_a_mirror(deployment):
    importer.ensure_namespace("ms-python", owner=None, mirrored_from="https://open-vsx.org")
    found = store.get_namespace("ms-python")
    assert found is not None and found.reserved_override and found.mirrored_from == "https://open-vsx.org"
    importer.ensure_namespace("ms-python", owner=None, mirrored_from="https://open-vsx.org")  # there: nothing to do


def test_no_token_holder_gets_the_operators_principal_by_any_route(deployment):
    """The upload record's token id is always the caller's own: neither a request body naming another, nor a
    credential shaped like the operator's, makes an upload the operator's."""
    _, token = service.create_publisher("somepub", "operator")  # a user who merely calls themselves that
    principal = service.authenticate(token)
    assert not principal.operator

    body = {"fileName": "a.vsix", "size": 10, "sha256": "0" * 64, "tokenId": "operator:marketplace import",
            "token_id": "operator:marketplace import", "user": "operator", "client": "marketplace import"}
    status, created = call("POST", "/api/publish/uploads", token, body)
    assert status == 201
    record = store.find_upload(created["id"])
    assert record is not None and record.token_id == principal.token_id
    assert not service.principal_of(record.token_id).operator

    direct_record = direct.publish(principal, vsix_factory.vsix_bytes(), wait_seconds=0)
    assert direct_record.token_id == principal.token_id

    for credential in ("operator:marketplace import", "operator:marketplace mirror"):
        assert call("POST", "/api/publish/uploads", credential, body)[0] == 401
        event = http_event("POST", "/api/-/publish", "POST /api/-/publish",
                           headers={"content-type": "application/octet-stream"},
                           body=base64.b64encode(vsix_factory.vsix_bytes()).decode(),
                           query=f"token={credential}")
        event["isBase64Encoded"] = True
        answer = publish_api.lambda_handler(event, context("publish_api"))
        assert answer["statusCode"] == 401, answer["body"]
        basic = base64.b64encode(f":{credential}".encode()).decode()
        event = http_event("POST", "/api/publish/uploads", "ANY /api/publish/{proxy+}",
                           {"authorization": f"Basic {basic}", "content-type": "application/json"},
                           json.dumps(body))
        assert publish_api.lambda_handler(event, context("publish_api"))["statusCode"] == 401
    assert all(not str(r.token_id).startswith("operator:") for r in _upload_records())


@pytest.mark.parametrize("size_limit", ["100"])
def test_a_package_too_large_for_uploads_is_never_sent(deployment, monkeypatch, size_limit):
    service.create_publisher("somepub", "alice")
    monkeypatch.setenv("MAX_UPLOAD_BYTES", size_limit)
    outcome = importer.import_package(vsix_factory.vsix_bytes(), source="a.vsix", wait=deliver(deployment))
    assert outcome.status == "rejected" and "at most 100 bytes" in (outcome.reason or "")
    assert _upload_records() == []
