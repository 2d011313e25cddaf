"""What the marketplace costs on AWS: per million installs and per active user per month, at list prices.

Nothing here is guessed that can be measured. Each request type (an install, an update check, a search, ...) is
made of the requests an editor really sends, and each request that reaches a Lambda function is run through that
function's own ``lambda_handler``, in-process against moto, with the event API Gateway (payload 2.0), Kinesis or
DynamoDB Streams sends, warm, many times. Per invocation that gives:

- the handler's time, median, without the time moto spends inside its own request handling (it stands for the
  network and the service, and moto's is unlike AWS's) nor the meter's own hooks;
- every AWS call it makes, counted by botocore hooks on the shared clients (``platform.aws``): per operation,
  DynamoDB read and write request units from the sizes of the items read and written (moto returns no consumed
  capacity, so each item's size is taken from moto's table, before and after a write), S3 GET- and PUT-class
  requests, KMS requests, Kinesis records and bytes;
- what it writes to its log (the JSON log lines and the EMF metrics Powertools prints).

HTTP requests carry the headers CloudFront adds, the origin secret among them (configured, so the functions
check it as deployed). Calls a function makes several at a time are made one at a time while measured, since
moto's time cannot be subtracted from overlapping calls: the stats function's writes
(``STATS_WRITE_CONCURRENCY=1``) and the gallery's Queries (``catalog.reader.PARALLEL_QUERIES`` set to 1 for the
run); the model waits for them in rounds of 8 and 16 again.

The website's extension page (``GET /items?itemName=``, the web function) reads the extension's partition, its
statistics totals, its reviews and, from S3, its Manifest, README and CHANGELOG; each extension in the tables gets
those objects, of realistic sizes, and as many reviews as its rating count. READMEs and CHANGELOGs are rendered
once per instance and kept (``web.pages``), so the page is measured as a warm instance serves it: each recorded
view follows an unrecorded one of the same page, and reads only the DynamoDB items and the Manifest. The first
view of a page on an instance, which reads and renders them too, is measured and shown, not priced.

The model then bills each invocation as Lambda does: the handler's time scaled to the function's share of a
vCPU (``memory_mb`` of ``platform.functions``; one vCPU at 1,769 MB), plus an assumed latency per AWS call,
rounded up to the millisecond, at the arm64 price. Everything around the functions (CloudFront, its function
and logs, API Gateway, the stream, Firehose, S3 behind the CDN, CloudWatch Logs, X-Ray) is billed from counts
and sizes, with the assumptions printed under the tables; a page CloudFront answers from its cache costs only
CloudFront's request, function and log line. CDN egress (data transfer out) is excluded, as the issue's goal
says; so are free tiers.

Budget (issue 18): the install request type alone at most $5 per million installs.
"""

from __future__ import annotations

import base64
import gc
import io
import itertools
import json
import math
import random
import statistics
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from bench import gallery_query, synthetic_catalog
from bench import stats as bench_stats
from bench.emulator import Emulator, in_process_aws, timed_emulator

BUDGET_PER_MILLION_INSTALLS = 5.0
ROUNDS = 60  # invocations timed per request (after a warm-up); batches of the stats function: a tenth of it
CATALOG = 1_000  # extensions in the search snapshot
IN_TABLES = 200  # of which in the tables (installs, updates and lookups pick among them)
BASE = "https://marketplace.example.test"
ORIGIN_SECRET = "bench-origin-secret"  # noqa: S105  (a stand-in for the distribution's header)
CLIENT = "VSCode 1.100.3"
GALLERY_ROUTE = "ANY /_apis/public/gallery/{proxy+}"
SYNC_ROUTE = "ANY /sync/{proxy+}"
TELEMETRY_ROUTE = "ANY /api/telemetry"
WEB_ROUTE = "ANY /items"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"
SERVICE = "/_apis/public/gallery"
PACKAGE = "Microsoft.VisualStudio.Services.VSIXPackage"
TARGET = "Microsoft.VisualStudio.Code"
FLAGS = 950  # what VS Code sends (bench.gallery_query)
MILLION = 1_000_000
GB = 1024**3
KIB = 1024


# ------------------------------------------------------------------------------------------------ prices


class Price(NamedTuple):
    what: str
    dollars: float
    per: str
    url: str


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_S3 = "https://aws.amazon.com/s3/pricing/"
_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_KINESIS = "https://aws.amazon.com/kinesis/data-streams/pricing/"
_CLOUDFRONT = "https://aws.amazon.com/cloudfront/pricing/"
_CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"

# AWS list prices, us-east-1, on demand, arm64, without free tiers. Constants: the script never asks the network.
LAMBDA_GB_SECOND = Price("Lambda duration, arm64", 0.0000133334, "GB-second (first 7.5 billion a month)", _LAMBDA)
LAMBDA_REQUESTS = Price("Lambda requests", 0.20, "million requests", _LAMBDA)
API_REQUESTS = Price("API Gateway HTTP API requests", 1.00,
                     "million requests (first 300 million a month; each 512 KB of a request is one more)",
                     "https://aws.amazon.com/api-gateway/pricing/")
DDB_READS = Price("DynamoDB on-demand reads", 0.125, "million read request units", _DDB)
DDB_WRITES = Price("DynamoDB on-demand writes", 0.625, "million write request units", _DDB)
DDB_STORAGE = Price("DynamoDB storage (standard table class)", 0.25, "GB-month", _DDB)
DDB_PITR = Price("DynamoDB point-in-time recovery", 0.20, "GB-month", _DDB)
S3_GETS = Price("S3 Standard GET (and HEAD)", 0.0004, "1,000 requests", _S3)
S3_PUTS = Price("S3 Standard PUT, COPY, POST, LIST", 0.005, "1,000 requests", _S3)
S3_STORAGE = Price("S3 Standard storage (packages, first 50 TB)", 0.023, "GB-month", _S3)
KINESIS_STREAM_HOURS = Price("Kinesis Data Streams on-demand stream", 0.04, "stream-hour", _KINESIS)
KINESIS_INGEST = Price("Kinesis on-demand data in", 0.08, "GB (each record rounded up to 1 KiB)", _KINESIS)
KINESIS_RETRIEVAL = Price("Kinesis on-demand data out", 0.04, "GB, per consumer", _KINESIS)
FIREHOSE_INGEST = Price("Data Firehose ingestion", 0.029, "GB (first 500 TB; each record rounded up to 5 KB)",
                        "https://aws.amazon.com/firehose/pricing/")
KMS_REQUESTS = Price("KMS requests (symmetric)", 0.03, "10,000 requests", "https://aws.amazon.com/kms/pricing/")
KMS_KEYS = Price("KMS customer managed key", 1.00, "key-month (each rotation adds $1, up to $3)",
                 "https://aws.amazon.com/kms/pricing/")
CLOUDFRONT_REQUESTS = Price("CloudFront HTTPS requests, United States", 0.0100,
                            "10,000 requests (Europe $0.0120; egress excluded)", _CLOUDFRONT)
CLOUDFRONT_FUNCTIONS = Price("CloudFront Functions", 0.10, "million invocations", _CLOUDFRONT)
LOGS_INGESTION = Price("CloudWatch Logs ingestion (standard)", 0.50, "GB", _CLOUDWATCH)
VENDED_LOGS_S3 = Price("CloudFront standard logs (v2) delivered to S3", 0.25, "GB", _CLOUDWATCH)
CUSTOM_METRICS = Price("CloudWatch custom metrics (EMF)", 0.30, "metric-month (first 10,000)", _CLOUDWATCH)
XRAY_TRACES = Price("X-Ray traces recorded", 5.00, "million traces", "https://aws.amazon.com/xray/pricing/")

PRICES: tuple[Price, ...] = (
    LAMBDA_GB_SECOND, LAMBDA_REQUESTS, API_REQUESTS, DDB_READS, DDB_WRITES, DDB_STORAGE, DDB_PITR, S3_GETS,
    S3_PUTS, S3_STORAGE, KINESIS_STREAM_HOURS, KINESIS_INGEST, KINESIS_RETRIEVAL, FIREHOSE_INGEST, KMS_REQUESTS,
    KMS_KEYS, CLOUDFRONT_REQUESTS, CLOUDFRONT_FUNCTIONS, LOGS_INGESTION, VENDED_LOGS_S3, CUSTOM_METRICS, XRAY_TRACES,
)


# ------------------------------------------------------------------------------------------- assumptions

LATENCY_MS = {"dynamodb": 5.0, "s3": 15.0, "kinesis": 10.0, "kms": 8.0}  # per call, waited for by the function
FULL_VCPU_MB = 1769  # Lambda gives a function one vCPU at 1,769 MB, a proportional share below
# Calls a function makes several at a time: (function, operation) -> at once. The stats function writes (and
# touches) 8 at a time (STATS_WRITE_CONCURRENCY); the gallery reads many extensions with 16 Queries at once
# (catalog.reader.PARALLEL_QUERIES). Both run one at a time while measured, so moto's time can be subtracted.
CONCURRENT = {("stats", "UpdateItem"): 8, ("stats", "GetItem"): 8, ("gallery", "Query"): 16}
INIT_BILLED_MS = 800.0  # a cold start's INIT phase, billed since August 2025 (imports, clients, first compile)
COLD_START_SHARE = 0.005  # of invocations
PLATFORM_LOG_BYTES = 650  # Lambda's own JSON lines per invocation (platform.start, platform.report)
CDN_LOG_BYTES = 450  # one CloudFront access-log record, the fields of stacks.cdn_logs, as JSON
XRAY_SAMPLED = 0.05  # the default rule: the first request each second, then 5 %; the reservoir is a fixed cost
STREAM_CONSUMERS = 2  # the stats function and Firehose read every record of the event stream
FIREHOSE_RECORD_UNIT = 5 * 1000
# CloudFront cache hits. assets/* is immutable per version. The website's pages are kept (per query string) for the
# 60 s of their Cache-Control: a popular page is a hit for all but one view a minute, a long-tail page seen less
# than once a minute always misses; half, for views spread over a Zipf-shaped catalog. The static files the pages
# use are named by their digest and kept a year: taken as hits always.
CACHE_HIT = {"package": 0.90, "asset": 0.90, "icon": 0.95, "page": 0.50}
STATIC_FILES = 2  # per page view: site.css and search.js (the favicon and the browser's own cache left out)
PAGE_STEP = "web: extension page"
PAGE_FIRST_STEP = "web: extension page, README and CHANGELOG rendered"
# What the page reads, seeded for every extension in the tables (sizes drawn log-uniformly, in KiB)
MANIFEST_KIB, README_KIB, CHANGELOG_KIB = (2, 24), (2, 16), (1, 32)
STATS_BATCH = 100  # records per stats invocation (the stream's 5 s window; 20 records/s)
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024  # an invocation's event at most: a batch of big records is smaller
TELEMETRY_EVENTS = 100  # per telemetry request
TELEMETRY_STEP = f"telemetry: {TELEMETRY_EVENTS}-event batch"
INDEXER_STEP = "search indexer: one touched extension"
UPDATE_CHECK_EXTENSIONS = 20  # installed gallery extensions, looked up by UUID in one extensionquery
SEARCH_ICONS = 10  # result icons an editor shows for one search (fetched from assetUri, the CDN)
HOURS_PER_MONTH = 730
SEARCH_REFRESH_SECONDS = 5  # each warm gallery instance checks the search manifest at most this often
FIREHOSE_BUFFER_SECONDS = 60  # resources.EVENTS_TO_LAKE: one lake object per interval (and its KMS data key)
XRAY_RESERVOIR_PER_SECOND = 1


class Usage(NamedTuple):
    request: str
    times: float
    per: str  # "month", "day" (active day) or "week"
    why: str


ACTIVE_DAYS = 22  # a month's working days
WEEKS = 30 / 7
PROFILE: tuple[Usage, ...] = (
    Usage("install", 1, "month", "one new extension a month"),
    Usage("update download", 10, "month", "auto-update (on by default) of 20 installed extensions"),
    Usage("update check", 2, "day", "VS Code checks every 12 h (ExtensionsWorkbenchService) and at start"),
    Usage("search", 2, "week", "one extensionquery each, 10 result icons"),
    Usage("page view", 5, "week", "an extension's page on the website, its CSS, script and icon"),
    Usage("sync check", 96, "day", "VS Code's auto-sync asks for the manifest every 5 min, 8 h a day"),
    Usage("sync round", 4, "day", "a settings change: manifest, latest, write"),
    Usage("telemetry batch", 8, "day", f"{TELEMETRY_EVENTS} events each"),
)


def per_month(usage: Usage) -> float:
    return usage.times * {"month": 1.0, "day": float(ACTIVE_DAYS), "week": WEEKS}[usage.per]


# ------------------------------------------------------------------------------------------------ meter


class Call(NamedTuple):
    service: str
    operation: str
    ok: bool
    rru: float = 0.0
    wru: float = 0.0
    records: int = 0
    record_bytes: int = 0
    kinesis_kib: int = 0  # records rounded up to 1 KiB each
    firehose_units: int = 0  # records rounded up to 5 KB each, in units of 5 KB
    target: str = ""  # the table of a DynamoDB call


S3_GET_CLASS = {"GetObject", "HeadObject", "GetObjectTagging"}
S3_FREE = {"DeleteObject", "DeleteObjects"}


class Meter:
    """Every AWS call of the shared clients, with its units; ``seconds`` is the time spent in these hooks."""

    SERVICES = ("dynamodb", "s3", "kinesis", "kms")

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.seconds = 0.0
        self.captured: list[tuple[str, dict[str, Any]]] = []  # (operation, params) of the calls asked for
        self.capture: set[str] = set()

    def install(self) -> None:
        from marketplace.platform import aws

        for service in self.SERVICES:
            events = aws.client(service).meta.events
            events.register("before-parameter-build", self._before)
            events.register("after-call", self._after)

    def reset(self) -> None:
        self.calls, self.seconds = [], 0.0

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        started = time.perf_counter()
        try:
            context["cost.params"] = params
            if model.service_model.service_name == "dynamodb":
                context["cost.before"] = _write_sizes(model.name, params)
            if model.name in self.capture:
                self.captured.append((model.name, params))
        finally:
            self.seconds += time.perf_counter() - started

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
               **_: Any) -> None:
        started = time.perf_counter()
        try:
            service, operation = model.service_model.service_name, model.name
            params: dict[str, Any] = context.get("cost.params") or {}
            ok = http_response.status_code < 300
            if service == "dynamodb":
                self.calls.append(_dynamodb_call(operation, params, parsed, ok, context.get("cost.before") or []))
            elif service == "kinesis":
                records = [(r["Data"], r["PartitionKey"]) for r in params.get("Records", [])] or [
                    (params.get("Data", b""), params.get("PartitionKey", ""))]
                sizes = [len(_bytes(data)) + len(key.encode()) for data, key in records]
                self.calls.append(Call(service, operation, ok, records=len(sizes), record_bytes=sum(sizes),
                                       kinesis_kib=sum(math.ceil(s / KIB) for s in sizes),
                                       firehose_units=sum(math.ceil(s / FIREHOSE_RECORD_UNIT) for s in sizes)))
            else:
                self.calls.append(Call(service, operation, ok))
        finally:
            self.seconds += time.perf_counter() - started


def _bytes(data: Any) -> bytes:
    return data if isinstance(data, bytes) else str(data).encode()


def _table(name: str) -> Any:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(name)


def _stored_size(table_name: str, key: dict[str, Any]) -> int:
    """The stored item's size as DynamoDB counts it (attribute names and values), 0 when there is none."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = _table(table_name)
    hash_value = key.get(table.hash_key_attr)
    if hash_value is None:
        return 0
    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
    item = table.get_item(DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None)
    return int(item.size()) if item is not None else 0


def _key_names(table_name: str) -> list[str]:
    table = _table(table_name)
    return [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])


def _key_of(table_name: str, item: dict[str, Any]) -> dict[str, Any]:
    return {n: item[n] for n in _key_names(table_name) if n in item}


def _write_targets(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """(table, key, transactional) of every item a write call writes."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        table = params["TableName"]
        key = params["Key"] if "Key" in params else _key_of(table, params["Item"])
        return [(table, key, False)]
    if operation == "BatchWriteItem":
        targets = []
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    targets.append((table, _key_of(table, request["PutRequest"]["Item"]), False))
                else:
                    targets.append((table, request["DeleteRequest"]["Key"], False))
        return targets
    if operation == "TransactWriteItems":
        targets = []
        for entry in params.get("TransactItems", []):
            body = next(iter(entry.values()))  # Put, Update, Delete or ConditionCheck: each costs a write
            table = body["TableName"]
            targets.append((table, body["Key"] if "Key" in body else _key_of(table, body["Item"]), True))
        return targets
    return []


def _write_sizes(operation: str, params: dict[str, Any]) -> list[int]:
    return [_stored_size(t, k) for t, k, _ in _write_targets(operation, params)]


def _read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / 4096))
    return units * (2.0 if transactional else 1.0 if consistent else 0.5)


def _dynamodb_call(operation: str, params: dict[str, Any], parsed: dict[str, Any], ok: bool,
                   before: list[int]) -> Call:
    table = str(params.get("TableName", ""))
    if operation in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"):
        targets = _write_targets(operation, params)
        wru = 0.0
        for (target, key, transactional), old in zip(targets, before, strict=True):
            new = _stored_size(target, key) if ok else 0
            wru += max(1, math.ceil(max(old, new) / KIB)) * (2 if transactional else 1)
        return Call("dynamodb", operation, ok, wru=wru, target=targets[0][0] if targets else table)
    consistent = bool(params.get("ConsistentRead"))
    if operation == "GetItem":
        return Call("dynamodb", operation, ok, rru=_read_units(_stored_size(table, params["Key"]), consistent),
                    target=table)
    if operation == "BatchGetItem":
        rru = 0.0
        for name, request in params.get("RequestItems", {}).items():
            for key in request.get("Keys", []):
                rru += _read_units(_stored_size(name, key), bool(request.get("ConsistentRead")))
            table = name
        return Call("dynamodb", operation, ok, rru=rru, target=table)
    if operation == "TransactGetItems":
        rru = sum(_read_units(_stored_size(e["Get"]["TableName"], e["Get"]["Key"]), True, True)
                  for e in params.get("TransactItems", []))
        return Call("dynamodb", operation, ok, rru=rru, target=table)
    if operation in ("Query", "Scan"):  # the items read, whole (a projection does not make a read cheaper)
        size, names = 0, _key_names(table)
        for item in parsed.get("Items", []):
            complete = all(n in item for n in names)
            size += _stored_size(table, _key_of(table, item)) if complete else len(json.dumps(item))
        return Call("dynamodb", operation, ok, rru=max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5),
                    target=table)
    return Call("dynamodb", operation, ok, target=table)


class LogSink(io.TextIOBase):
    """Stands in for stdout while handlers run: counts the bytes of their log lines and keeps the EMF metrics."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.metrics: set[tuple[str, str, str]] = set()

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        if '"_aws"' in text:
            for line in text.splitlines():
                self._metric(line)
        return len(text)

    def _metric(self, line: str) -> None:
        try:
            blob = json.loads(line)
        except ValueError:
            return
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimensions in directive.get("Dimensions", []):
                values = ",".join(f"{d}={blob.get(d)}" for d in dimensions)
                for metric in directive.get("Metrics", []):
                    self.metrics.add((directive.get("Namespace", ""), metric.get("Name", ""), values))


@contextmanager
def _logs_to(sink: LogSink) -> Iterator[None]:
    """Send stdout, and every log handler writing to it, to ``sink``."""
    import logging

    original = sys.stdout
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in logging.Logger.manager.loggerDict)]
    handlers = [h for logger in loggers for h in logger.handlers
                if isinstance(h, logging.StreamHandler) and h.stream in (original, sys.__stdout__)]
    streams = [h.stream for h in handlers]
    sys.stdout = sink
    for handler in handlers:
        handler.setStream(sink)
    try:
        yield
    finally:
        sys.stdout = original
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)


# ---------------------------------------------------------------------------------------------- samples


@dataclass
class Step:
    """One kind of invocation of one function, measured ``len(handler_ms)`` times."""

    name: str
    function: str
    events: int = 1  # events (records) per invocation: the share of one is 1 / events
    handler_ms: list[float] = field(default_factory=list)
    emulator_ms: list[float] = field(default_factory=list)
    wait_ms: list[float] = field(default_factory=list)  # modeled: the calls' latency, per invocation
    calls: list[Call] = field(default_factory=list)
    log_bytes: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    route: str = ""
    path: str = ""

    @property
    def samples(self) -> int:
        return len(self.handler_ms)

    @property
    def memory_mb(self) -> int:
        from marketplace.platform.functions import function

        return function(self.function).memory_mb

    @property
    def median_ms(self) -> float:
        return statistics.median(self.handler_ms)

    @property
    def cpu_ms(self) -> float:
        """The median handler time at the function's share of a vCPU."""
        return self.median_ms * max(1.0, FULL_VCPU_MB / self.memory_mb)

    def per_invocation(self, what: Callable[[Call], float]) -> float:
        return sum(what(c) for c in self.calls) / self.samples

    @property
    def aws_calls(self) -> float:
        return len(self.calls) / self.samples

    def operations(self) -> Counter[str]:
        counted: Counter[str] = Counter(f"{c.service}.{c.operation}" for c in self.calls)
        return counted

    @property
    def mean_wait_ms(self) -> float:
        return statistics.fmean(self.wait_ms)

    @property
    def billed_ms(self) -> int:
        return math.ceil(self.cpu_ms + self.mean_wait_ms)


def waited_ms(function: str, calls: Sequence[Call]) -> float:
    """Time an invocation waits for AWS: each call's latency, calls made several at a time in rounds."""
    rounds: Counter[tuple[str, str]] = Counter()
    waited = 0.0
    for call in calls:
        if (function, call.operation) in CONCURRENT:
            rounds[(call.service, call.operation)] += 1
        else:
            waited += LATENCY_MS[call.service]
    for (service, operation), count in rounds.items():
        waited += math.ceil(count / CONCURRENT[(function, operation)]) * LATENCY_MS[service]
    return waited


# ---------------------------------------------------------------------------------------------- running


def _http(method: str, path: str, route: str, headers: dict[str, str], body: str | None = None,
          query: str = "", address: str = "198.51.100.7", browser: bool = False) -> dict[str, Any]:
    """The event API Gateway sends for a request through CloudFront: from the editor, or from a browser."""
    from tests.integration.events import http_event

    client = ({"user-agent": BROWSER, "accept": "text/html,application/xhtml+xml,*/*;q=0.8"} if browser
              else {"user-agent": f"{CLIENT} (Electron)", "x-market-client-id": CLIENT})
    sent = {"x-origin-verify": ORIGIN_SECRET, "x-forwarded-host": BASE.split("://")[1],
            "cloudfront-forwarded-proto": "https", "cloudfront-viewer-address": f"{address}:53122",
            **client, "accept-encoding": "gzip, deflate, br", **headers}
    return http_event(method, path, route, sent, body, query)


class Runner:
    def __init__(self, meter: Meter, sink: LogSink) -> None:
        self.meter, self.sink = meter, sink
        self.steps: dict[str, Step] = {}

    def run(self, step: Step, handler: Callable[[dict[str, Any], Any], dict[str, Any]], event: dict[str, Any],
            record: bool, expect: Sequence[int] = (200,)) -> dict[str, Any]:
        from tests.integration.events import context

        lambda_context = context(step.function)
        logged = self.sink.bytes
        self.meter.reset()
        Emulator.reset()
        started = time.perf_counter()
        answer = handler(event, lambda_context)
        elapsed = time.perf_counter() - started
        status = answer.get("statusCode", 200)
        if status not in expect or answer.get("batchItemFailures"):
            raise RuntimeError(f"{step.name}: {status} {str(answer.get('body') or answer)[:300]}")
        if record:
            step.handler_ms.append((elapsed - Emulator.seconds - self.meter.seconds) * 1000)
            step.emulator_ms.append(Emulator.seconds * 1000)
            step.wait_ms.append(waited_ms(step.function, self.meter.calls))
            step.calls.extend(self.meter.calls)
            step.log_bytes += self.sink.bytes - logged
            step.request_bytes += len(str(event.get("body") or "").encode())
            body = str(answer.get("body") or "")
            step.response_bytes += len(base64.b64decode(body)) if answer.get("isBase64Encoded") else len(body.encode())
            if len(self.meter.calls) != Emulator.calls:
                raise RuntimeError(f"{step.name}: {Emulator.calls} AWS calls, {len(self.meter.calls)} metered")
            step.route, step.path = event.get("routeKey", ""), event.get("rawPath", "")
            self.steps[step.name] = step
        return answer


_SEQUENCE = itertools.count(1)  # batches of the stream's one shard, in order


def _zipf(rng: random.Random, items: Sequence[Any]) -> Any:
    """An item, the first ones far more often (rank ~ 1 / k)."""
    return items[min(len(items) - 1, int(len(items) ** rng.random()) - 1)]


def _query(*criteria: dict[str, Any], page_size: int = 50) -> str:
    return json.dumps({"filters": [{"criteria": [{"filterType": 8, "value": TARGET}, *criteria,
                                                 {"filterType": 12, "value": "4096"}],
                                    "pageNumber": 1, "pageSize": page_size, "sortBy": 0, "sortOrder": 0}],
                       "assetTypes": [], "flags": FLAGS})


def _stream_event(table_name: str, keys: dict[str, Any], sequence: int) -> dict[str, Any]:
    """A DynamoDB Streams record (NEW_AND_OLD_IMAGES) of an item the stats function touched."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = _table(table_name)
    item = table.get_item(DynamoType(keys["pk"]), DynamoType(keys["sk"]))
    image = item.to_json()["Attributes"] if item is not None else keys
    return {"Records": [{
        "eventID": uuid.uuid4().hex, "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {"ApproximateCreationDateTime": int(time.time()), "Keys": keys, "NewImage": image,
                     "OldImage": image, "SequenceNumber": str(sequence), "SizeBytes": len(json.dumps(image)),
                     "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table_name}/stream/2026-01-01T00:00:00.000",
    }]}


def _telemetry_body(rng: random.Random, installed: list[str], now: datetime) -> bytes:
    from bench import telemetry

    events = telemetry.typical_batch(rng, now, TELEMETRY_EVENTS)
    for event in events:  # activations name the editor's installed extensions, which the catalog holds
        properties = event["properties"]
        if "extensionId" in properties:
            properties["extensionId"] = rng.choice(installed)
        if "id" in properties and event["eventName"] == "extensionGallery:install":
            properties["id"] = rng.choice(installed)
    return json.dumps({"events": events}).encode()


@dataclass
class Measured:
    steps: dict[str, Step]
    touches_per_install: float  # catalog touches that went through, per install event
    touches_per_telemetry_record: float
    records_per_telemetry_request: float
    custom_metrics: int
    catalog: int
    in_tables: int
    most_reviews: int  # of one extension, seeded


def measure(rounds: int = ROUNDS) -> Measured:
    from tests.integration.sync_tokens import SyncIssuer

    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    rng = random.Random(18)
    pages_rng = random.Random(14)  # the website's own, so the other requests pick what they did before it
    issuer = SyncIssuer()
    extra = {"AUTH_ISSUERS": issuer.issuers_env(), "STATS_WRITE_CONCURRENCY": "1",
             "POWERTOOLS_METRICS_DISABLED": "false", "MARKETPLACE_ORIGIN_SECRET": ORIGIN_SECRET}
    meter, sink = Meter(), LogSink()
    with in_process_aws(extra), timed_emulator():
        from marketplace.platform import aws
        from marketplace.search import loader, snapshot
        from marketplace.search.encoding import document_of

        views = synthetic_catalog.build(CATALOG)
        snapshot.replace_all([document_of(v) for v in views], scan_started=0)
        stored = rng.sample(views, IN_TABLES)
        stored.sort(key=lambda v: -v.installs)  # the popular ones first, for _zipf
        gallery_query._put_in_tables(stored)
        most_reviews = _put_page_content(stored, pages_rng)
        loader.reset()

        from functions.gallery import handler as gallery
        from functions.search_indexer import handler as indexer
        from functions.stats import handler as stats
        from functions.sync import handler as sync
        from functions.telemetry import handler as telemetry
        from functions.web import handler as web
        from marketplace.catalog import reader
        from marketplace.gallery.downloads import download_event
        from marketplace.platform.config import location
        from marketplace.platform.resources import EXTENSIONS_TABLE
        from marketplace.sync import routes as sync_routes

        aws.reset_clients()
        meter.install()
        runner = Runner(meter, sink)
        parallel, reader.PARALLEL_QUERIES = reader.PARALLEL_QUERIES, 1  # see CONCURRENT
        gc.disable()
        try:
            with _logs_to(sink):
                _gallery_steps(runner, gallery.lambda_handler, stored, rng, rounds)
                _web_steps(runner, web.lambda_handler, stored, pages_rng, rounds)
                _sync_steps(runner, sync.lambda_handler, sync_routes, issuer, rounds)
                records = _telemetry_steps(runner, telemetry.lambda_handler, meter, stored, rng, rounds)
                table = location(EXTENSIONS_TABLE)
                touched: list[dict[str, Any]] = []
                install_touches = _stats_steps(
                    runner, stats, "stats: install events",
                    [download_event(_zipf(rng, stored).extension_id, "1.0.0", None, "install", {
                        "x-market-client-id": CLIENT}).encode() for _ in range(_stats_records(rounds))],
                    table, touched)
                telemetry_touches = _stats_steps(runner, stats, "stats: telemetry records", records, table, [])
                reindex = Step(INDEXER_STEP, "search_indexer")
                for n, keys in enumerate(touched[:max(5, rounds // 2) + 3]):  # 3 to warm up
                    runner.run(reindex, indexer.lambda_handler, _stream_event(table, keys, 10**20 + n), record=n >= 3)
        finally:
            gc.enable()
            reader.PARALLEL_QUERIES = parallel
            loader.reset()
        telemetry_requests = runner.steps[TELEMETRY_STEP].samples
        kinesis = [c for c in runner.steps[TELEMETRY_STEP].calls if c.service == "kinesis"]
        return Measured(runner.steps, install_touches, telemetry_touches,
                        sum(c.records for c in kinesis) / telemetry_requests, len(sink.metrics), CATALOG, IN_TABLES,
                        most_reviews)


def _warm(rounds: int) -> int:
    """Invocations that warm a code path up before the recorded ones."""
    return 5 if rounds >= 20 else 2


def _repeat(runner: Runner, step: Step, handler: Callable[..., dict[str, Any]], make: Callable[[int], dict[str, Any]],
            rounds: int, expect: Sequence[int] = (200,)) -> None:
    warm = _warm(rounds)
    for n in range(rounds + warm):
        runner.run(step, handler, make(n), record=n >= warm, expect=expect)


def _gallery_steps(runner: Runner, handler: Callable[..., dict[str, Any]], stored: list[Any], rng: random.Random,
                   rounds: int) -> None:
    def lookup(_: int) -> dict[str, Any]:
        view = _zipf(rng, stored)
        return _http("POST", f"{SERVICE}/extensionquery", GALLERY_ROUTE, {"content-type": "application/json"},
                     _query({"filterType": 7, "value": view.extension_id}))

    def fetch(kind: str) -> Callable[[int], dict[str, Any]]:
        def make(_: int) -> dict[str, Any]:
            view = _zipf(rng, stored)
            builds = [v for v in view.versions if v.version == view.latest_version] or view.versions[:1]
            platform = next((v.target_platform for v in builds if v.target_platform == "linux-x64"),
                            builds[0].target_platform)
            path = f"{SERVICE}/assets/{view.publisher}/{view.name}/{builds[0].version}/{PACKAGE}"
            query = f"redirect=true&{kind}=true" + (f"&targetPlatform={platform}" if platform else "")
            return _http("GET", path, GALLERY_ROUTE, {}, query=query)
        return make

    def update_check(_: int) -> dict[str, Any]:
        installed = {_zipf(rng, stored).uuid for _ in range(UPDATE_CHECK_EXTENSIONS * 3)}
        criteria = [{"filterType": 4, "value": u} for u in list(installed)[:UPDATE_CHECK_EXTENSIONS]]
        return _http("POST", f"{SERVICE}/extensionquery", GALLERY_ROUTE, {"content-type": "application/json"},
                     _query(*criteria, page_size=len(criteria)))

    texts = synthetic_catalog.text_queries(stored, rounds + 5)

    def search(n: int) -> dict[str, Any]:
        return _http("POST", f"{SERVICE}/extensionquery", GALLERY_ROUTE, {"content-type": "application/json"},
                     _query({"filterType": 10, "value": texts[n]}))

    _repeat(runner, Step("gallery: extensionquery by id", "gallery"), handler, lookup, rounds)
    _repeat(runner, Step("gallery: package fetch, install", "gallery"), handler, fetch("install"), rounds,
            expect=(302,))
    _repeat(runner, Step("gallery: package fetch, update", "gallery"), handler, fetch("update"), rounds,
            expect=(302,))
    _repeat(runner, Step(f"gallery: extensionquery by {UPDATE_CHECK_EXTENSIONS} ids", "gallery"), handler,
            update_check, rounds)
    _repeat(runner, Step("gallery: text search", "gallery"), handler, search, rounds)


def _kib(rng: random.Random, bounds: tuple[int, int]) -> int:
    """Bytes, log-uniform between the bounds (KiB): most files small, a few large."""
    low, high = bounds
    return int(low * KIB * (high / low) ** rng.random())


def _prose(rng: random.Random, words: int) -> str:
    vocabulary = synthetic_catalog.KINDS + synthetic_catalog.GENERAL + synthetic_catalog.LANGUAGES
    text = " ".join(rng.choice(vocabulary) for _ in range(words))
    return text[:1].upper() + text[1:] + "."


def _readme(rng: random.Random, view: Any, size: int) -> str:
    """A README as extensions write them: badges, sections of prose, lists, settings tables, code, images."""
    parts = [f"# {view.display_name or view.name}\n",
             f"[![Version](https://img.shields.io/visual-studio-marketplace/v/{view.publisher}.{view.name})]"
             f"(https://marketplace.example.test/items?itemName={view.publisher}.{view.name}) "
             "[![Build](https://github.com/example/example/actions/workflows/ci.yml/badge.svg)]"
             "(https://github.com/example/example/actions)\n", _prose(rng, 40) + "\n"]
    while sum(map(len, parts)) < size:
        parts += [f"## {_prose(rng, 3)[:-1]}\n", _prose(rng, rng.randint(30, 90)) + "\n",
                  "\n".join(f"- **{rng.choice(synthetic_catalog.KINDS)}**: {_prose(rng, 10)}"
                             for _ in range(rng.randint(2, 6))) + "\n",
                  "![screenshot](images/screenshot.png)\n",
                  "| Setting | Default | Description |\n|---|---|---|\n" + "\n".join(
                      f"| `{view.name}.{rng.choice(synthetic_catalog.KINDS)}` | `true` | {_prose(rng, 8)} |"
                      for _ in range(rng.randint(2, 5))) + "\n",
                  '```json\n{\n  "' + view.name + '.enable": true,\n  "' + view.name + '.level": "info"\n}\n```\n']
    return "\n".join(parts)


def _changelog(rng: random.Random, size: int) -> str:
    parts, major, minor = ["# Change Log\n"], rng.randint(1, 5), rng.randint(20, 60)
    while sum(map(len, parts)) < size:
        parts.append(f"## [{major}.{minor}.0] - 2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}\n\n" + "\n".join(
            f"- {rng.choice(('Added', 'Fixed', 'Changed'))} {_prose(rng, rng.randint(6, 20))}"
            for _ in range(rng.randint(2, 8))) + "\n")
        minor = minor - 1 if minor else 0
    return "\n".join(parts)


def _package_json(rng: random.Random, view: Any, version: Any, size: int) -> str:
    """The extension's package.json (the Manifest asset): its fields, and contributions up to ``size``."""
    manifest: dict[str, Any] = {
        "name": view.name, "publisher": view.publisher, "displayName": view.display_name,
        "description": view.description, "version": version.version, "engines": {"vscode": version.engine},
        "license": version.license, "repository": {"type": "git", "url": version.repository},
        "categories": list(view.categories), "keywords": list(view.tags), "main": "./dist/extension.js",
        "activationEvents": [], "contributes": {"commands": [], "configuration": {"properties": {}}},
    }
    if rng.random() < 0.1:
        manifest["sponsor"] = {"url": f"https://github.com/sponsors/{view.publisher}"}
    contributes = manifest["contributes"]
    while len(json.dumps(manifest)) < size:
        word = rng.choice(synthetic_catalog.KINDS)
        contributes["commands"].append({"command": f"{view.name}.{word}{len(contributes['commands'])}",
                                        "title": _prose(rng, 4), "category": view.display_name})
        contributes["configuration"]["properties"][f"{view.name}.{word}{len(contributes['commands'])}"] = {
            "type": "boolean", "default": True, "description": _prose(rng, 14)}
    return json.dumps(manifest, indent=2)


def _put_page_content(views: list[Any], rng: random.Random) -> int:
    """What the extension page reads besides the catalog and statistics items: each version's Manifest, README and
    CHANGELOG in S3, and as many reviews as the extension has ratings (ratings come from reviews here). The most
    reviews one extension has."""
    from marketplace.gallery.serialize import MANIFEST
    from marketplace.platform import aws
    from marketplace.platform.config import location
    from marketplace.platform.resources import PACKAGES_BUCKET, REVIEWS_TABLE
    from marketplace.reviews import store
    from marketplace.web.pages import CHANGELOG, DETAILS

    s3, dynamodb, bucket = aws.client("s3"), aws.client("dynamodb"), location(PACKAGES_BUCKET)
    reviews: list[dict[str, Any]] = []
    for view in views:
        readme, changelog = _readme(rng, view, _kib(rng, README_KIB)), _changelog(rng, _kib(rng, CHANGELOG_KIB))
        manifest_size = _kib(rng, MANIFEST_KIB)
        for version in view.versions:
            for asset, body, kind in ((MANIFEST, _package_json(rng, view, version, manifest_size), "application/json"),
                                      (DETAILS, readme, "text/markdown"), (CHANGELOG, changelog, "text/markdown")):
                s3.put_object(Bucket=bucket, Key=f"{version.asset_base}/{asset}", Body=body.encode(),
                              ContentType=kind)
        for n in range(view.rating_count):
            moment = (datetime(2026, 1, 1, tzinfo=UTC) - timedelta(minutes=rng.randrange(10**6))).isoformat(
                timespec="milliseconds").replace("+00:00", "Z")
            reviews.append(store._item(store.StoredReview(
                extension_id=view.extension_id, user_id=f"{rng.getrandbits(128):032x}",
                display_name=f"user{n}", provider="github", rating=rng.choice((5, 5, 5, 4, 4, 3, 2, 1)),
                title=_prose(rng, rng.randint(2, 6)) if rng.random() < 0.7 else None,
                comment=_prose(rng, rng.randint(8, 60)) if rng.random() < 0.8 else None,
                version=view.latest_version or view.latest_prerelease or "1.0.0", created_at=moment,
                updated_at=moment, token=f"{rng.getrandbits(64):016x}")))
    table = location(REVIEWS_TABLE)
    for start in range(0, len(reviews), 25):
        dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}}
                                                        for item in reviews[start:start + 25]]})
    return max((v.rating_count for v in views), default=0)


def _web_steps(runner: Runner, handler: Callable[..., dict[str, Any]], stored: list[Any], rng: random.Random,
               rounds: int) -> None:
    """The extension page, as a warm instance serves it (its README and CHANGELOG rendered by an unrecorded view
    of the same page just before), and as the first view of it on an instance renders them."""
    from marketplace.web import pages

    def page(view: Any) -> dict[str, Any]:
        return _http("GET", "/items", WEB_ROUTE, {}, query=f"itemName={view.publisher}.{view.name}", browser=True)

    kept, first = Step(PAGE_STEP, "web"), Step(PAGE_FIRST_STEP, "web")
    warm = _warm(rounds)
    for n in range(rounds + warm):
        event = page(_zipf(rng, stored))
        runner.run(Step("web: rendering kept", "web"), handler, event, record=False)
        runner.run(kept, handler, event, record=n >= warm)
    for n in range(rounds + warm):
        pages._rendered.cache_clear()
        runner.run(first, handler, page(_zipf(rng, stored)), record=n >= warm)


def _sync_steps(runner: Runner, handler: Callable[..., dict[str, Any]], routes: Any, issuer: Any,
                rounds: int) -> None:
    from marketplace.identity.principal import Principal

    users = [f"cost-user-{n}" for n in range(10)]
    headers = {u: issuer.headers(u) for u in users}
    ids = {u: Principal("tests", issuer.issuer, u, frozenset(), None).user_id for u in users}
    etags: dict[str, str] = {}

    def document(n: int) -> str:
        settings = {f"editor.setting{i}": f"value-{n}-{i}" for i in range(100)}
        return json.dumps({"version": 2, "machineId": "machine", "content": json.dumps(settings)})

    for user in users:  # each user has a settings document already
        runner.run(Step("sync: first write", "sync"), handler, _http(
            "POST", "/sync/v1/resource/settings", SYNC_ROUTE, {**headers[user], "content-type": "text/plain"},
            document(0)), record=False)

    def manifest(n: int, unchanged: bool) -> dict[str, Any]:
        user = users[n % len(users)]
        sent = dict(headers[user])
        if unchanged and user in etags:
            sent["if-none-match"] = etags[user]
        return _http("GET", "/sync/v1/manifest", SYNC_ROUTE, sent)

    check, round_manifest = Step("sync: manifest, unchanged (304)", "sync"), Step("sync: manifest", "sync")
    latest, write = Step("sync: read latest", "sync"), Step("sync: write", "sync")
    warm = _warm(rounds)
    for n in range(rounds + warm):
        user, record = users[n % len(users)], n >= warm
        routes.service().keys.forget(ids[user])  # a round starts without the user's key: rounds are minutes apart
        answer = runner.run(round_manifest, handler, manifest(n, unchanged=False), record)
        etags[user] = answer["headers"]["ETag"]
        runner.run(latest, handler, _http("GET", "/sync/v1/resource/settings/latest", SYNC_ROUTE,
                                          {**headers[user], "cache-control": "no-cache"}), record)
        runner.run(write, handler, _http("POST", "/sync/v1/resource/settings", SYNC_ROUTE,
                                         {**headers[user], "content-type": "text/plain"}, document(n)), record)
        etags[user] = runner.run(Step("sync: etag", "sync"), handler, manifest(n, False), False)["headers"]["ETag"]
        runner.run(check, handler, manifest(n, unchanged=True), record, expect=(304,))


def _telemetry_steps(runner: Runner, handler: Callable[..., dict[str, Any]], meter: Meter, stored: list[Any],
                     rng: random.Random, rounds: int) -> list[bytes]:
    """Telemetry requests; the Kinesis records they made, and as many more made the same way, for the stats
    function's batches."""
    now = datetime.now(UTC)
    editors = [[_zipf(rng, stored).extension_id for _ in range(UPDATE_CHECK_EXTENSIONS)] for _ in range(50)]
    meter.capture = {"PutRecords"}
    step = Step(TELEMETRY_STEP, "telemetry")

    def make(n: int) -> dict[str, Any]:
        body = _telemetry_body(rng, editors[n % len(editors)], now - timedelta(seconds=n))
        return _http("POST", "/api/telemetry", TELEMETRY_ROUTE, {"content-type": "application/json"}, body.decode(),
                     address=f"203.0.113.{n % 250}")

    needed = _stats_records(rounds)
    _repeat(runner, step, handler, make, max(rounds, 1), expect=(202,))
    while sum(len(p["Records"]) for _, p in meter.captured) < needed:  # more of the same records, not timed
        runner.run(Step("telemetry: more records", "telemetry"), handler, make(rng.randrange(10**6)), False,
                   expect=(202,))
    meter.capture = set()
    return [_bytes(r["Data"]) for _, p in meter.captured for r in p["Records"]][:needed]


STATS_WARM = 10  # records of the stats function's first batch, which warms it up


def _stats_records(rounds: int) -> int:
    """Records for the stats function: a warm-up batch, then a batch of ``STATS_BATCH`` per 10 rounds."""
    return STATS_WARM + STATS_BATCH * max(1, rounds // 10)


def _stats_steps(runner: Runner, stats: Any, name: str, payloads: list[bytes], table: str,
                 touched: list[dict[str, Any]]) -> float:
    """The stats function on batches of ``STATS_BATCH`` records; the catalog touches that went through, per
    record. Its clock moves 60 s per batch, so every extension a batch counts is due a touch (the most)."""
    encoded = statistics.fmean(len(base64.b64encode(p)) for p in payloads) + 400  # and the record's JSON
    size = min(STATS_BATCH, int(LAMBDA_PAYLOAD_BYTES / encoded))  # Lambda's 6 MB payload may come first
    step = Step(name, "stats", events=size)
    clock = [time.time()]
    stats.processor.clock = lambda: clock[0]
    batches = [payloads[:STATS_WARM]] + [payloads[i:i + size] for i in range(STATS_WARM, len(payloads), size)]
    batches = [b for b in batches if len(b) == size or b is batches[0]]  # whole batches only
    touches = records = 0
    runner.meter.capture = {"UpdateItem"}
    for number, batch in enumerate(batches):  # batch 0 warms the handler up and is not recorded
        clock[0] += 60
        runner.meter.captured.clear()
        event = bench_stats.kinesis_event(batch, next(_SEQUENCE) * 10_000)
        runner.run(step, stats.lambda_handler, event, record=number > 0)
        went = [c for c in runner.meter.calls if c.operation == "UpdateItem" and c.target == table and c.ok]
        if number > 0:
            touches += len(went)
            records += len(batch)
        touched.extend(p["Key"] for _, p in runner.meter.captured if p.get("TableName") == table)
    runner.meter.capture = set()
    return touches / max(1, records)


# ------------------------------------------------------------------------------------------------- model


class Fetch(NamedTuple):
    """A request CloudFront answers from its cache, or on a miss from S3 (assets/*): no Lambda function."""

    what: str
    times: float
    hit: float


class Part(NamedTuple):
    step: str
    times: float  # per request: invocations, or events of a step whose invocation handles ``events`` of them
    hit: float = 0.0  # of an HTTP step's requests, those CloudFront answers from its cache (no invocation)


class RequestType(NamedTuple):
    name: str
    parts: tuple[Part, ...]
    fetches: tuple[Fetch, ...]
    what: str


COMPONENTS = ("Lambda", "API GW", "CloudFront", "DynamoDB", "S3", "Kinesis+Firehose", "KMS", "Logs", "X-Ray")
HTTP_FUNCTIONS = ("gallery", "sync", "telemetry", "web")


def request_types(m: Measured, touches_per_install: float | None = None,
                  page_hits: float = CACHE_HIT["page"]) -> list[RequestType]:
    """The request types, each made of the measured invocations and the CDN fetches it causes;
    ``touches_per_install`` and ``page_hits`` replace the measured ratio and the assumed one (for the
    sensitivity lines)."""
    index = INDEXER_STEP
    touches = m.touches_per_install if touches_per_install is None else touches_per_install
    install_chain = (Part("stats: install events", 1), Part(index, touches))
    records = m.records_per_telemetry_request
    return [
        RequestType("install", (Part("gallery: extensionquery by id", 1), Part("gallery: package fetch, install", 1),
                                *install_chain),
                    (Fetch("manifest", 1, CACHE_HIT["asset"]), Fetch("package", 1, CACHE_HIT["package"])),
                    "query by id; manifest (CDN: VS Code reads it before installing); package fetch (counted, 302); "
                    "package (CDN); stats counts its event; the catalog touch re-indexes search"),
        RequestType("update download", (Part("gallery: package fetch, update", 1), *install_chain),
                    (Fetch("manifest", 1, CACHE_HIT["asset"]), Fetch("package", 1, CACHE_HIT["package"])),
                    "as an install, without the query (the update check found it)"),
        RequestType("update check", (Part(f"gallery: extensionquery by {UPDATE_CHECK_EXTENSIONS} ids", 1),), (),
                    f"one extensionquery naming {UPDATE_CHECK_EXTENSIONS} installed extensions by UUID"),
        RequestType("search", (Part("gallery: text search", 1),), (Fetch("icon", SEARCH_ICONS, CACHE_HIT["icon"]),),
                    f"one text extensionquery; {SEARCH_ICONS} result icons (CDN)"),
        RequestType("page view", (Part(PAGE_STEP, 1, page_hits),),
                    (Fetch("static CSS and script", STATIC_FILES, 1.0), Fetch("icon", 1, CACHE_HIT["icon"])),
                    f"the extension page (`/items?itemName=`) from the web function, {page_hits:.0%} of views "
                    f"answered by CloudFront's cache; its {STATIC_FILES} static files (CDN, always hits) and its "
                    "icon (CDN)"),
        RequestType("sync check", (Part("sync: manifest, unchanged (304)", 1),), (),
                    "GET manifest with If-None-Match: 304"),
        RequestType("sync round", (Part("sync: manifest", 1), Part("sync: read latest", 1), Part("sync: write", 1)),
                    (), "manifest, latest settings, a write; one KMS Decrypt (the key cache is cold)"),
        RequestType("telemetry batch", (Part(TELEMETRY_STEP, 1),
                                        Part("stats: telemetry records", records),
                                        Part(index, m.touches_per_telemetry_record * records)), (),
                    f"{TELEMETRY_EVENTS} events scrubbed and put ({records:.1f} records); stats reads them; "
                    "Firehose delivers them to the lake"),
    ]


def _access_log_bytes(step: Step) -> int:
    """One API Gateway access-log line (stacks.api.ACCESS_LOG_FORMAT) for this step's requests."""
    line = {"requestId": "KdKjMjE2IAMEbKQ=", "requestTime": "24/Nov/2026:10:00:00 +0000", "httpMethod": "POST",
            "path": step.path, "routeKey": step.route, "status": "200", "protocol": "HTTP/1.1",
            "responseLength": str(step.response_bytes // max(1, step.samples)), "latency": "25",
            "integrationLatency": "23", "integrationError": "-", "userAgent": f"{CLIENT} (Electron)"}
    return len(json.dumps(line, separators=(",", ":"))) + 100  # and CloudWatch's own timestamp and framing


@dataclass
class Costed:
    request: RequestType
    dollars: dict[str, float]  # per request, by component
    invocations: float
    handler_ms: float
    aws_calls: float
    billed_ms: float

    @property
    def total(self) -> float:
        return sum(self.dollars.values())


def cost(request: RequestType, steps: dict[str, Step]) -> Costed:
    d = dict.fromkeys(COMPONENTS, 0.0)
    invocations = handler_ms = aws_calls = billed_ms = 0.0
    for part in request.parts:
        step = steps[part.step]
        share = part.times * (1 - part.hit) / step.events  # invocations per request
        missed = part.times * (1 - part.hit)  # HTTP requests that reach API Gateway
        invocations += share
        handler_ms += share * step.median_ms
        aws_calls += share * step.aws_calls
        billed = step.billed_ms + COLD_START_SHARE * INIT_BILLED_MS
        billed_ms += share * billed
        d["Lambda"] += share * (LAMBDA_REQUESTS.dollars / MILLION
                                + billed / 1000 * step.memory_mb / 1024 * LAMBDA_GB_SECOND.dollars)
        rru, wru = step.per_invocation(lambda c: c.rru), step.per_invocation(lambda c: c.wru)
        d["DynamoDB"] += share * (rru * DDB_READS.dollars + wru * DDB_WRITES.dollars) / MILLION
        gets = step.per_invocation(lambda c: float(c.service == "s3" and c.operation in S3_GET_CLASS))
        puts = step.per_invocation(lambda c: float(c.service == "s3" and c.operation not in S3_GET_CLASS | S3_FREE))
        d["S3"] += share * (gets * S3_GETS.dollars + puts * S3_PUTS.dollars) / 1000
        d["KMS"] += share * step.per_invocation(lambda c: float(c.service == "kms")) * KMS_REQUESTS.dollars / 10_000
        kib, sent = step.per_invocation(lambda c: c.kinesis_kib), step.per_invocation(lambda c: c.record_bytes)
        units = step.per_invocation(lambda c: c.firehose_units)
        d["Kinesis+Firehose"] += share * (kib * KIB / GB * KINESIS_INGEST.dollars
                                          + sent * STREAM_CONSUMERS / GB * KINESIS_RETRIEVAL.dollars
                                          + units * FIREHOSE_RECORD_UNIT / GB * FIREHOSE_INGEST.dollars)
        logged = step.log_bytes / step.samples + PLATFORM_LOG_BYTES
        d["Logs"] += share * logged / GB * LOGS_INGESTION.dollars
        d["X-Ray"] += share * XRAY_SAMPLED * XRAY_TRACES.dollars / MILLION
        if step.function in HTTP_FUNCTIONS:  # through CloudFront (its viewer-request function) and API Gateway
            size = max(step.request_bytes, step.response_bytes) / step.samples
            d["API GW"] += missed * max(1, math.ceil(size / (512 * KIB))) * API_REQUESTS.dollars / MILLION
            d["CloudFront"] += part.times * (CLOUDFRONT_REQUESTS.dollars / 10_000
                                             + CLOUDFRONT_FUNCTIONS.dollars / MILLION)
            d["Logs"] += (missed * _access_log_bytes(step) * LOGS_INGESTION.dollars
                          + part.times * CDN_LOG_BYTES * VENDED_LOGS_S3.dollars) / GB
    for fetch in request.fetches:
        d["CloudFront"] += fetch.times * (CLOUDFRONT_REQUESTS.dollars / 10_000 + CLOUDFRONT_FUNCTIONS.dollars / MILLION)
        d["S3"] += fetch.times * (1 - fetch.hit) * S3_GETS.dollars / 1000
        d["Logs"] += fetch.times * CDN_LOG_BYTES * VENDED_LOGS_S3.dollars / GB
    return Costed(request, d, invocations, handler_ms, aws_calls, billed_ms)


class Fixed(NamedTuple):
    what: str
    dollars: float
    how: str


def fixed_costs(m: Measured) -> list[Fixed]:
    from marketplace.platform import resources as r

    seconds = HOURS_PER_MONTH * 3600
    objects = seconds / FIREHOSE_BUFFER_SECONDS
    checks = seconds / SEARCH_REFRESH_SECONDS
    return [
        Fixed("KMS keys", len(r.KEYS) * KMS_KEYS.dollars, f"{len(r.KEYS)} customer managed keys (first year)"),
        Fixed("Kinesis stream", len(r.STREAMS) * HOURS_PER_MONTH * KINESIS_STREAM_HOURS.dollars,
              f"{len(r.STREAMS)} on-demand stream, {HOURS_PER_MONTH} h"),
        Fixed("X-Ray reservoir", XRAY_RESERVOIR_PER_SECOND * seconds * XRAY_TRACES.dollars / MILLION,
              "the default rule's first request each second, once traffic is steady"),
        Fixed("lake objects", objects * (S3_PUTS.dollars / 1000 + KMS_REQUESTS.dollars / 10_000),
              f"Firehose writes an object every {FIREHOSE_BUFFER_SECONDS} s: a PUT and a KMS data key each"),
        Fixed("search manifest checks", checks * S3_GETS.dollars / 1000,
              f"one warm gallery instance asks S3 every {SEARCH_REFRESH_SECONDS} s (per instance)"),
        Fixed("custom metrics", m.custom_metrics * CUSTOM_METRICS.dollars,
              f"{m.custom_metrics} metrics (name and dimensions) the functions emitted in this run"),
    ]


# ------------------------------------------------------------------------------------------------ tables


@dataclass
class Result:
    measured: Measured
    costed: list[Costed]
    fixed: list[Fixed]
    per_user: float
    indexer_ceiling: float
    every_install_touches: float  # $ per install when each install's extension is due a touch
    page_view_uncached: float  # $ per page view when CloudFront's cache answers none

    def of(self, name: str) -> Costed:
        return next(c for c in self.costed if c.request.name == name)

    @property
    def install(self) -> Costed:
        return self.of("install")

    @property
    def page_view(self) -> Costed:
        return self.of("page view")

    @property
    def per_million_installs(self) -> float:
        return self.install.total * MILLION

    @property
    def ok(self) -> bool:
        return self.per_million_installs <= BUDGET_PER_MILLION_INSTALLS


def evaluate(m: Measured) -> Result:
    costed = [cost(r, m.steps) for r in request_types(m)]
    by_name = {c.request.name: c for c in costed}
    per_user = sum(per_month(u) * by_name[u.request].total for u in PROFILE)
    indexer = m.steps[INDEXER_STEP]
    ceiling = cost(RequestType("indexer", (Part(indexer.name, 1),), (), ""), m.steps).total
    every = cost(request_types(m, touches_per_install=1.0)[0], m.steps).total
    uncached = next(cost(r, m.steps).total for r in request_types(m, page_hits=0.0) if r.name == "page view")
    return Result(m, costed, fixed_costs(m), per_user, ceiling * HOURS_PER_MONTH * 3600, every, uncached)


def _money(value: float) -> str:
    return f"{value:,.2f}" if value >= 0.995 else f"{value:.3f}" if value >= 0.0995 else f"{value:.4f}"


def _by_part(request: RequestType, title: str, per: str, steps: dict[str, Step]) -> list[str]:
    lines = ["", f"| {title}, by part | $ per million {per} |", "|---|---:|"]
    for part in request.parts:
        single = cost(RequestType(part.step, (part,), (), ""), steps).total
        lines.append(f"| {part.step}{f' (x {part.times:.2f})' if part.times != 1 else ''}"
                     f"{f' ({part.hit:.0%} cache hits)' if part.hit else ''} | {single * MILLION:.2f} |")
    for fetch in request.fetches:
        single = cost(RequestType(fetch.what, (), (fetch,), ""), steps).total
        times = f"{fetch.times:g} x " if fetch.times != 1 else ""
        lines.append(f"| CDN: {times}{fetch.what} ({fetch.hit:.0%} cache hits) | {single * MILLION:.2f} |")
    return lines


def table(result: Result) -> str:
    m = result.measured
    lines = [
        "Cost on AWS (us-east-1, list prices, arm64, CDN egress and free tiers excluded): each request's functions "
        f"run in-process against moto, {m.steps['gallery: extensionquery by id'].samples} invocations each, warm; "
        f"catalog {m.catalog:,} extensions ({m.in_tables} in the tables); budget <= "
        f"${BUDGET_PER_MILLION_INSTALLS:.0f} per million installs",
        "",
        "| request | invocations | handler ms | AWS calls | billed ms | " + " | ".join(COMPONENTS)
        + " | $ per million |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(COMPONENTS) + "---:|",
    ]
    for c in result.costed:
        lines.append(f"| {c.request.name} | {c.invocations:.2f} | {c.handler_ms:.1f} | {c.aws_calls:.1f} | "
                     f"{c.billed_ms:.0f} | " + " | ".join(_money(c.dollars[k] * MILLION) for k in COMPONENTS)
                     + f" | **{_money(c.total * MILLION)}** |")
    fixed = sum(f.dollars for f in result.fixed)
    lines += [
        "",
        "| headline | $ | budget | ok |",
        "|---|---:|---:|:-:|",
        f"| per million installs (the install alone) | {result.per_million_installs:,.2f} | "
        f"<= {BUDGET_PER_MILLION_INSTALLS:.2f} | {'yes' if result.ok else 'NO'} |",
        f"| per million installs if every install is due a touch (a large catalog at low traffic; not budgeted) | "
        f"{result.every_install_touches * MILLION:,.2f} | | |",
        f"| per million page views ({CACHE_HIT['page']:.0%} of pages from CloudFront's cache) | "
        f"{result.page_view.total * MILLION:,.2f} | | |",
        f"| per million page views, no page from the cache | {result.page_view_uncached * MILLION:,.2f} | | |",
        f"| per active user per month (profile below) | {result.per_user:.4f} | | |",
        f"| fixed per month (below) | {fixed:,.2f} | | |",
    ]
    lines += _by_part(result.install.request, "an install", "installs", m.steps)
    lines += _by_part(result.page_view.request, "a page view", "page views", m.steps)
    lines += [
        "",
        "| usage profile of an active user | per month | why | $ per user-month |",
        "|---|---:|---|---:|",
    ]
    by_name = {c.request.name: c for c in result.costed}
    for usage in PROFILE:
        lines.append(f"| {usage.request} | {per_month(usage):.1f} | {usage.times:g} a {usage.per}: {usage.why} | "
                     f"{per_month(usage) * by_name[usage.request].total:.5f} |")
    lines += ["", "| fixed per month | $ | how |", "|---|---:|---|"]
    lines += [f"| {f.what} | {f.dollars:,.2f} | {f.how} |" for f in result.fixed]
    lines += [
        f"| storage (not in the total) | {S3_STORAGE.dollars} per GB | packages and assets in S3 Standard; DynamoDB "
        f"{DDB_STORAGE.dollars} per GB plus {DDB_PITR.dollars} for point-in-time recovery |",
        f"| search indexer ceiling (not in the total) | {result.indexer_ceiling:,.2f} | reserved concurrency 1 and a "
        "1 s batching window: at most about one invocation a second, whatever the number of touches |",
        "",
        "| invocation | function, MB | samples | handler ms (median) | at its vCPU share | moto ms (median) | "
        "AWS calls | wait ms | billed ms | RRU | WRU | log bytes |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for step in m.steps.values():
        calls = ", ".join(f"{f'{n / step.samples:.1f}'.removesuffix('.0')} {op}"
                          for op, n in sorted(step.operations().items()))
        lines.append(
            f"| {step.name}{f' (per {step.events} records)' if step.events > 1 else ''} | {step.function}, "
            f"{step.memory_mb} | {step.samples} | {step.median_ms:.2f} | {step.cpu_ms:.2f} | "
            f"{statistics.median(step.emulator_ms):.1f} | {calls or 'none'} | {step.mean_wait_ms:.1f} | "
            f"{step.billed_ms} | "
            f"{step.per_invocation(lambda c: c.rru):.1f} | {step.per_invocation(lambda c: c.wru):.1f} | "
            f"{step.log_bytes // step.samples} |")
    lines += ["", "| assumption | value |", "|---|---|"]
    lines += [f"| {what} | {value} |" for what, value in assumptions(m)]
    lines += ["", "| price (us-east-1, on demand) | $ | per | source |", "|---|---:|---|---|"]
    lines += [f"| {p.what} | {p.dollars:g} | {p.per} | {p.url} |" for p in PRICES]
    return "\n".join(lines)


def assumptions(m: Measured) -> list[tuple[str, str]]:
    from marketplace.web import pages

    kept = pages._rendered.cache_info().maxsize
    latency = ", ".join(f"{service} {ms:g} ms" for service, ms in LATENCY_MS.items())
    return [
        ("request types", "; ".join(f"**{r.name}**: {r.what}" for r in request_types(m))),
        ("billed duration", f"median handler time x {FULL_VCPU_MB:,} / memory MB (below {FULL_VCPU_MB:,} MB a "
                            "function has that share of a vCPU; one vCPU = one core of this machine) + the AWS calls' "
                            "latency, rounded up to 1 ms"),
        ("AWS call latency", f"{latency} per call; the stats function's writes 8 at a time, the gallery's Queries "
                             "16 at a time (measured one at a time)"),
        ("cold starts", f"{COLD_START_SHARE:.1%} of invocations, {INIT_BILLED_MS:.0f} ms of INIT billed each"),
        ("CloudFront", f"every request (the API behaviour and assets/*) runs its viewer-request function; cache hits "
                       f"on assets/*: packages {CACHE_HIT['package']:.0%}, other assets {CACHE_HIT['asset']:.0%}, "
                       f"icons {CACHE_HIT['icon']:.0%} (a miss is one S3 GET; S3 bucket keys make KMS negligible); "
                       "the API's answers here are not cacheable (POST or no-store); the website's pages "
                       f"{CACHE_HIT['page']:.0%} (public, max-age=60, cached per query string: popular pages are "
                       "hits for all but one view a minute, long-tail pages miss), its static files always (named "
                       "by digest, kept a year; the browser's own cache, which makes most of them no request at all, "
                       "is left out)"),
        ("website", f"a page view is the extension page ({STATIC_FILES} static files and the icon with it); a warm "
                    "instance reads the extension's partition, its statistics totals and its reviews (consistent "
                    "Query of the whole partition) from DynamoDB and its Manifest from S3 (a HEAD and a GET); it "
                    "has rendered the README and CHANGELOG on an earlier view and kept them "
                    f"({kept} kept per instance); "
                    f"the first view's extra reads and rendering ({PAGE_FIRST_STEP!r} below) are not priced. Seeded "
                    f"per extension: Manifest {MANIFEST_KIB[0]}-{MANIFEST_KIB[1]} KiB, README "
                    f"{README_KIB[0]}-{README_KIB[1]} KiB, CHANGELOG {CHANGELOG_KIB[0]}-{CHANGELOG_KIB[1]} KiB "
                    "(log-uniform), reviews as many as its ratings (0 to "
                    f"{m.most_reviews:,}; 70 % with a title, 80 % with a comment)"),
        ("stats function", f"batches of {STATS_BATCH} records, or as many as Lambda's 6 MB payload holds "
                           f"({m.steps['stats: telemetry records'].events} telemetry records); a batch's cost shared "
                           "by its records; its clock moves 60 s a batch, so each extension a batch counts is touched "
                           "(the most there can be)"),
        ("search indexer", f"one invocation per catalog touch (what low traffic gives); touches per install event "
                           f"{m.touches_per_install:.2f}, per telemetry record {m.touches_per_telemetry_record:.2f}"),
        ("event stream", f"{STREAM_CONSUMERS} consumers read every record (stats, Firehose); Firehose bills each "
                         "record rounded up to 5 KB"),
        ("logs", f"measured JSON log and EMF bytes per invocation + {PLATFORM_LOG_BYTES} B of Lambda platform lines; "
                 f"one API Gateway access-log line per HTTP request; {CDN_LOG_BYTES} B per CloudFront log record"),
        ("X-Ray", f"{XRAY_SAMPLED:.0%} of invocations traced; the reservoir (1 a second) is a fixed cost; tracing is "
                  "off in the measured handlers"),
        ("Settings Sync", "KMS data key not cached at the start of a round (rounds are minutes apart and land on any "
                          "instance); a sync check needs no key"),
        ("not modelled", "data transfer (CDN egress, origin fetches), CloudWatch alarms, dashboards and log storage, "
                         "publishing and ingest, writing reviews, the website's other pages (home, search, "
                         "publishers), the control manifest (cacheable), the gallery instances "
                         "reloading a changed search segment, DynamoDB's and Kinesis' own KMS calls (cached keys), "
                         "the free tiers, WAF"),
    ]


if __name__ == "__main__":
    print(table(evaluate(measure())))
