"""Who did what to a namespace, when, and from which client: the audit log's entries.

Every publish, unpublish, deprecation, token creation or revocation, member change, namespace creation or
change and operator action writes one entry per namespace it touches (``publishing.store.AuditItem``), never
the token itself. Who is acting is set once per request by the publishing routes' middleware (the token's user
and the client's ``User-Agent``) or by the operator CLI, and read here by the code that writes the entry, so no
operation takes it as a parameter. Entries expire after ``RETENTION`` (the table's TTL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

RETENTION = timedelta(days=400)  # a year and a month: a yearly review still finds last year's entries
OPERATOR = "operator"
MAX_CLIENT = 80
_PRODUCT = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:/[A-Za-z0-9!#$%&'*+.^_`|~-]+)?")


@dataclass(frozen=True)
class Actor:
    user: str  # a publishing user, or ``OPERATOR`` for the operator CLI
    client: str  # what the request said it was (``ovsx/1.1.1``), or ``marketplace CLI``


UNKNOWN = Actor("unknown", "unknown")
_ACTOR: ContextVar[Actor] = ContextVar("audit_actor", default=UNKNOWN)


def current() -> Actor:
    return _ACTOR.get()


@contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Entries written inside are ``actor``'s."""
    token = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(token)


def client_of(user_agent: str | None) -> str:
    """The first product of a ``User-Agent`` (``ovsx/1.1.1``, ``vsce``, ``Mozilla/5.0``), at most
    ``MAX_CLIENT`` characters of a token's alphabet: a header is the caller's to fill, never trusted as text."""
    found = _PRODUCT.match((user_agent or "").strip())
    return found.group(0)[:MAX_CLIENT] if found else "unknown"
