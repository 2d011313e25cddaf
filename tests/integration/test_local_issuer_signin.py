"""The local runtime's issuer as a hosted sign-in page: ``/local-issuer/authorize`` asks for the name and
password of a local user the operator created (``identity.local_users``) and redirects back with a code,
``/local-issuer/token`` exchanges it (PKCE S256) for an ID token that ``marketplace.identity.signin`` verifies.
Through the real front door on a loopback port (with a minimal runtime: no emulator, no functions), and what
the runtime tells the functions about it."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import ssl
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from marketplace.identity import local_issuer, local_users, oidc, signin
from marketplace.identity.config import CA_FILE_VAR, ISSUERS_VAR
from marketplace.identity.local_issuer import CLIENT_ID, LocalIssuer
from marketplace.local import runtime as local_runtime
from marketplace.local.apigw import RouteTable
from marketplace.local.runtime import LocalMarketplace
from marketplace.local.server import serve
from marketplace.platform.errors import ConfigurationError, Unauthorized
from marketplace.platform.functions import FUNCTIONS, PUBLISH_API

TIMEOUT = 5.0
FORM = {"content-type": "application/x-www-form-urlencoded"}
PASSWORD = "a long enough password"
USERS = ("alice@example.com", "bob", "carol", "dave", "erin", "frank", "grace")


@dataclass
class FakeRuntime:
    """What the front door reads of ``LocalMarketplace``: only the issuer answers (the runtime is not ready)."""

    local_issuer: LocalIssuer
    host: str = "127.0.0.1"
    port: int = 0
    scheme: str = "http"
    ready: bool = False
    cdn: Any = None
    routes: RouteTable = field(default_factory=lambda: RouteTable([]))
    invoker: Any = None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def health(self) -> tuple[bool, dict[str, Any]]:
        return False, {"status": "starting"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Door:
    runtime: FakeRuntime

    @property
    def base_url(self) -> str:
        return self.runtime.base_url

    def request(self, method: str, target: str, body: bytes | dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        if isinstance(body, dict):
            body = urlencode(body).encode()
            headers = {**FORM, **(headers or {})}
        connection = http.client.HTTPConnection("127.0.0.1", self.runtime.port, timeout=TIMEOUT)
        try:
            connection.request(method, target, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()


@contextlib.contextmanager
def _serving(issuer: LocalIssuer) -> Iterator[Door]:
    runtime = FakeRuntime(issuer)
    server, loop = serve(runtime, "127.0.0.1", 0)
    runtime.port = server.server_address[1]
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield Door(runtime)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    users = tmp_path_factory.mktemp("issuer") / local_users.USERS_FILE
    for user in USERS:
        local_users.add(users, user, PASSWORD)
    with _serving(LocalIssuer.generate(users_file=users)) as door:
        yield door


@pytest.fixture
def door(served: Door, monkeypatch: pytest.MonkeyPatch) -> Door:
    monkeypatch.delenv("AUTH_CA_FILE", raising=False)
    oidc.reset()
    served.runtime.local_issuer.throttle = local_issuer.Throttle()  # each test's failures are its own
    return served


def _provider(door: Door) -> signin.Provider:
    issuer = local_issuer.issuer_url(door.base_url)
    entry = {"name": "local", "kind": "oidc", "label": "Sign in (local users)", "client_id": CLIENT_ID,
             "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token", "issuer": issuer}
    return signin.parse_providers(json.dumps([entry]))[0]


class Form(HTMLParser):
    """The sign-in page's form: its action, its fields (name -> (type, value)) and its labels."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action, self.method = "", ""
        self.fields: dict[str, tuple[str, str]] = {}
        self.labels: dict[str, str] = {}
        self.button = ""
        self.tags: set[str] = set()
        self._label: str | None = None
        self._in_button = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.add(tag)
        if any(name.startswith("on") or name == "style" for name in values):
            self.tags.add("inline-handler-or-style")
        if tag == "form":
            self.action, self.method = values["action"], values["method"]
        elif tag == "input":
            self.fields[values["name"]] = (values.get("type", "text"), values.get("value", ""))
        elif tag == "label":
            self._label = values["for"]
        elif tag == "button":
            self._in_button = True

    def handle_endtag(self, tag: str) -> None:
        self._label = None if tag == "label" else self._label
        self._in_button = False if tag == "button" else self._in_button

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self.labels[self._label] = self.labels.get(self._label, "") + data
        if self._in_button:
            self.button += data


def _target(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _sign_in(door: Door, user: str, redirect: str | None = None) -> tuple[signin.Challenge, dict[str, str]]:
    """Begin, show the page, submit it as ``user`` with the right password: the challenge and the callback's
    parameters."""
    challenge = signin.begin(_provider(door), redirect or f"{door.base_url}/manage/signin/local/callback")
    page = door.request("GET", _target(challenge.url))
    assert page.status == 200, page.body
    form = Form(page.body.decode())
    fields = {name: value for name, (_, value) in form.fields.items()}
    answer = door.request("POST", form.action, {**fields, "user": user, "password": PASSWORD},
                          {"origin": door.base_url})
    assert answer.status == 303, answer.body
    location = urlsplit(answer.headers["location"])
    return challenge, {k: v[0] for k, v in parse_qs(location.query).items()}


# ---------------------------------------------------------------------------------------------------------------
# The whole round trip


def test_sign_in_with_an_email_address(door: Door) -> None:
    redirect = f"{door.base_url}/manage/signin/local/callback"
    challenge = signin.begin(_provider(door), redirect)
    page = door.request("GET", _target(challenge.url))
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == local_issuer.PAGE_POLICY
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
    text = page.body.decode()
    assert "local marketplace&#x27;s own sign-in" in text or "local marketplace's own sign-in" in text
    assert "no password" not in text and "No local users yet" not in text
    form = Form(text)
    assert "script" not in form.tags and "style" not in form.tags and "inline-handler-or-style" not in form.tags
    assert (form.method, form.action) == ("post", "/local-issuer/authorize")
    assert form.labels["user"] == "User name or e-mail address" and form.fields["user"][0] == "text"
    assert form.labels["password"] == "Password" and form.fields["password"] == ("password", "")
    assert 'autocomplete="username"' in text and 'autocomplete="current-password"' in text
    assert form.button == "Sign in"
    hidden = {name: value for name, (kind, value) in form.fields.items() if kind == "hidden"}
    assert hidden == {k: v[0] for k, v in parse_qs(urlsplit(challenge.url).query).items()}

    answer = door.request("POST", form.action, {**hidden, "user": "  Alice@Example.COM ", "password": PASSWORD},
                          {"origin": door.base_url})
    assert answer.status == 303 and answer.headers["cache-control"] == "no-store"
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    callback = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert callback["state"] == challenge.state and len(callback["code"]) >= 32

    signed_in = signin.finish(_provider(door), callback["code"], challenge.verifier, challenge.nonce, redirect)
    # the canonical name (an e-mail address lower-cased), whatever the case typed
    assert signed_in == signin.SignedIn(user="alice@example.com", display_name="alice@example.com",
                                        email="alice@example.com", provider="local")


def test_sign_in_with_a_user_name_and_the_token_answer(door: Door) -> None:
    challenge, callback = _sign_in(door, "bob")
    redirect = f"{door.base_url}/manage/signin/local/callback"
    answer = door.request("POST", "/local-issuer/token", {
        "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": redirect,
        "client_id": CLIENT_ID, "code_verifier": challenge.verifier})
    assert answer.status == 200 and answer.headers["cache-control"] == "no-store"
    tokens = answer.json()
    assert (tokens["token_type"], tokens["expires_in"]) == ("Bearer", local_issuer.SIGNIN_TTL_SECONDS)
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["sub"], claims["nonce"]) == (
        f"{door.base_url}/local-issuer", CLIENT_ID, "bob", challenge.nonce)
    assert "email" not in claims and "email_verified" not in claims
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert access["aud"] == local_issuer.AUDIENCE and access["sub"] == "bob"

    # the same code again: single use
    again = door.request("POST", "/local-issuer/token", {
        "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": redirect,
        "client_id": CLIENT_ID, "code_verifier": challenge.verifier})
    assert again.status == 400 and again.json()["error"] == "invalid_grant"


def test_finish_of_a_local_user_is_provider_prefixed(door: Door) -> None:
    challenge, callback = _sign_in(door, "carol")
    redirect = f"{door.base_url}/manage/signin/local/callback"
    signed_in = signin.finish(_provider(door), callback["code"], challenge.verifier, challenge.nonce, redirect)
    assert (signed_in.user, signed_in.email) == ("local:carol", None)


def test_a_loopback_redirect_with_the_same_port_is_accepted(door: Door) -> None:
    redirect = f"http://localhost:{door.runtime.port}/manage/signin/local/callback?from=site"
    challenge = signin.begin(_provider(door), redirect)
    page = door.request("GET", _target(challenge.url))
    # the redirect that follows the form is held to form-action too: its origin is allowed
    assert f"form-action 'self' http://localhost:{door.runtime.port};" in page.headers["content-security-policy"]
    _, callback = _sign_in(door, "dave", redirect)
    assert callback["from"] == "site" and "code" in callback


# ---------------------------------------------------------------------------------------------------------------
# The token endpoint's refusals


@pytest.mark.parametrize(("change", "error"), [
    ({"code_verifier": "w" * 43}, "invalid_grant"),
    ({"code_verifier": "short"}, "invalid_grant"),
    ({"redirect_uri": "http://127.0.0.1:1/elsewhere"}, "invalid_grant"),
    ({"code": "made-up"}, "invalid_grant"),
    ({"client_id": "another"}, "invalid_client"),
    ({"grant_type": "password"}, "unsupported_grant_type"),
    ({"code": ""}, "invalid_request"),
])
def test_token_requests_that_are_refused(door: Door, change: dict[str, str], error: str) -> None:
    challenge, callback = _sign_in(door, "erin")
    form = {"grant_type": "authorization_code", "code": callback["code"],
            "redirect_uri": f"{door.base_url}/manage/signin/local/callback", "client_id": CLIENT_ID,
            "code_verifier": challenge.verifier, **change}
    answer = door.request("POST", "/local-issuer/token", form)
    assert answer.status == 400 and answer.json()["error"] == error
    assert set(answer.json()) == {"error", "error_description"}
    assert callback["code"] not in answer.body.decode()


def test_an_expired_code_is_refused_and_finish_says_so(door: Door, monkeypatch: pytest.MonkeyPatch) -> None:
    challenge, callback = _sign_in(door, "frank")
    now = local_issuer._clock()
    monkeypatch.setattr(local_issuer, "_clock", lambda: now + local_issuer.CODE_TTL_SECONDS + 1)
    redirect = f"{door.base_url}/manage/signin/local/callback"
    with pytest.raises(Unauthorized, match=r"refused the code \(invalid_grant\)"):
        signin.finish(_provider(door), callback["code"], challenge.verifier, challenge.nonce, redirect)


def test_token_endpoint_takes_one_form_by_post(door: Door) -> None:
    assert door.request("GET", "/local-issuer/token").status == 405
    answer = door.request("POST", "/local-issuer/token", json.dumps({"code": "x"}).encode(),
                          {"content-type": "application/json"})
    assert answer.status == 400 and answer.json()["error"] == "invalid_request"
    answer = door.request("POST", "/local-issuer/token", b"code=a&code=b", FORM)
    assert answer.status == 400 and answer.json()["error"] == "invalid_request"


# ---------------------------------------------------------------------------------------------------------------
# The sign-in page's refusals: a 400 page, never a redirect


def _challenge() -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=").decode()


def _authorize_query(door: Door, **changes: str) -> dict[str, str]:
    query = {"response_type": "code", "client_id": CLIENT_ID,
             "redirect_uri": f"{door.base_url}/manage/signin/local/callback", "scope": "openid", "state": "s",
             "nonce": "n", "code_challenge": _challenge(), "code_challenge_method": "S256", **changes}
    return {k: v for k, v in query.items() if v != "-"}


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"redirect_uri": "https://evil.example/callback"}, "redirect_uri must be an address of this"),
    ({"redirect_uri": "http://127.0.0.1:1/callback"}, "redirect_uri must be an address of this"),
    ({"redirect_uri": "https://127.0.0.1:{port}/callback"}, "redirect_uri must be an address of this"),
    ({"redirect_uri": "http://evil.example@127.0.0.1:{port}/callback"}, "redirect_uri must be an address of this"),
    ({"redirect_uri": "http://127.0.0.1:{port}\\@evil.example/"}, "redirect_uri must be an address of this"),
    ({"redirect_uri": "http://127.0.0.1:{port}/callback#fragment"}, "redirect_uri must be an address of this"),
    ({"redirect_uri": "-"}, "redirect_uri is missing"),
    ({"client_id": "another"}, "signs in the client 'marketplace-website' only"),
    ({"response_type": "token"}, "response_type must be code"),
    ({"code_challenge_method": "plain"}, "S256 is required"),
    ({"code_challenge_method": "-"}, "S256 is required"),
    ({"code_challenge": "too-short"}, "not an S256 challenge"),
])
def test_authorization_requests_that_are_refused(door: Door, changes: dict[str, str], fragment: str) -> None:
    changes = {k: v.replace("{port}", str(door.runtime.port)) for k, v in changes.items()}
    query = _authorize_query(door, **changes)
    for answer in (door.request("GET", "/local-issuer/authorize?" + urlencode(query)),
                   door.request("POST", "/local-issuer/authorize", {**query, "user": "alice"})):
        assert answer.status == 400 and "location" not in answer.headers
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["content-security-policy"] == local_issuer.PAGE_POLICY
        assert fragment.replace("'", "&#x27;") in answer.body.decode()


@pytest.mark.parametrize("user", ["", "   ", "x" * 255, "tab\there", "bell\x07", "two words"])
def test_an_unusable_user_name_shows_the_form_again(door: Door, user: str) -> None:
    answer = door.request("POST", "/local-issuer/authorize", {**_authorize_query(door), "user": user})
    assert answer.status == 400 and "location" not in answer.headers
    form = Form(answer.body.decode())
    assert form.fields["state"] == ("hidden", "s") and "1 to 254 printable characters" in answer.body.decode()


def test_a_form_sent_from_another_site_is_refused(door: Door) -> None:
    query = {**_authorize_query(door), "user": "bob", "password": PASSWORD}
    for origin in ("https://evil.example", "null", f"{door.base_url}/path"):
        answer = door.request("POST", "/local-issuer/authorize", query, {"origin": origin})
        assert answer.status == 400 and "location" not in answer.headers
    loopback = f"http://localhost:{door.runtime.port}"
    assert door.request("POST", "/local-issuer/authorize", query, {"origin": loopback}).status == 303


def test_the_page_takes_get_head_and_a_form_post(door: Door) -> None:
    target = "/local-issuer/authorize?" + urlencode(_authorize_query(door))
    head = door.request("HEAD", target)
    assert head.status == 200 and head.body == b""
    assert door.request("DELETE", target).headers["allow"] == "GET, HEAD, POST"
    answer = door.request("POST", "/local-issuer/authorize", json.dumps(_authorize_query(door)).encode(),
                          {"content-type": "application/json"})
    assert answer.status == 415 and "location" not in answer.headers
    repeated = door.request("GET", target + "&state=again")
    assert repeated.status == 400 and "repeated" in repeated.body.decode()


def test_discovery_names_the_sign_in_endpoints(door: Door) -> None:
    document = door.request("GET", "/local-issuer/.well-known/openid-configuration").json()
    issuer = f"{door.base_url}/local-issuer"
    assert document["authorization_endpoint"] == issuer + "/authorize"
    assert document["token_endpoint"] == issuer + "/token"
    assert document["response_types_supported"] == ["code", "id_token"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["grant_types_supported"] == ["authorization_code"]


def test_pending_codes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    issuer = LocalIssuer.generate()
    monkeypatch.setattr(local_issuer, "MAX_PENDING_CODES", 3)
    authorization = issuer.check_authorization(
        {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": "http://127.0.0.1:8080/cb",
         "code_challenge": _challenge(), "code_challenge_method": "S256"}, "http://127.0.0.1:8080")
    codes = [parse_qs(urlsplit(issuer.authorize(authorization, f"u{i}")).query)["code"][0] for i in range(5)]
    form = {"grant_type": "authorization_code", "redirect_uri": "http://127.0.0.1:8080/cb", "client_id": CLIENT_ID,
            "code_verifier": "v" * 43}
    with pytest.raises(local_issuer.TokenRefused, match="unknown, used or expired"):
        issuer.exchange({**form, "code": codes[0]}, "http://127.0.0.1:8080")
    assert issuer.exchange({**form, "code": codes[4]}, "http://127.0.0.1:8080")["token_type"] == "Bearer"


# ---------------------------------------------------------------------------------------------------------------
# What the runtime tells the functions


def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, host: str = "127.0.0.1",
                 tls: bool = False, ca_file: Path | None = None) -> dict[str, str]:
    monkeypatch.delenv(ISSUERS_VAR, raising=False)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if tls else None
    runtime = LocalMarketplace(host, 8123, tls=context, ca_file=ca_file)
    runtime.local_issuer = LocalIssuer.ensure(tmp_path / "key.pem")
    return runtime._auth_environment(local_runtime._operator_issuers())


def _local_provider(environment: dict[str, str]) -> signin.Provider:
    (provider,) = signin.parse_providers(environment[signin.SIGNIN_VAR])
    return provider


def test_the_runtime_signs_the_website_in_with_its_own_issuer(tmp_path, monkeypatch):
    monkeypatch.delenv(signin.SIGNIN_VAR, raising=False)
    provider = _local_provider(_environment(tmp_path, monkeypatch))
    assert provider == signin.Provider(
        name="local", kind="oidc", label="Sign in (local users)", client_id=CLIENT_ID,
        authorization_endpoint="http://127.0.0.1:8123/local-issuer/authorize",
        token_endpoint="http://127.0.0.1:8123/local-issuer/token", scopes=("openid", "email", "profile"),
        issuer="http://127.0.0.1:8123/local-issuer")
    assert provider.jwks_uri is None and provider.jwks is None  # by discovery, as AUTH_ISSUERS's entry


def test_any_address_is_reached_over_loopback(tmp_path, monkeypatch):
    monkeypatch.delenv(signin.SIGNIN_VAR, raising=False)
    provider = _local_provider(_environment(tmp_path, monkeypatch, host="0.0.0.0"))
    assert provider.issuer == "http://0.0.0.0:8123/local-issuer"
    assert provider.authorization_endpoint == "http://127.0.0.1:8123/local-issuer/authorize"
    assert provider.token_endpoint == "http://127.0.0.1:8123/local-issuer/token"
    assert provider.jwks_uri == "http://127.0.0.1:8123/local-issuer/.well-known/jwks.json"


def test_https_without_a_known_ca_gives_the_keys_inline(tmp_path, monkeypatch):
    monkeypatch.delenv(signin.SIGNIN_VAR, raising=False)
    environment = _environment(tmp_path, monkeypatch, tls=True)
    provider = _local_provider(environment)
    assert provider.token_endpoint == "https://127.0.0.1:8123/local-issuer/token"
    assert provider.jwks == json.loads(environment[ISSUERS_VAR])[0]["jwks"]


def test_the_operators_providers_win(tmp_path, monkeypatch):
    mine = json.dumps([{"name": "github", "kind": "github", "client_id": "Iv1.abc", "client_secret": "x"}])
    monkeypatch.setenv(signin.SIGNIN_VAR, mine)
    assert _environment(tmp_path, monkeypatch)[signin.SIGNIN_VAR] == mine
    monkeypatch.setenv(signin.SIGNIN_VAR, json.dumps([{"name": "github"}]))
    with pytest.raises(ConfigurationError, match=r"SIGNIN_PROVIDERS\[0\] needs 'kind'"):
        local_runtime._operator_signin()


def test_only_publish_api_gets_the_providers(tmp_path, monkeypatch):
    """As the stack gives them: publish_api alone (with the local CA when the issuer speaks HTTPS), not the
    functions that check bearer tokens, and no worker inherits them from the runtime's own environment."""
    monkeypatch.delenv(signin.SIGNIN_VAR, raising=False)
    runtime = LocalMarketplace("127.0.0.1", 8123, tls=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER),
                               ca_file=tmp_path / "ca.pem")
    runtime.local_issuer = LocalIssuer.generate()
    runtime._auth = runtime._auth_environment([])
    runtime.deployment = cast(Any, SimpleNamespace(env=defaultdict(lambda: "located")))
    monkeypatch.setenv(signin.SIGNIN_VAR, "inherited?")
    for definition in FUNCTIONS:
        worker = runtime.function_environment(definition)
        if definition is PUBLISH_API:
            assert worker[signin.SIGNIN_VAR] == runtime._auth[signin.SIGNIN_VAR]
            assert worker[CA_FILE_VAR] == str(tmp_path / "ca.pem")
            assert _local_provider(worker).token_endpoint == "https://127.0.0.1:8123/local-issuer/token"
        else:
            assert signin.SIGNIN_VAR not in worker, definition.name


# ---------------------------------------------------------------------------------------------------------------
# Named local users: a password, one answer for every wrong pair, throttling, and no users at all


def _submit(door: Door, user: str, password: str) -> Reply:
    return door.request("POST", "/local-issuer/authorize", {**_authorize_query(door), "user": user,
                                                            "password": password}, {"origin": door.base_url})


def test_a_wrong_password_or_an_unknown_user_signs_nobody_in(door: Door) -> None:
    wrong = _submit(door, "bob", PASSWORD + "?")
    unknown = _submit(door, "mallory", PASSWORD)
    for answer in (wrong, unknown):
        assert answer.status == 401 and "location" not in answer.headers
        assert answer.headers["cache-control"] == "no-store"
        assert local_issuer.MISMATCH in answer.body.decode()
        assert PASSWORD not in answer.body.decode()  # the password is never sent back
        form = Form(answer.body.decode())
        assert form.fields["state"] == ("hidden", "s") and form.fields["password"] == ("password", "")
    assert Form(wrong.body.decode()).fields["user"] == ("text", "bob")
    # the two answers differ in the user name shown again, and in nothing else
    assert wrong.body.decode().replace('value="bob"', 'value="mallory"') == unknown.body.decode()
    assert _submit(door, "bob", "").status == 401


def test_failed_attempts_are_throttled_per_user_name(door: Door, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(local_issuer.MAX_FAILURES_PER_USER):
        assert _submit(door, "carol", "not the password").status == 401
    throttled = _submit(door, "carol", PASSWORD)  # even the right password, until the window moves on
    assert throttled.status == 429 and "location" not in throttled.headers
    assert "Too many attempts; wait a few minutes" in throttled.body.decode()
    assert 0 < int(throttled.headers["retry-after"]) <= local_issuer.THROTTLE_WINDOW_SECONDS
    assert Form(throttled.body.decode()).fields["state"] == ("hidden", "s")
    assert _submit(door, "dave", PASSWORD).status == 303  # another user, from the same address, is not held up

    now = local_issuer._clock()
    monkeypatch.setattr(local_issuer, "_clock", lambda: now + local_issuer.THROTTLE_WINDOW_SECONDS + 1)
    assert _submit(door, "carol", PASSWORD).status == 303


def test_failed_attempts_are_throttled_per_client_address(door: Door, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_issuer, "MAX_FAILURES_PER_CLIENT", 4)
    for name in ("u1", "u2", "u3", "u4"):
        assert _submit(door, name, "not the password").status == 401
    assert _submit(door, "erin", PASSWORD).status == 429  # a name never tried before: the address is held
    door.runtime.local_issuer.throttle = local_issuer.Throttle()
    assert _submit(door, "erin", PASSWORD).status == 303


def test_a_success_clears_the_user_names_failures(door: Door) -> None:
    for _ in range(local_issuer.MAX_FAILURES_PER_USER - 1):
        assert _submit(door, "frank", "not the password").status == 401
    assert _submit(door, "frank", PASSWORD).status == 303
    assert _submit(door, "frank", "not the password").status == 401  # counting starts again


def test_the_users_file_is_read_at_every_sign_in(tmp_path: Path) -> None:
    users = tmp_path / local_users.USERS_FILE
    with _serving(LocalIssuer.generate(users_file=users)) as door:
        target = "/local-issuer/authorize?" + urlencode(_authorize_query(door))
        page = door.request("GET", target)
        text = page.body.decode()
        assert page.status == 200 and "No local users yet" in text
        assert "<code>marketplace user add NAME</code>" in text
        assert 'name="password"' not in text and "<form" not in text
        refused = _submit(door, "alice", PASSWORD)
        assert refused.status == 403 and "location" not in refused.headers
        assert "No local users yet" in refused.body.decode()

        local_users.add(users, "alice", PASSWORD)  # as marketplace user add does, while it runs
        assert 'name="password"' in door.request("GET", target).body.decode()
        assert _submit(door, "alice", PASSWORD).status == 303
        local_users.set_password(users, "alice", "a new password, please")
        assert _submit(door, "alice", PASSWORD).status == 401
        local_users.remove(users, "alice")
        assert _submit(door, "alice", "a new password, please").status == 403

        users.write_text("{damaged")
        for answer in (door.request("GET", target), _submit(door, "alice", PASSWORD)):
            assert answer.status == 503 and "location" not in answer.headers
            assert "cannot be read" in answer.body.decode() and str(tmp_path) not in answer.body.decode()


def test_an_issuer_without_a_users_file_signs_nobody_in() -> None:
    with _serving(LocalIssuer.generate()) as door:
        assert "No local users yet" in door.request(
            "GET", "/local-issuer/authorize?" + urlencode(_authorize_query(door))).body.decode()
        assert _submit(door, "alice", PASSWORD).status == 403


def test_a_burst_of_concurrent_guesses_is_held_to_the_limit() -> None:
    """Attempts are counted when they start, not when their (slow) password check fails."""
    throttle = local_issuer.Throttle()
    waits: list[float] = []
    start = threading.Barrier(25)

    def guess() -> None:
        start.wait()
        waits.append(throttle.attempt({"user:bob": 10, "client:192.0.2.1": 30}))

    threads = [threading.Thread(target=guess) for _ in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert waits.count(0.0) == 10 and all(0 < wait <= local_issuer.THROTTLE_WINDOW_SECONDS for wait in waits
                                          if wait)
    throttle.succeeded("user:bob", "client:192.0.2.1")
    assert throttle.attempt({"user:bob": 10}) == 0.0
