"""Bearer tokens become principals: OIDC JWTs checked against keys from a fake issuer on 127.0.0.1 (or inline),
GitHub tokens against a fake GitHub API, and the local runtime's own issuer. Every refusal names the check
that failed and never echoes the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from marketplace.identity import Principal, authenticate, github, oidc
from marketplace.identity.config import GITHUB_API_VAR, ISSUERS_VAR
from marketplace.identity.local_issuer import LocalIssuer, issuer_entry, issuer_url
from marketplace.platform.errors import Forbidden, MarketplaceError, ServiceUnavailable, Unauthorized

AUDIENCE = "marketplace-app"


# ---------------------------------------------------------------------------------------------------------------
# Fakes: an issuer and a GitHub API on 127.0.0.1, answering from tables the tests change


class FakeServer:
    """Answers GET path -> (status, headers, JSON or bytes) from ``routes``; counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], Any]] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.hits[self.path] += 1
                server.requests.append({k.lower(): v for k, v in self.headers.items()})
                status, headers, body = server.routes.get(self.path, (404, {}, {"message": "Not Found"}))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(oidc, "_clock", fake)
    monkeypatch.setattr(github, "_clock", fake)
    return fake


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ISSUERS_VAR, raising=False)
    monkeypatch.delenv(GITHUB_API_VAR, raising=False)
    monkeypatch.delenv("AUTH_CA_FILE", raising=False)
    oidc.reset()
    github.reset()
    yield
    oidc.reset()
    github.reset()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.close()


# ---------------------------------------------------------------------------------------------------------------
# Keys and tokens


class Signer:
    def __init__(self, kid: str, kind: str = "RSA") -> None:
        self.kid = kid
        if kind == "RSA":
            self.key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.algorithm = "RS256"
            self.jwk = {**RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": kid, "use": "sig",
                        "alg": "RS256"}
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            self.algorithm = "ES256"
            self.jwk = {**ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": kid}

    def token(self, issuer: str, *, headers: dict[str, Any] | None = None, algorithm: str | None = None,
              drop: tuple[str, ...] = (), **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": issuer, "sub": "user-1", "aud": AUDIENCE, "iat": now, "exp": now + 600, **claims}
        for name in drop:
            body.pop(name, None)
        return jwt.encode(body, self.key, algorithm=algorithm or self.algorithm,
                          headers={"kid": self.kid, **(headers or {})})


@pytest.fixture(scope="module")
def rsa_a() -> Signer:
    return Signer("key-a")


@pytest.fixture(scope="module")
def rsa_b() -> Signer:
    return Signer("key-b")


@pytest.fixture(scope="module")
def ec_c() -> Signer:
    return Signer("key-c", "EC")


def configure(monkeypatch: pytest.MonkeyPatch, *issuers: dict[str, Any]) -> None:
    monkeypatch.setenv(ISSUERS_VAR, json.dumps(list(issuers)))


def publish(server: FakeServer, *signers: Signer, issuer: str | None = None) -> str:
    """The fake issuer's discovery document and key set; returns its issuer URL."""
    issuer = issuer or server.url
    server.routes["/.well-known/openid-configuration"] = (200, {}, {"issuer": issuer,
                                                                     "jwks_uri": f"{server.url}/keys"})
    server.routes["/keys"] = (200, {}, {"keys": [s.jwk for s in signers]})
    return issuer


def bearer(token: str, account_type: str | None = None) -> dict[str, str]:
    headers = {"authorization": f"Bearer {token}"}
    if account_type:
        headers["x-account-type"] = account_type
    return headers


def refused(error_type: type[MarketplaceError], headers: dict[str, str], *fragments: str) -> MarketplaceError:
    """authenticate refuses with ``error_type``, a message holding each fragment, and never the token."""
    with pytest.raises(error_type) as caught:
        authenticate(headers)
    error = caught.value
    assert type(error) is error_type, f"{type(error).__name__}: {error.message}"
    for fragment in fragments:
        assert fragment in error.message, error.message
    token = headers.get("authorization", "").partition(" ")[2]
    if len(token) > 8:
        assert token not in error.message and token not in json.dumps(error.body())
        assert all(part not in error.message for part in token.split(".") if len(part) > 8)
    return error


# ---------------------------------------------------------------------------------------------------------------
# OIDC: the good path


def test_good_token_through_discovery(server, monkeypatch, rsa_a):
    issuer = publish(server, rsa_a)
    configure(monkeypatch, {"name": "corp", "issuer": issuer, "audiences": [AUDIENCE]})
    token = rsa_a.token(issuer, sub="abc-123", scope="openid marketplace/sync", preferred_username="Alice")

    principal = authenticate(bearer(token))

    assert principal == Principal(provider="corp", issuer=issuer, subject="abc-123",
                                  scopes=frozenset({"openid", "marketplace/sync"}), display_name="Alice")
    assert principal.user_id == hashlib.sha256(f"{issuer}\nabc-123".encode()).hexdigest()
    assert "Alice" not in repr(principal) and "abc-123" not in repr(principal)
    assert server.hits == Counter({"/.well-known/openid-configuration": 1, "/keys": 1})


def test_header_names_are_case_insensitive_and_es256_works(server, monkeypatch, ec_c):
    issuer = publish(server, ec_c)
    configure(monkeypatch, {"issuer": issuer, "audiences": [AUDIENCE]})
    principal = authenticate({"Authorization": f"bearer {ec_c.token(issuer)}", "X-Account-Type": "corp"})
    assert principal.subject == "user-1" and principal.provider == issuer


def test_inline_keys_need_no_fetch(monkeypatch, rsa_a):
    configure(monkeypatch, {"name": "inline", "issuer": "https://issuer.invalid", "audiences": [AUDIENCE],
                            "jwks": {"keys": [rsa_a.jwk]}})
    principal = authenticate(bearer(rsa_a.token("https://issuer.invalid")))
    assert principal.provider == "inline"  # no network: the offline guard would have failed a fetch


def test_configured_jwks_uri_skips_discovery(server, monkeypatch, rsa_a):
    publish(server, rsa_a)
    configure(monkeypatch, {"issuer": "https://login.example", "audiences": [AUDIENCE],
                            "jwks_uri": f"{server.url}/keys"})
    authenticate(bearer(rsa_a.token("https://login.example")))
    assert server.hits == Counter({"/keys": 1})


def test_issuer_with_a_trailing_slash_must_match_exactly(monkeypatch, rsa_a):
    configure(monkeypatch, {"issuer": "https://tenant.example/", "audiences": [AUDIENCE],
                            "jwks": {"keys": [rsa_a.jwk]}})
    assert authenticate(bearer(rsa_a.token("https://tenant.example/"))).issuer == "https://tenant.example/"
    refused(Unauthorized, bearer(rsa_a.token("https://tenant.example")), "issuer", "not accepted")


# ---------------------------------------------------------------------------------------------------------------
# OIDC: time


@pytest.fixture
def inline(monkeypatch, rsa_a) -> str:
    issuer = "https://issuer.example"
    configure(monkeypatch, {"name": "corp", "issuer": issuer, "audiences": [AUDIENCE, "second"],
                            "jwks": {"keys": [rsa_a.jwk]}})
    return issuer


def test_expired_token_is_refused_but_small_clock_skew_is_not(inline, rsa_a):
    now = int(time.time())
    refused(Unauthorized, bearer(rsa_a.token(inline, iat=now - 7200, exp=now - 120)), "expired")
    assert authenticate(bearer(rsa_a.token(inline, iat=now - 7200, exp=now - 30))).subject == "user-1"


def test_token_not_valid_yet(inline, rsa_a):
    now = int(time.time())
    refused(Unauthorized, bearer(rsa_a.token(inline, nbf=now + 300)), "not valid yet")
    refused(Unauthorized, bearer(rsa_a.token(inline, iat=now + 300)), "not valid yet")
    assert authenticate(bearer(rsa_a.token(inline, nbf=now + 30, iat=now + 30))).subject == "user-1"


def test_token_without_expiry_or_subject(inline, rsa_a):
    refused(Unauthorized, bearer(rsa_a.token(inline, drop=("exp",))), "'exp'")
    refused(Unauthorized, bearer(rsa_a.token(inline, drop=("sub",))), "'sub'")
    refused(Unauthorized, bearer(rsa_a.token(inline, sub="")), "subject")


# ---------------------------------------------------------------------------------------------------------------
# OIDC: whose token


def test_wrong_audience(inline, rsa_a):
    refused(Unauthorized, bearer(rsa_a.token(inline, aud="someone-else")), "another audience")
    assert authenticate(bearer(rsa_a.token(inline, aud=["other", "second"]))).subject == "user-1"
    refused(Unauthorized, bearer(rsa_a.token(inline, aud=["other", 7])), "audience")
    refused(Unauthorized, bearer(rsa_a.token(inline, drop=("aud",))), "no audience")


def test_cognito_access_token_is_checked_by_client_id(inline, rsa_a):
    access = rsa_a.token(inline, drop=("aud",), client_id=AUDIENCE, token_use="access",
                         scope="marketplace/sync", username="bob")
    principal = authenticate(bearer(access))
    assert principal.scopes == {"marketplace/sync"} and principal.display_name == "bob"
    refused(Unauthorized, bearer(rsa_a.token(inline, drop=("aud",), client_id="other-client")), "another client")


def test_unknown_or_missing_issuer(inline, rsa_a):
    refused(Unauthorized, bearer(rsa_a.token("https://evil.example")), "'https://evil.example'", "not accepted")
    refused(Unauthorized, bearer(rsa_a.token(inline, drop=("iss",))), "no issuer")


def test_no_issuer_configured(monkeypatch, rsa_a):
    refused(Unauthorized, bearer(rsa_a.token("https://issuer.example")), "no issuer is configured")


def test_malformed_configuration_is_a_503_not_a_500(monkeypatch, rsa_a):
    monkeypatch.setenv(ISSUERS_VAR, "{not json")
    refused(ServiceUnavailable, bearer(rsa_a.token("https://issuer.example")), "misconfigured")


def test_account_type_must_fit_the_issuer(monkeypatch, rsa_a):
    issuer = "https://cognito.example"
    configure(monkeypatch, {"name": "cognito", "issuer": issuer, "audiences": [AUDIENCE],
                            "account_types": ["cognito"], "jwks": {"keys": [rsa_a.jwk]}})
    token = rsa_a.token(issuer)
    assert authenticate(bearer(token, "cognito")).provider == "cognito"
    assert authenticate(bearer(token)).provider == "cognito"  # clients that send no account type
    refused(Unauthorized, bearer(token, "microsoft"), "X-Account-Type", "'microsoft'", "'cognito'")
    refused(Unauthorized, bearer(token, "github"), "GitHub accounts are not accepted here")


def test_same_issuer_twice_picks_the_entry_for_the_account_type(monkeypatch, rsa_a):
    issuer = "https://shared.example"
    configure(monkeypatch,
              {"name": "first", "issuer": issuer, "audiences": [AUDIENCE], "account_types": ["a"],
               "jwks": {"keys": [rsa_a.jwk]}},
              {"name": "second", "issuer": issuer, "audiences": [AUDIENCE], "account_types": ["b"],
               "jwks": {"keys": [rsa_a.jwk]}})
    assert authenticate(bearer(rsa_a.token(issuer), "b")).provider == "second"


def test_required_scopes(monkeypatch, rsa_a):
    issuer = "https://scoped.example"
    configure(monkeypatch, {"issuer": issuer, "audiences": [AUDIENCE], "required_scopes": ["marketplace/sync"],
                            "jwks": {"keys": [rsa_a.jwk]}})
    error = refused(Forbidden, bearer(rsa_a.token(issuer, scope="openid")), "lacks the scope marketplace/sync")
    assert "insufficient_scope" in error.headers["WWW-Authenticate"]
    refused(Forbidden, bearer(rsa_a.token(issuer)), "marketplace/sync")
    assert authenticate(bearer(rsa_a.token(issuer, scope="openid marketplace/sync"))).subject == "user-1"
    assert authenticate(bearer(rsa_a.token(issuer, scp=["marketplace/sync"]))).scopes == {"marketplace/sync"}


# ---------------------------------------------------------------------------------------------------------------
# OIDC: forged and malformed tokens


def test_missing_header_and_other_schemes(inline):
    error = refused(Unauthorized, {}, "Authorization: Bearer")
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="marketplace"'
    refused(Unauthorized, {"authorization": "Basic dXNlcjpwYXNz"}, "Bearer scheme")
    refused(Unauthorized, {"authorization": "Bearer"}, "'Bearer <token>'")
    refused(Unauthorized, {"authorization": "Bearer a b"}, "one token")


def test_garbage_tokens(inline):
    for garbage in ("not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30", "x" * 20_000):
        refused(Unauthorized, bearer(garbage), "JWT")


def test_tampered_signature_and_payload(inline, rsa_a, rsa_b):
    head, payload, signature = rsa_a.token(inline).split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    refused(Unauthorized, bearer(f"{head}.{payload}.{flipped}"), "signature does not verify")

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    refused(Unauthorized, bearer(f"{head}.{forged}.{signature}"), "signature does not verify")

    # signed by another key that claims the trusted key's id
    impostor = rsa_b.token(inline, headers={"kid": rsa_a.kid})
    refused(Unauthorized, bearer(impostor), "signature does not verify")


def test_alg_none_is_refused(inline, rsa_a):
    unsigned = jwt.encode({"iss": inline, "sub": "admin", "aud": AUDIENCE, "exp": int(time.time()) + 600},
                          "", algorithm="none", headers={"kid": rsa_a.kid})
    refused(Unauthorized, bearer(unsigned), "'none'", "not accepted")


def test_hs256_with_the_public_key_as_secret_is_refused(monkeypatch, rsa_a):
    issuer = "https://confused.example"
    # even an operator who lists HS256 gets no symmetric algorithm
    configure(monkeypatch, {"issuer": issuer, "audiences": [AUDIENCE], "algorithms": ["HS256", "RS256"],
                            "jwks": {"keys": [rsa_a.jwk]}})
    public_pem = rsa_a.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    body = {"iss": issuer, "sub": "admin", "aud": AUDIENCE, "exp": int(time.time()) + 600}
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": rsa_a.kid}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=")
    for secret in (public_pem, json.dumps(rsa_a.jwk).encode(), rsa_a.jwk["n"].encode()):
        mac = hmac.new(secret, header + b"." + payload, hashlib.sha256).digest()
        forged = b".".join([header, payload, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
        refused(Unauthorized, bearer(forged), "'HS256'", "not accepted")


def test_algorithm_must_fit_the_key(monkeypatch, rsa_a, ec_c):
    issuer = "https://mixed.example"
    configure(monkeypatch, {"issuer": issuer, "audiences": [AUDIENCE], "algorithms": ["RS256", "ES256", "PS256"],
                            "jwks": {"keys": [rsa_a.jwk, ec_c.jwk]}})
    # an EC signature presented under the RSA key's id
    refused(Unauthorized, bearer(ec_c.token(issuer, headers={"kid": rsa_a.kid})), "RS256")
    # RSA-PSS with a key published for RS256 only
    refused(Unauthorized, bearer(rsa_a.token(issuer, algorithm="PS256")), "its key is for RS256")
    # an issuer that only allows ES256 refuses RS256 tokens outright
    configure(monkeypatch, {"issuer": issuer, "audiences": [AUDIENCE], "algorithms": ["ES256"],
                            "jwks": {"keys": [rsa_a.jwk, ec_c.jwk]}})
    refused(Unauthorized, bearer(rsa_a.token(issuer)), "'RS256'", "accepts ES256")


def test_token_without_kid_uses_the_only_key(monkeypatch, rsa_a, rsa_b):
    issuer = "https://single.example"
    no_kid = jwt.encode({"iss": issuer, "sub": "s", "aud": AUDIENCE, "exp": int(time.time()) + 600},
                        rsa_a.key, algorithm="RS256")
    configure(monkeypatch, {"issuer": issuer, "audiences": [AUDIENCE], "jwks": {"keys": [rsa_a.jwk]}})
    assert authenticate(bearer(no_kid)).subject == "s"
    configure(monkeypatch, {"issuer": issuer, "audiences": [AUDIENCE], "jwks": {"keys": [rsa_a.jwk, rsa_b.jwk]}})
    refused(Unauthorized, bearer(no_kid), "names no signing key")


# ---------------------------------------------------------------------------------------------------------------
# OIDC: fetching and caching keys


def test_keys_are_fetched_once_for_many_verifications(server, monkeypatch, clock, rsa_a):
    issuer = publish(server, rsa_a)
    configure(monkeypatch, {"issuer": issuer, "audiences": [AUDIENCE]})
    tokens = [rsa_a.token(issuer, sub=f"user-{n}") for n in range(25)]
    for n, token in enumerate(tokens):
        clock.now += 60
        assert authenticate(bearer(token)).subject == f"user-{n}"
    assert server.hits == Counter({"/.well-known/openid-configuration": 1, "/keys": 1})  # 25 min < 1 h

    clock.now += 3600  # the hour is up: discovery and keys again
    authenticate(bearer(tokens[0]))
    assert server.hits == Counter({"/.well-known/openid-configuration": 2, "/keys": 2})


def test_unknown_kid_refetches_at_most_once_a_minute(server, monkeypatch, clock, rsa_a, rsa_b, ec_c):
    issuer = publish(server, rsa_a)
    configure(monkeypatch, {"issuer": issuer, "audiences": [AUDIENCE]})
    authenticate(bearer(rsa_a.token(issuer)))
    assert server.hits["/keys"] == 1

    publish(server, rsa_a, rsa_b)  # the issuer rotates in a new key
    clock.now += 10
    refused(Unauthorized, bearer(rsa_b.token(issuer)), "does not publish", "'key-b'")
    assert server.hits["/keys"] == 1  # fetched 10 s ago: no refetch yet

    clock.now += 60
    assert authenticate(bearer(rsa_b.token(issuer))).subject == "user-1"  # one refetch finds it
    assert server.hits["/keys"] == 2

    for _ in range(5):  # made-up key ids cost no further requests within the minute
        refused(Unauthorized, bearer(ec_c.token(issuer)), "does not publish")
    assert server.hits["/keys"] == 2
    clock.now += 61
    refused(Unauthorized, bearer(ec_c.token(issuer)), "does not publish")
    assert server.hits["/keys"] == 3
    assert server.hits["/.well-known/openid-configuration"] == 1  # refetches reuse the discovered address


def test_unreachable_keys_are_a_503(server, monkeypatch, clock, rsa_a):
    closed = FakeServer()
    closed.close()  # nothing listens on its port any more
    configure(monkeypatch, {"name": "down", "issuer": closed.url, "audiences": [AUDIENCE]})
    refused(ServiceUnavailable, bearer(rsa_a.token(closed.url)), "issuer down", "did not answer")

    server.routes["/.well-known/openid-configuration"] = (500, {}, {"message": "boom"})
    configure(monkeypatch, {"name": "broken", "issuer": server.url, "audiences": [AUDIENCE]})
    refused(ServiceUnavailable, bearer(rsa_a.token(server.url)), "discovery document", "HTTP 500")
    assert server.hits["/.well-known/openid-configuration"] == 1
    refused(ServiceUnavailable, bearer(rsa_a.token(server.url)), "HTTP 500")
    assert server.hits["/.well-known/openid-configuration"] == 1  # a failure is remembered for a few seconds

    clock.now += 10
    publish(server, rsa_a)
    assert authenticate(bearer(rsa_a.token(server.url))).subject == "user-1"  # and then retried


def test_unusable_key_documents_are_a_503(server, monkeypatch, clock, rsa_a):
    configure(monkeypatch, {"name": "odd", "issuer": server.url, "audiences": [AUDIENCE],
                            "jwks_uri": f"{server.url}/keys"})
    for body, fragment in ((b"<html>", "not JSON"), ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "no usable"),
                           ([1, 2], "not a JSON object")):
        server.routes["/keys"] = (200, {}, body)
        refused(ServiceUnavailable, bearer(rsa_a.token(server.url)), fragment)
        clock.now += 10


def test_expired_keys_that_cannot_be_refreshed_are_a_503(server, monkeypatch, clock, rsa_a):
    issuer = publish(server, rsa_a)
    configure(monkeypatch, {"issuer": issuer, "audiences": [AUDIENCE]})
    authenticate(bearer(rsa_a.token(issuer)))
    server.routes.clear()
    clock.now += 3601
    refused(ServiceUnavailable, bearer(rsa_a.token(issuer)), "HTTP 404")


# ---------------------------------------------------------------------------------------------------------------
# GitHub


@pytest.fixture
def github_api(server, monkeypatch) -> FakeServer:
    monkeypatch.setenv(GITHUB_API_VAR, server.url + "/")
    server.routes["/user"] = (200, {"X-OAuth-Scopes": "read:user, user:email"}, {"id": 583231, "login": "octocat"})
    return server


GITHUB_TOKEN = "gho_16C7e42F292c6912E7710c838347Ae178B4a"


def test_github_token(github_api):
    principal = authenticate(bearer(GITHUB_TOKEN, "github"))
    assert principal == Principal(provider="github", issuer=github_api.url, subject="583231",
                                  scopes=frozenset({"read:user", "user:email"}), display_name="octocat")
    request = github_api.requests[-1]
    assert request["authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert request["accept"] == "application/vnd.github+json"


def test_github_answers_are_cached_by_token(github_api, clock):
    for _ in range(5):
        assert authenticate(bearer(GITHUB_TOKEN, "github")).subject == "583231"
    assert github_api.hits["/user"] == 1
    authenticate(bearer(GITHUB_TOKEN + "x", "github"))  # another token is another question
    assert github_api.hits["/user"] == 2
    clock.now += 61
    authenticate(bearer(GITHUB_TOKEN, "github"))
    assert github_api.hits["/user"] == 3


def test_github_refusal_is_a_401_cached_briefly(github_api, clock):
    github_api.routes["/user"] = (401, {}, {"message": "Bad credentials"})
    for _ in range(3):
        refused(Unauthorized, bearer(GITHUB_TOKEN, "github"), "GitHub did not accept the token")
    assert github_api.hits["/user"] == 1
    github_api.routes["/user"] = (403, {}, {"message": "Forbidden"})
    clock.now += 11
    refused(Unauthorized, bearer(GITHUB_TOKEN, "github"), "HTTP 403")
    assert github_api.hits["/user"] == 2


def test_github_outage_is_a_503_and_not_cached(github_api, clock):
    github_api.routes["/user"] = (502, {}, {"message": "Bad gateway"})
    refused(ServiceUnavailable, bearer(GITHUB_TOKEN, "github"), "HTTP 502")
    refused(ServiceUnavailable, bearer(GITHUB_TOKEN, "github"), "HTTP 502")
    assert github_api.hits["/user"] == 2
    github_api.routes["/user"] = (403, {"X-RateLimit-Remaining": "0", "Retry-After": "30"}, {"message": "limit"})
    error = refused(ServiceUnavailable, bearer(GITHUB_TOKEN, "github"), "rate limiting")
    assert error.headers == {"Retry-After": "30"}
    github_api.routes["/user"] = (200, {}, {"login": "no-id"})
    refused(ServiceUnavailable, bearer(GITHUB_TOKEN, "github"), "unexpected user")
    github_api.routes["/user"] = (200, {}, {"id": 7, "login": "back"})
    assert authenticate(bearer(GITHUB_TOKEN, "github")).display_name == "back"


def test_github_unreachable_or_not_configured(monkeypatch):
    closed = FakeServer()
    closed.close()
    refused(Unauthorized, bearer(GITHUB_TOKEN, "github"), "GitHub accounts are not accepted here")
    monkeypatch.setenv(GITHUB_API_VAR, closed.url)
    refused(ServiceUnavailable, bearer(GITHUB_TOKEN, "github"), "cannot reach GitHub")


def test_github_redirects_are_not_followed_with_the_token(github_api):
    github_api.routes["/user"] = (302, {"Location": f"{github_api.url}/elsewhere"}, b"")
    github_api.routes["/elsewhere"] = (200, {}, {"id": 1, "login": "moved"})
    refused(ServiceUnavailable, bearer(GITHUB_TOKEN, "github"), "HTTP 302")
    assert github_api.hits["/elsewhere"] == 0


# ---------------------------------------------------------------------------------------------------------------
# The local issuer


def test_local_issuer_mint_and_verify_through_its_documents(tmp_path, server, monkeypatch):
    issuer = LocalIssuer.ensure(tmp_path / "state" / "key.pem")
    base = server.url
    for path in ("/.well-known/openid-configuration", "/.well-known/jwks.json"):
        server.routes[f"/local-issuer{path}"] = (200, {}, issuer.well_known(path, base))
    assert issuer.well_known("/elsewhere", base) is None
    configure(monkeypatch, issuer_entry(base))

    token = issuer.mint("alice", base, scopes=("sync", "sync"))
    principal = authenticate(bearer(token, "local"))

    assert principal.provider == "local" and principal.subject == "alice" and principal.display_name == "alice"
    assert principal.issuer == issuer_url(base) == f"{base}/local-issuer" and principal.scopes == {"sync"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "marketplace" and claims["exp"] - claims["iat"] == 43200
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": issuer.kid, "typ": "JWT"}
    refused(Unauthorized, bearer(token, "cognito"), "X-Account-Type")
    refused(Unauthorized, bearer(issuer.mint("alice", base, audience="other"), "local"), "another audience")
    assert server.hits["/local-issuer/.well-known/jwks.json"] == 1


def test_local_issuer_key_is_private_and_kept(tmp_path):
    path = tmp_path / "key.pem"
    with pytest.raises(FileNotFoundError):
        LocalIssuer.load(path)
    first = LocalIssuer.ensure(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert LocalIssuer.ensure(path).kid == first.kid == LocalIssuer.load(path).kid
    assert first.jwks()["keys"][0]["kid"] == first.kid and "d" not in first.jwks()["keys"][0]
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]  # no temporary file left behind

    path.write_text("garbage")
    with pytest.raises(ValueError, match="PEM"):
        LocalIssuer.load(path)
    replaced = LocalIssuer.ensure(path)
    assert replaced.kid != first.kid and stat.S_IMODE(path.stat().st_mode) == 0o600

    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(rsa_pem)
    with pytest.raises(ValueError, match="EC"):
        LocalIssuer.load(path)


def test_local_issuer_concurrent_creation_agrees_on_one_key(tmp_path):
    path = tmp_path / "key.pem"
    kids: list[str] = []
    threads = [threading.Thread(target=lambda: kids.append(LocalIssuer.ensure(path).kid)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(kids)) == 1 and kids[0] == LocalIssuer.load(path).kid


@pytest.mark.parametrize(("subject", "ttl", "fragment"), [
    ("", 60, "user"), ("   ", 60, "user"), ("a" * 257, 60, "user"), ("alice", 0, "lifetime"),
    ("alice", 31 * 24 * 3600, "lifetime"),
])
def test_local_issuer_refuses_bad_mint_requests(tmp_path, subject, ttl, fragment):
    issuer = LocalIssuer.ensure(tmp_path / "key.pem")
    with pytest.raises(ValueError, match=fragment):
        issuer.mint(subject, "http://127.0.0.1:1", ttl_seconds=ttl)

