"""Website sign-in, the relying party's side: the authorization code flow with PKCE (S256) against the
configured identity providers, which ends in the user id a publisher is known by.

``SIGNIN_PROVIDERS`` is a JSON list of provider objects::

    {"name": "cognito",                        # unique, [a-z0-9-]+ (the route, the logs, user id prefixes)
     "kind": "oidc",                           # "oidc" or "github"
     "label": "Sign in",                       # the button's text (default "Sign in with <name>", GitHub's)
     "client_id": "4h3...",
     "client_secret": "...",                   # confidential clients (GitHub OAuth apps need one), or:
     "client_secret_arn": "arn:aws:secretsmanager:...:secret:name",   # read when needed (GetSecretValue)
     "authorization_endpoint": "https://.../oauth2/authorize",   # where the browser goes
     "token_endpoint": "https://.../oauth2/token",               # where this server exchanges the code
     "scopes": ["openid", "email", "profile"], # optional; GitHub's default is read:user user:email
     "issuer": "https://cognito-idp...",       # oidc: the exact iss of its ID tokens
     "jwks_uri": "https://.../jwks.json",      # oidc, optional: else OIDC discovery at the issuer
     "jwks": {"keys": [...]},                  # oidc, optional inline keys
     "api_url": "https://api.github.com"}      # github, optional: its REST API

GitHub's endpoints default to github.com's. A secret named by ``client_secret_arn`` (its value is the client
secret) is read at the first code exchange and kept for ``SECRET_TTL_SECONDS``.

The user id: an OIDC provider's verified ``email`` claim (lowercased), else
``<name>:<preferred_username | cognito:username | sub>``; GitHub's primary verified e-mail address
(lowercased), else ``github:<login>``.

Failures are Unauthorized (the provider refused the code, the ID token does not verify) or ServiceUnavailable
(the provider cannot be reached, or answers 5xx); no message carries a code, token or secret.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, urlencode, urlsplit

from marketplace.identity import fetch, oidc
from marketplace.identity.config import IssuerConfig
from marketplace.identity.github import API_VERSION
from marketplace.platform.errors import ConfigurationError, NotFound, ServiceUnavailable, Unauthorized

log = logging.getLogger("marketplace.identity")

SIGNIN_VAR = "SIGNIN_PROVIDERS"
KINDS = ("oidc", "github")
OIDC_SCOPES = ("openid", "email", "profile")
GITHUB_SCOPES = ("read:user", "user:email")
GITHUB_AUTHORIZATION_ENDPOINT = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN_ENDPOINT = "https://github.com/login/oauth/access_token"  # noqa: S105 - an address, not a secret
GITHUB_API_URL = "https://api.github.com"
TIMEOUT_SECONDS = 5.0
MAX_USER_LENGTH = 320
SECRET_TTL_SECONDS = 600.0  # a rotated client secret is picked up within this

_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 section 3.3
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")
_FIELDS = frozenset({"name", "kind", "label", "client_id", "client_secret", "client_secret_arn",
                     "authorization_endpoint", "token_endpoint", "scopes", "issuer", "jwks_uri", "jwks", "api_url"})
_SECRET_ARN = re.compile(r"arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+")
_USERNAME_CLAIMS = ("preferred_username", "cognito:username", "sub")
_DISPLAY_NAME_CLAIMS = ("name", "preferred_username", "cognito:username")


@dataclass(frozen=True)
class Provider:
    name: str  # "local", "cognito", "github", ...: unique, [a-z0-9-]+
    kind: str  # "oidc" | "github"
    label: str  # shown on the button
    client_id: str
    authorization_endpoint: str  # where the browser goes
    token_endpoint: str  # where the server exchanges the code (its host may differ from the browser's)
    scopes: tuple[str, ...]
    issuer: str | None = None  # oidc: the exact iss of its ID tokens
    jwks_uri: str | None = None
    jwks: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    client_secret: str | None = field(default=None, repr=False)  # never logged, never shown
    api_url: str | None = None  # github: its REST API
    client_secret_arn: str | None = None  # the Secrets Manager secret holding client_secret, read when needed


@dataclass(frozen=True)
class Challenge:
    """One sign-in under way: the caller keeps ``state``, ``nonce`` and ``verifier`` (in the browser's
    session) and sends the browser to ``url``."""

    state: str
    nonce: str
    verifier: str = field(repr=False)
    url: str


@dataclass(frozen=True)
class SignedIn:
    user: str  # the publishing user id
    display_name: str | None
    email: str | None  # a verified address, or None
    provider: str


# --- configuration ----------------------------------------------------------------------------------------


def providers() -> tuple[Provider, ...]:
    """The providers of ``SIGNIN_PROVIDERS``, in their order (none when it is unset or empty)."""
    return _parsed(os.environ.get(SIGNIN_VAR, ""))


def provider(name: str) -> Provider:
    for candidate in providers():
        if candidate.name == name:
            return candidate
    raise NotFound(f"there is no sign-in provider named {name[:40]!r}")


@functools.lru_cache(maxsize=8)
def _parsed(raw: str) -> tuple[Provider, ...]:
    return parse_providers(raw)


def parse_providers(raw: str | None) -> tuple[Provider, ...]:
    """The providers of a ``SIGNIN_PROVIDERS`` value; a malformed value is a ConfigurationError naming the
    fault (never a secret's value)."""
    if raw is None or not raw.strip():
        return ()
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise ConfigurationError(f"{SIGNIN_VAR} is not valid JSON: {error.__class__.__name__}") from error
    if not isinstance(data, list):
        raise ConfigurationError(f"{SIGNIN_VAR} must be a JSON list of provider objects")
    parsed = tuple(_provider(entry, f"{SIGNIN_VAR}[{position}]") for position, entry in enumerate(data))
    names = [p.name for p in parsed]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigurationError(f"{SIGNIN_VAR} names the provider {repeated[0]!r} more than once")
    return parsed


def _provider(entry: object, where: str) -> Provider:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where} must be an object")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ConfigurationError(f"{where} has an unknown field {str(unknown[0])[:40]!r}")

    def text(name: str, *, required: bool = True) -> str | None:
        value = entry.get(name)
        if value is None or value == "":
            if required:
                raise ConfigurationError(f"{where} needs {name!r}")
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"{where}.{name} must be a non-empty string")
        return value.strip()

    def address(name: str, default: str | None = None, *, required: bool = True, query: bool = False) -> str | None:
        value = text(name, required=required and default is None) or default
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment or (
                parts.query and not query):
            raise ConfigurationError(f"{where}.{name} must be an http(s) address"
                                     f"{'' if query else ' without a query'} and without a fragment")
        return value.rstrip("/") if name == "api_url" else value

    name = text("name")
    assert name is not None
    if not _NAME.fullmatch(name):
        raise ConfigurationError(f"{where}.name must be 1 to 40 of a-z, 0-9 and '-' (not at either end)")
    kind = text("kind")
    if kind not in KINDS:
        raise ConfigurationError(f"{where}.kind must be one of {', '.join(KINDS)}")
    client_id = text("client_id")
    assert client_id is not None
    client_secret = entry.get("client_secret")
    if client_secret is not None and (not isinstance(client_secret, str) or not client_secret):
        raise ConfigurationError(f"{where}.client_secret must be a non-empty string")
    client_secret_arn = text("client_secret_arn", required=False)
    if client_secret_arn is not None and not _SECRET_ARN.fullmatch(client_secret_arn):
        raise ConfigurationError(f"{where}.client_secret_arn must be a Secrets Manager secret's ARN")
    if client_secret is not None and client_secret_arn is not None:
        raise ConfigurationError(f"{where} has both 'client_secret' and 'client_secret_arn': keep one")
    scopes_value = entry.get("scopes")
    if scopes_value is None:
        scopes = OIDC_SCOPES if kind == "oidc" else GITHUB_SCOPES
    elif isinstance(scopes_value, list) and all(isinstance(s, str) and _SCOPE.fullmatch(s) for s in scopes_value):
        scopes = tuple(dict.fromkeys(scopes_value))
    else:
        raise ConfigurationError(f"{where}.scopes must be a list of scope names")
    jwks = entry.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        raise ConfigurationError(f"{where}.jwks must be a key set object")

    if kind == "github":
        if not client_secret and not client_secret_arn:
            raise ConfigurationError(f"{where} needs 'client_secret' or 'client_secret_arn' (a GitHub OAuth app's)")
        for oidc_only in ("issuer", "jwks_uri", "jwks"):
            if entry.get(oidc_only) is not None:
                raise ConfigurationError(f"{where}.{oidc_only} is for oidc providers, not github")
        authorization_endpoint = address("authorization_endpoint", GITHUB_AUTHORIZATION_ENDPOINT, query=True)
        token_endpoint = address("token_endpoint", GITHUB_TOKEN_ENDPOINT)
        api_url = address("api_url", GITHUB_API_URL)
        issuer = jwks_uri = None
        default_label = "Sign in with GitHub"
    else:
        if entry.get("api_url") is not None:
            raise ConfigurationError(f"{where}.api_url is for github providers, not oidc")
        authorization_endpoint = address("authorization_endpoint", query=True)
        token_endpoint = address("token_endpoint")
        issuer = text("issuer")
        if issuer is None or not issuer.startswith(("https://", "http://")):
            raise ConfigurationError(f"{where}.issuer must be an http(s) address")
        jwks_uri = address("jwks_uri", required=False)
        if "openid" not in scopes:
            raise ConfigurationError(f"{where}.scopes must include 'openid' (the ID token needs it)")
        api_url = None
        default_label = f"Sign in with {name}"
    assert authorization_endpoint is not None and token_endpoint is not None
    return Provider(
        name=name, kind=kind, label=text("label", required=False) or default_label, client_id=client_id,
        authorization_endpoint=authorization_endpoint, token_endpoint=token_endpoint, scopes=scopes,
        issuer=issuer, jwks_uri=jwks_uri, jwks=jwks, client_secret=client_secret, api_url=api_url,
        client_secret_arn=client_secret_arn,
    )


# --- the flow ---------------------------------------------------------------------------------------------


def begin(provider: Provider, redirect_uri: str) -> Challenge:
    """A new sign-in with ``provider``: random state, nonce and PKCE verifier (RFC 7636: 64 characters), and
    the address the browser is sent to, asking for a code with the verifier's S256 challenge."""
    if not redirect_uri.startswith(("https://", "http://")):
        raise ValueError("the redirect_uri must be an absolute http(s) address")
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    parameters = {
        "response_type": "code", "client_id": provider.client_id, "redirect_uri": redirect_uri,
        "scope": " ".join(provider.scopes), "state": state, "nonce": nonce,
        "code_challenge": code_challenge(verifier), "code_challenge_method": "S256",
    }
    separator = "&" if urlsplit(provider.authorization_endpoint).query else "?"
    url = provider.authorization_endpoint + separator + urlencode(parameters, quote_via=quote)
    return Challenge(state=state, nonce=nonce, verifier=verifier, url=url)


def code_challenge(verifier: str) -> str:
    """RFC 7636's S256 challenge: base64url(SHA-256(verifier)), without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def finish(provider: Provider, code: str, verifier: str, nonce: str, redirect_uri: str) -> SignedIn:
    """The user ``provider`` signed in, from the ``code`` it redirected back with: the code is exchanged (with
    the PKCE ``verifier``) at its token endpoint, then the ID token is verified (``nonce`` included), or,
    for GitHub, its user API is asked."""
    if not code or not verifier or not nonce:
        raise Unauthorized("sign-in failed: the sign-in answer is incomplete")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": provider.client_id, "code_verifier": verifier}
    if provider.kind == "github":
        return _github(provider, form)
    return _oidc(provider, form, nonce)


def _oidc(provider: Provider, form: dict[str, str], nonce: str) -> SignedIn:
    headers = {}
    client_secret = _client_secret(provider)
    if client_secret:  # RFC 6749 section 2.3.1: client_secret_basic, each part form-encoded first
        credentials = f"{quote_plus(provider.client_id)}:{quote_plus(client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    answer = _exchange(provider, form, headers)
    id_token = answer.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise Unauthorized("sign-in failed: the identity provider answered without an ID token")
    assert provider.issuer is not None
    config = IssuerConfig(name=provider.name, issuer=provider.issuer.rstrip("/"), audiences=(provider.client_id,),
                          jwks_uri=provider.jwks_uri, jwks=provider.jwks, configured_issuer=provider.issuer)
    try:
        claims = oidc.id_token_claims(id_token, config)
    except Unauthorized as error:
        raise Unauthorized(f"sign-in failed: {_id_token_message(error.message)}") from error
    except ServiceUnavailable as error:
        raise ServiceUnavailable(f"sign-in is unavailable: {error.message}") from error
    _check_nonce(claims, nonce)
    _check_authorized_party(claims, provider.client_id)
    email = claims.get("email")
    verified = claims.get("email_verified") in (True, "true")
    email = email.strip().lower() if verified and isinstance(email, str) and _plausible_email(email) else None
    if email is not None:
        user = email
    else:
        name = next((claims[c] for c in _USERNAME_CLAIMS if isinstance(claims.get(c), str) and claims[c]), None)
        if name is None:
            raise Unauthorized("sign-in failed: the ID token names no user")
        user = f"{provider.name}:{name}"
    if len(user) > MAX_USER_LENGTH or not user.isprintable():
        raise Unauthorized("sign-in failed: the ID token's user name is not usable")
    display_name = next((str(claims[c]) for c in _DISPLAY_NAME_CLAIMS if isinstance(claims.get(c), str)), None)
    return SignedIn(user=user, display_name=display_name, email=email, provider=provider.name)


def _id_token_message(message: str) -> str:
    return message.replace("the bearer token", "the ID token").replace("the token", "the ID token")


def _check_nonce(claims: Mapping[str, Any], nonce: str) -> None:
    found = claims.get("nonce")
    if not isinstance(found, str) or not hmac.compare_digest(found.encode(), nonce.encode()):
        raise Unauthorized("sign-in failed: the ID token's nonce is not this sign-in's")


def _check_authorized_party(claims: Mapping[str, Any], client_id: str) -> None:
    """OIDC Core 3.1.3.7: an ID token for several audiences names this client as its ``azp``."""
    audience, party = claims.get("aud"), claims.get("azp")
    if (party is not None and party != client_id) or (isinstance(audience, list) and len(audience) > 1
                                                       and party is None):
        raise Unauthorized("sign-in failed: the ID token was issued to another client (azp)")


def _plausible_email(value: str) -> bool:
    local, at, domain = value.strip().rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() for c in value.strip())


def _exchange(provider: Provider, form: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, Any]:
    """The token endpoint's JSON answer to the code exchange."""
    try:
        reply = fetch.post(provider.token_endpoint, urlencode(form).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json", **headers,
        }, timeout=TIMEOUT_SECONDS)
    except fetch.Unreachable as error:
        log.warning("sign-in with %s: the token endpoint did not answer: %s", provider.name, error)
        raise ServiceUnavailable(f"sign-in is unavailable: {provider.name} cannot be reached") from error
    if reply.status >= 500 or reply.status == 429:
        log.warning("sign-in with %s: the token endpoint answered HTTP %s", provider.name, reply.status)
        raise ServiceUnavailable(f"sign-in is unavailable: {provider.name} answered HTTP {reply.status}")
    try:
        answer = json.loads(reply.body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    refusal = answer.get("error")
    if reply.status != 200 or refusal is not None:
        code = f" ({refusal})" if isinstance(refusal, str) and _ERROR_CODE.fullmatch(refusal) else ""
        log.info("sign-in with %s: the code was refused (HTTP %s%s)", provider.name, reply.status, code)
        raise Unauthorized(f"sign-in failed: the identity provider refused the code{code}")
    return answer


def _github(provider: Provider, form: dict[str, str]) -> SignedIn:
    client_secret = _client_secret(provider)
    assert client_secret is not None and provider.api_url is not None
    form = {**form, "client_secret": client_secret}  # GitHub takes the secret in the form
    answer = _exchange(provider, form, {})
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise Unauthorized("sign-in failed: GitHub answered without an access token")
    user = _github_json(provider, "/user", token)
    login = user.get("login") if isinstance(user, dict) else None
    if not isinstance(login, str) or not login:
        raise ServiceUnavailable("sign-in is unavailable: GitHub answered with an unexpected user document")
    assert isinstance(user, dict)
    email = None
    try:
        emails = _github_json(provider, "/user/emails", token)
    except Unauthorized:  # the token may not cover e-mail addresses (no user:email scope)
        emails = []
    for entry in emails if isinstance(emails, list) else ():
        if (isinstance(entry, dict) and entry.get("primary") is True and entry.get("verified") is True
                and isinstance(entry.get("email"), str) and _plausible_email(entry["email"])):
            email = entry["email"].strip().lower()
            break
    name = user.get("name")
    return SignedIn(user=email if email is not None else f"github:{login}",
                    display_name=name if isinstance(name, str) and name else login, email=email,
                    provider=provider.name)


def _github_json(provider: Provider, path: str, token: str) -> object:
    assert provider.api_url is not None
    try:
        reply = fetch.get(provider.api_url + path, {
            "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }, timeout=TIMEOUT_SECONDS, follow_redirects=False)  # the token goes to this address only
    except fetch.Unreachable as error:
        log.warning("sign-in with %s: the GitHub API did not answer: %s", provider.name, error)
        raise ServiceUnavailable("sign-in is unavailable: GitHub cannot be reached") from error
    rate_limited = reply.status == 429 or (reply.status == 403 and reply.headers.get("x-ratelimit-remaining") == "0")
    if rate_limited or reply.status >= 500:
        raise ServiceUnavailable(f"sign-in is unavailable: GitHub answered HTTP {reply.status}")
    if reply.status != 200:
        raise Unauthorized(f"sign-in failed: GitHub refused the access token (HTTP {reply.status})")
    try:
        document: object = json.loads(reply.body)
    except ValueError as error:
        raise ServiceUnavailable("sign-in is unavailable: GitHub answered with something other than JSON") from error
    return document


# --- client secrets kept in Secrets Manager ----------------------------------------------------------------

_secrets: dict[str, tuple[float, str]] = {}  # ARN -> (read at, value)
_secrets_lock = threading.Lock()
_clock = time.monotonic  # tests replace it to step past SECRET_TTL_SECONDS


def _client_secret(provider: Provider) -> str | None:
    """``provider``'s client secret: as configured, or read from the secret ``client_secret_arn`` names."""
    arn = provider.client_secret_arn
    if provider.client_secret or arn is None:
        return provider.client_secret
    now = _clock()
    with _secrets_lock:
        cached = _secrets.get(arn)
    if cached is not None and now - cached[0] < SECRET_TTL_SECONDS:
        return cached[1]
    from botocore.exceptions import BotoCoreError, ClientError

    from marketplace.platform import aws

    try:
        value = aws.client("secretsmanager").get_secret_value(SecretId=arn).get("SecretString")
    except (BotoCoreError, ClientError) as error:
        log.error("sign-in with %s: cannot read its client secret: %s", provider.name, error)
        raise ServiceUnavailable(f"sign-in is unavailable: the client secret of {provider.name} cannot be "
                                 "read") from error
    if not isinstance(value, str) or not value.strip():
        log.error("sign-in with %s: its client secret is empty or binary", provider.name)
        raise ServiceUnavailable(f"sign-in is unavailable: the client secret of {provider.name} is empty")
    with _secrets_lock:
        _secrets[arn] = (now, value.strip())
    return value.strip()


def reset() -> None:
    """Forget the client secrets read and the parsed providers (tests)."""
    with _secrets_lock:
        _secrets.clear()
    _parsed.cache_clear()
