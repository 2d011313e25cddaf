"""The one definition of every Lambda function: its code, routes, event source and permissions.

Functions are split by IAM and scaling profile, not one per route (see the README). CDK builds one
function, one role and the listed grants from each entry; the local runtime routes HTTP requests and
polls event sources from the same entries, and invokes the same ``functions/<name>/handler.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

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


EventSource = SqsSource | StreamSource

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


Grant = TableGrant | ObjectGrant | StreamGrant | KeyGrant


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
    settings=("NAMESPACE_CREATION",),
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
INGEST = FunctionDef(
    name="ingest",
    purpose="validates uploaded VSIX packages, records versions and extracts public assets",
    memory_mb=1769,
    timeout_seconds=120,
    source=SqsSource(queue=r.INGEST_QUEUE.id, batch_size=5),
    reserved_concurrency=10,
    grants=(
        TableGrant(r.PUBLISHING_TABLE.id, "read_write"),
        TableGrant(r.EXTENSIONS_TABLE.id, "read_write"),
        ObjectGrant(r.PACKAGES_BUCKET.id, r.PACKAGES_BUCKET.upload_prefix, ("s3:GetObject", "s3:DeleteObject")),
        # put a validated version's assets; delete them again when its record cannot be written
        ObjectGrant(r.PACKAGES_BUCKET.id, r.PACKAGES_BUCKET.public_prefix, ("s3:PutObject", "s3:DeleteObject")),
        # wrap (once) and unwrap the repository signing key
        KeyGrant(r.SIGNING_KEY.id, ("kms:Encrypt", "kms:Decrypt")),
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

FUNCTIONS: tuple[FunctionDef, ...] = (
    GALLERY, PUBLISH_API, INGEST, SEARCH_INDEXER, SYNC, REVIEWS, TELEMETRY, STATS, WEB,
)


def function(name: str) -> FunctionDef:
    for fn in FUNCTIONS:
        if fn.name == name:
            return fn
    raise KeyError(f"no function named {name!r}")
