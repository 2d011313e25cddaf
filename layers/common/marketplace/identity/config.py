"""How a deployment says which bearer tokens it accepts: the environment of the functions that authenticate.

``AUTH_ISSUERS`` is a JSON list of OIDC issuers, each an object::

    {"name": "cognito",                       # a short label (logs, the Principal's provider)
     "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",   # the exact ``iss`` claim
     "audiences": ["4h3..."],                 # accepted ``aud`` (or ``client_id`` of an access token)
     "account_types": ["cognito"],            # accepted X-Account-Type values; empty = any but "github"
     "jwks_uri": "https://.../jwks.json",     # optional; default: OIDC discovery at {issuer}/.well-known/...
     "jwks": {"keys": [...]},                 # optional inline keys (no fetch)
     "required_scopes": ["marketplace/sync"], # optional; a valid token without them gets 403
     "algorithms": ["RS256", "ES256"]}        # optional

``AUTH_GITHUB_API_URL`` is the GitHub REST API a ``github`` token is checked against (``GET {url}/user``);
unset or empty means GitHub tokens are not accepted.

``AUTH_CA_FILE`` (local runtime only) names a PEM bundle trusted, besides the system's authorities, when keys
are fetched: ``marketplace serve --tls`` sets it to its local CA, as its own issuer then speaks HTTPS.

The ``iss`` claim must equal the configured ``issuer`` string exactly (a trailing slash included, as some
providers put one there); ``issuer`` itself is kept without it, for building the discovery address.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from marketplace.platform.errors import ConfigurationError

ISSUERS_VAR = "AUTH_ISSUERS"
GITHUB_API_VAR = "AUTH_GITHUB_API_URL"
GITHUB_ACCOUNT_TYPE = "github"
DEFAULT_ALGORITHMS = ("RS256", "ES256")
CA_FILE_VAR = "AUTH_CA_FILE"
ENVIRONMENT_VARIABLES = (ISSUERS_VAR, GITHUB_API_VAR)


@dataclass(frozen=True)
class IssuerConfig:
    name: str
    issuer: str
    audiences: tuple[str, ...]
    account_types: tuple[str, ...] = ()
    jwks_uri: str | None = None
    jwks: dict[str, object] | None = field(default=None, hash=False, compare=False)
    required_scopes: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    configured_issuer: str = ""  # the value as written (``issuer`` has trailing slashes removed)

    @property
    def expected_iss(self) -> str:
        """The exact ``iss`` claim this issuer's tokens carry."""
        return self.configured_issuer or self.issuer

    def accepts_account_type(self, account_type: str | None) -> bool:
        if not self.account_types or account_type is None:
            return account_type != GITHUB_ACCOUNT_TYPE
        return account_type in self.account_types


def parse_issuers(raw: str | None) -> tuple[IssuerConfig, ...]:
    """The issuers of an ``AUTH_ISSUERS`` value; a malformed value is an operator error that names the fault."""
    if raw is None or not raw.strip():
        return ()
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise ConfigurationError(f"{ISSUERS_VAR} is not valid JSON: {error}") from error
    if not isinstance(data, list):
        raise ConfigurationError(f"{ISSUERS_VAR} must be a JSON list of issuer objects")
    issuers: list[IssuerConfig] = []
    for position, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{ISSUERS_VAR}[{position}] must be an object")
        try:
            configured = str(entry["issuer"]).strip()
            issuer = configured.rstrip("/")
            audiences = tuple(str(a) for a in entry["audiences"])
        except (KeyError, TypeError) as error:
            raise ConfigurationError(f"{ISSUERS_VAR}[{position}] needs 'issuer' and 'audiences'") from error
        if not issuer or not audiences:
            raise ConfigurationError(f"{ISSUERS_VAR}[{position}] needs a non-empty 'issuer' and 'audiences'")
        jwks = entry.get("jwks")
        issuers.append(IssuerConfig(
            name=str(entry.get("name") or issuer),
            issuer=issuer,
            audiences=audiences,
            account_types=tuple(str(a) for a in entry.get("account_types") or ()),
            jwks_uri=str(entry["jwks_uri"]) if entry.get("jwks_uri") else None,
            jwks=jwks if isinstance(jwks, dict) else None,
            required_scopes=tuple(str(s) for s in entry.get("required_scopes") or ()),
            algorithms=tuple(str(a) for a in entry.get("algorithms") or DEFAULT_ALGORITHMS),
            configured_issuer=configured,
        ))
    return tuple(issuers)


def issuers() -> tuple[IssuerConfig, ...]:
    return parse_issuers(os.environ.get(ISSUERS_VAR))


def github_api_url() -> str | None:
    value = os.environ.get(GITHUB_API_VAR, "").strip().rstrip("/")
    return value or None
