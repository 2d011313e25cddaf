"""``marketplace serve``: health, the HTTP front door, the CDN stand-in and the real event pipelines."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from marketplace.platform import resources as r
from marketplace.search.encoding import segment_of
from tests.e2e.conftest import MARKETPLACE, ROOT, Served, free_port, http, wait_until

pytestmark = pytest.mark.slow


def test_healthz_within_60_seconds(served: Served):
    assert served.started_in < 60
    status, headers, body = http("GET", f"{served.base_url}/healthz")
    report = json.loads(body)
    assert status == 200 and headers["content-type"] == "application/json"
    assert report["status"] == "ok"
    # the website's environment starts with the first page (marketplace.local.runtime.ON_DEMAND)
    assert report["functions"].pop("web") in ("on demand", "loaded")
    assert set(report["functions"].values()) == {"loaded"}
    assert all(source["alive"] for source in report["event_sources"].values())
    assert len(report["event_sources"]) == 3


def test_routes_reach_the_deployed_handlers(served: Served):
    status, headers, body = http("POST", f"{served.base_url}/_apis/public/gallery/extensionquery", b"{}",
                                 {"Content-Type": "application/json", "Origin": "http://127.0.0.1:8090"})
    assert status == 400 and headers["access-control-allow-origin"] == "*"
    assert "filters" in json.loads(body)["message"]
    status, _, body = http("GET", f"{served.base_url}/no/such/route")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}
    status, headers, _ = http("OPTIONS", f"{served.base_url}/sync/v1/manifest", headers={
        "Origin": "http://127.0.0.1:8090", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization,x-account-type"})
    assert status == 204 and "authorization" in headers["access-control-allow-headers"].lower()


def test_oversized_requests_are_refused_before_any_handler(served: Served):
    status, _, body = http("POST", f"{served.base_url}/api/telemetry", b"x" * (10 * 1024 * 1024 + 1),
                           {"Content-Type": "application/json"})
    assert status == 413 and json.loads(body) == {"message": "Request Entity Too Large"}


def test_the_cdn_serves_public_assets_only(served: Served):
    s3 = served.client("s3")
    bucket = f"{r.PRODUCT}-local-{r.PACKAGES_BUCKET.id}"
    s3.put_object(Bucket=bucket, Key="assets/pub/ext/1.0.0/package.vsix", Body=b"0123456789",
                  ContentType="application/vsix", CacheControl="public, max-age=31536000, immutable")
    s3.put_object(Bucket=bucket, Key="private/search/x.json", Body=b"{}")
    url = f"{served.base_url}/assets/pub/ext/1.0.0/package.vsix"
    status, headers, body = http("GET", url)
    assert (status, body) == (200, b"0123456789")
    assert headers["content-type"] == "application/vsix"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    status, headers2, body = http("GET", url, headers={"Range": "bytes=2-4"})
    assert (status, body, headers2["content-range"]) == (206, b"234", "bytes 2-4/10")
    assert http("GET", url, headers={"If-None-Match": headers["etag"]})[0] == 304
    assert http("GET", url, headers={"Origin": "http://127.0.0.1:8090"})[1]["access-control-allow-origin"] == "*"
    status, headers, body = http("HEAD", url)
    assert status == 200 and headers["content-length"] == "10" and body == b""
    # a missing asset is a JSON 404 (the deployed distribution maps S3's 403 AccessDenied to it)
    status, headers, body = http("GET", f"{served.base_url}/assets/pub/ext/1.0.0/missing")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    # the private prefix is not behind the CDN at all: the API answers, and it has no such route
    assert http("GET", f"{served.base_url}/private/search/x.json")[0] == 404


def test_an_s3_upload_reaches_the_ingest_function_through_sqs(served: Served):
    """S3 notification -> SQS -> poller -> functions/ingest: an upload nobody registered is removed."""
    s3 = served.client("s3")
    bucket = f"{r.PRODUCT}-local-{r.PACKAGES_BUCKET.id}"
    s3.put_object(Bucket=bucket, Key="uploads/not-registered", Body=b"PK\x03\x04")

    def gone() -> bool:
        return s3.list_objects_v2(Bucket=bucket, Prefix="uploads/not-registered")["KeyCount"] == 0

    wait_until(gone, timeout=20)


def test_a_kinesis_event_reaches_the_stats_function(served: Served):
    kinesis = served.client("kinesis")
    event = {"type": "install", "extension": "e2e.counted", "version": "1.0.0", "at": "2026-11-24T10:00:00Z"}
    for _ in range(3):
        kinesis.put_record(StreamName=f"{r.PRODUCT}-local-events", Data=json.dumps(event).encode(),
                           PartitionKey="e2e.counted")
    dynamodb = served.client("dynamodb")

    def installs() -> int:
        item = dynamodb.get_item(TableName=r.STATISTICS_TABLE.physical_name("local"),
                                 Key={"pk": {"S": "EXT#e2e.counted"}, "sk": {"S": "TOTALS"}}).get("Item")
        return int(item["installs"]["N"]) if item else 0

    assert wait_until(lambda: installs() == 3, timeout=20)
    time.sleep(1)
    assert installs() == 3  # delivered once, not again


def test_a_dynamodb_stream_record_reaches_the_search_indexer(served: Served):
    dynamodb = served.client("dynamodb")
    dynamodb.put_item(TableName=r.EXTENSIONS_TABLE.physical_name("local"), Item={
        "pk": {"S": "EXT#e2e.indexed"}, "sk": {"S": "EXTENSION"}, "displayName": {"S": "Indexed"}})
    s3 = served.client("s3")
    bucket = f"{r.PRODUCT}-local-{r.PACKAGES_BUCKET.id}"
    segment = f"{segment_of('e2e.indexed'):02d}"

    def manifest() -> dict | None:
        try:
            body = s3.get_object(Bucket=bucket, Key="private/search/manifest.json")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        segments = json.loads(body)["segments"]
        return dict(segments[segment]) if segment in segments else None

    # the indexer read the extension back (no version: nothing to search) and wrote its segment
    found = wait_until(manifest, timeout=20)
    assert found["generation"] >= 1 and found["count"] == 0


def test_serve_prints_the_product_json_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [str(MARKETPLACE), "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, cwd=ROOT)
    try:
        wait_until(lambda: _health(port) == 200, timeout=60)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert f"Marketplace is running at http://127.0.0.1:{port}" in output
    fragment = json.loads(output[output.index("{"): output.rindex("}") + 1].split("\n\nPress")[0])
    assert fragment["extensionsGallery"]["serviceUrl"] == f"http://127.0.0.1:{port}/_apis/public/gallery"
    assert fragment["configurationSync.store"]["url"] == f"http://127.0.0.1:{port}/sync"
    assert output.rstrip().endswith("Stopped.")


def test_a_busy_port_is_a_clear_error():
    port = free_port()
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        result = subprocess.run([str(MARKETPLACE), "serve", "--port", str(port)], capture_output=True,
                                text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "Traceback" not in result.stderr


def _health(port: int) -> int:
    try:
        return http("GET", f"http://127.0.0.1:{port}/healthz", timeout=2)[0]
    except OSError:
        return 0


def test_serve_tls_speaks_https_with_its_own_ca_and_the_cli_follows(tmp_path):
    """``marketplace serve --tls``: HTTPS verified against the generated CA, https URLs everywhere, the state
    file names the CA, and ``marketplace publish`` (which finds the runtime through that file) works."""
    from tests import vsix_factory

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MARKETPLACE_STATE_FILE"] = str(tmp_path / "local-runtime.json")
    env["MARKETPLACE_DATA_DIR"] = str(tmp_path / "data")
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([str(MARKETPLACE), "serve", "--tls", "--port", str(port)], stdout=out,
                                   stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    base = f"https://127.0.0.1:{port}"
    ca = tmp_path / "data" / "tls" / "ca.pem"  # the CA lives in the data directory, kept across restarts
    try:
        def healthy() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return ca.exists() and _https(f"{base}/healthz", ca)[0] == 200
            except OSError:
                return False

        wait_until(healthy, timeout=60)
        status, body = _https(f"{base}/healthz", ca)
        assert status == 200 and json.loads(body)["status"] == "ok"
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):  # system trust alone refuses
            http("GET", f"{base}/healthz")
        status, _, body = http("GET", f"http://127.0.0.1:{port}/healthz")  # plain HTTP gets a readable answer
        assert status == 400 and "https://" in json.loads(body)["message"]

        output = log.read_text()
        assert f"Marketplace is running at {base}" in output
        assert f"NODE_EXTRA_CA_CERTS={ca}" in output and "--ignore-certificate-errors-spki-list=" in output
        fragment = json.loads(output[output.index("{"): output.rindex("}") + 1].split("\n\nPress")[0])
        assert fragment["extensionsGallery"]["serviceUrl"] == f"{base}/_apis/public/gallery"
        assert fragment["configurationSync.store"]["url"] == f"{base}/sync"
        state = json.loads((tmp_path / "local-runtime.json").read_text())
        assert state["base_url"] == base and state["ca_file"] == str(ca)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(MARKETPLACE), *args], capture_output=True, text=True, env=env, cwd=ROOT,
                                  timeout=60)

        created = cli("publisher", "create", "tlspub", "--owner", "tls-owner")
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip().splitlines()[-1]
        package = vsix_factory.build_vsix(tmp_path / "x.vsix", publisher="tlspub", name="secure")
        published = cli("publish", str(package), "--token", token, "--quiet")  # the registry: the state file's
        assert published.returncode == 0, published.stderr
        assert published.stdout.strip() == "Published tlspub.secure v1.0.0."
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)  # a loaded 2-core machine can take a while to stop the pollers
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text()


def _https(url: str, ca: Path) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
