"""``marketplace serve`` emulates the Firehose delivery: what is put on the event stream (through the runtime's
own AWS endpoint) shows up in the local lake bucket within seconds, as GZIP JSON lines under the day's prefix,
while the stats function still gets the same records."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from marketplace.local.firehose import LOCAL_BUFFER_SECONDS, evaluate_prefix, read_lake
from marketplace.platform import resources as r
from tests.e2e.conftest import Served, http, wait_until

pytestmark = pytest.mark.slow
STAGE = "local"
LAKE = f"{r.PRODUCT}-{STAGE}-{r.LAKE_BUCKET.id}"
STREAM = r.stream(r.EVENTS_TO_LAKE.source).physical_name(STAGE)


def test_records_put_on_the_stream_reach_the_lake_within_seconds(served: Served):
    run = uuid.uuid4().hex
    events = [
        {"type": "install", "id": uuid.uuid4().hex, "extension": f"lake.e2e{n % 3}", "version": "1.0.0",
         "target_platform": "universal", "client": "e2e", "at": datetime.now(UTC).isoformat(), "run": run, "n": n}
        for n in range(25)
    ]
    kinesis = served.client("kinesis")
    before = datetime.now(UTC)
    for event in events[:10]:
        kinesis.put_record(StreamName=STREAM, Data=json.dumps(event).encode(), PartitionKey=event["extension"])
    kinesis.put_records(StreamName=STREAM, Records=[
        {"Data": json.dumps(event).encode(), "PartitionKey": event["extension"]} for event in events[10:]])
    after = datetime.now(UTC)
    s3 = served.client("s3")

    def delivered() -> list[dict[str, object]]:
        records = [json.loads(line) for o in read_lake(s3, LAKE, "events/") for line in o.records]
        mine = [record for record in records if record.get("run") == run]
        return mine if len(mine) >= len(events) else []

    found = wait_until(delivered, timeout=LOCAL_BUFFER_SECONDS + 10)
    assert sorted(found, key=lambda e: e["n"]) == events  # every record, unchanged, once
    days = {evaluate_prefix(r.EVENTS_TO_LAKE.prefix, moment) for moment in (before, after)}
    for lake_object in read_lake(s3, LAKE, "events/"):
        assert any(lake_object.key.startswith(day) for day in days) and lake_object.key.endswith(".gz")
        mine = [json.loads(line) for line in lake_object.records if json.loads(line).get("run") == run]
        for extension in {e["extension"] for e in events}:  # one partition key is one shard: in order
            numbers = [e["n"] for e in mine if e["extension"] == extension]
            assert numbers == sorted(numbers)

    status, _, body = http("GET", f"{served.base_url}/healthz")
    report = json.loads(body)
    assert status == 200
    (delivery,) = report["delivery_streams"].values()
    assert delivery["alive"] is True and delivery["last_error"] is None
    assert delivery["destination"] == f"s3://{LAKE}/{r.EVENTS_TO_LAKE.prefix}"
    assert delivery["records_delivered"] >= len(events)
