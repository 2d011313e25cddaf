"""Capability: who is calling. Bearer tokens (OIDC JWTs, GitHub tokens, the local runtime's issuer) become
a ``Principal``; Settings Sync and reviews share it.

Importing this package is cheap: PyJWT and ``cryptography`` load on the first JWT, the GitHub client on the
first GitHub token.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping

from marketplace.identity import config
from marketplace.identity.principal import Principal, unauthorized
from marketplace.platform.errors import ConfigurationError, ServiceUnavailable

__all__ = ["Principal", "authenticate"]

log = logging.getLogger("marketplace.identity")


def authenticate(headers: Mapping[str, str]) -> Principal:
    """The caller named by ``Authorization: Bearer <token>`` and ``X-Account-Type`` (any header case).

    Raises Unauthorized (401) for a missing, malformed, expired, foreign or refused token, Forbidden (403) for
    a valid token without the issuer's required scopes, ServiceUnavailable (503) when the issuer's keys or
    GitHub cannot be reached. Messages say which check failed; none carries the token."""
    # here, not at the top: the CDK app and the CLI import identity.config, without Powertools' event handler
    from marketplace.platform.headers import request_header

    authorization = (request_header(headers, "authorization") or "").strip()
    if not authorization:
        raise unauthorized("sign in: an 'Authorization: Bearer <token>' header is required", invalid_token=False)
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise unauthorized("the Authorization header must use the Bearer scheme", invalid_token=False)
    if not token or any(c.isspace() for c in token):
        raise unauthorized("the Authorization header must be 'Bearer <token>' with one token", invalid_token=False)
    account_type = (request_header(headers, "x-account-type") or "").strip() or None

    if account_type == config.GITHUB_ACCOUNT_TYPE:
        api_url = config.github_api_url()
        if api_url is None:
            raise unauthorized("GitHub accounts are not accepted here")
        from marketplace.identity import github

        return github.verify(token, api_url)

    issuers = _issuers(os.environ.get(config.ISSUERS_VAR, ""))
    if not issuers:
        raise unauthorized("this server accepts no OIDC tokens (no issuer is configured)")
    from marketplace.identity import oidc

    return oidc.verify(token, account_type, issuers)


@functools.lru_cache(maxsize=8)
def _issuers(raw: str) -> tuple[config.IssuerConfig, ...]:
    try:
        return config.parse_issuers(raw)
    except ConfigurationError as error:
        log.error("authentication is misconfigured: %s", error)
        raise ServiceUnavailable("authentication is misconfigured on this server") from error
