"""Bearer tokens for the sync tests: an ES256 issuer whose public key is configured inline (``jwks`` in
``AUTH_ISSUERS``), so handlers verify real signatures without any key fetch."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = "https://issuer.sync-tests.example"
AUDIENCE = "marketplace-sync-tests"
ACCOUNT_TYPE = "tests"


@dataclass
class SyncIssuer:
    issuer: str = ISSUER
    audience: str = AUDIENCE
    kid: str = "sync-tests-1"
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def jwks(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        return {"keys": [public]}

    def issuers_env(self) -> str:
        return json.dumps([{"name": "tests", "issuer": self.issuer, "audiences": [self.audience],
                            "account_types": [ACCOUNT_TYPE], "jwks": self.jwks()}])

    def token(self, subject: str, *, ttl: int = 3600, audience: str | None = None, issued_ago: int = 0,
              key: ec.EllipticCurvePrivateKey | None = None) -> str:
        now = int(time.time()) - issued_ago
        claims = {"iss": self.issuer, "sub": subject, "aud": audience or self.audience, "iat": now,
                  "nbf": now, "exp": now + ttl}
        return jwt.encode(claims, key or self.key, algorithm="ES256", headers={"kid": self.kid})

    def headers(self, subject: str, **kwargs: Any) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(subject, **kwargs)}", "x-account-type": ACCOUNT_TYPE}
