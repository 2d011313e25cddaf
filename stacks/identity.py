"""The default sign-in issuer: a Cognito user pool whose tokens Settings Sync and reviews accept.

What the functions that authenticate (``FunctionDef.authenticates``) get in their environment is built
here too: ``AUTH_ISSUERS`` (the pool first, then any issuers from the ``authIssuers`` context) and
``AUTH_GITHUB_API_URL`` (context ``githubApiUrl``). The format is ``marketplace.identity.config``'s.

CDK context (``cdk.json`` or ``-c key=value``):

* ``authIssuers``: further OIDC issuers, a JSON list of issuer objects (checked at synth);
* ``githubApiUrl``: the GitHub REST API GitHub tokens are checked against (default
  ``https://api.github.com``; empty: GitHub tokens are refused);
* ``authSelfSignUp``: ``true`` lets anyone create an account (default: operators invite users);
* ``authCallbackUrls``: the editors' OAuth redirect URLs (JSON list or comma-separated);
* ``authDomainPrefix``: the managed login domain prefix (default ``marketplace-<stage>-<account>``);
* ``authThreatProtection``: ``true`` puts the pool on the Plus plan with threat protection enforced.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from marketplace.identity import config as auth
from marketplace.platform import resources as r
from marketplace.platform.errors import ConfigurationError
from stacks import nag
from stacks.settings import StageSettings

ISSUERS_CONTEXT = "authIssuers"
GITHUB_API_CONTEXT = "githubApiUrl"
SELF_SIGN_UP_CONTEXT = "authSelfSignUp"
CALLBACK_URLS_CONTEXT = "authCallbackUrls"
DOMAIN_PREFIX_CONTEXT = "authDomainPrefix"
THREAT_PROTECTION_CONTEXT = "authThreatProtection"

DEFAULT_GITHUB_API_URL = "https://api.github.com"
# A loopback redirect for a local sign-in helper; editors' own redirect URLs come from the context.
DEFAULT_CALLBACK_URLS = ("http://localhost/callback",)
COGNITO_ISSUER_NAME = "cognito"
COGNITO_ACCOUNT_TYPE = "cognito"
RESOURCE_SERVER = r.PRODUCT
SYNC_SCOPE = "sync"
MIN_PASSWORD_LENGTH = 12
# Lambda allows 4 KB of environment per function; the other variables need some of it.
MAX_EXTRA_ISSUERS_BYTES = 3072

_DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class Identity(Construct):
    """The user pool, its managed login domain, the editors' public app client, and the functions' settings."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: StageSettings) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # Read (and reject bad) context first: a synth with a wrong setting fails before building anything.
        extra_issuers = _extra_issuers(self.node.try_get_context(ISSUERS_CONTEXT))
        github_api_url = _github_api_url(self.node.try_get_context(GITHUB_API_CONTEXT))
        self_sign_up = _flag(self, SELF_SIGN_UP_CONTEXT)
        threat_protection = _flag(self, THREAT_PROTECTION_CONTEXT)
        callback_urls = _callback_urls(self.node.try_get_context(CALLBACK_URLS_CONTEXT))
        domain_prefix = _domain_prefix(self.node.try_get_context(DOMAIN_PREFIX_CONTEXT), stage, stack.account)

        self.user_pool = cognito.UserPool(
            self,
            "Users",
            user_pool_name=f"{r.PRODUCT}-{stage.name}-users",
            self_sign_up_enabled=self_sign_up,
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=MIN_PASSWORD_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(7),
            ),
            # TOTP apps only: no SMS (no SNS role, no per-message cost), enrolled at first sign-in.
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            enable_sms_role=False,
            feature_plan=cognito.FeaturePlan.PLUS if threat_protection else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=(
                cognito.StandardThreatProtectionMode.FULL_FUNCTION if threat_protection else None
            ),
            deletion_protection=stage.production,
            removal_policy=stage.removal_policy,
        )
        if not threat_protection:
            nag.suppress(
                self.user_pool,
                "COG8",
                "The Plus plan is billed per monthly active user with no free tier, a cost each operator "
                f"decides on: `-c {THREAT_PROTECTION_CONTEXT}=true` selects it with threat protection enforced. "
                "Without it the pool still requires TOTP MFA and a 12-character password with all classes.",
            )
        self.domain = self.user_pool.add_domain(
            "Login", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix)
        )
        self.sync_scope = cognito.ResourceServerScope(
            scope_name=SYNC_SCOPE, scope_description="Read and write this user's Settings Sync data"
        )
        self.resource_server = self.user_pool.add_resource_server(
            "Api", identifier=RESOURCE_SERVER, user_pool_resource_server_name=r.PRODUCT, scopes=[self.sync_scope]
        )
        self.client = self.user_pool.add_client(
            "Editors",
            user_pool_client_name=f"{r.PRODUCT}-{stage.name}-editors",
            generate_secret=False,  # a public client: editors cannot keep a secret, they use PKCE
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[
                    cognito.OAuthScope.OPENID,
                    cognito.OAuthScope.EMAIL,
                    cognito.OAuthScope.PROFILE,
                    cognito.OAuthScope.resource_server(self.resource_server, self.sync_scope),
                ],
                callback_urls=list(callback_urls),
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
        self.issuer_url = f"https://cognito-idp.{stack.region}.{stack.url_suffix}/{self.user_pool.user_pool_id}"
        # ID tokens carry no scope claim and editors may send either token, so no required_scopes here.
        cognito_issuer: dict[str, Any] = {
            "name": COGNITO_ISSUER_NAME,
            "issuer": self.issuer_url,
            "audiences": [self.client.user_pool_client_id],
            "account_types": [COGNITO_ACCOUNT_TYPE],
        }
        self.function_environment: dict[str, str] = {
            auth.ISSUERS_VAR: stack.to_json_string([cognito_issuer, *extra_issuers]),
            auth.GITHUB_API_VAR: github_api_url,
        }


def _extra_issuers(value: object) -> list[dict[str, Any]]:
    """The ``authIssuers`` context as issuer objects, validated exactly as the functions will parse them."""
    if value is None:
        return []
    if isinstance(value, str):
        raw = value
    elif isinstance(value, list):
        raw = json.dumps(value)
    else:
        raise ValueError(f"CDK context {ISSUERS_CONTEXT!r} must be a JSON list of issuer objects")
    if Token.is_unresolved(raw):
        raise ValueError(f"CDK context {ISSUERS_CONTEXT!r} must be a literal JSON list, not a deploy-time value")
    try:
        parsed = auth.parse_issuers(raw)
    except ConfigurationError as error:
        message = str(error).replace(auth.ISSUERS_VAR, ISSUERS_CONTEXT)
        raise ValueError(f"CDK context {ISSUERS_CONTEXT!r} is invalid: {message}") from error
    if not parsed:
        return []
    entries: list[dict[str, Any]] = json.loads(raw)
    names = [COGNITO_ISSUER_NAME]
    for position, issuer in enumerate(parsed):
        where = f"CDK context {ISSUERS_CONTEXT!r}[{position}]"
        if issuer.name in names:
            raise ValueError(f"{where}: the issuer name {issuer.name!r} is already taken (names must be unique)")
        names.append(issuer.name)
        if issuer.jwks is None and not issuer.issuer.startswith("https://"):
            raise ValueError(f"{where}: 'issuer' must be an https:// URL (its keys are fetched from it)")
        if issuer.jwks_uri is not None and not issuer.jwks_uri.startswith("https://"):
            raise ValueError(f"{where}: 'jwks_uri' must be an https:// URL")
    size = len(json.dumps(entries, separators=(",", ":")).encode())
    if size > MAX_EXTRA_ISSUERS_BYTES:
        raise ValueError(
            f"CDK context {ISSUERS_CONTEXT!r} is {size} bytes of JSON, more than the {MAX_EXTRA_ISSUERS_BYTES} "
            "that fit in a Lambda environment: give 'jwks_uri' instead of inline 'jwks'"
        )
    return entries


def _github_api_url(value: object) -> str:
    if value is None:
        return DEFAULT_GITHUB_API_URL
    if not isinstance(value, str):
        raise ValueError(f"CDK context {GITHUB_API_CONTEXT!r} must be a URL or empty (GitHub tokens refused)")
    url = value.strip().rstrip("/")
    if url and not url.startswith("https://"):
        raise ValueError(f"CDK context {GITHUB_API_CONTEXT!r} must be an https:// URL or empty, not {value!r}")
    return url


def _flag(scope: Construct, key: str) -> bool:
    value = scope.node.try_get_context(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValueError(f"CDK context {key!r} must be true or false, not {value!r}")


def _callback_urls(value: object) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_CALLBACK_URLS
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else [u for u in text.split(",") if u.strip()]
        except ValueError as error:
            raise ValueError(f"CDK context {CALLBACK_URLS_CONTEXT!r} is not a valid JSON list: {error}") from error
    if not isinstance(value, list) or not value or not all(isinstance(u, str) for u in value):
        raise ValueError(f"CDK context {CALLBACK_URLS_CONTEXT!r} must be a non-empty list of URLs")
    urls = tuple(u.strip() for u in value)
    for url in urls:
        scheme, separator, rest = url.partition(":")
        if not separator or not rest or "#" in url:
            raise ValueError(f"CDK context {CALLBACK_URLS_CONTEXT!r}: {url!r} is not an absolute URL without fragment")
        if scheme == "http" and not re.match(r"^http://localhost(:\d+)?(/|$)", url):
            raise ValueError(f"CDK context {CALLBACK_URLS_CONTEXT!r}: {url!r}: http is only allowed for localhost")
    return urls


def _domain_prefix(value: object, stage: StageSettings, account: str) -> str:
    if value is None:
        return f"{r.PRODUCT}-{stage.name}-{account}"
    prefix = str(value)
    if not _DOMAIN_PREFIX.match(prefix) or any(word in prefix for word in ("aws", "amazon", "cognito")):
        raise ValueError(
            f"CDK context {DOMAIN_PREFIX_CONTEXT!r} must be 1-63 lower-case letters, digits and hyphens "
            f"without 'aws', 'amazon' or 'cognito', not {prefix!r}"
        )
    return prefix
