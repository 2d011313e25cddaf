"""Routes of the reviews function: Open VSX's ``/api/{namespace}/{extension}/review*``
(docs/protocols/open-vsx.md B1).

Reading is anonymous. Writing needs the same bearer token as Settings Sync (``Authorization: Bearer`` with
``X-Account-Type``; no cookies, so no CSRF token either) and is counted against the user's rate limit, kept
in the statistics table, before anything is read: the write routes' middlewares (``SIGNED_IN``,
``platform.middleware``) do both.
"""

from __future__ import annotations

import functools

from marketplace.identity import Principal, authenticate
from marketplace.platform import middleware, ratelimit
from marketplace.platform.http import json_response, public_base_url
from marketplace.platform.ratelimit import RateLimit
from marketplace.platform.resources import STATISTICS_TABLE
from marketplace.platform.router import Response, Router
from marketplace.reviews import protocol, service
from marketplace.reviews.service import Reviewer
from marketplace.reviews.validation import display_name, parse_body, read_body

router = Router()

RATE_LIMIT_VAR = "REVIEWS_RATE_LIMIT"
RATE_WINDOW_VAR = "REVIEWS_RATE_WINDOW_SECONDS"
DEFAULT_RATE_LIMIT = 10  # review posts and deletes per user per window
DEFAULT_RATE_WINDOW = 60
NO_CACHE = {"Cache-Control": "no-cache"}
NO_STORE = {"Cache-Control": "no-store"}


@functools.cache
def _rate_limit() -> RateLimit:
    return ratelimit.configured(STATISTICS_TABLE, RATE_LIMIT_VAR, DEFAULT_RATE_LIMIT,
                                RATE_WINDOW_VAR, DEFAULT_RATE_WINDOW)


def _rate_key(app: Router) -> str:
    return f"review:{middleware.principal(app, Principal).user_id}"


# The write routes' middlewares: the caller is authenticated, then counted against the rate limit on writes.
SIGNED_IN = [middleware.authenticated(lambda event: authenticate(event.headers)),
             middleware.rate_limited(lambda: _rate_limit(), _rate_key)]


def _reviewer() -> Reviewer:
    """The signed-in caller (authenticated and counted by ``SIGNED_IN``)."""
    principal = middleware.principal(router, Principal)
    return Reviewer(user_id=principal.user_id, display_name=display_name(principal.display_name, principal.user_id),
                    provider=principal.provider)


def _base() -> str:
    return public_base_url(router.current_event.headers or {})


@router.get("/api/<namespace>/<extension>/reviews")
def list_reviews(namespace: str, extension: str) -> Response:
    entry = service.extension(namespace, extension)
    body = protocol.review_list_json(_base(), entry, service.visible_reviews(entry))
    return json_response(200, body, NO_CACHE)


@router.post("/api/<namespace>/<extension>/review", middlewares=SIGNED_IN)
def post_review(namespace: str, extension: str) -> Response:
    reviewer = _reviewer()
    review = parse_body(read_body(router.current_event))
    entry = service.extension(namespace, extension)
    posted = service.post(entry, reviewer, review)
    return json_response(201, protocol.added(entry, posted.replaced), NO_STORE)


@router.post("/api/<namespace>/<extension>/review/delete", middlewares=SIGNED_IN)
def delete_review(namespace: str, extension: str) -> Response:
    reviewer = _reviewer()
    entry = service.extension(namespace, extension)
    service.delete(entry, reviewer.user_id)
    return json_response(200, protocol.deleted(entry), NO_STORE)
