"""Publishing end to end on the local marketplace: a package made by the real ``vsce`` goes through
``marketplace publish`` (presigned POST straight to S3, S3 event, SQS, ingest) and its assets come out of
the CDN; every class of hostile package goes through the same flow and is refused without a trace."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from marketplace.platform import resources as r
from marketplace.publishing import client
from tests import vsix_factory
from tests.e2e.conftest import ROOT, Served, http, wait_until

pytestmark = pytest.mark.slow
VSCE = ROOT / "node_modules" / ".bin" / "vsce"
FIXTURE = ROOT / "tests" / "fixtures" / "hello-extension"
BUCKET = f"{r.PRODUCT}-local-{r.PACKAGES_BUCKET.id}"


def _token(served: Served, namespace: str) -> str:
    return served.cli("publisher", "create", namespace, "--owner", f"{namespace}-owner").stdout.strip().splitlines()[-1]


def _vsce_package(tmp_path: Path) -> Path:
    if not VSCE.exists():
        pytest.skip("node_modules/.bin/vsce is missing: run ./dev setup")
    work = tmp_path / "hello-extension"
    shutil.copytree(FIXTURE, work)
    out = tmp_path / "hello-feas-0.0.1.vsix"
    result = subprocess.run([str(VSCE), "package", "--out", str(out)], cwd=work, capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _version_item(served: Served, extension_id: str, version: str, target: str = "universal") -> dict | None:
    item = served.client("dynamodb").get_item(
        TableName=r.EXTENSIONS_TABLE.physical_name("local"),
        Key={"pk": {"S": f"EXT#{extension_id}"}, "sk": {"S": f"VERSION#{version}#{target}"}}).get("Item")
    return dict(item) if item else None


@pytest.mark.real_client  # vsce packages the extension
def test_a_vsce_package_is_published_through_the_cli(served: Served, tmp_path):
    package = _vsce_package(tmp_path)
    token = _token(served, "somepub")
    result = served.cli("publish", str(package), "--registry", served.base_url, "--token", token, "--quiet")
    assert result.stdout.strip() == "Published somepub.hello-feas v0.0.1."

    item = _version_item(served, "somepub.hello-feas", "0.0.1")
    assert item is not None
    assert item["sha256"]["S"] == hashlib.sha256(package.read_bytes()).hexdigest()
    base = item["asset_base"]["S"]
    status, headers, body = http("GET", f"{served.base_url}/{base}/Microsoft.VisualStudio.Services.VSIXPackage")
    assert status == 200 and body == package.read_bytes() and headers["content-type"] == "application/vsix"
    status, _, body = http("GET", f"{served.base_url}/{base}/Microsoft.VisualStudio.Code.Manifest")
    assert status == 200 and json.loads(body)["name"] == "hello-feas"
    status, headers, body = http("GET", f"{served.base_url}/{base}/Microsoft.VisualStudio.Services.Content.Details")
    assert status == 200 and b"Hello Feas" in body and headers["content-type"].startswith("text/markdown")

    again = served.cli("publish", str(package), "--registry", served.base_url, "--token", token, "--quiet",
                       check=False)
    assert again.returncode == 1
    assert "Extension somepub.hello-feas-0.0.1 is already published." in again.stderr


def test_publish_refuses_other_namespaces_and_bad_tokens(served: Served, tmp_path):
    package = vsix_factory.build_vsix(tmp_path / "x.vsix", publisher="victim")
    _token(served, "victim")
    attacker = _token(served, "attacker")
    refused = served.cli("publish", str(package), "--registry", served.base_url, "--token", attacker, "--quiet",
                         check=False)
    assert refused.returncode == 1 and "may not publish to namespace 'victim'" in refused.stderr
    bogus = served.cli("publish", str(package), "--registry", served.base_url, "--token", "mkp_x", "--quiet",
                       check=False)
    assert bogus.returncode == 1 and "401" in bogus.stderr
    assert _version_item(served, "victim.hello", "1.0.0") is None
    s3 = served.client("s3")
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="assets/victim/")["KeyCount"] == 0
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="uploads/")["KeyCount"] == 0


def test_every_hostile_class_is_refused_through_the_presigned_flow(served: Served, tmp_path):
    token = _token(served, "somepub-hostile")
    pending: dict[str, vsix_factory.HostileCase] = {}
    for case in vsix_factory.HOSTILE_CASES:
        path = case.build(tmp_path / f"{case.name}.vsix")
        size, digest = client.digest(path)
        if size == 0:  # refused before any upload exists
            with pytest.raises(client.PublishError, match="positive integer"):
                client.api("POST", f"{served.base_url}/api/publish/uploads", token,
                            {"fileName": "x.vsix", "size": size, "sha256": digest})
            continue
        created = client.api("POST", f"{served.base_url}/api/publish/uploads", token,
                              {"fileName": "x.vsix", "size": size, "sha256": digest})
        client.send_to_storage(created["upload"], path, size)
        pending[created["id"]] = case

    verdicts: dict[str, dict] = {}

    def all_settled() -> bool:
        for upload_id in [u for u in pending if u not in verdicts]:
            view = client.api("GET", f"{served.base_url}/api/publish/uploads/{upload_id}", token)
            if view["status"] in ("published", "rejected"):
                verdicts[upload_id] = view
        return len(verdicts) == len(pending)

    wait_until(all_settled, timeout=240, interval=1)
    for upload_id, case in pending.items():
        view = verdicts[upload_id]
        assert view["status"] == "rejected", (case.name, view)
        assert case.mentions in view["reason"], (case.name, view["reason"])

    s3 = served.client("s3")
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="assets/somepub/hello/")["KeyCount"] == 0
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="uploads/")["KeyCount"] == 0
    scanned = served.client("dynamodb").scan(TableName=r.EXTENSIONS_TABLE.physical_name("local"))["Items"]
    assert not [i for i in scanned if i["pk"]["S"] == "EXT#somepub.hello"]


def test_the_policy_pins_the_size_and_the_ingest_rechecks_it(served: Served, tmp_path):
    """moto does not enforce POST policies, so an oversized body reaches S3 here; the ingest refuses it."""
    token = _token(served, "sizepub")
    path = vsix_factory.build_vsix(tmp_path / "ok.vsix", publisher="sizepub")
    size, digest = client.digest(path)
    created = client.api("POST", f"{served.base_url}/api/publish/uploads", token,
                          {"fileName": "ok.vsix", "size": size - 1, "sha256": digest})
    client.send_to_storage(created["upload"], path, size)

    def verdict() -> dict | None:
        view = client.api("GET", f"{served.base_url}/api/publish/uploads/{created['id']}", token)
        return view if view["status"] == "rejected" else None

    view = wait_until(verdict, timeout=30)
    assert f"is {size} bytes but the upload declared {size - 1}" in view["reason"]


def test_the_owner_deprecates_and_unpublishes_through_the_cli(served: Served, tmp_path):
    token = _token(served, "lifecyclepub")
    for version in ("1.0.0", "1.1.0"):
        path = vsix_factory.build_vsix(tmp_path / f"{version}.vsix", publisher="lifecyclepub", version=version)
        served.cli("publish", str(path), "--registry", served.base_url, "--token", token, "--quiet")
    target = ["--registry", served.base_url, "--token", token]

    deprecated = served.cli("extension", "deprecate", "lifecyclepub.hello", "--message", "no longer maintained",
                            *target)
    assert json.loads(deprecated.stdout)["deprecated"] is True
    unpublished = served.cli("extension", "unpublish", "lifecyclepub.hello", "--version", "1.1.0", *target)
    assert json.loads(unpublished.stdout)["unpublished"] == ["1.1.0@universal"]
    item = served.client("dynamodb").get_item(TableName=r.EXTENSIONS_TABLE.physical_name("local"), Key={
        "pk": {"S": "EXT#lifecyclepub.hello"}, "sk": {"S": "EXTENSION"}})["Item"]
    assert item["latest_version"]["S"] == "1.0.0" and item["deprecated"]["BOOL"] is True
    missing = served.cli("extension", "unpublish", "lifecyclepub.nothing", *target, check=False)
    assert missing.returncode == 1 and "404" in missing.stderr
