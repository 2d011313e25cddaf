"""The default sign-in issuer: a Cognito user pool whose tokens Settings Sync and reviews accept.

What the functions that authenticate (``FunctionDef.authenticates``) get in their environment is built
here too: ``AUTH_ISSUERS`` (the pool first, then any issuers from the ``authIssuers`` context) and
``AUTH_GITHUB_API_URL`` (context ``githubApiUrl``). The format is ``marketplace.identity.config``'s.

The website's publisher area (``/manage``, served by ``publish_api``) signs people in with the authorization
code flow and PKCE through a second, public app client (``Website``, no secret) whose only redirect URL is
``https://<site>/manage/signin/callback`` for the distribution's domain and each ``siteUrls`` origin. The
distribution is built after the functions (its origin is the HTTP API), so the stack hands its origin over
afterwards (``add_site_origin``): the client names the distribution, and nothing the distribution needs names
the client. ``publish_api`` gets ``SIGNIN_PROVIDERS`` (``signin_environment``): the pool's managed login as
provider ``cognito`` and, with ``signinGithub``, a GitHub OAuth app as provider ``github``.

CDK context (``cdk.json`` or ``-c key=value``):

* ``authIssuers``: further OIDC issuers, a JSON list of issuer objects (checked at synth);
* ``githubApiUrl``: the GitHub REST API GitHub tokens are checked against (default
  ``https://api.github.com``; empty: GitHub tokens are refused);
* ``authSelfSignUp``: ``true`` lets anyone create an account (default: operators invite users);
* ``authCallbackUrls``: the editors' OAuth redirect URLs (JSON list or comma-separated);
* ``authDomainPrefix``: the managed login domain prefix (default ``marketplace-<stage>-<account>``);
* ``authThreatProtection``: ``true`` puts the pool on the Plus plan with threat protection enforced;
* ``siteUrls``: the website's other origins, such as a custom domain in front of the distribution
  (``https://market.example.com``; JSON list or comma-separated, https only, no path): sign-in may return
  there, and pages there may upload packages to the bucket (its CORS rule);
* ``signinGithub``: ``{"clientId": "...", "secretName": "..."}`` adds "Sign in with GitHub" to the publisher
  area: the client id of a GitHub OAuth app (callback URL ``https://<site>/manage/signin/callback``) and the
  name of the Secrets Manager secret (same account and region, default ``aws/secretsmanager`` key) whose value
  is the app's client secret; ``publish_api`` may read that one secret. GitHub Enterprise follows
  ``githubApiUrl``, which must not be empty then.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import jsii
from aws_cdk import ArnFormat, Duration, IStableListProducer, Lazy, Stack, Token
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from constructs import Construct

from marketplace.identity import config as auth
from marketplace.identity import signin
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
SITE_URLS_CONTEXT = "siteUrls"
SIGNIN_GITHUB_CONTEXT = "signinGithub"

# where the publisher area (marketplace.web.manage) receives the authorization code
SIGNIN_CALLBACK_PATH = "/manage/signin/callback"
WEBSITE_SCOPES = (cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE)
GITHUB_WEB_URL = "https://github.com"
GITHUB_AUTHORIZE_PATH = "/login/oauth/authorize"
GITHUB_TOKEN_PATH = "/login/oauth/access_token"  # noqa: S105 - a path, not a secret
# The website only reads who signed in when the code is redeemed, then keeps its own session: the shortest
# lifetimes Cognito allows.
WEBSITE_TOKEN_VALIDITY = Duration.minutes(5)
WEBSITE_REFRESH_TOKEN_VALIDITY = Duration.minutes(60)

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
_HTTPS_ORIGIN = re.compile(r"^https://[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?$")
_GITHUB_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class Identity(Construct):
    """The user pool, its managed login domain, the editors' and the website's public app clients, and the
    functions' settings."""

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
        self.site_urls = _site_urls(self.node.try_get_context(SITE_URLS_CONTEXT))
        github_signin = _github_signin(self.node.try_get_context(SIGNIN_GITHUB_CONTEXT), github_api_url)
        self._distribution_origins: list[str] = []

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

        self.website_client = self.user_pool.add_client(
            "Website",
            user_pool_client_name=f"{r.PRODUCT}-{stage.name}-website",
            # public: publish_api redeems the code with its PKCE verifier and keeps no client secret
            generate_secret=False,
            # no sign-in API of its own (ExplicitAuthFlows is refresh only): people sign in on the managed login
            auth_flows=cognito.AuthFlow(user_srp=False),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=list(WEBSITE_SCOPES),
                callback_urls=Lazy.list(_Produced(lambda: [o + SIGNIN_CALLBACK_PATH for o in self.site_origins])),
                logout_urls=Lazy.list(_Produced(lambda: [o + "/" for o in self.site_origins])),
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=WEBSITE_TOKEN_VALIDITY,
            id_token_validity=WEBSITE_TOKEN_VALIDITY,
            refresh_token_validity=WEBSITE_REFRESH_TOKEN_VALIDITY,
        )
        login = self.domain.base_url()
        providers: list[dict[str, Any]] = [{
            "name": "cognito",
            "kind": "oidc",
            "label": "Sign in",
            "client_id": self.website_client.user_pool_client_id,
            "authorization_endpoint": f"{login}/oauth2/authorize",
            "token_endpoint": f"{login}/oauth2/token",
            "issuer": self.issuer_url,
            "scopes": [scope.scope_name for scope in WEBSITE_SCOPES],
        }]
        # the partial ARN (no random suffix), which GetSecretValue accepts as the secret's id
        self.github_secret_arn: str | None = None
        if github_signin is not None:
            client_id, secret_name, web_url = github_signin
            self.github_secret_arn = stack.format_arn(
                service="secretsmanager", resource="secret", resource_name=secret_name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            providers.append({
                "name": "github",
                "kind": "github",
                "label": "Sign in with GitHub",
                "client_id": client_id,
                "authorization_endpoint": web_url + GITHUB_AUTHORIZE_PATH,
                "token_endpoint": web_url + GITHUB_TOKEN_PATH,
                "api_url": github_api_url,
                "client_secret_arn": self.github_secret_arn,
            })
        # publish_api's only: the publisher area is the one place people sign in to the website
        self.signin_environment: dict[str, str] = {signin.SIGNIN_VAR: stack.to_json_string(providers)}

    def add_site_origin(self, origin: str) -> None:
        """Sign-in through the website client may return to ``origin`` (``https://<distribution domain>``)."""
        self._distribution_origins.append(origin.rstrip("/"))

    @property
    def site_origins(self) -> list[str]:
        """Where the website is served: the distribution (``add_site_origin``), then the ``siteUrls``."""
        origins = list(dict.fromkeys([*self._distribution_origins, *self.site_urls]))
        if not origins:
            raise ValueError(
                f"the website's sign-in client has no site to return to: add the distribution's origin "
                f"(Identity.add_site_origin) or set CDK context {SITE_URLS_CONTEXT!r}"
            )
        return origins

    def grant_signin(self, grantee: iam.IGrantable) -> None:
        """What the function serving the publisher area needs beyond its environment: reading the GitHub OAuth
        app's client secret (``signinGithub``), that one secret only."""
        if self.github_secret_arn is None:
            return
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["secretsmanager:GetSecretValue"],
            # Secrets Manager appends six random characters to a secret's name in its ARN
            resource_arns=[f"{self.github_secret_arn}-??????"],
        )


@jsii.implements(IStableListProducer)
class _Produced:
    """A list CDK asks for when it synthesizes the template (after every construct exists)."""

    def __init__(self, produce: Callable[[], list[str]]) -> None:
        self._produce = produce

    def produce(self) -> list[str]:
        return self._produce()


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


def _url_list(value: object, key: str) -> list[str]:
    """A context value given as a JSON list or as comma-separated text (``-c key=a,b``), each entry stripped."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else [u for u in text.split(",") if u.strip()]
        except ValueError as error:
            raise ValueError(f"CDK context {key!r} is not a valid JSON list: {error}") from error
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise ValueError(f"CDK context {key!r} must be a list of URLs")
    if any(Token.is_unresolved(u) for u in value):
        raise ValueError(f"CDK context {key!r} must list literal URLs, not deploy-time values")
    return [u.strip() for u in value]


def _callback_urls(value: object) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_CALLBACK_URLS
    urls = tuple(_url_list(value, CALLBACK_URLS_CONTEXT))
    if not urls:
        raise ValueError(f"CDK context {CALLBACK_URLS_CONTEXT!r} must be a non-empty list of URLs")
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


def _site_urls(value: object) -> tuple[str, ...]:
    """The ``siteUrls`` context: https origins (scheme, host and optional port; a trailing ``/`` is dropped)."""
    if value is None:
        return ()
    origins: list[str] = []
    for url in _url_list(value, SITE_URLS_CONTEXT):
        origin = url.rstrip("/").lower()
        if not _HTTPS_ORIGIN.match(origin):
            raise ValueError(
                f"CDK context {SITE_URLS_CONTEXT!r}: {url!r} is not an https:// origin "
                "(https://host or https://host:port, without path, query or wildcard)"
            )
        origins.append(origin)
    return tuple(dict.fromkeys(origins))


def _github_signin(value: object, api_url: str) -> tuple[str, str, str] | None:
    """The ``signinGithub`` context as (client id, secret name, GitHub's web URL), or ``None`` when unset."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ValueError(f"CDK context {SIGNIN_GITHUB_CONTEXT!r} is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise ValueError(f"CDK context {SIGNIN_GITHUB_CONTEXT!r} must be an object with 'clientId' and 'secretName'")
    unknown = sorted(set(value) - {"clientId", "secretName"})
    if unknown:
        raise ValueError(f"CDK context {SIGNIN_GITHUB_CONTEXT!r}: unknown keys {unknown} (clientId, secretName)")
    client_id, secret_name = value.get("clientId"), value.get("secretName")
    if not isinstance(client_id, str) or not _GITHUB_CLIENT_ID.match(client_id):
        raise ValueError(f"CDK context {SIGNIN_GITHUB_CONTEXT!r} needs 'clientId', the GitHub OAuth app's client id")
    if not isinstance(secret_name, str) or not _SECRET_NAME.match(secret_name) or secret_name.startswith("arn:"):
        raise ValueError(
            f"CDK context {SIGNIN_GITHUB_CONTEXT!r} needs 'secretName', the name (not the ARN) of the Secrets "
            "Manager secret holding the app's client secret: letters, digits and /_+=.@-"
        )
    if not api_url:
        raise ValueError(
            f"CDK context {SIGNIN_GITHUB_CONTEXT!r} needs the GitHub API ({GITHUB_API_CONTEXT!r} is empty): "
            "sign-in reads the user from it"
        )
    return client_id, secret_name, _github_web_url(api_url)


def _github_web_url(api_url: str) -> str:
    """Where a GitHub's OAuth pages are, from its REST API: github.com's, GitHub Enterprise Server's
    (``https://HOST/api/v3``) or GitHub Enterprise Cloud's with data residency (``https://api.SUBDOMAIN.ghe.com``)."""
    if api_url == DEFAULT_GITHUB_API_URL:
        return GITHUB_WEB_URL
    host, _, path = api_url.removeprefix("https://").partition("/")
    if path == "api/v3":
        return f"https://{host}"
    if host.startswith("api.") and not path:
        return f"https://{host.removeprefix('api.')}"
    raise ValueError(
        f"CDK context {SIGNIN_GITHUB_CONTEXT!r}: no GitHub sign-in pages known for the API at {api_url!r} "
        "(https://api.github.com, https://HOST/api/v3 or https://api.HOST)"
    )
