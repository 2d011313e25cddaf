"""The local runtime's own OIDC issuer, so Settings Sync and reviews can be used (and tested) without an
identity provider: ``{base_url}/local-issuer`` publishes its discovery document and key set through the local
front door, and ``marketplace dev-token USER`` mints tokens for it.

One ES256 (P-256) key, made once and kept next to the runtime's state file (mode 0600), so tokens stay valid
across restarts of the runtime. Development only: whoever can read the key file can be any user.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

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


def issuer_url(base_url: str) -> str:
    return base_url.rstrip("/") + ISSUER_PATH


def openid_configuration(base_url: str) -> dict[str, Any]:
    issuer = issuer_url(base_url)
    return {
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "subject_types_supported": ["public"],
        "response_types_supported": ["id_token"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "preferred_username"],
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


class LocalIssuer:
    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"the local issuer needs a P-256 key, not {key.curve.name}")
        self._key = key
        public: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        # RFC 7638 thumbprint: a key id that changes exactly when the key does
        canonical = json.dumps({k: public[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
        self._jwk = {**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    @classmethod
    def load(cls, path: Path) -> LocalIssuer:
        """The issuer whose key is at ``path``; FileNotFoundError when there is none, ValueError when the file
        holds no P-256 private key."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path} does not hold an unencrypted PEM private key") from error
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} does not hold an EC (P-256) private key")
        return cls(key)

    @classmethod
    def generate(cls) -> LocalIssuer:
        """An issuer with a new key held only in memory (its tokens die with the process)."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def ensure(cls, path: Path) -> LocalIssuer:
        """The issuer whose key is at ``path``, making the key first if there is none (or it is unusable).
        Two runtimes starting at once end up with the same key: the first file written wins."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return cls.load(path)
        except FileNotFoundError:
            replace = False
        except ValueError as error:
            log.warning("replacing the local issuer key: %s", error)
            replace = True
        issuer = cls.generate()
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
                    return cls.load(path)
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
             audience: str = AUDIENCE, scopes: Iterable[str] = ()) -> str:
        """A signed token for ``subject``, valid for ``ttl_seconds`` from now."""
        if not subject or not subject.strip() or len(subject) > 256:
            raise ValueError("the user must be 1 to 256 characters, not blank")
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"the lifetime must be between 1 and {MAX_TTL_SECONDS} seconds")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer_url(base_url), "sub": subject, "aud": audience, "iat": now, "nbf": now,
            "exp": now + ttl_seconds, "jti": secrets.token_urlsafe(12), "preferred_username": subject,
        }
        scope = " ".join(dict.fromkeys(scopes))
        if scope:
            claims["scope"] = scope
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"})
