"""Who made a request, once their bearer token has been checked."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from marketplace.platform.errors import Forbidden, Unauthorized

REALM = "marketplace"


@dataclass(frozen=True, repr=False)
class Principal:
    provider: str  # the issuer's configured name ("cognito", "local", ...) or "github"
    issuer: str  # the JWT's iss, or the GitHub API URL
    subject: str  # the JWT's sub, or the GitHub numeric user id
    scopes: frozenset[str]
    display_name: str | None  # may be shown (reviews), never logged

    @property
    def user_id(self) -> str:
        """The only user id stored anywhere: stable per (issuer, subject), and no provider's raw id."""
        return hashlib.sha256(f"{self.issuer}\n{self.subject}".encode()).hexdigest()

    def __repr__(self) -> str:  # the display name is personal data: keep it out of logs and tracebacks
        return f"Principal(provider={self.provider!r}, user_id={self.user_id[:12]}...)"


def unauthorized(message: str, *, invalid_token: bool = True) -> Unauthorized:
    """A 401 with the RFC 6750 challenge; ``message`` says which check failed and never carries the token."""
    challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if invalid_token else "")
    return Unauthorized(message, headers={"WWW-Authenticate": challenge})


def forbidden(message: str) -> Forbidden:
    return Forbidden(message, headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope"'})
