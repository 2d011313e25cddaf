"""Import cost of each batch strategy the event-driven functions could use, measured in one run.

The candidates: ``marketplace.platform.batch`` (the marketplace's partial-batch helper, on plain dicts),
the same helper on Powertools' event data classes (what the search indexer read its DynamoDB records with
until this table showed their cost), and Powertools' ``BatchProcessor`` for SQS, Kinesis and DynamoDB
Streams, each without and with its parser model (pydantic). Each sample is a fresh interpreter that first
imports what every function imports anyway (``marketplace.platform.observability``, boto3 and one client:
not timed), then times the candidate's import plus one one-record batch through it (lazy imports on first
use count as cold start too). Candidates are sampled round-robin in one run, so machine noise hits them
alike; the table reports medians.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import lambda_shape
from marketplace.catalog.keys import summary_key

ROOT = Path(__file__).resolve().parents[1]
UNAVAILABLE = "unavailable"

_SQS = {
    "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d", "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
    "body": "{}", "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b", "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ingest", "awsRegion": "us-east-1",
    "messageAttributes": {},
    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183",
                   "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1545082649185"},
}
_KINESIS = {
    "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventName": "aws:kinesis:record",
    "eventID": "shardId-000000000000:49590338271490256608559692538361571095921575989136588898",
    "invokeIdentityArn": "arn:aws:iam::123456789012:role/stats", "awsRegion": "us-east-1",
    "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/events",
    "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "a.b", "data": "e30=",
                "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                "approximateArrivalTimestamp": 1545084650.987},
}
_DYNAMODB = {
    "eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
    "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
    "dynamodb": {"ApproximateCreationDateTime": 1545084650, "Keys": summary_key("a.b"),
                 "NewImage": summary_key("a.b"), "SequenceNumber": "42",
                 "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}
_EVENTS = {"SQS": _SQS, "Kinesis": _KINESIS, "DynamoDB": _DYNAMODB}
_IDS = {"SQS": "r['messageId']", "Kinesis": "r['kinesis']['sequenceNumber']",
        "DynamoDB": "r['dynamodb']['SequenceNumber']"}
_POWERTOOLS_TYPES = {"SQS": "SQS", "Kinesis": "KinesisDataStreams", "DynamoDB": "DynamoDBStreams"}
_MODELS = {"SQS": "SqsRecordModel", "Kinesis": "KinesisDataStreamRecord", "DynamoDB": "DynamoDBStreamRecordModel"}


@dataclass(frozen=True)
class Candidate:
    name: str
    source: str  # the event source of its one-record batch
    code: str  # what is timed: the imports and one batch of ``event``


def _helper(source: str) -> Candidate:
    return Candidate("platform.batch helper", source, f"""
from marketplace.platform.batch import process_partial
process_partial(event["Records"], lambda r: None, lambda r: str({_IDS[source]}), logger)
""")


def _helper_data_classes() -> Candidate:
    return Candidate("helper + data classes", "DynamoDB", """
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from marketplace.platform.batch import process_partial
records = list(DynamoDBStreamEvent(event).records)
process_partial(records, lambda r: None, lambda r: str(r.dynamodb.sequence_number), logger)
""")


def _powertools(source: str, *, model: bool) -> Candidate:
    parsed = ""
    if model:
        parsed = f"""
from aws_lambda_powertools.utilities.parser.models import {_MODELS[source]}
options["model"] = {_MODELS[source]}"""
    return Candidate("Powertools BatchProcessor" + (" + parser model" if model else ""), source, f"""
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
options = {{}}{parsed}
processor = BatchProcessor(event_type=EventType.{_POWERTOOLS_TYPES[source]}, logger=logger, **options)
process_partial_response(event=event, record_handler=lambda record: None, processor=processor)
""")


CANDIDATES: tuple[Candidate, ...] = (
    _helper("SQS"), _helper("Kinesis"), _helper("DynamoDB"), _helper_data_classes(),
    *(_powertools(source, model=False) for source in _EVENTS),
    *(_powertools(source, model=True) for source in _EVENTS),
)

_PROBE = """
import json, sys, time
import boto3
from marketplace.platform.observability import observability
boto3.client("dynamodb")
logger = observability("bench").logger
event = {"Records": [json.loads(sys.argv[2])]}
started = time.perf_counter()
try:
    exec(sys.argv[1])
except ImportError as error:  # a candidate whose package is not installed (the parser models need pydantic)
    print("%s %s" % ("UNAVAILABLE", error))
    raise SystemExit(0)
print((time.perf_counter() - started) * 1000)
""".replace("UNAVAILABLE", UNAVAILABLE)


@dataclass(frozen=True)
class Row:
    candidate: Candidate
    samples_ms: tuple[float, ...]  # empty: the candidate could not be imported

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.samples_ms) if self.samples_ms else None


def _environment() -> dict[str, str]:
    return lambda_shape.environment("bench")


def _sample(candidate: Candidate, env: dict[str, str]) -> float | None:
    out = subprocess.run([sys.executable, "-c", _PROBE, candidate.code, json.dumps(_EVENTS[candidate.source])],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    last = out.stdout.strip().splitlines()[-1]
    return None if last.startswith(UNAVAILABLE) else float(last)


def measure(rounds: int = 15) -> list[Row]:
    env = _environment()
    samples: dict[int, list[float]] = {i: [] for i in range(len(CANDIDATES))}
    available = {i for i, candidate in enumerate(CANDIDATES) if _sample(candidate, env) is not None}  # warm-up
    for _ in range(rounds):
        for i in sorted(available):
            value = _sample(CANDIDATES[i], env)
            if value is not None:
                samples[i].append(value)
    return [Row(candidate, tuple(samples[i])) for i, candidate in enumerate(CANDIDATES)]


def table(rows: list[Row]) -> str:
    lines = [
        f"Batch strategy: import + one one-record batch in a fresh interpreter, after what every function imports "
        f"(medians of {max((len(r.samples_ms) for r in rows), default=0)})",
        f"| {'strategy':<40} | {'source':<8} | {'median ms':>9} | {'min ms':>7} | {'max ms':>7} |",
        f"|{'-' * 42}|{'-' * 10}|{'-' * 11}|{'-' * 9}|{'-' * 9}|",
    ]
    for row in rows:
        name, source = row.candidate.name, row.candidate.source
        if not row.samples_ms:
            lines.append(f"| {name:<40} | {source:<8} | {'n/a':>9} | {'n/a':>7} | {'n/a':>7} |")
            continue
        lines.append(f"| {name:<40} | {source:<8} | {row.median_ms:>9.1f} | {min(row.samples_ms):>7.1f} | "
                     f"{max(row.samples_ms):>7.1f} |")
    return "\n".join(lines)
