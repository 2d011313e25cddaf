"""Website sessions: a publisher signs in with the configured identity provider (OpenID Connect authorization
code with PKCE, or GitHub's OAuth), and the browser then holds a session: a random secret in an ``HttpOnly``
cookie, of which the publishing table keeps only the SHA-256.

- ``begin`` makes the sign-in's ``state`` (bound to the browser by a short-lived cookie the website sets), its
  nonce and PKCE verifier, keeps them for ``SIGNIN_LIFETIME`` under the state's digest, and answers the
  provider's address.
- ``complete`` takes that record (once: a replayed callback finds nothing), has the provider exchange the code
  (``identity.signin.finish`` checks the ID token's signature, audience and nonce), and starts a session of
  ``SESSION_LIFETIME``, with its own CSRF token for every state-changing form and call.
- ``find`` answers a live session for a cookie's secret; ``end`` signs out (the record is deleted, so the
  cookie is worthless even if it was copied).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from marketplace.platform.errors import BadRequest, Unauthorized
from marketplace.publishing import store as publishing_store
from marketplace.publishing import tokens
from marketplace.publishing.store import PublishingItem, SessionItem, SigninItem

if TYPE_CHECKING:
    from marketplace.identity.signin import Challenge, SignedIn

SESSION_LIFETIME = timedelta(hours=12)
SIGNIN_LIFETIME = timedelta(minutes=10)
HOME = "/manage"
MAX_SECRET = 128


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a path of the publisher area, never another site (``//evil``, ``/\\evil``)
    nor a scheme-relative or absolute URL."""
    if (not path or not path.startswith(HOME) or "//" in path or "\\" in path or len(path) > 512
            or any(c.isspace() or not c.isprintable() for c in path)):
        return HOME
    rest = path[len(HOME):]
    return path if rest == "" or rest[0] in "/?" else HOME


class SessionStorePort(Protocol):
    """What sessions need of the publishing table (``publishing.store``'s functions of these names)."""

    def session_item(self, digest: str, *, user: str, display_name: str | None, provider: str, csrf: str,
                     now: datetime, expires: datetime) -> SessionItem: ...

    def get_session(self, digest: str) -> SessionItem | None: ...

    def delete_session(self, digest: str) -> None: ...

    def signin_item(self, digest: str, *, provider: str, verifier: str, nonce: str, next_path: str, now: datetime,
                    expires: datetime) -> SigninItem: ...

    def take_signin(self, digest: str) -> SigninItem | None: ...

    def create_together(self, *items: PublishingItem) -> None: ...


class IdentityPort(Protocol):
    """What sessions need of the identity providers: ``identity.signin``'s functions of these names (the
    default, loaded on first use: only signing in needs it and its JWT library)."""

    def provider(self, name: str) -> Any: ...

    def begin(self, provider: Any, redirect_uri: str) -> Challenge: ...

    def finish(self, provider: Any, code: str, verifier: str, nonce: str, redirect_uri: str) -> SignedIn: ...


def _signin() -> IdentityPort:
    from marketplace.identity import signin

    return signin


@dataclass(frozen=True)
class Session:
    """A live session: ``digest`` names it in the table (and in the principal of its uploads)."""

    digest: str
    user: str
    display_name: str | None
    provider: str
    csrf: str
    expires: datetime
    item: SessionItem

    def csrf_matches(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf.encode(), (presented or "").encode())


@dataclass(frozen=True)
class Started:
    """A sign-in under way: the ``state`` to bind to the browser, and where to send the browser."""

    state: str
    url: str


class Sessions:
    def __init__(self, store: SessionStorePort = publishing_store, clock: Callable[[], datetime] = tokens.utcnow,
                 identity: Callable[[], IdentityPort] = _signin) -> None:
        self.store = store
        self.clock = clock
        self.identity = identity

    def begin(self, provider_name: str, redirect_uri: str, next_path: str | None) -> Started:
        signin = self.identity()
        provider = signin.provider(provider_name)
        challenge = signin.begin(provider, redirect_uri)
        now = self.clock()
        self.store.create_together(self.store.signin_item(
            digest(challenge.state), provider=provider.name, verifier=challenge.verifier, nonce=challenge.nonce,
            next_path=safe_next(next_path), now=now, expires=now + SIGNIN_LIFETIME))
        return Started(challenge.state, challenge.url)

    def complete(self, state: str | None, bound_state: str | None, code: str | None,
                 redirect_uri: str) -> tuple[str, Session, str]:
        """The new session's secret (for the cookie), the session, and where to go next. ``bound_state`` is the
        state the browser's sign-in cookie holds: a callback another browser was sent to (login CSRF) has none
        or another one."""
        if not state or not code or len(state) > MAX_SECRET or len(code) > 2048:
            raise BadRequest("the sign-in callback lacks its code or state; start signing in again")
        if not bound_state or not hmac.compare_digest(state.encode(), bound_state.encode()):
            raise Unauthorized("this sign-in was not started in this browser (or it took too long); start again")
        signin = self.identity()
        started = self.store.take_signin(digest(state))
        now = self.clock()
        if started is None or started.created_at + SIGNIN_LIFETIME <= now:
            raise Unauthorized("this sign-in has expired or was already used; start again")
        provider = signin.provider(started.provider)
        person = signin.finish(provider, code, started.verifier, started.nonce, redirect_uri)
        secret = secrets.token_urlsafe(32)
        expires = now + SESSION_LIFETIME
        item = self.store.session_item(digest(secret), user=person.user, display_name=person.display_name,
                                       provider=provider.name, csrf=secrets.token_urlsafe(32), now=now,
                                       expires=expires)
        self.store.create_together(item)
        return secret, self._session(digest(secret), item), started.next_path

    def find(self, secret: str | None) -> Session | None:
        """The live session a cookie's secret names; None for none, a made-up one, or one that has ended."""
        if not secret or len(secret) > MAX_SECRET:
            return None
        key = digest(secret)
        item = self.store.get_session(key)
        if item is None or item.expires <= self.clock():
            return None
        return self._session(key, item)

    def end(self, session: Session) -> None:
        self.store.delete_session(session.digest)

    @staticmethod
    def _session(key: str, item: SessionItem) -> Session:
        return Session(key, item.user, item.display_name, item.provider, item.csrf, item.expires, item)


_default = Sessions()
begin = _default.begin
complete = _default.complete
find = _default.find
end = _default.end
