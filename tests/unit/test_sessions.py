"""Website sessions (``publishing.sessions``) against the in-memory publishing store and a fake identity
provider: a sign-in's state is bound to the browser and used once, a session is found by its secret only while
it lives, the table never holds a secret the browser presents, and ``next`` never leads off the site."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from marketplace.identity.signin import Challenge, Provider, SignedIn
from marketplace.platform.errors import BadRequest, Unauthorized
from marketplace.publishing import service, sessions
from tests.fakes.publishing_store import FakePublishingStore

REDIRECT = "https://market.example/manage/signin/callback"


@dataclass
class FakeIdentity:
    """A provider that signs in whoever the test says, remembering what it was asked."""

    user: str = "alice@example.com"
    refuse: bool = False
    finished: list[tuple[str, str, str, str]] = field(default_factory=list)
    count: int = 0

    def provider(self, name: str) -> Provider:
        if name != "idp":
            raise LookupError(name)
        return Provider(name="idp", kind="oidc", label="Sign in", client_id="site",
                        authorization_endpoint="https://idp.example/authorize",
                        token_endpoint="https://idp.example/token", scopes=("openid",), issuer="https://idp.example")

    def begin(self, provider: Any, redirect_uri: str) -> Challenge:
        self.count += 1
        state, nonce, verifier = f"state-{self.count}", f"nonce-{self.count}", f"verifier-{self.count}" * 4
        return Challenge(state, nonce, verifier, f"https://idp.example/authorize?state={state}")

    def finish(self, provider: Any, code: str, verifier: str, nonce: str, redirect_uri: str) -> SignedIn:
        if self.refuse:
            raise Unauthorized("sign-in failed: the identity provider refused the code")
        self.finished.append((code, verifier, nonce, redirect_uri))
        return SignedIn(self.user, "Alice", self.user, provider.name)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world() -> tuple[sessions.Sessions, FakeIdentity, FakePublishingStore, Clock]:
    identity, table, clock = FakeIdentity(), FakePublishingStore(), Clock()
    return sessions.Sessions(table, clock, lambda: identity), identity, table, clock


def test_a_sign_in_becomes_a_session_that_names_its_user(world):
    signing, identity, table, _ = world
    started = signing.begin("idp", REDIRECT, "/manage/namespaces/acme")
    assert started.url.startswith("https://idp.example/authorize")
    secret, session, next_path = signing.complete(started.state, started.state, "the-code", REDIRECT)
    assert identity.finished == [("the-code", "verifier-1" * 4, "nonce-1", REDIRECT)]
    assert (session.user, next_path) == ("alice@example.com", "/manage/namespaces/acme")
    found = signing.find(secret)
    assert found is not None and found.user == "alice@example.com" and found.csrf_matches(session.csrf)
    assert not found.csrf_matches(None) and not found.csrf_matches("") and not found.csrf_matches("guess")
    stored = repr(table.table)
    assert secret not in stored and started.state not in stored  # only their digests are kept


def test_a_callback_is_used_once(world):
    signing, _, _, _ = world
    started = signing.begin("idp", REDIRECT, None)
    signing.complete(started.state, started.state, "code", REDIRECT)
    with pytest.raises(Unauthorized, match="expired or was already used"):
        signing.complete(started.state, started.state, "code", REDIRECT)


def test_a_callback_another_browser_was_sent_to_is_refused(world):
    """Login CSRF: an attacker's own sign-in callback, opened in the victim's browser, has no matching cookie."""
    signing, identity, _, _ = world
    attackers = signing.begin("idp", REDIRECT, None)
    victims = signing.begin("idp", REDIRECT, None)
    for bound in (None, "", victims.state):
        with pytest.raises(Unauthorized, match="not started in this browser"):
            signing.complete(attackers.state, bound, "code", REDIRECT)
    assert identity.finished == []


@pytest.mark.parametrize(("state", "code"), [(None, "code"), ("s", None), ("", "code"), ("x" * 500, "code"),
                                              ("s", "c" * 5000)])
def test_a_callback_without_its_code_or_state_is_a_bad_request(world, state, code):
    signing, _, _, _ = world
    with pytest.raises(BadRequest):
        signing.complete(state, state, code, REDIRECT)


def test_a_slow_sign_in_expires(world):
    signing, identity, _, clock = world
    started = signing.begin("idp", REDIRECT, None)
    clock.now += sessions.SIGNIN_LIFETIME
    with pytest.raises(Unauthorized, match="expired"):
        signing.complete(started.state, started.state, "code", REDIRECT)
    assert identity.finished == []


def test_a_refused_code_starts_no_session(world):
    signing, identity, table, _ = world
    identity.refuse = True
    started = signing.begin("idp", REDIRECT, None)
    with pytest.raises(Unauthorized, match="refused the code"):
        signing.complete(started.state, started.state, "code", REDIRECT)
    assert not any(sk == "SESSION" for _, sk in table.table)


def test_sessions_end_when_they_expire_or_sign_out(world):
    signing, _, _, clock = world
    started = signing.begin("idp", REDIRECT, None)
    secret, session, _ = signing.complete(started.state, started.state, "code", REDIRECT)
    clock.now += sessions.SESSION_LIFETIME - timedelta(seconds=1)
    assert signing.find(secret) is not None
    clock.now += timedelta(seconds=1)
    assert signing.find(secret) is None
    clock.now -= timedelta(hours=1)
    signing.end(session)
    assert signing.find(secret) is None
    assert signing.find(None) is None and signing.find("made-up") is None and signing.find("x" * 500) is None


@pytest.mark.parametrize(("wanted", "kept"), [
    ("/manage/upload", "/manage/upload"), ("/manage?x=1", "/manage?x=1"), ("/manage", "/manage"),
    (None, "/manage"), ("", "/manage"), ("https://evil.example/manage", "/manage"), ("//evil.example", "/manage"),
    ("/manage//evil.example", "/manage"), ("/manage\\evil", "/manage"), ("/managed-elsewhere", "/manage"),
    ("/", "/manage"), ("/manage/\nx", "/manage"), ("/manage/" + "a" * 600, "/manage"),
])
def test_next_never_leaves_the_publisher_area(wanted, kept):
    assert sessions.safe_next(wanted) == kept


def test_a_session_speaks_for_its_user_in_every_namespace_they_are_a_member_of():
    table = FakePublishingStore()
    publishing = service.Publishing(table)
    publishing.create_publisher("acme", "alice@example.com")
    publishing.create_publisher("other", "bob@example.com")
    now = datetime.now(UTC)
    item = table.session_item("d" * 64, user="alice@example.com", display_name=None, provider="idp", csrf="c",
                              now=now, expires=now + timedelta(hours=1))
    table.create_together(item)
    principal = publishing.session_principal(item, "d" * 64)
    assert principal.session and principal.namespaces == {"acme"}
    assert publishing.authorize(principal, "acme").name == "acme"
    with pytest.raises(Exception, match="no longer a member"):
        publishing.authorize(principal, "other")
    assert publishing.principal_of(principal.token_id).user == "alice@example.com"
    table.delete_session("d" * 64)
    with pytest.raises(Unauthorized, match="session that started this upload has ended"):
        publishing.principal_of(principal.token_id)
