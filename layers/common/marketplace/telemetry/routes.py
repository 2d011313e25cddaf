"""Routes of the telemetry function: ``POST {base}/api/telemetry``.

Anonymous, so every request first counts against its client's rate limit (``429`` with ``Retry-After``): the
route's middleware (``COUNTED``, ``platform.middleware``).
The client is keyed by a keyed hash of its address that changes daily; the address itself is never stored,
logged or put on the stream. Then the batch is parsed (``413``/``400`` for the batch as a whole), each event
validated and scrubbed, and the valid ones put on the stream: ``202`` with ``{"accepted", "rejected"}``, or
``503`` with ``Retry-After`` when the stream stored none of them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from marketplace.platform import body, middleware, ratelimit
from marketplace.platform.config import setting_int
from marketplace.platform.errors import ServiceUnavailable
from marketplace.platform.http import json_response
from marketplace.platform.ratelimit import RateLimit
from marketplace.platform.resources import STATISTICS_TABLE
from marketplace.platform.router import Request, Response, Router
from marketplace.telemetry import batch, hashkey, service
from marketplace.telemetry.events import MAX_BODY_BYTES, MAX_EVENT_BYTES
from marketplace.telemetry.packing import DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_RECORD_EVENTS, OVERHEAD
from marketplace.telemetry.scrub import Pseudonyms

router = Router()

PATH = "/api/telemetry"
RATE_LIMIT_VAR = "TELEMETRY_RATE_LIMIT"
RATE_WINDOW_VAR = "TELEMETRY_RATE_WINDOW_SECONDS"
RECORD_BYTES_VAR = "TELEMETRY_RECORD_MAX_BYTES"
RECORD_EVENTS_VAR = "TELEMETRY_RECORD_MAX_EVENTS"
PUT_DEADLINE_VAR = "TELEMETRY_PUT_DEADLINE_MS"
# Requests per window per client address; an office behind one NAT address shares it.
DEFAULT_RATE_LIMIT = 600
DEFAULT_RATE_WINDOW = 60
DEFAULT_PUT_DEADLINE_MS = 4000
ANSWER_MARGIN_MS = 1500  # kept free before the function's timeout to answer after the last retry
RETRY_AFTER_SECONDS = 5

_secret = hashkey.CachedSecret()
_pseudonyms: tuple[bytes, Pseudonyms] | None = None


def pseudonyms() -> Pseudonyms:
    """Hashing with the deployment's secret (loaded once per process)."""
    global _pseudonyms
    try:
        secret = _secret.get()
    except hashkey.SecretUnavailable as error:
        raise ServiceUnavailable("Telemetry cannot be taken right now; try again later",
                                 headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from error
    if _pseudonyms is None or _pseudonyms[0] != secret:
        _pseudonyms = (secret, Pseudonyms(secret))
    return _pseudonyms[1]


def client_address(event: Request) -> str:
    """The caller's address, used only to derive the rate limiter's key.

    The viewer's ``CloudFront-Viewer-Address`` when the request carries the origin secret, else the address API
    Gateway saw; never ``X-Forwarded-For`` (``platform.trust.client_address``).
    """
    from marketplace.platform import trust  # here, not at the top: this function is all that uses it

    return trust.client_address(event)


def _rate_limit() -> RateLimit:
    return ratelimit.configured(STATISTICS_TABLE, RATE_LIMIT_VAR, DEFAULT_RATE_LIMIT,
                                RATE_WINDOW_VAR, DEFAULT_RATE_WINDOW)


def _caller(app: Router) -> str:
    """The rate limiter's key: a keyed hash of the client's address, changing daily."""
    day = datetime.now(UTC).date().isoformat()
    return "telemetry#" + pseudonyms().client(client_address(app.current_event), day)


# The ingest's middleware: the client is counted before the body is even read.
COUNTED = [middleware.rate_limited(_rate_limit, _caller)]


def _deadline() -> float:
    """When retries of refused records stop: the configured budget, or less if the invocation ends sooner."""
    budget_ms = setting_int(PUT_DEADLINE_VAR, DEFAULT_PUT_DEADLINE_MS)
    context = getattr(router, "lambda_context", None)
    if context is not None:
        budget_ms = min(budget_ms, context.get_remaining_time_in_millis() - ANSWER_MARGIN_MS)
    return time.monotonic() + max(0, budget_ms) / 1000


@router.post(PATH, middlewares=COUNTED)
def ingest() -> Response:
    event = router.current_event
    hashing = pseudonyms()
    now = datetime.now(UTC)
    # The platform decoder reads the bytes (base64, no Content-Encoding, the size cap); the batch parser, timed by
    # bench/telemetry.py, reads the JSON with its own whole-batch rules.
    events = batch.parse(body.raw_body(event, max_bytes=MAX_BODY_BYTES, what="The body"))
    outcome = service.ingest(
        events, hashing, now, _deadline(),
        max_record_bytes=setting_int(RECORD_BYTES_VAR, DEFAULT_MAX_RECORD_BYTES, minimum=OVERHEAD + MAX_EVENT_BYTES),
        max_record_events=setting_int(RECORD_EVENTS_VAR, DEFAULT_MAX_RECORD_EVENTS),
    )
    if outcome.stored_nothing:
        raise ServiceUnavailable("The event stream is not taking events right now; send the batch again later",
                                 headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return json_response(202, outcome.body())


@router.route(PATH, method=["GET", "PUT", "PATCH", "DELETE"])
def other_methods() -> Response:
    return json_response(405, {"error": "method_not_allowed", "message": f"{PATH} takes POST only"},
                         {"Allow": "POST"})
