"""Statistics end to end on the local marketplace: an editor (code-server when it is installed, else the
gallery protocol's own install request) installs an extension; within seconds its ``install`` statistic in
``extensionquery`` and its ``downloadCount`` in the Open VSX API are up by exactly one, and search shows the
new count too (the stats function touches the extension, the indexer rewrites its snapshot segment). Then
the Kinesis records are read back from the stream and handed to the stats handler again, in one batch and
bisected, as Lambda would redeliver them: nothing changes."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from marketplace.platform import resources as r
from tests.e2e.conftest import Served, http, wait_until
from tests.e2e.extensions import EXTENSION_ID, NAME, PUBLISHER, publish, publisher_token, vsce_package
from tests.e2e.test_code_server import BINARY, INSTALL_DIR, CodeServer, _pinned_version

pytestmark = pytest.mark.slow

FLAGS = 0x100 | 0x200 | 0x80  # statistics, the latest version, asset URIs
VSIX = "Microsoft.VisualStudio.Services.VSIXPackage"
STAGE = "local"


def extensionquery(served: Served, *criteria: dict[str, Any], sort_by: int = 0) -> list[dict[str, Any]]:
    body = {"filters": [{"criteria": [{"filterType": 8, "value": "Microsoft.VisualStudio.Code"}, *criteria],
                         "pageNumber": 1, "pageSize": 50, "sortBy": sort_by, "sortOrder": 0}], "flags": FLAGS}
    status, _, answer = http("POST", f"{served.base_url}/_apis/public/gallery/extensionquery",
                             json.dumps(body).encode(), {"Content-Type": "application/json",
                                                         "Accept": "application/json;api-version=3.0-preview.1"})
    assert status == 200, answer
    return list(json.loads(answer)["results"][0]["extensions"])


def statistic(extension: dict[str, Any], name: str) -> float:
    return next((s["value"] for s in extension.get("statistics", []) if s["statisticName"] == name), 0)


def installs(served: Served) -> int:
    """``install`` as VS Code reads it when it looks the extension up by name."""
    (found,) = extensionquery(served, {"filterType": 7, "value": EXTENSION_ID})
    return int(statistic(found, "install"))


def downloads(served: Served) -> int:
    """``downloadCount`` of the Open VSX API."""
    status, _, body = http("GET", f"{served.base_url}/api/{PUBLISHER}/{NAME}")
    assert status == 200, body
    return int(json.loads(body)["downloadCount"])


def searched_installs(served: Served) -> int | None:
    """The install count text search shows (the search index)."""
    found = [e for e in extensionquery(served, {"filterType": 10, "value": "hello"}, sort_by=4)
             if f"{e['publisher']['publisherName']}.{e['extensionName']}".lower() == EXTENSION_ID]
    return int(statistic(found[0], "install")) if found else None


def code_server() -> Path | None:
    stamp = INSTALL_DIR / "installed.stamp"
    if stamp.is_file() and stamp.read_text().strip() == _pinned_version() and BINARY.exists():
        return BINARY
    return None


def install(served: Served, work: Path) -> str:
    """Install the extension as an editor does: with code-server when it is installed (``STATS_E2E_CLIENT=
    protocol`` asks for the protocol instead); which client it was."""
    binary = code_server()
    if binary is not None and os.environ.get("STATS_E2E_CLIENT") != "protocol":
        editor = CodeServer(binary, work / "editor", served.base_url)
        result = editor.run("--install-extension", EXTENSION_ID)
        assert result.returncode == 0 and "successfully installed" in result.stdout + result.stderr, result.stdout
        return "code-server"
    # VS Code's install request (docs/protocols/vscode-gallery.md A5.1): the VSIX from the API base, with install=true
    (found,) = extensionquery(served, {"filterType": 7, "value": EXTENSION_ID})
    fallback = found["versions"][0]["fallbackAssetUri"]
    status, _, body = http("GET", f"{fallback}/{VSIX}?redirect=true&install=true")
    assert status == 200 and body[:2] == b"PK", status
    return "protocol"


@pytest.fixture(scope="module")
def published(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Served:
    work = tmp_path_factory.mktemp("stats-packages")
    publish(served, vsce_package(work, "1.0.0"), publisher_token(served), "1.0.0")
    wait_until(lambda: searched_installs(served) is not None, timeout=60)  # in the search index
    return served


def stream_event(served: Served) -> dict[str, Any]:
    """Every record of the event stream, read back with a TRIM_HORIZON iterator, in the event shape the stats
    function receives (the same one the local event-source mapping builds)."""
    from marketplace.local.pollers import _kinesis_record

    kinesis = served.client("kinesis")
    name = f"{r.PRODUCT}-{STAGE}-{r.EVENTS_STREAM.id}"
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    found = []
    for shard in kinesis.list_shards(StreamARN=arn)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamARN=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, StreamARN=arn, Limit=1000)
            found += [_kinesis_record(rec, shard["ShardId"], arn) for rec in page["Records"]]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return {"Records": found}


@pytest.fixture
def in_process_stats(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stats handler in this process, pointed at the local runtime's AWS endpoint and tables."""
    from marketplace.platform import aws

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", served.moto_endpoint)
    for name, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
                        "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true",
                        "POWERTOOLS_METRICS_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    for table in (r.STATISTICS_TABLE, r.EXTENSIONS_TABLE):
        monkeypatch.setenv(table.env_var, table.physical_name(STAGE))
    aws.reset_clients()
    from functions.stats import handler

    yield handler
    aws.reset_clients()


@pytest.mark.real_client  # vsce packages the extension
def test_an_install_counts_once_and_a_redelivered_batch_changes_nothing(published: Served, tmp_path: Path,
                                                                        in_process_stats: Any):
    """One install per runtime: a second one within the minute would reach search only with the touch the
    stats function owes (``stats.writer``), paid at its next invocation after the minute."""
    served = published
    before_installs, before_downloads = installs(served), downloads(served)
    client = install(served, tmp_path)
    started = time.monotonic()
    wait_until(lambda: installs(served) == before_installs + 1 and downloads(served) == before_downloads + 1,
               timeout=20, interval=0.1)
    counted_in = time.monotonic() - started
    wait_until(lambda: searched_installs(served) == before_installs + 1, timeout=60, interval=0.25)
    searchable_in = time.monotonic() - started
    print(f"\n{client} install: counted {counted_in:.1f} s after the install, in search after {searchable_in:.1f} s")
    time.sleep(2)  # nothing more arrives later
    assert (installs(served), downloads(served)) == (before_installs + 1, before_downloads + 1)

    statistics = served.client("dynamodb")
    table = r.STATISTICS_TABLE.physical_name(STAGE)

    def item(extension: str) -> dict[str, Any]:
        key = {"pk": {"S": f"EXT#{extension}"}, "sk": {"S": "TOTALS"}}
        return dict(statistics.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {})

    def counted(extension: str, attribute: str) -> int:
        return int(item(extension).get(attribute, {}).get("N", "0"))

    # more records on the stream, so that the redelivery below can be split: telemetry with activations of the
    # extension, and events of another extension
    other_before, activations_before = counted("e2e.other", "downloads"), item(EXTENSION_ID).get("act")
    kinesis = served.client("kinesis")
    stream = f"{r.PRODUCT}-{STAGE}-{r.EVENTS_STREAM.id}"
    now = datetime.now(UTC).isoformat()
    activations = [{"eventName": "vscode/extension/activation", "timestamp": now, "machineId": "hashed",
                    "sessionId": "hashed", "properties": {"extensionId": EXTENSION_ID},
                    "measurements": {"activationTime": ms}} for ms in (35, 40, 52, 61, 700)]
    kinesis.put_record(StreamName=stream, PartitionKey="telemetry", Data=json.dumps(
        {"type": "telemetry", "v": 1, "events": activations}).encode())
    for index in range(5):
        download = {"type": "download", "id": f"other{index}", "extension": "e2e.other", "version": "1.0.0",
                    "at": now}
        kinesis.put_record(StreamName=stream, PartitionKey="e2e.other", Data=json.dumps(download).encode())
    wait_until(lambda: counted("e2e.other", "downloads") == other_before + 5
               and item(EXTENSION_ID).get("act") != activations_before, timeout=20)
    before = {e: item(e) for e in (EXTENSION_ID, "e2e.other")}

    event = stream_event(served)
    mine = [rec for rec in event["Records"]
            if json.loads(base64.b64decode(rec["kinesis"]["data"])).get("extension") == EXTENSION_ID]
    assert len(mine) == before_downloads + 1  # one event per package fetch
    from tests.integration.events import context

    handler = in_process_stats
    records = event["Records"]
    assert len(records) >= 7
    half = len(records) // 2
    for part in (records, records[:half], records[half:], records[half // 2:]):  # whole, bisected, a retry
        assert handler.lambda_handler({"Records": part}, context("stats")) == {"batchItemFailures": []}
        assert handler.processor.last is not None and handler.processor.last.writes == 0
    assert {e: item(e) for e in (EXTENSION_ID, "e2e.other")} == before
    assert (installs(served), downloads(served)) == (before_installs + 1, before_downloads + 1)
