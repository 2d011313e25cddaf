"""OIDC bearer tokens (JWTs): the issuer is picked by the exact ``iss`` claim, then the signature is checked
with that issuer's published keys, then expiry, audience and scopes.

Keys come from the issuer's JWKS (``jwks_uri``, else OIDC discovery at ``{issuer}/.well-known/
openid-configuration``, or inline ``jwks``) and are cached per issuer for an hour. A token naming a key the
cache does not hold triggers a refetch, at most once a minute per issuer, so a key rotation is picked up
quickly while a stream of made-up key ids cannot turn into a stream of requests to the issuer. An issuer whose
keys cannot be fetched makes its tokens unverifiable for now: 503, never 401 (the token may be fine) and
never 500.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jwt
from jwt import PyJWK

from marketplace.identity import fetch
from marketplace.identity.config import IssuerConfig
from marketplace.identity.principal import Principal, forbidden, unauthorized
from marketplace.platform.errors import ServiceUnavailable

log = logging.getLogger("marketplace.identity")

LEEWAY_SECONDS = 60
KEYS_TTL_SECONDS = 3600.0
REFETCH_INTERVAL_SECONDS = 60.0  # at most one extra fetch per issuer per minute for an unknown key id
FAILURE_BACKOFF_SECONDS = 5.0  # after a failed fetch, answer 503 at once for this long
MAX_TOKEN_LENGTH = 16 * 1024
# Only asymmetric algorithms: an HS* token would be checked with the public key as its secret ("algorithm
# confusion"), and "none" has no signature at all. The issuer's configured list is intersected with this.
ASYMMETRIC_ALGORITHMS = frozenset({
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
})
SIGNING_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
DISPLAY_NAME_CLAIMS = ("preferred_username", "name", "username", "cognito:username")

Clock = Callable[[], float]
_clock: Clock = time.monotonic  # tests replace it to step over the cache windows


def accepted_algorithms(config: IssuerConfig) -> tuple[str, ...]:
    return tuple(a for a in config.algorithms if a in ASYMMETRIC_ALGORITHMS)


class KeySet:
    """One issuer's signing keys, fetched on demand and cached."""

    def __init__(self, config: IssuerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._prepared: dict[tuple[str | None, str], PyJWK] = {}
        self._jwks_uri = config.jwks_uri
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, whatever came of it
        self._failure: tuple[float, str] | None = None
        if config.jwks is not None:
            self._keys = _signing_keys(config.jwks, config.name)

    def key(self, kid: str | None, algorithm: str) -> PyJWK:
        with self._lock:
            if self.config.jwks is None:
                now = _clock()
                if self._fetched_at is None or now - self._fetched_at >= KEYS_TTL_SECONDS:
                    self._refresh(now, discover=self.config.jwks_uri is None)
                elif self._find(kid) is None and (
                        self._attempted_at is None or now - self._attempted_at >= REFETCH_INTERVAL_SECONDS):
                    log.info("issuer %s: unknown key id, fetching its key set again", self.config.name)
                    self._refresh(now, discover=False)
            jwk = self._find(kid)
            if jwk is None:
                if kid is None:
                    raise unauthorized(f"the token names no signing key (kid) and issuer {self.config.name} "
                                       "publishes several")
                raise unauthorized(f"the token is signed with a key issuer {self.config.name} does not publish "
                                   f"(kid {kid[:64]!r})")
            return self._prepare(kid, jwk, algorithm)

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _prepare(self, kid: str | None, jwk: dict[str, Any], algorithm: str) -> PyJWK:
        prepared = self._prepared.get((kid, algorithm))
        if prepared is not None:
            return prepared
        if jwk.get("alg") not in (None, algorithm):
            raise unauthorized(f"the token says {algorithm}, but its key is for {jwk.get('alg')}")
        try:
            prepared = PyJWK(jwk, algorithm)
        except jwt.PyJWTError as error:
            raise unauthorized(f"the token's key cannot be used with {algorithm}") from error
        self._prepared[(kid, algorithm)] = prepared
        return prepared

    def _refresh(self, now: float, *, discover: bool) -> None:
        if self._failure is not None and now - self._failure[0] < FAILURE_BACKOFF_SECONDS:
            raise ServiceUnavailable(self._failure[1])
        self._attempted_at = now
        try:
            if discover or self._jwks_uri is None:
                self._jwks_uri = self._discover()
            document = self._get_json(self._jwks_uri, "key set")
            keys = _signing_keys(document, self.config.name)
        except ServiceUnavailable as error:
            self._failure = (now, error.message)
            if self.config.jwks_uri is None:
                self._jwks_uri = None  # discover again next time: the address may have moved
            log.warning("issuer %s: %s", self.config.name, error.message)
            raise
        self._keys, self._prepared = keys, {}
        self._fetched_at, self._failure = now, None

    def _discover(self) -> str:
        url = f"{self.config.issuer}/.well-known/openid-configuration"
        document = self._get_json(url, "discovery document")
        if document.get("issuer") not in (None, self.config.expected_iss):
            log.warning("issuer %s: its discovery document names the issuer %r", self.config.name,
                        str(document.get("issuer"))[:200])
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise ServiceUnavailable(f"the discovery document of issuer {self.config.name} has no usable jwks_uri")
        return jwks_uri

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            reply = fetch.get(url, {"Accept": "application/json"})
        except fetch.Unreachable as error:
            raise ServiceUnavailable(f"cannot fetch the {what} of issuer {self.config.name}: {error}") from error
        if reply.status != 200:
            raise ServiceUnavailable(f"the {what} of issuer {self.config.name} answered HTTP {reply.status}")
        try:
            document = json.loads(reply.body)
        except ValueError as error:
            raise ServiceUnavailable(f"the {what} of issuer {self.config.name} is not JSON") from error
        if not isinstance(document, dict):
            raise ServiceUnavailable(f"the {what} of issuer {self.config.name} is not a JSON object")
        return document


def _signing_keys(document: Mapping[str, object], issuer_name: str) -> dict[str | None, dict[str, Any]]:
    keys = document.get("keys")
    usable: dict[str | None, dict[str, Any]] = {}
    for key in keys if isinstance(keys, list) else ():
        if (isinstance(key, dict) and key.get("kty") in SIGNING_KEY_TYPES and key.get("use") in (None, "sig")
                and isinstance(key.get("kid", ""), str)):
            usable.setdefault(key.get("kid"), key)
    if not usable:
        raise ServiceUnavailable(f"issuer {issuer_name} publishes no usable signing keys")
    return usable


_key_sets: dict[tuple[IssuerConfig, str], KeySet] = {}
_key_sets_lock = threading.Lock()


def key_set(config: IssuerConfig) -> KeySet:
    identity = (config, json.dumps(config.jwks, sort_keys=True) if config.jwks is not None else "")
    with _key_sets_lock:
        found = _key_sets.get(identity)
        if found is None:
            found = _key_sets[identity] = KeySet(config)
        return found


def reset() -> None:
    """Forget every cached key set (tests)."""
    with _key_sets_lock:
        _key_sets.clear()


def verify(token: str, account_type: str | None, issuers: Sequence[IssuerConfig]) -> Principal:
    """The principal of a JWT from one of ``issuers``, or Unauthorized / Forbidden / ServiceUnavailable."""
    header, unverified = _unverified(token)
    config = _issuer_for(unverified.get("iss"), account_type, issuers)
    claims = _checked_claims(token, header, config)
    _check_audience(claims, config)

    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise unauthorized("the token has an empty subject (sub)")
    scopes = _scopes(claims)
    missing = sorted(set(config.required_scopes) - scopes)
    if missing:
        raise forbidden(f"the token lacks the scope{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    display_name = next((str(claims[c]) for c in DISPLAY_NAME_CLAIMS if isinstance(claims.get(c), str)), None)
    return Principal(provider=config.name, issuer=str(claims["iss"]), subject=subject, scopes=frozenset(scopes),
                     display_name=display_name)


def id_token_claims(token: str, config: IssuerConfig) -> dict[str, Any]:
    """The claims of an OpenID Connect ID token from ``config``'s issuer, once its signature (by the issuer's
    keys, through the same key cache as bearer tokens), ``iss``, ``exp``, ``nbf`` and ``aud`` have been checked:
    ``aud`` is required and must name one of ``config.audiences``. The caller checks ``nonce``."""
    header, _ = _unverified(token)
    claims = _checked_claims(token, header, config)
    if claims.get("aud") is None:
        raise unauthorized("the token names no audience (aud)")
    _check_audience(claims, config)
    return claims


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of ``token``, not yet checked: enough to find the issuer and the key."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise unauthorized("the bearer token is too long to be a JWT")
    try:
        header = jwt.get_unverified_header(token)
        unverified: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise unauthorized("the bearer token is not a well-formed JWT") from error
    return header, unverified


def _checked_claims(token: str, header: Mapping[str, Any], config: IssuerConfig) -> dict[str, Any]:
    """The claims of ``token``, signed by one of ``config``'s keys with an algorithm it accepts, from its
    issuer, not expired (the audience is the caller's to check)."""
    algorithm = header.get("alg")
    allowed = accepted_algorithms(config)
    if algorithm not in allowed:
        raise unauthorized(f"tokens signed with {str(algorithm)[:20]!r} are not accepted (issuer {config.name} "
                           f"accepts {', '.join(allowed) or 'none of its configured algorithms'})")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise unauthorized("the token's key id (kid) is not a string")
    key = key_set(config).key(kid, str(algorithm))
    return _verified_claims(token, key, str(algorithm), config)


def _issuer_for(iss: object, account_type: str | None, issuers: Sequence[IssuerConfig]) -> IssuerConfig:
    if not isinstance(iss, str) or not iss:
        raise unauthorized("the token names no issuer (iss)")
    candidates = [c for c in issuers if c.expected_iss == iss]
    if not candidates:
        raise unauthorized(f"tokens from the issuer {iss[:200]!r} are not accepted here")
    for config in candidates:
        if config.accepts_account_type(account_type):
            return config
    names = ", ".join(repr(t) for c in candidates for t in c.account_types) or "any but 'github'"
    raise unauthorized(f"X-Account-Type {str(account_type)[:40]!r} does not fit issuer {candidates[0].name} "
                       f"(it accepts {names})")


def _verified_claims(token: str, key: PyJWK, algorithm: str, config: IssuerConfig) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key=key, algorithms=[algorithm], issuer=config.expected_iss, leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as error:
        raise unauthorized("the token has expired") from error
    except jwt.ImmatureSignatureError as error:
        raise unauthorized("the token is not valid yet (its nbf or iat is in the future)") from error
    except jwt.InvalidSignatureError as error:
        raise unauthorized("the token's signature does not verify") from error
    except jwt.MissingRequiredClaimError as error:
        raise unauthorized(f"the token lacks the {error.claim!r} claim") from error
    except jwt.InvalidIssuerError as error:
        raise unauthorized("the token's issuer (iss) does not match") from error
    except jwt.InvalidAlgorithmError as error:
        raise unauthorized("the token's algorithm does not match its key") from error
    except jwt.PyJWTError as error:  # malformed iat/nbf/exp/sub/jti and the like: PyJWT's message names the claim
        raise unauthorized(f"the token is not valid: {error}") from error
    return claims


def _check_audience(claims: Mapping[str, Any], config: IssuerConfig) -> None:
    """``aud`` must name one of the issuer's audiences; without ``aud`` (Cognito access tokens) the
    ``client_id`` must be one."""
    audience = claims.get("aud")
    if audience is not None:
        values: Iterable[object] = [audience] if isinstance(audience, str) else audience
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise unauthorized("the token's audience (aud) is malformed")
        if not set(values) & set(config.audiences):
            raise unauthorized(f"the token was issued for another audience (issuer {config.name})")
        return
    client_id = claims.get("client_id")
    if client_id is None:
        raise unauthorized("the token names no audience (aud or client_id)")
    if client_id not in config.audiences:
        raise unauthorized(f"the token was issued for another client (issuer {config.name})")


def _scopes(claims: Mapping[str, Any]) -> set[str]:
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()
