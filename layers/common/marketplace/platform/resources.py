"""The one definition of every stateful AWS resource the marketplace uses.

The CDK constructs in ``stacks/`` and the local runtime in ``marketplace.local`` both build their
resources from these objects, so names, keys, indexes, TTL attributes, stream settings and the
environment variables that tell a handler where a resource lives cannot drift apart.

This module is plain data: it needs neither CDK nor moto, and every function imports it, so its records are
``NamedTuple``s: on the Python the benchmarks run, ten frozen dataclasses cost each function about 7 ms of
cold start, ten named tuples under 1 ms (``./dev bench --only cold-start``). They are immutable and compared
by value like the dataclasses were; nothing iterates over them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple, TypedDict, TypeVar

PRODUCT = "marketplace"

AttributeType = Literal["S", "N", "B"]
StreamView = Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]


class KeyAttribute(NamedTuple):
    name: str
    type: AttributeType = "S"


class GlobalIndex(NamedTuple):
    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None


class TableDef(NamedTuple):
    """A DynamoDB table: on demand, point-in-time recovery, encrypted with the data key."""

    id: str
    purpose: str
    env_var: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    indexes: tuple[GlobalIndex, ...] = ()
    ttl_attribute: str | None = None
    stream: StreamView | None = None
    key: str = "data"  # the KeyDef that encrypts it

    def physical_name(self, stage: str) -> str:
        return f"{PRODUCT}-{stage}-{self.id}"


class QueueDef(NamedTuple):
    """An SQS queue (KMS-encrypted). A queue with ``dead_letter`` redrives there after ``max_receive_count``."""

    id: str
    purpose: str
    env_var: str
    visibility_timeout_seconds: int = 30
    retention_days: int = 4
    dead_letter: str | None = None
    max_receive_count: int = 5
    key: str = "data"

    def physical_name(self, stage: str) -> str:
        return f"{PRODUCT}-{stage}-{self.id}"


class StreamDef(NamedTuple):
    """A Kinesis data stream in on-demand mode, encrypted with the stream key."""

    id: str
    purpose: str
    env_var: str
    retention_hours: int = 24
    key: str = "stream"

    def physical_name(self, stage: str) -> str:
        return f"{PRODUCT}-{stage}-{self.id}"


class KeyDef(NamedTuple):
    """A customer-managed KMS key with yearly rotation."""

    id: str
    purpose: str
    env_var: str | None = None

    def alias(self, stage: str) -> str:
        return f"alias/{PRODUCT}/{stage}/{self.id}"


class BucketNotification(NamedTuple):
    """S3 ``ObjectCreated`` events under ``prefix`` go to ``queue``."""

    prefix: str
    queue: str


class BucketDef(NamedTuple):
    """The packages-and-assets bucket.

    Prefixes split it by trust: ``uploads/`` holds untrusted bytes that only the ingest function reads
    (expired by lifecycle), ``assets/`` is the public part served through the CDN, ``private/`` holds
    data that must never be public (large sync bodies, search snapshots). ``namespace_logo_prefix`` is the
    public part the publish API writes namespace logos to: its ``-`` segment can be no namespace's name, so
    it never reaches into the extensions' assets (``assets/<namespace>/...``). ``mirror_prefix`` holds the
    allow-list and deny-list of the scheduled mirror (``marketplace mirror configure`` writes them, the mirror
    function reads them: too large for a Lambda environment).
    """

    id: str
    purpose: str
    env_var: str
    upload_prefix: str = "uploads/"
    public_prefix: str = "assets/"
    private_prefix: str = "private/"
    namespace_logo_prefix: str = "assets/-/namespaces/"
    mirror_prefix: str = "private/mirror/"
    upload_expiry_days: int = 2
    noncurrent_version_expiry_days: int = 30
    notifications: tuple[BucketNotification, ...] = ()
    key: str = "assets"


class LakeBucketDef(NamedTuple):
    """The data lake bucket: what ``DeliveryDef`` writes, nothing else.

    Private, TLS-only and encrypted with its own key (so reading the lake is granted separately from
    the tables and queues); not versioned, since objects are written once by the delivery and only ever
    expire: after ``expiry_days`` (18 months), incomplete multipart uploads after ``abort_incomplete_upload_days``.
    """

    id: str
    purpose: str
    expiry_days: int = 548
    abort_incomplete_upload_days: int = 1
    key: str = "lake"


class DeliveryDef(NamedTuple):
    """A Kinesis Data Firehose delivery stream from an event stream (``source``) into a lake bucket.

    Every record is written as it is, followed by ``delimiter`` (Firehose's ``AppendDelimiterToRecord``), so
    objects of JSON records are JSON lines; objects are ``compression``-compressed and encrypted with the
    bucket's key. In the prefixes, ``!{timestamp:<pattern>}`` is Firehose's approximate arrival time (UTC) of
    the oldest record in the object, ``!{firehose:error-output-type}`` why records could not be processed.
    Firehose writes an object when ``buffer_seconds`` have passed or ``buffer_mib`` are buffered.
    """

    id: str
    purpose: str
    source: str  # a StreamDef id
    bucket: str  # a LakeBucketDef id
    prefix: str
    error_prefix: str
    compression: Literal["GZIP"] = "GZIP"
    delimiter: str = "\n"
    buffer_seconds: int = 60
    buffer_mib: int = 64

    def physical_name(self, stage: str) -> str:
        return f"{PRODUCT}-{stage}-{self.id}"


def static_prefix(prefix: str) -> str:
    """The part of a Firehose prefix before its first ``!{...}`` expression (``events/year=``): where all of
    its objects are, and what an IAM resource can name."""
    return prefix.split("!{", 1)[0]


# --- keys -----------------------------------------------------------------------------------------------

DATA_KEY = KeyDef("data", "DynamoDB tables and SQS queues", env_var="DATA_KEY_ID")
ASSETS_KEY = KeyDef("assets", "the packages bucket (CloudFront may decrypt public assets)")
STREAM_KEY = KeyDef("stream", "the Kinesis event stream")
SYNC_KEY = KeyDef("sync", "per-user data keys for Settings Sync (envelope encryption)", env_var="SYNC_KEY_ID")

SIGNING_KEY = KeyDef("signing", "wraps the repository's Ed25519 signing key", env_var="SIGNING_KEY_ID")
TELEMETRY_KEY = KeyDef("telemetry", "wraps the secret that telemetry ids are hashed with", env_var="TELEMETRY_KEY_ID")
LAKE_KEY = KeyDef("lake", "the data lake bucket (the delivery stream encrypts with it, lake readers decrypt)")

KEYS: tuple[KeyDef, ...] = (DATA_KEY, ASSETS_KEY, STREAM_KEY, SYNC_KEY, SIGNING_KEY, TELEMETRY_KEY, LAKE_KEY)

# --- tables ---------------------------------------------------------------------------------------------

PK = KeyAttribute("pk")
SK = KeyAttribute("sk")
GSI1 = GlobalIndex("gsi1", KeyAttribute("gsi1pk"), KeyAttribute("gsi1sk"))

PUBLISHING_TABLE = TableDef(
    "publishing",
    "publishers, namespaces, members, personal access tokens and upload records",
    env_var="PUBLISHING_TABLE",
    partition_key=PK,
    sort_key=SK,
    indexes=(GSI1,),
    ttl_attribute="expires_at",
)
EXTENSIONS_TABLE = TableDef(
    "extensions",
    "extensions and their versions (the gallery's source of truth)",
    env_var="EXTENSIONS_TABLE",
    partition_key=PK,
    sort_key=SK,
    indexes=(GSI1,),
    stream="NEW_AND_OLD_IMAGES",
)
REVIEWS_TABLE = TableDef(
    "reviews",
    "ratings and reviews",
    env_var="REVIEWS_TABLE",
    partition_key=PK,
    sort_key=SK,
    indexes=(GSI1,),
)
STATISTICS_TABLE = TableDef(
    "statistics",
    "per-extension totals and per-day counters",
    env_var="STATISTICS_TABLE",
    partition_key=PK,
    sort_key=SK,
    ttl_attribute="expires_at",
)
SYNC_TABLE = TableDef(
    "sync",
    "Settings Sync documents, refs and wrapped per-user data keys",
    env_var="SYNC_TABLE",
    partition_key=PK,
    sort_key=SK,
    ttl_attribute="expires_at",
)

TABLES: tuple[TableDef, ...] = (
    PUBLISHING_TABLE,
    EXTENSIONS_TABLE,
    REVIEWS_TABLE,
    STATISTICS_TABLE,
    SYNC_TABLE,
)

# --- queues ---------------------------------------------------------------------------------------------

INGEST_DLQ = QueueDef("ingest-dlq", "uploads the ingest function failed on", env_var="INGEST_DLQ_URL",
                      retention_days=14)
INGEST_QUEUE = QueueDef(
    "ingest",
    "S3 upload notifications for the ingest function",
    env_var="INGEST_QUEUE_URL",
    # six times the ingest function's timeout, as AWS recommends for an SQS event source
    visibility_timeout_seconds=6 * 120,
    dead_letter=INGEST_DLQ.id,
    max_receive_count=5,
)
STATS_DLQ = QueueDef("stats-dlq", "event-stream batches the stats function gave up on",
                     env_var="STATS_DLQ_URL", retention_days=14)
INDEXER_DLQ = QueueDef("search-indexer-dlq", "extension-table stream batches the indexer gave up on",
                       env_var="INDEXER_DLQ_URL", retention_days=14)

# the dead-letter queue of the scheduled mirror (``functions.ScheduleSource``): scheduled events EventBridge could
# not deliver, and runs that failed after Lambda's retries; deployed only with the mirror function
MIRROR_DLQ = QueueDef("mirror-dlq", "scheduled mirror runs that failed after their retries",
                      env_var="MIRROR_DLQ_URL", retention_days=14)

QUEUES: tuple[QueueDef, ...] = (INGEST_DLQ, INGEST_QUEUE, STATS_DLQ, INDEXER_DLQ, MIRROR_DLQ)

# --- streams --------------------------------------------------------------------------------------------

EVENTS_STREAM = StreamDef("events", "download, install and telemetry events", env_var="EVENTS_STREAM")

STREAMS: tuple[StreamDef, ...] = (EVENTS_STREAM,)

# --- bucket ---------------------------------------------------------------------------------------------

PACKAGES_BUCKET = BucketDef(
    "packages",
    "VSIX packages, extracted assets, upload quarantine and private blobs",
    env_var="PACKAGES_BUCKET",
    notifications=(BucketNotification(prefix="uploads/", queue=INGEST_QUEUE.id),),
)

BUCKETS: tuple[BucketDef, ...] = (PACKAGES_BUCKET,)

UPLOAD_CORS_RULE_ID = "browser-uploads"
UPLOAD_CORS_MAX_AGE_SECONDS = 3000


class CorsRule(TypedDict):
    """One rule of a bucket's CORS configuration, in the S3 API's shape (``PutBucketCors``)."""

    ID: str
    AllowedMethods: list[str]
    AllowedOrigins: list[str]
    AllowedHeaders: list[str]
    ExposeHeaders: list[str]
    MaxAgeSeconds: int


def upload_cors_rules(origins: Sequence[str]) -> list[CorsRule]:
    """The packages bucket's CORS rules: pages of the website at ``origins`` POST a package straight to S3
    with the presigned POST (``publishing.uploads``) and read the answer's ``ETag``. What may be uploaded is
    the signed policy's to say, not CORS's: this only lets the site's script see the answer."""
    allowed = list(dict.fromkeys(origin.rstrip("/") for origin in origins))
    if not allowed or not all(allowed):
        raise ValueError("browser uploads need at least one site origin")
    return [
        CorsRule(
            ID=UPLOAD_CORS_RULE_ID,
            AllowedMethods=["POST"],
            AllowedOrigins=allowed,
            AllowedHeaders=["*"],
            ExposeHeaders=["ETag"],
            MaxAgeSeconds=UPLOAD_CORS_MAX_AGE_SECONDS,
        )
    ]

# --- data lake ------------------------------------------------------------------------------------------

LAKE_BUCKET = LakeBucketDef("lake", "every event-stream record as GZIP JSON lines, partitioned by day")

_DAY = "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
EVENTS_TO_LAKE = DeliveryDef(
    "events-to-lake",
    "the event stream, delivered into the data lake",
    source=EVENTS_STREAM.id,
    bucket=LAKE_BUCKET.id,
    prefix=f"events/{_DAY}",
    error_prefix=f"errors/!{{firehose:error-output-type}}/{_DAY}",
)

LAKE_BUCKETS: tuple[LakeBucketDef, ...] = (LAKE_BUCKET,)
DELIVERY_STREAMS: tuple[DeliveryDef, ...] = (EVENTS_TO_LAKE,)


_R = TypeVar("_R", TableDef, QueueDef, StreamDef, KeyDef, BucketDef, LakeBucketDef, DeliveryDef)


def table(table_id: str) -> TableDef:
    return _by_id(TABLES, table_id)


def queue(queue_id: str) -> QueueDef:
    return _by_id(QUEUES, queue_id)


def stream(stream_id: str) -> StreamDef:
    return _by_id(STREAMS, stream_id)


def key(key_id: str) -> KeyDef:
    return _by_id(KEYS, key_id)


def bucket(bucket_id: str) -> BucketDef:
    return _by_id(BUCKETS, bucket_id)


def lake_bucket(bucket_id: str) -> LakeBucketDef:
    return _by_id(LAKE_BUCKETS, bucket_id)


def delivery_stream(delivery_id: str) -> DeliveryDef:
    return _by_id(DELIVERY_STREAMS, delivery_id)


def _by_id(items: tuple[_R, ...], item_id: str) -> _R:
    for item in items:
        if item.id == item_id:
            return item
    raise KeyError(f"no resource named {item_id!r}")
