"""Personal access tokens: random, shown once, stored only as a hash, scoped, expiring, revocable.

A token reads ``mkp_<id>_<secret>``: the id finds the stored record, the secret is checked against the
record's SHA-256 (the secret carries 256 random bits, so a fast hash is enough: there is nothing to
brute-force). Nothing here touches AWS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PREFIX = "mkp"
DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=366)
EXPIRY_WARNING = timedelta(days=14)  # a publish with a token this close to its end warns
# The answer to a token that is not one the marketplace holds: malformed, unknown or with a wrong secret. It
# does not say which (a caller learns nothing about which token ids exist).
INVALID = "the token is not valid: unknown, revoked or expired"
_FORMAT = re.compile(r"^mkp_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    secret_hash: str
    value: str  # the whole token: shown once, never stored


def issue() -> IssuedToken:
    token_id = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    secret = secrets.token_urlsafe(32)
    return IssuedToken(token_id, hash_secret(secret), f"{PREFIX}_{token_id}_{secret}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(value: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed token, else ``None``."""
    found = _FORMAT.match(value.strip())
    return (found.group(1), found.group(2)) if found else None


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def expiry(now: datetime, days: int | None) -> datetime:
    lifetime = DEFAULT_LIFETIME if days is None else timedelta(days=days)
    if not timedelta(days=1) <= lifetime <= MAX_LIFETIME:
        raise ValueError(f"a token lives from 1 to {MAX_LIFETIME.days} days")
    return now + lifetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def expiry_warning(expires: datetime | None, now: datetime) -> str | None:
    """What to tell a publisher whose token ends within ``EXPIRY_WARNING``, else ``None``."""
    if expires is None or expires - now > EXPIRY_WARNING:
        return None
    days = max(0, (expires - now).days)
    when = "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"
    return (f"this access token expires on {expires:%Y-%m-%d} ({when}); ask for a new one before then "
            "(marketplace token create)")
