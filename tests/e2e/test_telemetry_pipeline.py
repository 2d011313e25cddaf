"""Telemetry through the whole local pipeline: an editor's batch goes to ``POST /api/telemetry``, onto the
event stream, into the statistics table (activations) and into the data lake — and no raw machine id,
session id, user id, e-mail address, path or IP address appears in any of them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from marketplace.local.firehose import LOCAL_BUFFER_SECONDS, read_lake
from marketplace.platform import resources as r
from tests.e2e.conftest import Served, http, wait_until

pytestmark = pytest.mark.slow
STAGE = "local"
LAKE = f"{r.PRODUCT}-{STAGE}-{r.LAKE_BUCKET.id}"
STREAM = r.EVENTS_STREAM.physical_name(STAGE)
STATISTICS = r.STATISTICS_TABLE.physical_name(STAGE)


def _stream_bytes(served: Served) -> bytes:
    kinesis = served.client("kinesis")
    description = kinesis.describe_stream(StreamName=STREAM)["StreamDescription"]
    data = b""
    for shard in description["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=STREAM, StreamARN=description["StreamARN"],
                                              ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            answer = kinesis.get_records(ShardIterator=iterator, StreamARN=description["StreamARN"], Limit=1000)
            data += b"\n".join(record["Data"] for record in answer["Records"])
            if not answer["Records"]:
                break
            iterator = answer.get("NextShardIterator")
    return data


def _table_bytes(served: Served) -> bytes:
    dynamodb = served.client("dynamodb")
    items: list[Any] = []
    request: dict[str, Any] = {"TableName": STATISTICS}
    while True:
        answer = dynamodb.scan(**request)
        items += answer["Items"]
        if "LastEvaluatedKey" not in answer:
            return repr(items).encode()
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def test_telemetry_is_scrubbed_everywhere_it_lands(served: Served) -> None:
    run = uuid.uuid4().hex[:12]
    machine, session, user = f"machine-{run}", f"session-{run}", f"user-{run}@example.com"
    email, path, address = f"jane.{run}@corp.example", f"/home/jane{run}/projects/secret.txt", "203.0.113.77"
    now = datetime.now(UTC).isoformat()
    events = [
        {"eventName": "vscode/extension/activation", "timestamp": now, "machineId": machine, "sessionId": session,
         "userId": user, "properties": {"extensionId": f"pipeline.ext{run}"}, "measurements": {"activationTime": 42}},
        {"eventName": "workbench/action", "timestamp": now, "machineId": machine, "sessionId": session,
         "properties": {"file": path, "owner": email, "remote": address, "run": run}},
        {"eventName": "bad name with spaces", "timestamp": now, "machineId": machine, "sessionId": session},
        {"eventName": "too/old", "timestamp": "2001-01-01T00:00:00Z", "machineId": machine, "sessionId": session},
    ]
    # activations are kept only for extensions the marketplace served: one install of this one first
    install = {"type": "install", "id": uuid.uuid4().hex, "extension": f"pipeline.ext{run}", "version": "1.0.0",
               "target_platform": "universal", "client": "e2e", "at": now}
    served.client("kinesis").put_record(StreamName=STREAM, Data=json.dumps(install).encode(),
                                        PartitionKey=install["extension"])
    status, headers, body = http("POST", f"{served.base_url}/api/telemetry", json.dumps({"events": events}).encode(),
                                 {"content-type": "application/json", "x-forwarded-for": address})
    assert status == 202, body
    answer = json.loads(body)
    assert answer["accepted"] == 2
    assert [rejection["index"] for rejection in answer["rejected"]] == [2, 3]
    assert headers["x-operation-id"]

    s3 = served.client("s3")

    def in_lake() -> list[dict[str, Any]]:
        records = [json.loads(line) for o in read_lake(s3, LAKE, "events/") for line in o.records]
        mine = [e for record in records if record.get("type") == "telemetry" for e in record["events"]
                if e.get("properties", {}).get("run") == run or
                e.get("properties", {}).get("extensionId") == f"pipeline.ext{run}"]
        return mine if len(mine) == 2 else []

    lake_events = wait_until(in_lake, timeout=LOCAL_BUFFER_SECONDS + 15)
    activation = next(e for e in lake_events if e["eventName"] == "vscode/extension/activation")
    assert activation["machineId"] != machine and len(activation["machineId"]) == 64

    # the stats function aggregated the activation into the extension's statistics
    def totals() -> dict[str, Any]:
        key = {"pk": {"S": f"EXT#pipeline.ext{run}"}, "sk": {"S": "TOTALS"}}
        item: dict[str, Any] = served.client("dynamodb").get_item(TableName=STATISTICS, Key=key).get("Item", {})
        days = item.get("act", {}).get("M", {})  # activations per day (marketplace/stats/item.py)
        return item if sum(int(day["M"]["n"]["N"]) for day in days.values()) == 1 else {}

    wait_until(totals, timeout=30)
    report = json.loads(served.cli("stats", "report", f"pipeline.ext{run}", "--json").stdout)
    assert report["installs"] == 1
    assert report["activations_7d"]["activations"] == 1
    assert 30 <= report["activations_7d"]["p50_ms"] <= 55  # 42 ms, within the histogram's resolution

    lake = b"".join(line for o in read_lake(s3, LAKE, "events/") for line in o.records)
    for where, data in (("stream", _stream_bytes(served)), ("statistics table", _table_bytes(served)),
                        ("lake", lake)):
        for secret in (machine, session, user, email, path, f"jane{run}", address):
            assert secret.encode() not in data, f"{secret!r} found in the {where}"
