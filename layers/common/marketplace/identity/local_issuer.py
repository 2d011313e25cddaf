"""The local runtime's own OIDC issuer, so Settings Sync, reviews and the website's sign-in can be used (and
tested) without an identity provider: ``{base_url}/local-issuer`` publishes its discovery document and key set
through the local front door, ``marketplace dev-token USER`` mints tokens for it, and it signs the website in
as a hosted login page would: ``/authorize`` asks for the user name and password of a *named local user* the
operator created (``marketplace user add NAME``, ``identity.local_users``) and redirects back with a code,
``/token`` exchanges the code (authorization code with PKCE S256, for the client ``CLIENT_ID`` only) for an ID
token. Failed attempts are throttled per user name and per client address, in memory.

One ES256 (P-256) key, made once and kept next to the runtime's state file or in its data directory (mode
0600), so tokens stay valid across restarts of the runtime. Whoever can read the key file can be any user
(``dev-token`` is the operator's tool); the sign-in page signs in only the users in the users file beside it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import html
import json
import logging
import math
import os
import re
import secrets
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from marketplace.identity import local_users

log = logging.getLogger("marketplace.identity")

NAME = "local"
ISSUER_PATH = "/local-issuer"
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"
AUDIENCE = "marketplace"
ACCOUNT_TYPE = "local"
ALGORITHM = "ES256"
KEY_FILE = "local-issuer-key.pem"
DEFAULT_TTL_SECONDS = 12 * 3600
MAX_TTL_SECONDS = 30 * 24 * 3600

# Sign-in (authorization code with PKCE)
CLIENT_ID = "marketplace-website"
AUTHORIZE_PATH = "/authorize"
TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
CODE_TTL_SECONDS = 60
SIGNIN_TTL_SECONDS = 3600  # of the ID and access tokens the token endpoint answers with
MAX_PENDING_CODES = 1024  # codes issued and not yet exchanged; the oldest go first past this
MAX_USER_LENGTH = local_users.MAX_USER_LENGTH
MAX_PARAMETER_LENGTH = 2048
# Failed sign-ins: past these many within the window, for one user name or from one client address, the page
# answers 429 until the oldest failure leaves the window. Per address more, as several users may share one.
THROTTLE_WINDOW_SECONDS = 300
MAX_FAILURES_PER_USER = 10
MAX_FAILURES_PER_CLIENT = 30
MAX_THROTTLED_KEYS = 10_000  # user names and addresses remembered; the stalest go first past this
MISMATCH = "That user name and password do not match a local user."
TOO_MANY = "Too many attempts; wait a few minutes and try again."
NO_USERS = "No local users yet: the operator creates one with marketplace user add NAME"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# The sign-in page's Content-Security-Policy (the redirect's origin is added to form-action when it is not the
# page's own: browsers hold the redirect that follows a form submission to form-action too).
PAGE_POLICY = "default-src 'none'; form-action 'self'; style-src 'none'; base-uri 'none'; frame-ancestors 'none'"
AUTHORIZATION_PARAMETERS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                            "code_challenge", "code_challenge_method")

_PKCE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636: a verifier, or an S256 challenge (43)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")

_clock = time.monotonic  # tests replace it to step past a code's lifetime


def issuer_url(base_url: str) -> str:
    return base_url.rstrip("/") + ISSUER_PATH


def openid_configuration(base_url: str) -> dict[str, Any]:
    issuer = issuer_url(base_url)
    return {
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        "authorization_endpoint": issuer + AUTHORIZE_PATH,
        "token_endpoint": issuer + TOKEN_PATH,
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "subject_types_supported": ["public"],
        "response_types_supported": ["code", "id_token"],
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "preferred_username",
                             "nonce", "email", "email_verified"],
    }


def issuer_entry(base_url: str, *, jwks_uri: str | None = None, jwks: dict[str, Any] | None = None) -> dict[str, Any]:
    """This issuer as an ``AUTH_ISSUERS`` entry (keys by discovery unless ``jwks_uri`` or ``jwks`` is given)."""
    entry: dict[str, Any] = {"name": NAME, "issuer": issuer_url(base_url), "audiences": [AUDIENCE],
                             "account_types": [ACCOUNT_TYPE]}
    if jwks_uri:
        entry["jwks_uri"] = jwks_uri
    if jwks is not None:
        entry["jwks"] = jwks
    return entry


class AuthorizationRefused(Exception):
    """An authorization request that is not answered with a redirect (the redirect address itself may be what
    is wrong): the sign-in page shows the message with a 400."""


class TokenRefused(Exception):
    """A token request refused with an RFC 6749 error (``invalid_grant``, ``invalid_request``, ...)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class SignInFailed(Exception):
    """A sign-in form that signs nobody in: the page shows the form again with the message and status (400
    for an unusable user name, 401 for a user name and password that do not match, 403 when there are no local
    users, 429 when throttled, with ``retry_after`` seconds)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


@dataclass(frozen=True)
class Authorization:
    """A checked authorization request: what the code issued for it is bound to."""

    redirect_uri: str
    code_challenge: str
    state: str | None
    nonce: str | None
    scope: str
    client_id: str = CLIENT_ID

    def parameters(self) -> dict[str, str]:
        """The request's parameters, as the sign-in form passes them on."""
        values = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                  "scope": self.scope, "state": self.state, "nonce": self.nonce,
                  "code_challenge": self.code_challenge, "code_challenge_method": "S256"}
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class _Grant:
    authorization: Authorization
    user: str
    expires: float


class Throttle:
    """Sign-in attempts per key (a user name, a client address) within a sliding window, in memory. An attempt
    is counted when it starts, so a burst of concurrent guesses is held to the limit too; a success takes its
    count back (and forgets the user name's failures)."""

    def __init__(self, window_seconds: float = THROTTLE_WINDOW_SECONDS) -> None:
        self.window = window_seconds
        self._attempts: dict[str, deque[float]] = {}  # in order of the latest attempt: the stalest first
        self._lock = threading.Lock()

    def attempt(self, limits: Mapping[str, int]) -> float:
        """Count an attempt against each key of ``limits`` (key -> most attempts in the window) and answer 0;
        or, when a key is at its limit, count nothing and answer how many seconds until it may try again."""
        now = _clock()
        with self._lock:
            wait = 0.0
            for key, limit in limits.items():
                attempts = self._attempts.get(key)
                while attempts and attempts[0] <= now - self.window:
                    attempts.popleft()
                if attempts is not None and len(attempts) >= limit:
                    wait = max(wait, attempts[-limit] + self.window - now)
            if wait > 0:
                return wait
            for key, limit in limits.items():
                attempts = self._attempts.pop(key, None) or deque(maxlen=limit)
                attempts.append(now)
                self._attempts[key] = attempts
            while len(self._attempts) > MAX_THROTTLED_KEYS:
                del self._attempts[next(iter(self._attempts))]
            return 0.0

    def succeeded(self, user_key: str, client_key: str) -> None:
        """An attempt that signed in: the user name starts afresh, the client's attempt is taken back."""
        with self._lock:
            self._attempts.pop(user_key, None)
            attempts = self._attempts.get(client_key)
            if attempts:
                attempts.pop()


class LocalIssuer:
    def __init__(self, key: ec.EllipticCurvePrivateKey, *, users_file: Path | None = None) -> None:
        """``users_file``: the named local users its sign-in page signs in (``local_users``); None: nobody."""
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"the local issuer needs a P-256 key, not {key.curve.name}")
        self._key = key
        public: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        # RFC 7638 thumbprint: a key id that changes exactly when the key does
        canonical = json.dumps({k: public[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
        self._jwk = {**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}
        self._codes: dict[str, _Grant] = {}  # in insertion order: the oldest first
        self._codes_lock = threading.Lock()
        self.users_file = users_file
        self.throttle = Throttle()

    @classmethod
    def load(cls, path: Path, *, users_file: Path | None = None) -> LocalIssuer:
        """The issuer whose key is at ``path``; FileNotFoundError when there is none, ValueError when the file
        holds no P-256 private key."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path} does not hold an unencrypted PEM private key") from error
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} does not hold an EC (P-256) private key")
        return cls(key, users_file=users_file)

    @classmethod
    def generate(cls, *, users_file: Path | None = None) -> LocalIssuer:
        """An issuer with a new key held only in memory (its tokens die with the process)."""
        return cls(ec.generate_private_key(ec.SECP256R1()), users_file=users_file)

    @classmethod
    def ensure(cls, path: Path, *, users_file: Path | None = None) -> LocalIssuer:
        """The issuer whose key is at ``path``, making the key first if there is none (or it is unusable).
        Two runtimes starting at once end up with the same key: the first file written wins."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return cls.load(path, users_file=users_file)
        except FileNotFoundError:
            replace = False
        except ValueError as error:
            log.warning("replacing the local issuer key: %s", error)
            replace = True
        issuer = cls.generate(users_file=users_file)
        pem = issuer._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
            if replace:
                Path(temporary).replace(path)
            else:
                try:
                    os.link(temporary, path)  # fails if another process has written one meanwhile
                except FileExistsError:
                    return cls.load(path, users_file=users_file)
        finally:
            with contextlib.suppress(FileNotFoundError):
                Path(temporary).unlink()
        return issuer

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}

    def well_known(self, path: str, base_url: str) -> dict[str, Any] | None:
        """The document served at ``{base_url}/local-issuer{path}``, or None for any other path."""
        if path == DISCOVERY_PATH:
            return openid_configuration(base_url)
        if path == JWKS_PATH:
            return self.jwks()
        return None

    def mint(self, subject: str, base_url: str, ttl_seconds: int = DEFAULT_TTL_SECONDS,
             audience: str = AUDIENCE, scopes: Iterable[str] = (), *,
             claims: Mapping[str, Any] | None = None) -> str:
        """A signed token for ``subject``, valid for ``ttl_seconds`` from now; ``claims`` adds to (never
        replaces) the standard ones."""
        if not subject or not subject.strip() or len(subject) > 256:
            raise ValueError("the user must be 1 to 256 characters, not blank")
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"the lifetime must be between 1 and {MAX_TTL_SECONDS} seconds")
        now = int(time.time())
        claims = {
            **(claims or {}),
            "iss": issuer_url(base_url), "sub": subject, "aud": audience, "iat": now, "nbf": now,
            "exp": now + ttl_seconds, "jti": secrets.token_urlsafe(12), "preferred_username": subject,
        }
        scope = " ".join(dict.fromkeys(scopes))
        if scope:
            claims["scope"] = scope
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"})

    # --- sign-in: authorization code with PKCE -------------------------------------------------------------

    def check_authorization(self, parameters: Mapping[str, str], base_url: str) -> Authorization:
        """The authorization request in ``parameters`` (the sign-in page's query, or its form), or
        AuthorizationRefused: a client other than ``CLIENT_ID``, a redirect off the runtime's own origin, no
        S256 code challenge."""
        for name in AUTHORIZATION_PARAMETERS:
            if len(parameters.get(name, "")) > MAX_PARAMETER_LENGTH:
                raise AuthorizationRefused(f"the parameter {name} is too long")
        if parameters.get("client_id") != CLIENT_ID:
            raise AuthorizationRefused(f"this issuer signs in the client {CLIENT_ID!r} only")
        redirect_uri = parameters.get("redirect_uri", "")
        if not redirect_uri:
            raise AuthorizationRefused("the redirect_uri is missing")
        if not own_origin(redirect_uri, base_url):
            raise AuthorizationRefused("the redirect_uri must be an address of this local marketplace")
        if parameters.get("response_type") != "code":
            raise AuthorizationRefused("the response_type must be code")
        if parameters.get("code_challenge_method") != "S256":
            raise AuthorizationRefused("a PKCE code challenge with code_challenge_method S256 is required")
        challenge = parameters.get("code_challenge", "")
        if len(challenge) != 43 or not _PKCE.fullmatch(challenge):
            raise AuthorizationRefused("the code_challenge is not an S256 challenge (43 base64url characters)")
        return Authorization(redirect_uri=redirect_uri, code_challenge=challenge,
                             state=parameters.get("state") or None, nonce=parameters.get("nonce") or None,
                             scope=" ".join(parameters.get("scope", "").split()) or "openid")

    def has_users(self) -> bool:
        """Whether there is any local user to sign in (local_users.UsersFileError when the file is damaged)."""
        return self.users_file is not None and bool(local_users.read(self.users_file))

    def sign_in(self, authorization: Authorization, user: str, password: str, client: str) -> str:
        """The sign-in form's submission by ``client`` (the peer's address): where the browser goes when
        ``user`` and ``password`` are a local user's (``authorize``), else SignInFailed. Which of the two was
        wrong is never told; the failures of a user name and of a client address are throttled."""
        if not self.has_users():
            raise SignInFailed(403, NO_USERS)
        try:
            name = check_user(user)
        except ValueError as problem:
            raise SignInFailed(400, str(problem)) from None
        user_key, client_key = f"user:{name}", f"client:{client}"
        wait = self.throttle.attempt({user_key: MAX_FAILURES_PER_USER, client_key: MAX_FAILURES_PER_CLIENT})
        if wait:
            log.warning("local sign-in throttled: %r from %s", name[:64], client)
            raise SignInFailed(429, TOO_MANY, retry_after=math.ceil(wait))
        assert self.users_file is not None
        verified = local_users.verify(self.users_file, name, password)
        if verified is None:
            log.warning("local sign-in failed: %r from %s", name[:64], client)
            raise SignInFailed(401, MISMATCH)
        self.throttle.succeeded(user_key, client_key)
        return self.authorize(authorization, verified)

    def authorize(self, authorization: Authorization, user: str) -> str:
        """Where the browser goes once ``user`` signed in: the redirect address with a new code (single use,
        valid for ``CODE_TTL_SECONDS``) and the request's state. ValueError when ``user`` is no user name.
        Checks no password: the sign-in form goes through ``sign_in``."""
        user = check_user(user)
        code = secrets.token_urlsafe(32)
        now = _clock()
        with self._codes_lock:
            for stale in [c for c, grant in self._codes.items() if grant.expires <= now]:
                del self._codes[stale]
            while len(self._codes) >= MAX_PENDING_CODES:
                del self._codes[next(iter(self._codes))]
            self._codes[code] = _Grant(authorization, user, now + CODE_TTL_SECONDS)
        answer = {"code": code, **({"state": authorization.state} if authorization.state else {})}
        separator = "&" if urlsplit(authorization.redirect_uri).query else "?"
        return authorization.redirect_uri + separator + urlencode(answer)

    def exchange(self, form: Mapping[str, str], base_url: str) -> dict[str, Any]:
        """The token endpoint's answer to ``form`` (RFC 6749 section 4.1.3 with RFC 7636's code_verifier):
        an ID token for the code's user (``aud`` ``CLIENT_ID``, the request's ``nonce``, and a verified
        ``email`` when the user name is an e-mail address) and an access token; or TokenRefused."""
        if form.get("grant_type") != "authorization_code":
            raise TokenRefused("unsupported_grant_type", "the grant_type must be authorization_code")
        code = form.get("code", "")
        if not code:
            raise TokenRefused("invalid_request", "the code is missing")
        if form.get("client_id") != CLIENT_ID:
            raise TokenRefused("invalid_client", f"this issuer signs in the client {CLIENT_ID!r} only")
        with self._codes_lock:
            grant = self._codes.pop(code, None)  # single use: gone whatever comes of this request
        if grant is None or grant.expires <= _clock():
            raise TokenRefused("invalid_grant", "the code is unknown, used or expired")
        authorization = grant.authorization
        if form.get("redirect_uri") != authorization.redirect_uri:
            raise TokenRefused("invalid_grant", "the redirect_uri is not the one the code was issued for")
        verifier = form.get("code_verifier", "")
        if not _PKCE.fullmatch(verifier):
            raise TokenRefused("invalid_grant", "the code_verifier is missing or malformed")
        if not hmac.compare_digest(s256(verifier), authorization.code_challenge):
            raise TokenRefused("invalid_grant", "the code_verifier does not match the code challenge")
        extra: dict[str, Any] = {"auth_time": int(time.time())}
        if authorization.nonce:
            extra["nonce"] = authorization.nonce
        if _EMAIL.fullmatch(grant.user):
            extra.update(email=grant.user.lower(), email_verified=True)
        id_token = self.mint(grant.user, base_url, SIGNIN_TTL_SECONDS, audience=CLIENT_ID, claims=extra)
        access_token = self.mint(grant.user, base_url, SIGNIN_TTL_SECONDS, scopes=authorization.scope.split())
        return {"id_token": id_token, "access_token": access_token, "token_type": "Bearer",
                "expires_in": SIGNIN_TTL_SECONDS, "scope": authorization.scope}


def s256(verifier: str) -> str:
    """RFC 7636's S256 code challenge of ``verifier``: base64url(SHA-256), without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_user(user: str) -> str:
    """``user`` as a local user name (``local_users.canonical``: no surrounding blanks, 1 to 254 printable
    characters without spaces, an e-mail address lower-cased), or ValueError."""
    return local_users.canonical(user)


def origin(url: str) -> str | None:
    """``scheme://host:port`` of an http(s) URL (the port always written), or None."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}:{port or (443 if parts.scheme == 'https' else 80)}"


def own_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` is on the runtime's origin: the scheme and port of ``base_url`` with its host or a
    loopback name; no user information, fragment, blank or backslash (which browsers and parsers read
    differently)."""
    if not url.isascii() or not url.isprintable() or any(c in " \\#" for c in url):
        return False
    target, base = urlsplit(url), urlsplit(base_url)
    if target.username is not None or target.password is not None:
        return False
    here, there = origin(base_url), origin(url)
    if here is None or there is None:
        return False
    same_port = here.rsplit(":", 1)[1] == there.rsplit(":", 1)[1]
    hosts = {(base.hostname or "").lower(), *LOOPBACK_HOSTS}
    return target.scheme == base.scheme and same_port and (target.hostname or "").lower() in hosts


# --- the sign-in page (no script, no style: the page's policy allows neither) --------------------------------


def page_policy(authorization: Authorization, base_url: str) -> str:
    """The sign-in page's Content-Security-Policy: its form may lead to ``authorization``'s redirect, on
    another (loopback) origin than the page's own."""
    target = origin(authorization.redirect_uri)
    if target is None or target == origin(base_url):
        return PAGE_POLICY
    return PAGE_POLICY.replace("form-action 'self'", f"form-action 'self' {target}")


def sign_in_page(authorization: Authorization, *, user: str = "", problem: str | None = None,
                 users: bool = True) -> str:
    """The form that asks for a local user's name and password, carrying the authorization request in hidden
    fields (never the password: it is not shown again). ``users`` False: there is no local user yet, and
    instead of the form the page tells the operator how to create one."""
    about = """<p>This is the <strong>local marketplace's own sign-in</strong> (<code>marketplace serve</code>):
it signs in the local users that the marketplace's operator created, with their passwords. An e-mail address
counts as verified.</p>
"""
    if not users:
        return _page("Sign in", about + """<p role="alert"><strong>No local users yet: the operator creates one
with <code>marketplace user add NAME</code></strong> (on the machine that runs the marketplace), then you can sign
in here.</p>""")
    hidden = "\n".join(f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
                       for name, value in authorization.parameters().items())
    notice = f'<p role="alert"><strong>{html.escape(problem)}</strong></p>\n' if problem else ""
    return _page("Sign in", f"""{about}{notice}<form method="post" action="{ISSUER_PATH}{AUTHORIZE_PATH}">
<p><label for="user">User name or e-mail address</label><br>
<input id="user" name="user" type="text" value="{html.escape(user)}" required maxlength="{MAX_USER_LENGTH}"
 autocomplete="username" autocapitalize="none" spellcheck="false"{"" if user else " autofocus"}></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" required maxlength="{local_users.MAX_PASSWORD_LENGTH}"
 autocomplete="current-password"{" autofocus" if user else ""}></p>
{hidden}
<p><button type="submit">Sign in</button></p>
</form>
<p>Forgot the password? The operator sets a new one with <code>marketplace user password NAME</code>.</p>""")


def refusal_page(message: str) -> str:
    """What the sign-in page shows for a request it cannot serve (never a redirect: the address may be bad)."""
    return _page("Sign-in request refused", f"""<p>The local marketplace's own sign-in cannot serve this request:
{html.escape(message)}.</p>
<p>Start signing in again from the marketplace's website.</p>""")


def _page(title: str, content: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · local marketplace</title>
</head>
<body>
<main>
<h1>{html.escape(title)}</h1>
{content}
</main>
</body>
</html>
"""
