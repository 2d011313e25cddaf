"""The stats function's consumer throughput, handled in-process by its own handler against moto.

One run: 2,000 extensions in the catalog (their catalog items exist, so the touches that bring new counts to
the search index go through as in production), then batches shaped like the ones the Kinesis event source
delivers for a busy stream, whose 6 MB payload limit is reached before the 500-record batch size: 400
extension events (install, download, update, uninstall; extensions picked with a Zipf-like popularity) and
40 telemetry records, each one editor's request as the telemetry function packs it (500 events, 40 % of them
activations of that editor's 25 installed extensions, the rest other events with the common properties).
Each batch goes through ``lambda_handler`` as Lambda invokes it: Powertools' batch processor, parsing, the
per-batch sums, one consistent BatchGetItem per 100 extensions, one UpdateItem per extension, the touches.
The processor's clock advances 5 s per batch (the batching window), so each extension's catalog item is
touched at most once per 60 s of that clock, as deployed.

Times exclude what moto spends inside its own request handling (it stands for the network and DynamoDB's
work, and moto's is unlike DynamoDB's), reported separately; writes run one at a time here
(``STATS_WRITE_CONCURRENCY=1``) so that the emulator's time can be subtracted (deployed, eight run at once).
Events per second = events read from the records (extension events plus every telemetry event, counted or
not) / the in-process time. Most of that time is botocore's own work per request (about 0.7 ms per
UpdateItem on this machine, measured alone): a batch costs what the number of extensions it names costs,
whatever the number of events. Writes per extension per batch come from a hook on the DynamoDB client
counting UpdateItem calls per item in each batch. The last batch is then delivered again: it must write
nothing.

Budget (the issue's target for the consumer): at most one write per extension per batch; and nothing written
when a batch is delivered again. The events per second are reported against the seed's figure: 1 billion
events a day is 12,000 a second on average, for the whole stream.
"""

from __future__ import annotations

import base64
import gc
import json
import random
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.emulator import Emulator, in_process_aws, timed_emulator
from bench.percentiles import percentile

EXTENSIONS = 2_000
BATCHES = 30
EXTENSION_EVENTS = 400  # records, one event each
TELEMETRY_RECORDS = 20
TELEMETRY_EVENTS = 500  # per telemetry record: one request
INSTALLED = 25  # extensions per editor
ACTIVATIONS = 0.4
BATCH_SECONDS = 5
SEED_EVENTS_PER_SECOND = 12_000  # 1 billion a day, the whole stream
SHARD = "shardId-000000000000"
KINDS = ("install",) * 5 + ("download",) * 3 + ("update",) * 3 + ("uninstall",)


@dataclass
class Result:
    events_per_batch: float
    megabytes_per_batch: float
    samples_ms: list[float] = field(default_factory=list)  # per invocation, emulator excluded
    totals_ms: list[float] = field(default_factory=list)
    emulator_ms: list[float] = field(default_factory=list)
    aws_calls: list[int] = field(default_factory=list)
    extensions_per_batch: list[int] = field(default_factory=list)
    max_writes_per_extension: int = 0
    redelivery_writes: int = -1

    def percentile(self, fraction: float, values: list[float] | None = None) -> float:
        return percentile(self.samples_ms if values is None else values, fraction)

    @property
    def events_per_second(self) -> float:
        return self.events_per_batch * len(self.samples_ms) / (sum(self.samples_ms) / 1000)

    @property
    def ok(self) -> bool:
        return self.max_writes_per_extension <= 1 and self.redelivery_writes == 0


def _popular(rng: random.Random, ids: list[str]) -> str:
    """An extension, the popular ones far more often (rank ~ 1 / k)."""
    return ids[min(len(ids) - 1, int(len(ids) ** rng.random()) - 1)]


COMMON = {"common.product": "desktop", "common.version": "1.96.2", "common.platform": "linux",
          "common.nodeArch": "x64", "common.uiKind": "desktop"}


def _telemetry(rng: random.Random, ids: list[str], now: str) -> bytes:
    """One editor's request, packed: its installed extensions activate, and it does other things."""
    installed = list({_popular(rng, ids) for _ in range(INSTALLED)})
    machine, session = f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(128):032x}"
    events: list[dict[str, Any]] = []
    for _ in range(TELEMETRY_EVENTS):
        if rng.random() < ACTIVATIONS:
            events.append({"eventName": "vscode/extension/activation", "timestamp": now, "machineId": machine,
                           "sessionId": session, "properties": {**COMMON, "extensionId": rng.choice(installed),
                                                                "reason": "onStartupFinished"},
                           "measurements": {"activationTime": round(rng.lognormvariate(4, 1), 2),
                                            "codeLoadingTime": rng.randrange(1, 300)}})
        else:
            events.append({"eventName": "workbenchActionExecuted", "timestamp": now, "machineId": machine,
                           "sessionId": session, "properties": {**COMMON, "id": "editor.action.formatDocument",
                                                                "from": "keybinding"},
                           "measurements": {"duration": round(rng.random() * 100, 2)}})
    return json.dumps({"type": "telemetry", "v": 1, "events": events}, separators=(",", ":")).encode()


def _batch(rng: random.Random, ids: list[str], first: int) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    payloads = [json.dumps({"type": rng.choice(KINDS), "id": f"{first:x}{i:04x}", "extension": _popular(rng, ids),
                            "version": "1.0.0", "target_platform": None, "client": "VSCode 1.100.3", "at": now},
                           separators=(",", ":")).encode() for i in range(EXTENSION_EVENTS)]
    payloads += [_telemetry(rng, ids, now) for _ in range(TELEMETRY_RECORDS)]
    rng.shuffle(payloads)
    return kinesis_event(payloads, first)


def kinesis_event(payloads: Sequence[bytes], first: int) -> dict[str, Any]:
    """The Kinesis event Lambda hands the stats function: a record per payload, sequence numbers from ``first``
    on one shard (the cost model feeds it too)."""
    return {"Records": [{
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "sequenceNumber": str(first + i),
                    "data": base64.b64encode(data).decode(), "approximateArrivalTimestamp": 1.0},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{SHARD}:{first + i}",
        "eventName": "aws:kinesis:record", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/marketplace-bench-events",
    } for i, data in enumerate(payloads)]}


def _seed_catalog(ids: list[str]) -> None:
    from marketplace.catalog.keys import summary_key
    from marketplace.platform import aws
    from marketplace.platform.config import location
    from marketplace.platform.resources import EXTENSIONS_TABLE

    client, table = aws.client("dynamodb"), location(EXTENSIONS_TABLE)
    for start in range(0, len(ids), 25):
        client.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {**summary_key(e), "extension_id": {"S": e}}}} for e in ids[start:start + 25]]})


def measure(batches: int = BATCHES, seed: int = 7) -> Result:
    from tests.integration.events import context

    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    rng = random.Random(seed)
    ids = [f"pub{n % 97}.extension-{n}" for n in range(EXTENSIONS)]
    first = 49_654_129_834_287_543_017_260_182_366_029_134_585_726_103_298_816_245_891
    with in_process_aws({"STATS_WRITE_CONCURRENCY": "1"}), timed_emulator():
        from functions.stats import handler
        from marketplace.platform import aws
        from marketplace.platform.config import location
        from marketplace.platform.resources import STATISTICS_TABLE

        _seed_catalog(ids)
        table = location(STATISTICS_TABLE)
        writes: Counter[str] = Counter()

        def count(params: dict[str, Any], model: Any, **_: Any) -> None:
            if model.name == "UpdateItem" and params.get("TableName") == table:
                writes[params["Key"]["pk"]["S"]] += 1

        aws.client("dynamodb").meta.events.register("before-parameter-build.dynamodb.UpdateItem", count)
        lambda_context = context("stats")
        events_per_batch = EXTENSION_EVENTS + TELEMETRY_RECORDS * TELEMETRY_EVENTS
        clock = [time.time()]
        handler.processor.clock = lambda: clock[0]
        sample = _batch(random.Random(seed), ids, first)
        size = sum(len(base64.b64decode(r["kinesis"]["data"])) for r in sample["Records"]) / 2**20
        result = Result(float(events_per_batch), size)
        event: dict[str, Any] = {}
        gc.disable()
        try:
            for number in range(batches + 1):  # batch 0 warms the handler up and is not recorded
                event = _batch(rng, ids, first + number * 10_000)
                writes.clear()
                clock[0] += BATCH_SECONDS
                Emulator.reset()
                started = time.perf_counter()
                answer = handler.lambda_handler(event, lambda_context)
                elapsed = time.perf_counter() - started
                if answer != {"batchItemFailures": []}:
                    raise RuntimeError(f"the batch failed: {answer}")
                if number:
                    result.samples_ms.append((elapsed - Emulator.seconds) * 1000)
                    result.totals_ms.append(elapsed * 1000)
                    result.emulator_ms.append(Emulator.seconds * 1000)
                    result.aws_calls.append(Emulator.calls)
                    result.extensions_per_batch.append(len(writes))
                    result.max_writes_per_extension = max(result.max_writes_per_extension, max(writes.values()))
                gc.collect()
            writes.clear()
            handler.lambda_handler(event, lambda_context)  # the last batch again
            result.redelivery_writes = sum(writes.values())
        finally:
            gc.enable()
        return result


def table(result: Result) -> str:
    extensions = sum(result.extensions_per_batch) / len(result.extensions_per_batch)
    calls = sum(result.aws_calls) / len(result.aws_calls)
    lines = [
        f"Stats consumer through the handler, in-process against moto: {len(result.samples_ms)} batches of "
        f"{EXTENSION_EVENTS + TELEMETRY_RECORDS} records, {result.megabytes_per_batch:.1f} MiB ({EXTENSION_EVENTS} "
        f"extension events + {TELEMETRY_RECORDS} telemetry records of {TELEMETRY_EVENTS} events = "
        f"{result.events_per_batch:,.0f} events), {EXTENSIONS:,} extensions (emulator time excluded; budget: <= 1 "
        f"write per extension per batch, none on redelivery; the seed's average is {SEED_EVENTS_PER_SECOND:,} "
        "events/s for the whole stream)",
        "",
        "| events/s per invocation | P50 ms | P95 ms | P95 ms incl. emulator | emulator ms (median) | AWS calls | "
        "extensions written | max writes per extension | writes on redelivery | ok |",
        "|------------------------:|-------:|-------:|----------------------:|---------------------:|----------:|"
        "-------------------:|-------------------------:|---------------------:|:--:|",
        f"| {result.events_per_second:>23,.0f} | {result.percentile(0.5):>6.1f} | {result.percentile(0.95):>6.1f} | "
        f"{result.percentile(0.95, result.totals_ms):>21.1f} | {result.percentile(0.5, result.emulator_ms):>20.1f} | "
        f"{calls:>9.1f} | {extensions:>18.0f} | {result.max_writes_per_extension:>24} | "
        f"{result.redelivery_writes:>20} | {'yes' if result.ok else 'NO':^2} |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(measure()))
