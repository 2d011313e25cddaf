"""Website sign-in, the relying party's side (``marketplace.identity.signin``): providers from
``SIGNIN_PROVIDERS``, the authorization request with PKCE S256, and the code exchange against a fake token
endpoint and a fake GitHub on 127.0.0.1. No message carries a code, token or secret."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from marketplace.identity import oidc, signin
from marketplace.identity.local_issuer import LocalIssuer
from marketplace.identity.signin import SIGNIN_VAR, Provider
from marketplace.platform.errors import ConfigurationError, NotFound, ServiceUnavailable, Unauthorized

CLIENT_ID = "website-client"
SECRET = "s3cr3t-value-never-shown"
CODE = "the-authorization-code-4711"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:marketplace/github-signin"
REDIRECT = "https://marketplace.example/manage/signin/local/callback"

# ---------------------------------------------------------------------------------------------------------------
# A fake identity provider on 127.0.0.1


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


Answer = tuple[int, Any]  # status, JSON document (or bytes)


@dataclass
class FakeProvider:
    routes: dict[tuple[str, str], Answer | Callable[[Request], Answer]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def answer(self, request: Request) -> Answer:
        self.requests.append(request)
        route = self.routes.get((request.method, request.path), (404, {"message": "Not Found"}))
        return route(request) if callable(route) else route


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    provider = FakeProvider()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length))
            status, document = provider.answer(request)
            data = document if isinstance(document, bytes) else json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle  # noqa: N815

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    provider.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield provider
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(SIGNIN_VAR, raising=False)
    monkeypatch.delenv("AUTH_CA_FILE", raising=False)
    oidc.reset()
    signin.reset()
    yield
    oidc.reset()
    signin.reset()


# ---------------------------------------------------------------------------------------------------------------
# Configuration


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "cognito", "kind": "oidc", "label": "Sign in", "client_id": CLIENT_ID,
        "authorization_endpoint": "https://login.example/oauth2/authorize",
        "token_endpoint": "https://login.example/oauth2/token", "issuer": "https://idp.example/pool",
    }
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def test_providers_parse_with_their_defaults(monkeypatch):
    github = {"name": "github", "kind": "github", "client_id": "Iv1.abc", "client_secret": SECRET}
    monkeypatch.setenv(SIGNIN_VAR, json.dumps([_entry(label=None), github]))
    cognito, hub = signin.providers()
    assert cognito == Provider(
        name="cognito", kind="oidc", label="Sign in with cognito", client_id=CLIENT_ID,
        authorization_endpoint="https://login.example/oauth2/authorize",
        token_endpoint="https://login.example/oauth2/token", scopes=("openid", "email", "profile"),
        issuer="https://idp.example/pool")
    assert (hub.label, hub.scopes, hub.api_url) == ("Sign in with GitHub", ("read:user", "user:email"),
                                                    "https://api.github.com")
    assert hub.authorization_endpoint == "https://github.com/login/oauth/authorize"
    assert hub.token_endpoint == "https://github.com/login/oauth/access_token"
    assert hub.client_secret == SECRET and SECRET not in repr(hub)
    assert signin.provider("github") is hub
    with pytest.raises(NotFound, match="no sign-in provider named 'gitlab'"):
        signin.provider("gitlab")


def test_no_providers_when_unset_or_empty(monkeypatch):
    assert signin.providers() == ()
    monkeypatch.setenv(SIGNIN_VAR, " ")
    assert signin.providers() == ()


@pytest.mark.parametrize(("value", "fragment"), [
    ("{", "not valid JSON"),
    (json.dumps({"name": "x"}), "must be a JSON list"),
    (json.dumps(["x"]), r"SIGNIN_PROVIDERS\[0\] must be an object"),
    (json.dumps([_entry(client_secret=SECRET, colour="blue")]), "unknown field 'colour'"),
    (json.dumps([_entry(name="Cognito")]), r"\.name must be"),
    (json.dumps([_entry(name="-x")]), r"\.name must be"),
    (json.dumps([_entry(), _entry()]), "'cognito' more than once"),
    (json.dumps([_entry(kind="saml")]), r"\.kind must be one of oidc, github"),
    (json.dumps([_entry(client_id=None)]), "needs 'client_id'"),
    (json.dumps([_entry(issuer=None)]), "needs 'issuer'"),
    (json.dumps([_entry(token_endpoint=None)]), "needs 'token_endpoint'"),
    (json.dumps([_entry(token_endpoint="ftp://x/token")]), r"\.token_endpoint must be an http\(s\) address"),
    (json.dumps([_entry(authorization_endpoint="https://x/a#f")]), "without a fragment"),
    (json.dumps([_entry(scopes="openid")]), r"\.scopes must be a list"),
    (json.dumps([_entry(scopes=["email"])]), "must include 'openid'"),
    (json.dumps([_entry(jwks=[1])]), r"\.jwks must be a key set"),
    (json.dumps([_entry(api_url="https://api.github.com")]), "api_url is for github"),
    (json.dumps([{"name": "github", "kind": "github", "client_id": "a"}]), "needs 'client_secret'"),
    (json.dumps([{"name": "github", "kind": "github", "client_id": "a", "client_secret": SECRET,
                  "issuer": "https://x"}]), "issuer is for oidc"),
    (json.dumps([_entry(client_secret=7)]), r"\.client_secret must be a non-empty string"),
    (json.dumps([_entry(client_secret_arn="my-secret")]), r"\.client_secret_arn must be a Secrets Manager"),
    (json.dumps([_entry(client_secret=SECRET, client_secret_arn=ARN)]), "both 'client_secret' and"),
])
def test_malformed_providers_name_the_fault(monkeypatch, value, fragment):
    monkeypatch.setenv(SIGNIN_VAR, value)
    with pytest.raises(ConfigurationError, match=fragment) as raised:
        signin.providers()
    assert SECRET not in str(raised.value)


# ---------------------------------------------------------------------------------------------------------------
# The authorization request


def _provider(**changes: Any) -> Provider:
    return signin.parse_providers(json.dumps([_entry(**changes)]))[0]


def test_begin_asks_for_a_code_with_an_s256_challenge():
    provider = _provider(scopes=["openid", "email"])
    challenge = signin.begin(provider, REDIRECT)
    url = urlsplit(challenge.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == provider.authorization_endpoint
    assert "%20" in url.query  # the scope's blanks
    parameters = {k: v[0] for k, v in parse_qs(url.query, strict_parsing=True).items()}
    assert parameters == {
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "scope": "openid email",
        "state": challenge.state, "nonce": challenge.nonce, "code_challenge": parameters["code_challenge"],
        "code_challenge_method": "S256",
    }
    assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", challenge.verifier)
    expected = base64.urlsafe_b64encode(hashlib.sha256(challenge.verifier.encode()).digest()).rstrip(b"=").decode()
    assert parameters["code_challenge"] == expected == signin.code_challenge(challenge.verifier)
    assert challenge.verifier not in repr(challenge)

    again = signin.begin(provider, REDIRECT)
    assert len({challenge.state, challenge.nonce, challenge.verifier, again.state, again.nonce, again.verifier}) == 6


def test_begin_keeps_the_endpoints_own_query():
    provider = _provider(authorization_endpoint="https://login.example/authorize?p=b2c_signin")
    url = urlsplit(signin.begin(provider, REDIRECT).url)
    assert parse_qs(url.query)["p"] == ["b2c_signin"] and parse_qs(url.query)["client_id"] == [CLIENT_ID]
    with pytest.raises(ValueError, match="redirect_uri"):
        signin.begin(provider, "/relative")


# ---------------------------------------------------------------------------------------------------------------
# The code exchange, OIDC


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Idp:
    fake: FakeProvider
    issuer: LocalIssuer
    key: ec.EllipticCurvePrivateKey
    provider: Provider

    @property
    def iss(self) -> str:
        return f"{self.fake.url}/local-issuer"

    def id_token(self, subject: str = "alice", *, audience: str = CLIENT_ID, nonce: str | None = "n-1",
                 **claims: Any) -> str:
        extra = {**claims, **({"nonce": nonce} if nonce is not None else {})}
        return self.issuer.mint(subject, self.fake.url, 600, audience=audience, claims=extra)

    def answer(self, token: str) -> None:
        self.fake.routes[("POST", "/token")] = (200, {"id_token": token, "access_token": "at", "token_type": "Bearer"})

    def finish(self, nonce: str = "n-1") -> signin.SignedIn:
        return signin.finish(self.provider, CODE, "v" * 43, nonce, REDIRECT)


@pytest.fixture
def idp(fake: FakeProvider, key: ec.EllipticCurvePrivateKey) -> Idp:
    issuer = LocalIssuer(key)
    fake.routes[("GET", "/local-issuer/.well-known/openid-configuration")] = (
        200, issuer.well_known("/.well-known/openid-configuration", fake.url))
    fake.routes[("GET", "/local-issuer/.well-known/jwks.json")] = (200, issuer.jwks())
    provider = _provider(name="local", issuer=f"{fake.url}/local-issuer", token_endpoint=f"{fake.url}/token")
    return Idp(fake, issuer, key, provider)


def test_finish_exchanges_the_code_and_verifies_the_id_token(idp):
    idp.answer(idp.id_token("Alice@Example.COM", email="Alice@Example.COM", email_verified=True, name="Alice A."))
    signed_in = idp.finish()
    assert signed_in == signin.SignedIn(user="alice@example.com", display_name="Alice A.",
                                        email="alice@example.com", provider="local")
    token_request = next(r for r in idp.fake.requests if r.path == "/token")
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in token_request.headers  # a public client
    assert token_request.form() == {"grant_type": "authorization_code", "code": CODE, "redirect_uri": REDIRECT,
                                    "client_id": CLIENT_ID, "code_verifier": "v" * 43}
    # the keys came by discovery, once, through the shared key cache
    idp.answer(idp.id_token("bob"))
    assert idp.finish().user == "local:bob"
    assert sum(r.path.endswith("jwks.json") for r in idp.fake.requests) == 1


def test_a_confidential_client_authenticates_with_basic(idp):
    provider = _provider(name="local", issuer=idp.iss, token_endpoint=f"{idp.fake.url}/token",
                         client_secret="a b:c", jwks=idp.issuer.jwks())
    idp.answer(idp.id_token())
    signin.finish(provider, CODE, "v" * 43, "n-1", REDIRECT)
    (token_request,) = idp.fake.requests  # inline keys: no fetch
    assert token_request.headers["authorization"] == "Basic " + base64.b64encode(
        f"{CLIENT_ID}:a+b%3Ac".encode()).decode()


@pytest.mark.parametrize(("claims", "user", "email"), [
    ({"email": "a@example.com", "email_verified": "true"}, "a@example.com", "a@example.com"),
    ({"email": "a@example.com", "email_verified": False}, "local:alice", None),
    ({"email": "a@example.com"}, "local:alice", None),
    ({"email": "a@example.com", "email_verified": "yes"}, "local:alice", None),
    ({"email": "not an address", "email_verified": True}, "local:alice", None),
])
def test_only_a_verified_email_is_the_user(idp, claims, user, email):
    idp.answer(idp.id_token(**claims))
    signed_in = idp.finish()
    assert (signed_in.user, signed_in.email) == (user, email)


def test_unverified_user_names_fall_back_to_the_provider_prefixed_username(idp, key):
    claims = {"iss": idp.iss, "aud": CLIENT_ID, "sub": "0f3c-uuid", "exp": int(time.time()) + 60,
              "nonce": "n-1", "cognito:username": "carol"}
    idp.answer(jwt.encode(claims, key, algorithm="ES256", headers={"kid": idp.issuer.kid}))
    assert (idp.finish().user, idp.finish().display_name) == ("local:carol", "carol")
    del claims["cognito:username"]
    idp.answer(jwt.encode(claims, key, algorithm="ES256", headers={"kid": idp.issuer.kid}))
    assert idp.finish().user == "local:0f3c-uuid"


def _expired(idp: Idp) -> str:
    past = int(time.time()) - 3600
    claims = {"iss": idp.iss, "aud": CLIENT_ID, "sub": "alice", "iat": past - 60, "exp": past, "nonce": "n-1"}
    return jwt.encode(claims, idp.key, algorithm="ES256", headers={"kid": idp.issuer.kid})


@pytest.mark.parametrize(("token", "fragment"), [
    (lambda idp: idp.id_token(nonce="another"), "nonce is not this sign-in's"),
    (lambda idp: idp.id_token(nonce=None), "nonce is not this sign-in's"),
    (lambda idp: idp.id_token(audience="marketplace"), "another audience"),
    (lambda idp: idp.id_token(azp="someone-else"), r"another client \(azp\)"),
    (_expired, "the ID token has expired"),
    (lambda idp: LocalIssuer.generate().mint("alice", idp.fake.url, 60, audience=CLIENT_ID, claims={"nonce": "n-1"}),
     "signed with a key"),
    (lambda idp: idp.issuer.mint("alice", "http://elsewhere", 60, audience=CLIENT_ID, claims={"nonce": "n-1"}),
     r"issuer \(iss\) does not match"),
    (lambda idp: "not.a.jwt", "not a well-formed JWT"),
])
def test_id_tokens_that_do_not_verify_are_refused(idp, token, fragment):
    value = token(idp)
    idp.answer(value)
    with pytest.raises(Unauthorized, match=f"sign-in failed: .*{fragment}") as raised:
        idp.finish()
    assert value not in raised.value.message and "WWW-Authenticate" not in raised.value.headers


@pytest.mark.parametrize(("status", "document", "error", "fragment"), [
    (400, {"error": "invalid_grant", "error_description": f"code {CODE} is used"}, Unauthorized,
     r"refused the code \(invalid_grant\)"),
    (401, {"error": "invalid client <script>"}, Unauthorized, "refused the code$"),
    (200, {"access_token": "at"}, Unauthorized, "without an ID token"),
    (200, b"<html>", Unauthorized, "without an ID token"),
    (500, {"error": "server_error"}, ServiceUnavailable, "answered HTTP 500"),
    (502, b"bad gateway", ServiceUnavailable, "answered HTTP 502"),
    (429, {}, ServiceUnavailable, "answered HTTP 429"),
])
def test_token_endpoint_failures(idp, status, document, error, fragment):
    idp.fake.routes[("POST", "/token")] = (status, document)
    with pytest.raises(error, match=fragment) as raised:
        idp.finish()
    assert CODE not in raised.value.message and "v" * 43 not in raised.value.message


def test_an_unreachable_provider_is_a_503(idp):
    provider = _provider(name="local", issuer=idp.iss, token_endpoint="http://127.0.0.1:9/token")
    with pytest.raises(ServiceUnavailable, match="local cannot be reached"):
        signin.finish(provider, CODE, "v" * 43, "n-1", REDIRECT)


def test_unreachable_keys_are_a_503(idp):
    del idp.fake.routes[("GET", "/local-issuer/.well-known/jwks.json")]
    idp.answer(idp.id_token())
    with pytest.raises(ServiceUnavailable, match="sign-in is unavailable"):
        idp.finish()


def test_an_incomplete_answer_is_refused_without_asking(idp):
    with pytest.raises(Unauthorized, match="incomplete"):
        signin.finish(idp.provider, "", "v" * 43, "n-1", REDIRECT)
    assert idp.fake.requests == []


# ---------------------------------------------------------------------------------------------------------------
# The code exchange, GitHub


@pytest.fixture
def hub(fake: FakeProvider) -> Provider:
    fake.routes[("POST", "/login/oauth/access_token")] = (200, {"access_token": "gho_abc", "token_type": "bearer",
                                                                "scope": "read:user,user:email"})
    fake.routes[("GET", "/api/user")] = (200, {"id": 7, "login": "octocat", "name": "The Octocat"})
    fake.routes[("GET", "/api/user/emails")] = (200, [
        {"email": "other@example.com", "primary": False, "verified": True},
        {"email": "Octo@GitHub.example", "primary": True, "verified": True},
    ])
    entry = {"name": "github", "kind": "github", "client_id": "Iv1.abc", "client_secret": SECRET,
             "authorization_endpoint": f"{fake.url}/login/oauth/authorize",
             "token_endpoint": f"{fake.url}/login/oauth/access_token", "api_url": f"{fake.url}/api/"}
    return signin.parse_providers(json.dumps([entry]))[0]


def test_github_sign_in_is_the_primary_verified_email(fake, hub):
    signed_in = signin.finish(hub, CODE, "v" * 43, "n-1", REDIRECT)
    assert signed_in == signin.SignedIn(user="octo@github.example", display_name="The Octocat",
                                        email="octo@github.example", provider="github")
    exchange, user, emails = fake.requests
    assert exchange.headers["accept"] == "application/json"
    assert exchange.form() == {"grant_type": "authorization_code", "code": CODE, "redirect_uri": REDIRECT,
                               "client_id": "Iv1.abc", "code_verifier": "v" * 43, "client_secret": SECRET}
    assert (user.path, emails.path) == ("/api/user", "/api/user/emails")
    assert user.headers["authorization"] == emails.headers["authorization"] == "Bearer gho_abc"


@pytest.mark.parametrize("emails", [
    (200, [{"email": "octo@github.example", "primary": True, "verified": False}]),
    (200, [{"email": "octo@github.example", "primary": False, "verified": True}]),
    (404, {"message": "Not Found"}),
    (403, {"message": "Resource not accessible by integration"}),
])
def test_github_without_a_primary_verified_email_is_the_login(fake, hub, emails):
    fake.routes[("GET", "/api/user/emails")] = emails
    signed_in = signin.finish(hub, CODE, "v" * 43, "n-1", REDIRECT)
    assert (signed_in.user, signed_in.email) == ("github:octocat", None)


@pytest.mark.parametrize(("route", "answer", "error", "fragment"), [
    (("POST", "/login/oauth/access_token"), (200, {"error": "bad_verification_code"}), Unauthorized,
     r"refused the code \(bad_verification_code\)"),
    (("POST", "/login/oauth/access_token"), (200, {"token_type": "bearer"}), Unauthorized, "without an access token"),
    (("POST", "/login/oauth/access_token"), (503, {}), ServiceUnavailable, "answered HTTP 503"),
    (("GET", "/api/user"), (401, {"message": "Bad credentials"}), Unauthorized, "refused the access token"),
    (("GET", "/api/user"), (500, {}), ServiceUnavailable, "GitHub answered HTTP 500"),
    (("GET", "/api/user"), (200, {"id": 7}), ServiceUnavailable, "unexpected user document"),
    (("GET", "/api/user"), (429, {}), ServiceUnavailable, "GitHub answered HTTP 429"),
])
def test_github_failures(fake, hub, route, answer, error, fragment):
    fake.routes[route] = answer
    with pytest.raises(error, match=fragment) as raised:
        signin.finish(hub, CODE, "v" * 43, "n-1", REDIRECT)
    assert CODE not in raised.value.message and SECRET not in raised.value.message
    assert "gho_abc" not in raised.value.message


# ---------------------------------------------------------------------------------------------------------------
# A client secret kept in Secrets Manager (the stack names it by ARN)


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    from marketplace.platform import aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.reset_clients()
        yield aws.client("secretsmanager")
    aws.reset_clients()


def test_the_stacks_github_provider_reads_its_secret_by_arn(fake, secrets_manager, monkeypatch):
    created = secrets_manager.create_secret(Name="marketplace/github-signin", SecretString=SECRET + "\n")
    entry = {"name": "github", "kind": "github", "label": "Sign in with GitHub", "client_id": "Iv1.abc",
             "authorization_endpoint": f"{fake.url}/login/oauth/authorize",
             "token_endpoint": f"{fake.url}/login/oauth/access_token", "api_url": f"{fake.url}/api",
             "client_secret_arn": created["ARN"]}
    (hub,) = signin.parse_providers(json.dumps([entry]))
    assert hub.client_secret is None and hub.client_secret_arn == created["ARN"]
    fake.routes[("POST", "/login/oauth/access_token")] = (200, {"access_token": "gho_abc"})
    fake.routes[("GET", "/api/user")] = (200, {"id": 7, "login": "octocat"})
    fake.routes[("GET", "/api/user/emails")] = (200, [])
    assert signin.finish(hub, CODE, "v" * 43, "n-1", REDIRECT).user == "github:octocat"
    assert fake.requests[0].form()["client_secret"] == SECRET

    # read once, then kept for a while; a rotated value is picked up after that
    secrets_manager.put_secret_value(SecretId=created["ARN"], SecretString="rotated")
    signin.finish(hub, CODE, "v" * 43, "n-1", REDIRECT)
    assert fake.requests[3].form()["client_secret"] == SECRET
    now = signin._clock()
    monkeypatch.setattr(signin, "_clock", lambda: now + signin.SECRET_TTL_SECONDS + 1)
    signin.finish(hub, CODE, "v" * 43, "n-1", REDIRECT)
    assert fake.requests[6].form()["client_secret"] == "rotated"


def test_an_unreadable_secret_is_a_503(fake, secrets_manager):
    (hub,) = signin.parse_providers(json.dumps([{"name": "github", "kind": "github", "client_id": "Iv1.abc",
                                                  "token_endpoint": f"{fake.url}/token", "client_secret_arn": ARN}]))
    with pytest.raises(ServiceUnavailable, match="the client secret of github cannot be read"):
        signin.finish(hub, CODE, "v" * 43, "n-1", REDIRECT)
    assert fake.requests == []
