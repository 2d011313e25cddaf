"""The ingest pipeline against moto: S3 notification in, a published version or a clean rejection out."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest

from functions.ingest import handler
from marketplace.catalog import store as catalog
from marketplace.platform.batch import BatchFailed
from marketplace.publishing import service, store, uploads
from tests import vsix_factory
from tests.integration.events import context, sqs_event


def _bucket(deployment) -> str:
    return deployment.env["PACKAGES_BUCKET"]


def _keys(deployment, prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=_bucket(deployment), Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def _notification(bucket: str, key: str, size: int) -> dict:
    return {"Records": [{"eventName": "ObjectCreated:Post",
                         "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size}}}]}


class Publisher:
    def __init__(self, deployment, namespace: str = "somepub") -> None:
        self.deployment = deployment
        self.token = service.create_publisher(namespace, f"owner-of-{namespace}")[1]

    def upload(self, data: bytes, *, declared: bytes | None = None, deliver: bool = True,
               receive_count: int = 1) -> tuple[str, dict]:
        principal = service.authenticate(self.token)
        declared = data if declared is None else declared
        created = uploads.create(principal, {"fileName": "x.vsix", "size": len(declared),
                                             "sha256": hashlib.sha256(declared).hexdigest()})
        key = created["upload"]["fields"]["key"]
        boto3.client("s3").put_object(Bucket=_bucket(self.deployment), Key=key, Body=data)
        event = sqs_event(_notification(_bucket(self.deployment), key, len(data)))
        event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        if deliver:
            result = handler.lambda_handler(event, context("ingest"))
            assert result == {"batchItemFailures": []}
        return created["id"], event


def _status(upload_id: str) -> store.UploadRecord:
    record = store.find_upload(upload_id)
    assert record is not None
    return record


def test_a_valid_package_is_published_with_its_assets(deployment, tmp_path):
    publisher = Publisher(deployment)
    data = vsix_factory.vsix_bytes(version="1.2.3", icon=vsix_factory.png_bytes())
    upload_id, _ = publisher.upload(data)
    record = _status(upload_id)
    assert (record.status, record.extension_id, record.version, record.target_platform) == (
        "published", "somepub.hello", "1.2.3", "universal")
    version = catalog.get_version("somepub.hello", "1.2.3", "universal")
    assert version is not None and version.sha256 == hashlib.sha256(data).hexdigest() and version.size == len(data)
    assert version.published_by == "owner-of-somepub" and version.upload_id == upload_id
    base = version.asset_base
    assert base.startswith("assets/somepub/hello/1.2.3/universal/")
    published = set(_keys(deployment, base))
    for asset in ("Microsoft.VisualStudio.Code.Manifest", "Microsoft.VisualStudio.Services.VsixManifest",
                  "Microsoft.VisualStudio.Services.Content.Details", "Microsoft.VisualStudio.Services.Icons.Default",
                  "Microsoft.VisualStudio.Services.VSIXPackage"):
        assert f"{base}/{asset}" in published
        assert asset in version.assets.as_dict()
    s3 = boto3.client("s3")
    package = s3.get_object(Bucket=_bucket(deployment), Key=f"{base}/Microsoft.VisualStudio.Services.VSIXPackage")
    assert package["Body"].read() == data and package["CacheControl"].endswith("immutable")
    manifest = s3.get_object(Bucket=_bucket(deployment), Key=f"{base}/Microsoft.VisualStudio.Code.Manifest")
    assert json.loads(manifest["Body"].read())["version"] == "1.2.3"
    assert manifest["ContentType"] == "application/json"
    assert _keys(deployment, "uploads/") == []  # the quarantined original is gone
    extension = catalog.get_extension("somepub.hello")
    assert extension is not None and extension.latest_version == "1.2.3"


CASES = [c for c in vsix_factory.HOSTILE_CASES if c.name in {
    "not-a-zip", "zip-bomb", "dot-dot", "symlink", "billion-laughs", "publisher-mismatch", "bad-semver",
    "bidi-display-name", "encrypted-entry", "case-colliding-names"}]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_packages_are_rejected_without_a_trace(deployment, tmp_path, case):
    publisher = Publisher(deployment)
    data = case.build(tmp_path / "bad.vsix").read_bytes()
    upload_id, _ = publisher.upload(data)
    record = _status(upload_id)
    assert record.status == "rejected" and record.reason
    assert case.mentions in record.reason
    assert catalog.versions("somepub.hello") == [] and catalog.get_extension("somepub.hello") is None
    assert _keys(deployment, "assets/somepub/") == [] and _keys(deployment, "uploads/") == []


def test_declared_digest_and_size_must_match(deployment):
    publisher = Publisher(deployment)
    data = vsix_factory.vsix_bytes()
    flipped = data[:-1] + bytes([data[-1] ^ 1])  # same size, other digest
    upload_id, _ = publisher.upload(data, declared=flipped)
    record = _status(upload_id)
    assert record.status == "rejected"
    assert record.reason == "the uploaded bytes do not match the SHA-256 the upload declared"
    upload_id, _ = publisher.upload(data + b"x", declared=data)
    expected = f"the uploaded object is {len(data) + 1} bytes but the upload declared {len(data)}"
    assert _status(upload_id).reason == expected
    assert _keys(deployment, "assets/somepub/") == [] and catalog.versions("somepub.hello") == []


def test_the_same_event_twice_creates_one_version(deployment):
    publisher = Publisher(deployment)
    upload_id, event = publisher.upload(vsix_factory.vsix_bytes())
    assert handler.lambda_handler(event, context("ingest")) == {"batchItemFailures": []}
    assert len(catalog.versions("somepub.hello")) == 1 and _status(upload_id).status == "published"


def test_a_published_version_cannot_be_published_again(deployment):
    publisher = Publisher(deployment)
    publisher.upload(vsix_factory.vsix_bytes(version="2.0.0"))
    second, _ = publisher.upload(vsix_factory.vsix_bytes(version="2.0.0", readme="changed"))
    record = _status(second)
    assert record.status == "rejected"
    assert record.reason == "Extension somepub.hello-2.0.0 is already published."
    linux, _ = publisher.upload(vsix_factory.vsix_bytes(version="2.0.0", target_platform="linux-x64"))
    assert _status(linux).status == "published"
    again, _ = publisher.upload(vsix_factory.vsix_bytes(version="2.0.0", target_platform="linux-x64"))
    assert _status(again).reason == "Extension somepub.hello@linux-x64-2.0.0 is already published."
    assert len(catalog.versions("somepub.hello")) == 2


def test_the_token_must_cover_the_namespace_and_still_be_valid(deployment):
    Publisher(deployment, "otherpub")
    intruder = Publisher(deployment, "intruder")
    upload_id, _ = intruder.upload(vsix_factory.vsix_bytes(publisher="otherpub"))
    assert "may not publish to namespace 'otherpub'" in (_status(upload_id).reason or "")

    publisher = Publisher(deployment)
    upload_id, event = publisher.upload(vsix_factory.vsix_bytes(), deliver=False)
    token_id = _status(upload_id).token_id
    service.revoke_token(str(token_id))
    handler.lambda_handler(event, context("ingest"))
    assert "revoked" in (_status(upload_id).reason or "")
    assert catalog.versions("somepub.hello") == []


def test_internal_failures_are_retried_then_settled(deployment, monkeypatch):
    publisher = Publisher(deployment)
    upload_id, event = publisher.upload(vsix_factory.vsix_bytes(), deliver=False)

    def broken(*_args, **_kwargs):
        raise ConnectionError("storage unavailable")

    monkeypatch.setattr(catalog, "record_version", broken)
    # a batch whose every record fails is a function error: the message stays for another delivery
    with pytest.raises(BatchFailed):
        handler.lambda_handler(event, context("ingest"))
    assert _status(upload_id).status == "validating"
    assert _keys(deployment, "assets/somepub/") == []  # what it wrote before failing was removed
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "5"
    assert handler.lambda_handler(event, context("ingest")) == {"batchItemFailures": []}
    record = _status(upload_id)
    assert record.status == "rejected" and "internal error" in (record.reason or "")
    assert _keys(deployment, "uploads/") == [] and _keys(deployment, "assets/somepub/") == []


def test_objects_without_an_upload_record_are_removed(deployment):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=_bucket(deployment), Key="uploads/unknown-1", Body=b"PK")
    handler.lambda_handler(sqs_event(_notification(_bucket(deployment), "uploads/unknown-1", 2)), context("ingest"))
    assert _keys(deployment, "uploads/") == []


def test_published_versions_are_signed_with_the_repository_key(deployment):
    from marketplace.publishing import signing

    publisher = Publisher(deployment)
    data = vsix_factory.vsix_bytes(version="3.0.0")
    publisher.upload(data)
    publisher.upload(vsix_factory.vsix_bytes(version="3.0.1"))
    version = catalog.get_version("somepub.hello", "3.0.0", "universal")
    assert version is not None and version.signature_key_id
    s3, bucket = boto3.client("s3"), _bucket(deployment)
    archive = s3.get_object(Bucket=bucket, Key=f"{version.asset_base}/{signing.ASSET}")["Body"].read()
    public_pem = s3.get_object(Bucket=bucket, Key=signing.public_key_key(version.signature_key_id))["Body"].read()
    claimed = signing.verify(archive, data, public_pem)
    assert claimed["package"] == {"publisher": "somepub", "name": "hello", "version": "3.0.0",
                                  "targetPlatform": "universal", "size": len(data),
                                  "sha256": hashlib.sha256(data).hexdigest()}
    with pytest.raises(ValueError, match="not the one that was signed"):
        signing.verify(archive, data + b"x", public_pem)
    second = catalog.get_version("somepub.hello", "3.0.1", "universal")
    assert second is not None and second.signature_key_id == version.signature_key_id  # one key for all
    # the private key is stored only wrapped by KMS
    from marketplace.publishing import store as publishing_store

    item = publishing_store.get_signing_key()
    assert item is not None and "PRIVATE" not in item.wrapped and item.public_pem.encode() == public_pem
