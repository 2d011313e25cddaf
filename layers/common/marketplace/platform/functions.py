"""The one definition of every Lambda function: its code, routes, event source and permissions.

Functions are split by IAM and scaling profile, not one per route (see the README). CDK builds one
function, one role and the listed grants from each entry; the local runtime routes HTTP requests and
polls event sources from the same entries, and invokes the same ``functions/<name>/handler.py``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from marketplace.platform import resources as r
from marketplace.platform.config import METRICS_NAMESPACE, STAGE_VAR

LOG_LEVEL = "INFO"


@dataclass(frozen=True)
class Route:
    """An API Gateway HTTP API route: ``ANY``, or one method, and a path with ``{param}``/``{proxy+}``."""

    method: str
    path: str

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsSource:
    queue: str
    batch_size: int = 10
    max_batching_window_seconds: int = 0


StartingPosition = Literal["TRIM_HORIZON", "LATEST"]


@dataclass(frozen=True)
class StreamSource:
    """A Kinesis stream or a DynamoDB table's stream, read in order per shard.

    Failures are reported per record (``ReportBatchItemFailures``); a failing batch is retried, bisected,
    and after ``max_retry_attempts`` a failure record goes to the ``on_failure`` queue.
    """

    kind: Literal["kinesis", "dynamodb"]
    source: str
    on_failure: str
    batch_size: int = 100
    max_batching_window_seconds: int = 1
    max_retry_attempts: int = 5
    bisect_batch_on_error: bool = True
    starting_position: StartingPosition = "TRIM_HORIZON"


class _CronField(NamedTuple):
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # the names of low, low + 1, ... (months, days of the week)


_CRON_FIELDS = (
    _CronField("minutes", 0, 59),
    _CronField("hours", 0, 23),
    _CronField("day-of-month", 1, 31),
    _CronField("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    _CronField("day-of-week", 1, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
    _CronField("year", 1970, 2199),
)
_RATE = re.compile(r"rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)")
_RATE_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_CRON = re.compile(r"cron\((\S+(?: \S+)*)\)")
_RANGE = re.compile(r"(\*|[0-9A-Z]+(?:-[0-9A-Z]+)?)(?:/([0-9]+))?")


def rate_seconds(expression: str) -> int | None:
    """The interval of an EventBridge ``rate(...)`` expression in seconds; ``None`` for anything else."""
    match = _RATE.fullmatch(expression)
    if match is None:
        return None
    return int(match.group(1)) * _RATE_UNIT_SECONDS[match.group(2).removesuffix("s")]


def validate_schedule(expression: str) -> None:
    """Refuse (``ValueError``, saying why) what EventBridge refuses as a rule's schedule expression:
    ``rate(1 hour)``, ``rate(6 hours)`` (a singular unit for 1, plural above), or ``cron(...)`` with its six
    fields (minutes hours day-of-month month day-of-week year), one of day-of-month and day-of-week ``?``."""
    match = _RATE.fullmatch(expression)
    if match is not None:
        value, unit = int(match.group(1)), match.group(2)
        if (value == 1) != (not unit.endswith("s")):
            raise ValueError(f"schedule {expression!r}: EventBridge wants a singular unit for 1 (rate(1 hour)) "
                             "and a plural one above (rate(6 hours))")
        return
    if expression.startswith("rate("):
        raise ValueError(f"schedule {expression!r} is not a rate EventBridge accepts: rate(N minute[s]|hour[s]|"
                         "day[s]) with a whole N of at least 1")
    cron = _CRON.fullmatch(expression)
    if cron is None:
        raise ValueError(f"schedule {expression!r} is neither rate(...) nor cron(...) (EventBridge's expressions)")
    fields = cron.group(1).split(" ")
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(f"schedule {expression!r}: a cron expression has six fields (minutes hours day-of-month "
                         f"month day-of-week year), not {len(fields)}")
    for text, field in zip(fields, _CRON_FIELDS, strict=True):
        _cron_field(expression, text.upper(), field)
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(f"schedule {expression!r}: exactly one of day-of-month and day-of-week must be '?'")


def _cron_field(expression: str, text: str, field: _CronField) -> None:
    def value(token: str) -> int:
        number = field.low + field.names.index(token) if token in field.names else (
            int(token) if token.isdigit() else None)
        if number is None or not field.low <= number <= field.high:
            raise ValueError(f"schedule {expression!r}: {token!r} is out of range for {field.name} "
                             f"({field.low}-{field.high}{', or a name' if field.names else ''})")
        return number

    if text == "?":
        if field.name not in ("day-of-month", "day-of-week"):
            raise ValueError(f"schedule {expression!r}: '?' only goes in day-of-month or day-of-week")
        return
    for item in text.split(","):
        if field.name == "day-of-month" and item in ("L", "LW"):
            continue
        if field.name == "day-of-month" and re.fullmatch(r"[0-9]+W", item):
            value(item.removesuffix("W"))
            continue
        if field.name == "day-of-week" and item == "L":
            continue
        if field.name == "day-of-week" and (special := re.fullmatch(r"([0-9A-Z]+)(L|#[1-5])", item)):
            value(special.group(1))
            continue
        ranged = _RANGE.fullmatch(item)
        if ranged is None:
            raise ValueError(f"schedule {expression!r}: {item!r} is not a {field.name} value, range or step")
        if ranged.group(1) != "*":
            for token in ranged.group(1).split("-"):
                value(token)
        if ranged.group(2) is not None and not 1 <= int(ranged.group(2)) <= field.high:
            raise ValueError(f"schedule {expression!r}: the step {ranged.group(2)!r} of {field.name} is out of range")


@dataclass(frozen=True)
class ScheduleSource:
    """An EventBridge rule that invokes the function on a schedule (``rate(6 hours)``, ``cron(0 3 * * ? *)``)
    with its scheduled event; the local runtime invokes it on an interval (``marketplace.local.scheduler``).

    EventBridge invokes a Lambda function asynchronously. Lambda retries a run that raised
    ``max_retry_attempts`` times (0-2) while the event is younger than ``max_event_age_seconds``; then the run,
    like an event EventBridge itself could not deliver after as many attempts, goes to ``dead_letter_queue``.
    A bad expression is refused when the definition is made, so at synth.
    """

    expression: str
    dead_letter_queue: str
    max_retry_attempts: int = 2
    max_event_age_seconds: int = 3600

    def __post_init__(self) -> None:
        validate_schedule(self.expression)
        if not 0 <= self.max_retry_attempts <= 2:
            raise ValueError("Lambda retries an asynchronous invocation 0, 1 or 2 times")
        if not 60 <= self.max_event_age_seconds <= 21600:
            raise ValueError("the maximum event age is 60 to 21600 seconds (Lambda's asynchronous invocations)")

    @property
    def interval_seconds(self) -> int | None:
        """The rate's interval; ``None`` for a cron expression."""
        return rate_seconds(self.expression)


EventSource = SqsSource | StreamSource | ScheduleSource

TableAccess = Literal["read", "read_write"]


@dataclass(frozen=True)
class TableGrant:
    table: str
    access: TableAccess = "read"


@dataclass(frozen=True)
class ObjectGrant:
    """Object access to one prefix of a bucket; the actions are the S3 ones (``GetObject`` ...)."""

    bucket: str
    prefix: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class StreamGrant:
    stream: str
    access: Literal["write"] = "write"


@dataclass(frozen=True)
class KeyGrant:
    key: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class InvokeGrant:
    """``lambda:InvokeFunction`` on exactly the one function the operator names (a name or an ARN) in the CDK
    context ``context``, whose value the function also gets in its environment variable ``env_var``; without
    that context, no grant and no variable."""

    context: str
    env_var: str


Grant = TableGrant | ObjectGrant | StreamGrant | KeyGrant | InvokeGrant


@dataclass(frozen=True)
class FunctionDef:
    name: str
    purpose: str
    memory_mb: int
    timeout_seconds: int
    routes: tuple[Route, ...] = ()
    source: EventSource | None = None
    grants: tuple[Grant, ...] = ()
    reserved_concurrency: int | None = None
    # checks bearer tokens (``marketplace.identity``): gets the issuer settings in its environment
    authenticates: bool = False
    # the operator's settings (environment variables) it reads: CDK sets each from the context value of the same
    # name (``cdk deploy -c WEB_REMOTE_IMAGES=true``); ``marketplace serve`` passes its own environment on
    settings: tuple[str, ...] = ()
    # an optional function: deployed only when the operator configures it, with the CDK context of this name
    # (its environment comes from that value) or, locally, ``marketplace serve``'s options; None: always there
    enabled_by: str | None = None

    @property
    def code_dir(self) -> str:
        """The folder, relative to the project root, that CDK ships as the function's code."""
        return f"functions/{self.name}"

    @property
    def module(self) -> str:
        return f"functions.{self.name}.handler"

    handler = "handler.lambda_handler"

    @property
    def service(self) -> str:
        return self.name.replace("_", "-")

    def rule_name(self, stage: str) -> str:
        """The name of the EventBridge rule of a function with a ``ScheduleSource`` (the stack's, and the local
        scheduler's rule ARN in the events it sends)."""
        return f"{r.PRODUCT}-{stage}-{self.service}"

    def lambda_environment(
        self, stage: str, locations: Mapping[str, str], auth_environment: Mapping[str, str] | None = None,
        routed_environment: Mapping[str, str] | None = None, operator_settings: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment variables the function is deployed with: its stage, Powertools' settings, where
        its granted resources are (from ``locations``, every resource's variable and value), the issuers'
        settings when it authenticates, and ``routed_environment`` when API Gateway routes to it. CDK sets
        exactly these; the local runtime gives exactly these to the function's worker processes."""
        environment = {
            STAGE_VAR: stage,
            "POWERTOOLS_SERVICE_NAME": self.service,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": LOG_LEVEL,
        }
        environment.update({name: locations[name] for name in self.environment_variables()})
        if self.authenticates:
            environment.update(auth_environment or {})
        if self.routes:
            environment.update(routed_environment or {})
        environment.update({name: value for name, value in (operator_settings or {}).items() if name in self.settings})
        return environment

    def environment_variables(self) -> tuple[str, ...]:
        """Names of the environment variables that locate this function's resources."""
        names: list[str] = []
        for grant in self.grants:
            match grant:
                case TableGrant(table=t):
                    names.append(r.table(t).env_var)
                case ObjectGrant(bucket=b):
                    names.append(r.bucket(b).env_var)
                case StreamGrant(stream=s):
                    names.append(r.stream(s).env_var)
                case KeyGrant(key=k):
                    env = r.key(k).env_var
                    if env:
                        names.append(env)
        return tuple(dict.fromkeys(names))


_READ = ("s3:GetObject",)
_WRITE = ("s3:PutObject",)
_READ_WRITE = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
_SEARCH_PREFIX = f"{r.PACKAGES_BUCKET.private_prefix}search/"
_SYNC_PREFIX = f"{r.PACKAGES_BUCKET.private_prefix}sync/"

GALLERY = FunctionDef(
    name="gallery",
    purpose="VS Code gallery protocol and Open VSX read API; emits download events",
    memory_mb=1024,
    timeout_seconds=10,
    routes=(Route("ANY", "/_apis/public/gallery/{proxy+}"), Route("ANY", "/api/{proxy+}")),
    settings=("GALLERY_ADVERTISE_VSIX_SIGNATURE",),
    grants=(
        TableGrant(r.EXTENSIONS_TABLE.id),
        TableGrant(r.STATISTICS_TABLE.id),
        ObjectGrant(r.PACKAGES_BUCKET.id, _SEARCH_PREFIX, _READ),
        # the API fallback for assets (fallbackAssetUri) reads what the CDN serves
        ObjectGrant(r.PACKAGES_BUCKET.id, r.PACKAGES_BUCKET.public_prefix, _READ),
        StreamGrant(r.EVENTS_STREAM.id),
    ),
)
PUBLISH_API = FunctionDef(
    name="publish_api",
    purpose="publishers, namespaces, tokens and presigned uploads; the website's publisher area (/manage)",
    # SCAN_REQUIRE_OPERATOR_APPROVAL: an owner's confirmation of a quarantined version is not enough
    settings=("NAMESPACE_CREATION", "SCAN_REQUIRE_OPERATOR_APPROVAL"),
    memory_mb=512,
    timeout_seconds=29,  # publishing through the API waits for the ingest's verdict (API Gateway allows 30 s)
    routes=(
        Route("ANY", "/api/publish/{proxy+}"),
        # Open VSX's publishing API (ovsx)
        Route("POST", "/api/-/publish"),
        Route("POST", "/api/-/namespace/create"),
        Route("GET", "/api/{namespace}/verify-pat"),
        # Open VSX's user API (its web UI's tokens, namespaces and members), with a token instead of a session
        Route("ANY", "/user"),
        Route("ANY", "/user/{proxy+}"),
        # the Azure DevOps-style gallery API vsce publishes with
        Route("ANY", "/_apis/gallery"),
        Route("ANY", "/_apis/gallery/{proxy+}"),
        Route("ANY", "/_apis/securityroles"),
        Route("ANY", "/_apis/securityroles/{proxy+}"),
        # the website's publisher area (sign-in, sessions, forms): served here, next to the publishing table
        Route("ANY", "/manage"),
        Route("ANY", "/manage/{proxy+}"),
    ),
    grants=(
        TableGrant(r.PUBLISHING_TABLE.id, "read_write"),
        TableGrant(r.EXTENSIONS_TABLE.id),
        TableGrant(r.STATISTICS_TABLE.id),  # an owner's statistics (GET /api/publish/stats/...)
        # presigned POSTs are signed with this role: it may only put objects under the upload prefix (and each
        # POST's policy names its one key)
        ObjectGrant(r.PACKAGES_BUCKET.id, r.PACKAGES_BUCKET.upload_prefix, _WRITE),
        # namespace logos that owners set (publishing.logos), replaced and removed
        ObjectGrant(r.PACKAGES_BUCKET.id, r.PACKAGES_BUCKET.namespace_logo_prefix, ("s3:PutObject", "s3:DeleteObject")),
    ),
)
# The operator's external scanner function (``-c scanExternalLambda=NAME-OR-ARN``): the ingest may invoke it.
SCAN_EXTERNAL_LAMBDA_CONTEXT = "scanExternalLambda"
SCAN_EXTERNAL_LAMBDA_VAR = "SCAN_EXTERNAL_LAMBDA"
INGEST = FunctionDef(
    name="ingest",
    purpose="validates uploaded VSIX packages, records versions and extracts public assets",
    memory_mb=1769,
    timeout_seconds=120,
    source=SqsSource(queue=r.INGEST_QUEUE.id, batch_size=5),
    reserved_concurrency=10,
    # the external scanner's command, time limit and what a failed scan does (publishing.scanning.external);
    # the scan rules (names or globs) that warn instead of refusing (publishing.scanning)
    settings=("SCAN_EXTERNAL_COMMAND", "SCAN_EXTERNAL_TIMEOUT_SECONDS", "SCAN_EXTERNAL_ON_FAILURE", "SCAN_WARN_RULES",
              "SCAN_QUARANTINE_SCORE"),  # the update-diff score that quarantines (publishing.scanning.updates)
    grants=(
        TableGrant(r.PUBLISHING_TABLE.id, "read_write"),
        TableGrant(r.EXTENSIONS_TABLE.id, "read_write"),
        ObjectGrant(r.PACKAGES_BUCKET.id, r.PACKAGES_BUCKET.upload_prefix, ("s3:GetObject", "s3:DeleteObject")),
        # put a validated version's assets; delete them again when its record cannot be written; read the
        # previous version's package for the update diff (publishing.scanning.updates)
        ObjectGrant(r.PACKAGES_BUCKET.id, r.PACKAGES_BUCKET.public_prefix,
                    ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")),
        # the most installed extensions, whose names new ones may not imitate (publishing.scanning.names)
        ObjectGrant(r.PACKAGES_BUCKET.id, _SEARCH_PREFIX, _READ),
        # wrap (once) and unwrap the repository signing key
        KeyGrant(r.SIGNING_KEY.id, ("kms:Encrypt", "kms:Decrypt")),
        # the operator's external scanner function (publishing.scanning.external), when configured
        InvokeGrant(SCAN_EXTERNAL_LAMBDA_CONTEXT, SCAN_EXTERNAL_LAMBDA_VAR),
    ),
)
SEARCH_INDEXER = FunctionDef(
    name="search_indexer",
    purpose="keeps the search snapshot current from the extensions table's stream",
    memory_mb=1024,
    timeout_seconds=60,
    source=StreamSource(kind="dynamodb", source=r.EXTENSIONS_TABLE.id, on_failure=r.INDEXER_DLQ.id),
    reserved_concurrency=1,  # the single writer of the snapshot's segments
    grants=(
        TableGrant(r.EXTENSIONS_TABLE.id),
        TableGrant(r.STATISTICS_TABLE.id),
        ObjectGrant(r.PACKAGES_BUCKET.id, _SEARCH_PREFIX, _READ_WRITE),
    ),
)
SYNC = FunctionDef(
    name="sync",
    purpose="Settings Sync store and Edit Sessions",
    memory_mb=512,
    timeout_seconds=10,
    routes=(Route("ANY", "/sync/{proxy+}"),),
    authenticates=True,
    grants=(
        TableGrant(r.SYNC_TABLE.id, "read_write"),
        ObjectGrant(r.PACKAGES_BUCKET.id, _SYNC_PREFIX, _READ_WRITE),
        KeyGrant(r.SYNC_KEY.id, ("kms:GenerateDataKey", "kms:Decrypt")),
    ),
)
REVIEWS = FunctionDef(
    name="reviews",
    purpose="ratings and reviews (Open VSX paths)",
    memory_mb=512,
    timeout_seconds=10,
    routes=(
        Route("GET", "/api/{namespace}/{extension}/reviews"),
        Route("ANY", "/api/{namespace}/{extension}/review"),
        Route("ANY", "/api/{namespace}/{extension}/review/delete"),
    ),
    authenticates=True,
    grants=(
        TableGrant(r.REVIEWS_TABLE.id, "read_write"),
        # a review and the extension's rating totals change in one transaction
        TableGrant(r.STATISTICS_TABLE.id, "read_write"),
        # reads the catalog; touches an extension whose rating changed, so search re-reads it
        TableGrant(r.EXTENSIONS_TABLE.id, "read_write"),
    ),
)
TELEMETRY = FunctionDef(
    name="telemetry",
    purpose="batched telemetry ingest onto the event stream",
    memory_mb=512,
    timeout_seconds=10,
    routes=(Route("ANY", "/api/telemetry"),),
    grants=(
        StreamGrant(r.EVENTS_STREAM.id),
        # per-client rate limits and the wrapped hashing secret live in the statistics table
        TableGrant(r.STATISTICS_TABLE.id, "read_write"),
        KeyGrant(r.TELEMETRY_KEY.id, ("kms:GenerateDataKey", "kms:Decrypt")),
    ),
)
STATS = FunctionDef(
    name="stats",
    purpose="aggregates download, install and activation events into statistics",
    memory_mb=512,
    timeout_seconds=60,
    source=StreamSource(
        kind="kinesis",
        source=r.EVENTS_STREAM.id,
        on_failure=r.STATS_DLQ.id,
        batch_size=500,
        max_batching_window_seconds=5,
    ),
    grants=(
        TableGrant(r.STATISTICS_TABLE.id, "read_write"),
        # new counts touch the extension's catalog item (at most once a minute), so its stream re-indexes search
        TableGrant(r.EXTENSIONS_TABLE.id, "read_write"),
    ),
)

WEB = FunctionDef(
    name="web",
    purpose="the website: server-rendered pages for people (home, search, extension and publisher pages)",
    settings=("WEB_REMOTE_IMAGES",),
    memory_mb=1024,  # the search index, as the gallery's
    # a hostile README at the size cap takes seconds to render once per instance (docs/website.md)
    timeout_seconds=20,
    routes=tuple(Route("ANY", path) for path in (
        "/", "/items", "/search", "/publishers/{proxy+}", "/sitemap.xml", "/robots.txt", "/static/{proxy+}",
    )),
    grants=(
        TableGrant(r.EXTENSIONS_TABLE.id),
        TableGrant(r.STATISTICS_TABLE.id),
        TableGrant(r.REVIEWS_TABLE.id),
        TableGrant(r.PUBLISHING_TABLE.id),  # a publisher page shows the details its owners set
        ObjectGrant(r.PACKAGES_BUCKET.id, _SEARCH_PREFIX, _READ),
        # READMEs and CHANGELOGs are rendered from the public assets the CDN serves
        ObjectGrant(r.PACKAGES_BUCKET.id, r.PACKAGES_BUCKET.public_prefix, _READ),
    ),
)

# The scheduled mirror (``marketplace mirror`` on a schedule): configured with the CDK context ``mirror``,
# ``{"upstream": "https://open-vsx.org", "schedule": "rate(6 hours)", "jobs": 4, "rate": 2}`` (``MirrorSettings``).
MIRROR_CONTEXT = "mirror"
MIRROR_UPSTREAM_VAR = "MIRROR_UPSTREAM"
MIRROR_JOBS_VAR = "MIRROR_JOBS"
MIRROR_RATE_VAR = "MIRROR_RATE"
DEFAULT_MIRROR_SCHEDULE = "rate(6 hours)"
MIRROR_ALLOW_KEY = f"{r.PACKAGES_BUCKET.mirror_prefix}allow.txt"
MIRROR_DENY_KEY = f"{r.PACKAGES_BUCKET.mirror_prefix}deny.txt"
MAX_MIRROR_JOBS = 16
MAX_MIRROR_RATE = 50.0


@dataclass(frozen=True)
class MirrorSettings:
    """What the operator configures for the scheduled mirror: the upstream (any registry speaking the Open VSX
    API), the schedule, how many downloads run at once (``jobs``) and how many requests a second the upstream
    gets at most (``rate``). The allow-list and deny-list are not here: they live in the packages bucket
    (``MIRROR_ALLOW_KEY``, ``MIRROR_DENY_KEY``). Invalid values raise ``ValueError`` saying which and why."""

    upstream: str
    schedule: str = DEFAULT_MIRROR_SCHEDULE
    jobs: int = 4
    rate: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.upstream, str):
            raise ValueError("'upstream' must be the upstream registry's URL")
        parts = urlsplit(self.upstream.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'upstream' must be an http(s) URL of a registry, not {self.upstream!r}")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("'upstream' must be a plain URL: no credentials, query or fragment")
        object.__setattr__(self, "upstream", self.upstream.strip().rstrip("/"))
        if not isinstance(self.schedule, str):
            raise ValueError("'schedule' must be an EventBridge schedule expression such as rate(6 hours)")
        validate_schedule(self.schedule)
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or not 1 <= self.jobs <= MAX_MIRROR_JOBS:
            raise ValueError(f"'jobs' must be a whole number from 1 to {MAX_MIRROR_JOBS}, not {self.jobs!r}")
        if (isinstance(self.rate, bool) or not isinstance(self.rate, int | float)
                or not 0 < self.rate <= MAX_MIRROR_RATE):
            raise ValueError(f"'rate' must be a number of requests a second above 0 and at most {MAX_MIRROR_RATE:g}, "
                             f"not {self.rate!r}")
        object.__setattr__(self, "rate", float(self.rate))

    @classmethod
    def from_mapping(cls, value: Mapping[str, object]) -> MirrorSettings:
        """From the CDK context's object (``upstream`` required; ``schedule``, ``jobs``, ``rate`` optional)."""
        unknown = sorted(set(value) - {"upstream", "schedule", "jobs", "rate"})
        if unknown:
            raise ValueError(f"unknown keys {unknown} (upstream, schedule, jobs, rate)")
        if "upstream" not in value:
            raise ValueError("'upstream' is required: the URL of the registry to mirror")
        return cls(**value)  # type: ignore[arg-type]  # each value is checked in __post_init__

    def environment(self) -> dict[str, str]:
        """The mirror function's environment variables for these settings (the schedule is EventBridge's)."""
        return {MIRROR_UPSTREAM_VAR: self.upstream, MIRROR_JOBS_VAR: str(self.jobs), MIRROR_RATE_VAR: f"{self.rate:g}"}

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> MirrorSettings:
        upstream = environment.get(MIRROR_UPSTREAM_VAR, "")
        if not upstream:
            raise ValueError(f"{MIRROR_UPSTREAM_VAR} is not set: the mirror has no upstream")
        try:
            jobs = int(environment.get(MIRROR_JOBS_VAR) or cls.jobs)
            rate = float(environment.get(MIRROR_RATE_VAR) or cls.rate)
        except ValueError as error:
            raise ValueError(f"{MIRROR_JOBS_VAR} and {MIRROR_RATE_VAR} must be numbers: {error}") from None
        return cls(upstream, jobs=jobs, rate=rate)


MIRROR = FunctionDef(
    name="mirror",
    purpose="scheduled mirror of an upstream Open VSX registry, every package through the normal ingest",
    memory_mb=1024,
    timeout_seconds=900,  # Lambda's maximum; a run stops starting downloads 2 minutes before it (resumable)
    source=ScheduleSource(DEFAULT_MIRROR_SCHEDULE, dead_letter_queue=r.MIRROR_DLQ.id),
    reserved_concurrency=1,  # one mirror run at a time
    enabled_by=MIRROR_CONTEXT,
    grants=(
        # namespaces (created, marked as mirrored), upload records and their verdicts, the audit log
        TableGrant(r.PUBLISHING_TABLE.id, "read_write"),
        TableGrant(r.EXTENSIONS_TABLE.id),  # which versions are present already
        # packages go where a presigned upload would put them: the ingest validates them like any other
        ObjectGrant(r.PACKAGES_BUCKET.id, r.PACKAGES_BUCKET.upload_prefix, _WRITE),
        ObjectGrant(r.PACKAGES_BUCKET.id, r.PACKAGES_BUCKET.mirror_prefix, _READ),  # the allow- and deny-list
    ),
)

FUNCTIONS: tuple[FunctionDef, ...] = (
    GALLERY, PUBLISH_API, INGEST, SEARCH_INDEXER, SYNC, REVIEWS, TELEMETRY, STATS, WEB, MIRROR,
)


def deployed(options: Collection[str] = ()) -> tuple[FunctionDef, ...]:
    """The functions of a deployment whose operator configured ``options`` (``FunctionDef.enabled_by``): every
    function that is always there, and each optional one that is configured."""
    return tuple(fn for fn in FUNCTIONS if fn.enabled_by is None or fn.enabled_by in options)


def function(name: str) -> FunctionDef:
    for fn in FUNCTIONS:
        if fn.name == name:
            return fn
    raise KeyError(f"no function named {name!r}")
