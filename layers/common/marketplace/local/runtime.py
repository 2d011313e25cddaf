"""The local marketplace: embedded moto, resources from the shared definitions, the HTTP front door,
the CDN stand-in, the event-source pollers, the schedules and the data lake's delivery, started and stopped as
one. An optional function (``FunctionDef.enabled_by``) runs only when configured: the scheduled mirror with
``mirror`` (``marketplace serve --mirror-upstream``)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import ssl
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from marketplace.identity import config as identity_config
from marketplace.identity import local_issuer, local_users, signin
from marketplace.identity.local_issuer import LocalIssuer
from marketplace.local import durable
from marketplace.local.apigw import RouteTable
from marketplace.local.cdn import Cdn
from marketplace.local.context import REGION
from marketplace.local.durable import retention
from marketplace.local.durable import services as durable_services
from marketplace.local.durable.directory import DataDirectory, open_directory
from marketplace.local.durable.kinesis import Checkpoints
from marketplace.local.emulator import Emulator
from marketplace.local.environments import PoolReport
from marketplace.local.firehose import DRAIN_SECONDS, LOCAL_BUFFER_SECONDS, FirehoseDelivery
from marketplace.local.invoker import Handler, Invoker, project_root
from marketplace.local.pollers import Checkpointer, Poller, SqsPoller, StreamPoller
from marketplace.local.provision import Deployment, provision
from marketplace.local.scheduler import MirrorOptions, Scheduler, rule_arn
from marketplace.local.server import serve
from marketplace.local.tls import WILDCARD_HOSTS
from marketplace.platform import aws
from marketplace.platform import resources as r
from marketplace.platform.config import STAGE_VAR
from marketplace.platform.endpoints import product_json
from marketplace.platform.functions import (
    FUNCTIONS,
    MIRROR_CONTEXT,
    MIRROR_JOBS_VAR,
    MIRROR_RATE_VAR,
    MIRROR_UPSTREAM_VAR,
    PUBLISH_API,
    FunctionDef,
    ScheduleSource,
    SqsSource,
    StreamSource,
)
from marketplace.platform.trust import ORIGIN_SECRET_VAR

log = logging.getLogger("marketplace.local")

# What the process needs so that the handlers' own SDK clients talk to the embedded moto server and
# nothing else: no real credentials are ever read, no metadata endpoint is ever asked.
LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
# Functions whose first environment starts with their first request, not at start-up: the website serves people,
# who wait the ~0.4 s once, and a one-box registry nobody browses keeps that worker's memory (~40 MiB) for editors.
ON_DEMAND = frozenset({"web"})

# How many execution environments each function routed by API Gateway may have at once (``--concurrency``);
# functions fed by an event source get one, as their poller delivers one batch at a time.
DEFAULT_HTTP_CONCURRENCY = 2
# The functions that sign people in to the website: they get SIGNIN_PROVIDERS, as the stack gives it to them.
SIGNIN_FUNCTIONS = frozenset({PUBLISH_API.name})
# Variables a worker never inherits from this process: where resources are, and whom to trust for sign-in.
# Each function gets its own values of these (``FunctionDef.lambda_environment``), as CDK sets them.
_FUNCTION_SCOPED = frozenset(
    [t.env_var for t in r.TABLES] + [q.env_var for q in r.QUEUES] + [s.env_var for s in r.STREAMS]
    + [b.env_var for b in r.BUCKETS] + [k.env_var for k in r.KEYS if k.env_var]
    + [*identity_config.ENVIRONMENT_VARIABLES, identity_config.CA_FILE_VAR, signin.SIGNIN_VAR]
    + [MIRROR_UPSTREAM_VAR, MIRROR_JOBS_VAR, MIRROR_RATE_VAR]
)


class LocalMarketplace:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        moto_port: int = 0,
        stage: str = "local",
        functions: Iterable[FunctionDef] = FUNCTIONS,
        handler_overrides: Mapping[str, Handler] | None = None,
        sqs_retry_delay: int = 1,
        stream_retry_delay: float = 0.5,
        tls: ssl.SSLContext | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        issuer_key: Path | None = None,
        lake_buffer_seconds: float = LOCAL_BUFFER_SECONDS,
        concurrency: int = DEFAULT_HTTP_CONCURRENCY,
        data_dir: Path | None = None,
        mirror: MirrorOptions | None = None,
    ) -> None:
        """``mirror``: run the mirror function on its interval (default: no mirror function at all)."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.host, self.port, self.moto_port, self.stage = host, port, moto_port, stage
        self.tls = tls  # a server context: the front door speaks HTTPS (``marketplace serve --tls``)
        self.ca_file = os.fspath(ca_file) if ca_file is not None else None  # the CA that signed tls's certificate
        # None: a key for this run only; ``marketplace serve`` passes the one ``dev-token`` reads
        self.issuer_key = issuer_key
        self.local_issuer: LocalIssuer | None = None
        # None: everything in memory, gone at stop; else the durable data directory (``local/durable``)
        self.data_dir = data_dir
        self.data: DataDirectory | None = None
        self.scheme = "https" if tls is not None else "http"
        self.mirror = mirror
        options = {MIRROR_CONTEXT} if mirror is not None else set()
        self.functions = tuple(fn for fn in functions if fn.enabled_by is None or fn.enabled_by in options)
        self.routes = RouteTable(self.functions)
        self.invoker = Invoker(handler_overrides)
        self.concurrency = concurrency
        # Sent by the front door with every routed request, as CloudFront sends the deployment's origin secret:
        # the functions believe the client-identity headers only on requests that carry it.
        self.origin_secret = secrets.token_urlsafe(32)
        self._auth: dict[str, str] = {}
        self.sqs_retry_delay, self.stream_retry_delay = sqs_retry_delay, stream_retry_delay
        self.cdn: Cdn | None = None
        self.deployment: Deployment | None = None
        self.pollers: list[Poller] = []
        self.lake_buffer_seconds = lake_buffer_seconds
        self.deliveries: list[FirehoseDelivery] = []
        # drops stream records every consumer is done with (or past retention), on disk and in moto's memory
        self.retention: retention.Retention | None = None
        self._consumers: list[tuple[str, retention.Consumer]] = []  # (stream ARN, reader) of each stream reader
        self._stop = threading.Event()
        self._moto: Emulator | None = None
        self._http: Any = None
        self._ready = threading.Event()
        self._started_at = 0.0
        self._saved_environment: dict[str, str | None] = {}

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def moto_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def _set_environment(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def start(self) -> None:
        self._started_at = time.monotonic()
        # Lambda prints this per invocation of a function without business metrics; locally it is noise.
        warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
        self._set_environment(LOCAL_ENVIRONMENT)
        operator_issuers = _operator_issuers()  # a malformed AUTH_ISSUERS stops the start, with its fault named
        _operator_signin()  # as does a malformed SIGNIN_PROVIDERS
        if self.data_dir is not None:  # locked, format checked, integrity checked: refused before anything listens
            self.data = open_directory(self.data_dir)
            self.issuer_key = self.issuer_key or self.data.issuer_key
        # its sign-in page signs in the operator's named users (``marketplace user add``), kept beside its key
        users_file = (self.data.users_file if self.data is not None
                      else local_users.beside(self.issuer_key) if self.issuer_key else None)
        self.local_issuer = (LocalIssuer.ensure(self.issuer_key, users_file=users_file) if self.issuer_key
                             else LocalIssuer.generate())
        # The front door opens first: a taken port fails at once, and /healthz answers 503 while starting.
        self._http, loop = serve(self, self.host, self.port, self.tls)
        self.port = self._http.server_address[1]
        threading.Thread(target=loop, name="http", daemon=True).start()
        self._auth = self._auth_environment(operator_issuers)
        self._set_environment(self._auth)
        self._moto = Emulator(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self._moto.start()
        self.moto_port = self._moto.get_host_and_port()[1]
        self._set_environment({"AWS_ENDPOINT_URL": self.moto_endpoint})
        aws.reset_clients()

        if self.data is not None:
            durable_services.install()
            durable.activate(self.data.store)  # what provision creates the first time is kept too
            with durable.restoring():
                durable_services.restore_keys(self.data.store)  # before provision, which reuses them
        self.deployment = provision(self.stage, site_url=self.base_url)
        if self.data is not None:
            with durable.restoring():
                durable_services.restore_data(self.data.store)
        self._set_environment({**self.deployment.env, STAGE_VAR: self.stage})
        self.cdn = Cdn(self.deployment.bucket_names[r.PACKAGES_BUCKET.id], r.PACKAGES_BUCKET.public_prefix)

        # a handler that cannot load is reported by /healthz rather than hidden
        self.invoker.start({fn: (self.function_environment(fn), self.environment_limit(fn)) for fn in self.functions},
                           on_demand=ON_DEMAND)
        retention.install()  # before the first stream read: reads and trimming take the same locks
        self._consumers = []
        self.pollers = [self._poller(fn) for fn in self.functions if fn.source is not None]
        for poller in self.pollers:
            poller.start()
        self.deliveries = [self._delivery(definition) for definition in r.DELIVERY_STREAMS]
        for delivery in self.deliveries:
            delivery.start()
        self.retention = retention.Retention(self._retained_streams(),
                                             self.data.store if self.data is not None else None, self._stop)
        self.retention.start()

        self._ready.set()

    def environment_limit(self, fn: FunctionDef) -> int:
        """How many environments ``fn`` may have at once: ``concurrency`` for a routed function, one for an
        event-source function; never more than the reserved concurrency CDK gives it."""
        limit = self.concurrency if fn.routes else 1
        return min(limit, fn.reserved_concurrency) if fn.reserved_concurrency else limit

    def function_environment(self, fn: FunctionDef) -> dict[str, str]:
        """The environment of ``fn``'s worker processes: this process's own (the operator's settings, the
        emulator's endpoint and credentials) without any function-scoped variable, then exactly what CDK
        sets on the deployed function, then what Lambda itself sets."""
        assert self.deployment is not None
        inherited = {k: v for k, v in os.environ.items() if k not in _FUNCTION_SCOPED}
        auth = {k: v for k, v in self._auth.items() if k != signin.SIGNIN_VAR}
        # the operator's own setting, passed on; unset, GitHub tokens are refused (nothing leaves the machine)
        auth[identity_config.GITHUB_API_VAR] = os.environ.get(identity_config.GITHUB_API_VAR, "")
        routed = {ORIGIN_SECRET_VAR: self.origin_secret}
        environment = {**inherited, **fn.lambda_environment(self.stage, self.deployment.env, auth, routed)}
        if fn.enabled_by == MIRROR_CONTEXT and self.mirror is not None:  # as the stack sets the context's values
            environment.update(self.mirror.settings.environment())
        if fn.name in SIGNIN_FUNCTIONS:
            environment.update(self._signin_environment())
        environment.update({
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
            "PYTHONPATH": os.pathsep.join(p for p in (str(project_root()), os.environ.get("PYTHONPATH")) if p),
        })
        return environment

    def _signin_environment(self) -> dict[str, str]:
        """What the functions that sign the website in get (the stack gives publish_api ``SIGNIN_PROVIDERS``
        alone): the providers, and the local CA when the runtime's own issuer speaks HTTPS."""
        environment = {signin.SIGNIN_VAR: self._auth.get(signin.SIGNIN_VAR, "")}
        if identity_config.CA_FILE_VAR in self._auth:
            environment[identity_config.CA_FILE_VAR] = self._auth[identity_config.CA_FILE_VAR]
        return environment

    def _auth_environment(self, operator_issuers: list[dict[str, Any]]) -> dict[str, str]:
        """The handlers accept the operator's issuers (and GitHub when ``AUTH_GITHUB_API_URL`` is set: the
        handlers run in this process, so it reaches them as it is) plus the runtime's own issuer, whose keys
        they fetch from the front door like any issuer's. The website signs in with the operator's
        ``SIGNIN_PROVIDERS`` when set, else with the runtime's own issuer."""
        assert self.local_issuer is not None
        jwks_uri, jwks = None, None
        # the issuer's own address, or loopback when its host is no address to connect to
        reachable = (f"{self.scheme}://127.0.0.1:{self.port}" if self.host.strip("[]") in WILDCARD_HOSTS
                     else self.base_url)
        if self.tls is not None and self.ca_file is None:
            jwks = self.local_issuer.jwks()  # HTTPS from a CA the handlers cannot be told to trust: inline keys
        elif reachable != self.base_url:
            jwks_uri = local_issuer.issuer_url(reachable) + local_issuer.JWKS_PATH
        entry = local_issuer.issuer_entry(self.base_url, jwks_uri=jwks_uri, jwks=jwks)
        issuers = [i for i in operator_issuers if str(i.get("issuer", "")).rstrip("/") != entry["issuer"]]
        environment = {identity_config.ISSUERS_VAR: json.dumps([*issuers, entry])}
        if self.tls is not None and self.ca_file is not None:
            environment[identity_config.CA_FILE_VAR] = self.ca_file
        operator_providers = _operator_signin()
        if operator_providers is not None:
            environment[signin.SIGNIN_VAR] = operator_providers
        else:
            # the browser opens the sign-in page (on loopback when the runtime listens on any address); the
            # handlers exchange the code where they fetch the keys (with TLS but no CA to trust, they cannot)
            provider: dict[str, Any] = {
                "name": local_issuer.NAME, "kind": "oidc", "label": "Sign in (local users)",
                "client_id": local_issuer.CLIENT_ID,
                "authorization_endpoint": local_issuer.issuer_url(reachable) + local_issuer.AUTHORIZE_PATH,
                "token_endpoint": local_issuer.issuer_url(reachable) + local_issuer.TOKEN_PATH,
                "issuer": entry["issuer"],
                **{name: entry[name] for name in ("jwks_uri", "jwks") if name in entry},
            }
            environment[signin.SIGNIN_VAR] = json.dumps([provider])
        return environment

    def _poller(self, fn: FunctionDef) -> Poller:
        assert self.deployment is not None
        d = self.deployment
        match fn.source:
            case SqsSource() as source:
                return SqsPoller(fn, source, d.queue_urls[source.queue], d.queue_arns[source.queue],
                                 self.invoker, self._stop, retry_delay=self.sqs_retry_delay)
            case StreamSource() as source:
                arn = d.stream_arns[source.source] if source.kind == "kinesis" else d.table_stream_arns[source.source]
                return StreamPoller(fn, source, arn, d.queue_urls[source.on_failure], self.invoker, self._stop,
                                    retry_delay=self.stream_retry_delay, checkpoints=self._checkpoints(fn.name, arn))
            case ScheduleSource() as source if fn.enabled_by == MIRROR_CONTEXT and self.mirror is not None:
                return Scheduler(fn, source, self.invoker, self._stop, interval=self.mirror.interval_seconds,
                                 rule=rule_arn(fn, self.stage), dead_letter_url=d.queue_urls[source.dead_letter_queue],
                                 prepare=self.mirror.copy_lists)
        raise ValueError(f"{fn.name} has no event source")

    def _checkpoints(self, consumer: str, stream_arn: str) -> Checkpointer:
        """Where a stream consumer keeps its place: across restarts with a data directory, else for this run
        (it starts from the beginning either way the first time); retention trims behind it."""
        checkpoints: Checkpointer = (Checkpoints(self.data.store, consumer) if self.data is not None
                                     else retention.MemoryCheckpoints())
        self._consumers.append((stream_arn, retention.Consumer(consumer, checkpoints)))
        return checkpoints

    def _retained_streams(self) -> list[retention.RetainedStream]:
        """Every provisioned stream with the consumers this runtime reads it with."""
        assert self.deployment is not None
        d = self.deployment

        def consumers(arn: str) -> list[retention.Consumer]:
            return [consumer for stream_arn, consumer in self._consumers if stream_arn == arn]

        return ([retention.RetainedStream.from_arn("kinesis", arn, consumers(arn)) for arn in d.stream_arns.values()]
                + [retention.RetainedStream.from_arn("dynamodb", arn, consumers(arn))
                   for arn in d.table_stream_arns.values()])

    def _delivery(self, definition: r.DeliveryDef) -> FirehoseDelivery:
        assert self.deployment is not None
        d = self.deployment
        arn = d.stream_arns[definition.source]
        return FirehoseDelivery(
            definition, stage=self.stage, stream_arn=arn,
            bucket=d.bucket_names[definition.bucket], key_id=d.key_ids[r.lake_bucket(definition.bucket).key],
            stop=self._stop, buffer_seconds=self.lake_buffer_seconds,
            checkpoints=self._checkpoints(f"firehose:{definition.id}", arn),
        )

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def health(self) -> tuple[bool, dict[str, Any]]:
        pollers = {p.name: {"alive": p.is_alive(), "polls": p.polls, "last_error": p.last_error}
                   for p in self.pollers}
        # each pool knows its handler's current load state (a failed load is retried by the next invocation)
        environments = self.invoker.report()
        init_errors = {name: report.init_error for name, report in environments.items() if report.init_error}
        healthy = (
            self._ready.is_set()
            and not init_errors
            and all(p.is_alive() for p in self.pollers)
            and all(d.is_alive() for d in self.deliveries)
        )
        return healthy, {
            "status": "ok" if healthy else ("starting" if not self._ready.is_set() else "unavailable"),
            "stage": self.stage,
            "aws_endpoint": self.moto_endpoint,
            "functions": {fn.name: init_errors.get(fn.name) or self._load_state(fn.name, environments)
                          for fn in self.functions},
            "environments": {name: vars(report) for name, report in environments.items()},
            "event_sources": pollers,
            "delivery_streams": {d.name: d.report() for d in self.deliveries},
            "uptime_seconds": round(time.monotonic() - self._started_at, 1),
        }

    @staticmethod
    def _load_state(name: str, environments: Mapping[str, PoolReport]) -> str:
        """``loaded``; ``on demand`` for a function of ``ON_DEMAND`` that no request has started yet."""
        report = environments.get(name)
        return "on demand" if name in ON_DEMAND and report is not None and not report.cold_starts else "loaded"

    def product_json(self) -> dict[str, Any]:
        return product_json(self.base_url)

    def stop(self) -> None:
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for poller in self.pollers:
            poller.join(timeout=5)
        for delivery in self.deliveries:  # writes what the stream still holds before moto goes away
            delivery.join(timeout=DRAIN_SECONDS + 2)
        if self.retention is not None:  # a pass under way ends before the store closes
            self.retention.join(timeout=30)
            self.retention = None
        self.invoker.stop()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self.data is not None:
            durable.activate(None)
            self.data.close()
            self.data = None
        self._ready.clear()
        for name, value in self._saved_environment.items():  # leave the process as it was found
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()
        aws.reset_clients()

    def __enter__(self) -> LocalMarketplace:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _operator_signin() -> str | None:
    """The operator's own ``SIGNIN_PROVIDERS``, validated, as written; None when unset or empty."""
    raw = os.environ.get(signin.SIGNIN_VAR, "")
    signin.parse_providers(raw)  # raises ConfigurationError naming the fault
    return raw if raw.strip() else None


def _operator_issuers() -> list[dict[str, Any]]:
    """The issuers in the operator's own ``AUTH_ISSUERS``, validated, as written."""
    raw = os.environ.get(identity_config.ISSUERS_VAR, "")
    identity_config.parse_issuers(raw)  # raises ConfigurationError naming the fault
    return list(json.loads(raw)) if raw.strip() else []
