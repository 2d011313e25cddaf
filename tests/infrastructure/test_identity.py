"""The default sign-in issuer (a Cognito user pool) and the issuers the authenticating functions accept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnResource, Environment, Stack
from aws_cdk.assertions import Annotations, Match, Template
from constructs import IConstruct

from marketplace.identity import config as auth
from marketplace.identity import signin
from marketplace.platform import functions as fns
from stacks.identity import SIGNIN_CALLBACK_PATH, Identity
from stacks.layer import PROJECT_ROOT
from stacks.marketplace_stack import build_app
from stacks.nag import check
from stacks.settings import StageSettings

from .synth import ACCOUNT, EXTRA_ISSUER, GITHUB_SIGNIN, REGION, SITE_URLS, Synthesized, as_list

BY_NAME = pytest.mark.parametrize("definition", fns.deployed(), ids=lambda f: f.name)  # every stage's functions
URL_SUFFIX = "amazonaws.com"
DISTRIBUTION_DOMAIN = "d111111abcdef8.cloudfront.net"
SITE_ORIGIN = f"https://{DISTRIBUTION_DOMAIN}"


def _evaluate(value: Any, refs: dict[str, str]) -> str:
    """A CloudFormation string (literal, ``Ref``, ``Fn::GetAtt`` or ``Fn::Join``) with each reference replaced
    from ``refs`` (a ``Ref`` by its logical id, a ``GetAtt`` by ``LogicalId.Attribute``)."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        pseudo = {"AWS::URLSuffix": URL_SUFFIX, "AWS::Partition": "aws"}
        return pseudo.get(value["Ref"]) or refs[value["Ref"]]
    if "Fn::GetAtt" in value:
        return refs[".".join(value["Fn::GetAtt"])]
    separator, parts = value["Fn::Join"]
    return str(separator).join(_evaluate(part, refs) for part in parts)


def _only(synth: Synthesized, resource_type: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = synth.resources(resource_type).items()
    return logical_id, resource


def _deployed_refs(synth: Synthesized) -> dict[str, str]:
    """What CloudFormation would give for the pool's, the clients', the login domain's and the distribution's
    references."""
    pool_id, _ = _only(synth, "AWS::Cognito::UserPool")
    domain_id, _ = _only(synth, "AWS::Cognito::UserPoolDomain")
    identity = synth.stack.identity
    return {
        pool_id: f"{REGION}_PoolId",
        synth.logical_id(identity.client): "editors-client-id",
        synth.logical_id(identity.website_client): "website-client-id",
        domain_id: "prefix",
        f"{synth.logical_id(synth.stack.cdn.distribution)}.DomainName": DISTRIBUTION_DOMAIN,
    }


def _expected_cognito_provider() -> dict[str, Any]:
    login = f"https://prefix.auth.{REGION}.amazoncognito.com"
    return {
        "name": "cognito",
        "kind": "oidc",
        "label": "Sign in",
        "client_id": "website-client-id",
        "authorization_endpoint": f"{login}/oauth2/authorize",
        "token_endpoint": f"{login}/oauth2/token",
        "issuer": _expected_cognito_issuer()["issuer"],
        "scopes": ["openid", "email", "profile"],
    }


def _secret_arn(name: str) -> str:
    """The partial ARN of a secret by name: Secrets Manager adds six random characters to the real one."""
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"


def _expected_github_provider() -> dict[str, Any]:
    """For ``synth.PROD_CONTEXT``'s GitHub Enterprise Server (``githubApiUrl``) and ``signinGithub``."""
    return {
        "name": "github",
        "kind": "github",
        "label": "Sign in with GitHub",
        "client_id": GITHUB_SIGNIN["clientId"],
        "authorization_endpoint": "https://github.example.com/login/oauth/authorize",
        "token_endpoint": "https://github.example.com/login/oauth/access_token",
        "api_url": "https://github.example.com/api/v3",
        "client_secret_arn": _secret_arn(GITHUB_SIGNIN["secretName"]),
    }


def _expected_cognito_issuer() -> dict[str, Any]:
    return {
        "name": "cognito",
        "issuer": f"https://cognito-idp.{REGION}.{URL_SUFFIX}/{REGION}_PoolId",
        "audiences": ["editors-client-id"],
        "account_types": ["cognito"],
    }


def _variables(synth: Synthesized, definition: fns.FunctionDef) -> dict[str, Any]:
    variables: dict[str, Any] = synth.props(synth.stack.functions.function(definition))["Environment"]["Variables"]
    return variables


def _identity(
    context: dict[str, Any] | None = None, stage: str = "dev", site_origin: str | None = SITE_ORIGIN
) -> tuple[Stack, Identity]:
    """The construct alone in a small stack: seconds cheaper than the whole marketplace. ``site_origin`` plays
    the distribution's, which the stack adds once the CDN exists."""
    app = App(context=context or {}, analytics_reporting=False)
    stack = Stack(app, "IdentityOnly", env=Environment(account=ACCOUNT, region=REGION))
    identity = Identity(stack, "Identity", stage=StageSettings(stage))
    if site_origin is not None:
        identity.add_site_origin(site_origin)
    return stack, identity


def _providers_of(stack: Stack, identity: Identity) -> list[dict[str, Any]]:
    resolved = stack.resolve(identity.signin_environment[signin.SIGNIN_VAR])
    refs = {
        _logical_id(identity.user_pool): f"{REGION}_PoolId",
        _logical_id(identity.website_client): "website-client-id",
        _logical_id(identity.domain): "prefix",
    }
    providers: list[dict[str, Any]] = json.loads(_evaluate(resolved, refs))
    return providers


def _website_client(template: Template) -> dict[str, Any]:
    [client] = [
        c["Properties"] for c in template.find_resources("AWS::Cognito::UserPoolClient").values()
        if c["Properties"]["ClientName"].endswith("-website")
    ]
    return client


def _logical_id(construct: IConstruct) -> str:
    resource = construct.node.default_child
    assert isinstance(resource, CfnResource)
    return Stack.of(construct).get_logical_id(resource)


def _issuers_of(stack: Stack, identity: Identity) -> list[dict[str, Any]]:
    resolved = stack.resolve(identity.function_environment[auth.ISSUERS_VAR])
    refs = {_logical_id(identity.user_pool): f"{REGION}_PoolId", _logical_id(identity.client): "editors-client-id"}
    issuers: list[dict[str, Any]] = json.loads(_evaluate(resolved, refs))
    return issuers


# --- the whole stack, synthesized once per session ------------------------------------------------------------


@pytest.mark.slow
def test_user_pool_invites_users_who_sign_in_by_email_with_a_strong_password_and_totp(dev: Synthesized) -> None:
    _, pool = _only(dev, "AWS::Cognito::UserPool")
    props = pool["Properties"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["UsernameAttributes"] == ["email"]
    assert props["UsernameConfiguration"] == {"CaseSensitive": False}
    assert props["AutoVerifiedAttributes"] == ["email"]
    assert props["AccountRecoverySetting"] == {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]}
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(policy[f"Require{kind}"] is True for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols"))
    assert props["MfaConfiguration"] == "ON"
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert "SmsConfiguration" not in props
    assert not [
        role
        for role in dev.resources("AWS::IAM::Role").values()
        if "cognito-idp.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert props["UserPoolTier"] == "ESSENTIALS"
    assert props["UserPoolName"] == "marketplace-dev-users"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "policy", "protection"), [("dev", "Delete", "INACTIVE"), ("prod", "Retain", "ACTIVE")]
)
def test_user_pool_is_kept_and_protected_in_production_only(
    stage: str, policy: str, protection: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stage)
    _, pool = _only(synth, "AWS::Cognito::UserPool")
    assert pool["DeletionPolicy"] == pool["UpdateReplacePolicy"] == policy
    assert pool["Properties"]["DeletionProtection"] == protection


@pytest.mark.slow
def test_editors_get_a_public_authorization_code_client(dev: Synthesized) -> None:
    pool_id, _ = _only(dev, "AWS::Cognito::UserPool")
    server_id, server = _only(dev, "AWS::Cognito::UserPoolResourceServer")
    assert server["Properties"]["Identifier"] == "marketplace"
    assert [s["ScopeName"] for s in server["Properties"]["Scopes"]] == ["sync"]
    props = dev.props(dev.stack.identity.client)
    assert props["UserPoolId"] == {"Ref": pool_id}
    assert props["GenerateSecret"] is False
    assert props["AllowedOAuthFlowsUserPoolClient"] is True
    assert props["AllowedOAuthFlows"] == ["code"]  # no implicit grant, no client credentials
    assert props["AllowedOAuthScopes"][:3] == ["openid", "email", "profile"]
    assert _evaluate(props["AllowedOAuthScopes"][3], {server_id: "marketplace"}) == "marketplace/sync"
    assert props["CallbackURLs"] == ["http://localhost/callback"]
    assert props["SupportedIdentityProviders"] == ["COGNITO"]
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    assert props["EnableTokenRevocation"] is True
    assert set(props["ExplicitAuthFlows"]) == {"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    _, domain = _only(dev, "AWS::Cognito::UserPoolDomain")
    assert domain["Properties"]["Domain"] == f"marketplace-dev-{ACCOUNT}"


@pytest.mark.slow
def test_outputs_name_the_issuer_and_the_client(dev: Synthesized) -> None:
    outputs = dev.json["Outputs"]
    refs = _deployed_refs(dev)
    assert _evaluate(outputs["AuthIssuerUrl"]["Value"], refs) == _expected_cognito_issuer()["issuer"]
    assert _evaluate(outputs["AuthClientId"]["Value"], refs) == "editors-client-id"
    login = _evaluate(outputs["AuthLoginUrl"]["Value"], {_only(dev, "AWS::Cognito::UserPoolDomain")[0]: "prefix"})
    assert login == f"https://prefix.auth.{REGION}.amazoncognito.com"
    assert _evaluate(outputs["WebsiteClientId"]["Value"], refs) == "website-client-id"


@pytest.mark.slow
@BY_NAME
def test_only_functions_that_authenticate_get_the_issuers(dev: Synthesized, definition: fns.FunctionDef) -> None:
    variables = _variables(dev, definition)
    if not definition.authenticates:
        assert not set(auth.ENVIRONMENT_VARIABLES) & set(variables)
        return
    issuers = json.loads(_evaluate(variables[auth.ISSUERS_VAR], _deployed_refs(dev)))
    assert issuers == [_expected_cognito_issuer()]
    [parsed] = auth.parse_issuers(json.dumps(issuers))  # exactly what the function will read
    assert parsed.name == "cognito" and parsed.audiences == ("editors-client-id",)
    assert parsed.accepts_account_type("cognito") and not parsed.accepts_account_type("github")
    assert variables[auth.GITHUB_API_VAR] == "https://api.github.com"


def test_sync_and_reviews_are_the_functions_that_authenticate() -> None:
    assert {d.name for d in fns.FUNCTIONS if d.authenticates} == {"sync", "reviews"}


@pytest.mark.slow
@BY_NAME
def test_issuers_from_the_context_follow_the_user_pool(prod: Synthesized, definition: fns.FunctionDef) -> None:
    """The session's prod synth carries ``synth.PROD_CONTEXT``: one more issuer and a GitHub Enterprise API."""
    variables = _variables(prod, definition)
    if not definition.authenticates:
        assert not set(auth.ENVIRONMENT_VARIABLES) & set(variables)
        return
    issuers = json.loads(_evaluate(variables[auth.ISSUERS_VAR], _deployed_refs(prod)))
    assert issuers == [_expected_cognito_issuer(), EXTRA_ISSUER]
    assert [i.name for i in auth.parse_issuers(json.dumps(issuers))] == ["cognito", "corporate"]
    assert variables[auth.GITHUB_API_VAR] == "https://github.example.com/api/v3"


@pytest.mark.slow
def test_the_website_gets_a_public_code_client_returning_to_the_distribution(dev: Synthesized) -> None:
    """The publisher area's client: no secret (PKCE), authorization code only, OIDC scopes only, the managed
    login only, short-lived tokens (the site keeps its own session), back to ``/manage/signin/callback``."""
    clients = dev.resources("AWS::Cognito::UserPoolClient")
    identity = dev.stack.identity
    assert set(clients) == {dev.logical_id(identity.client), dev.logical_id(identity.website_client)}
    props = dev.props(dev.stack.identity.website_client)
    refs = _deployed_refs(dev)
    assert props["ClientName"] == "marketplace-dev-website"
    assert props["UserPoolId"] == {"Ref": _only(dev, "AWS::Cognito::UserPool")[0]}
    assert props["GenerateSecret"] is False
    assert props["AllowedOAuthFlowsUserPoolClient"] is True
    assert props["AllowedOAuthFlows"] == ["code"]
    assert props["AllowedOAuthScopes"] == ["openid", "email", "profile"]
    assert props["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]  # no password or SRP API of its own
    assert props["SupportedIdentityProviders"] == ["COGNITO"]
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    assert props["EnableTokenRevocation"] is True
    assert (props["IdTokenValidity"], props["AccessTokenValidity"], props["RefreshTokenValidity"]) == (5, 5, 60)
    assert [_evaluate(url, refs) for url in props["CallbackURLs"]] == [f"{SITE_ORIGIN}{SIGNIN_CALLBACK_PATH}"]
    assert SIGNIN_CALLBACK_PATH == "/manage/signin/callback" == _manage_callback_path()
    assert [_evaluate(url, refs) for url in props["LogoutURLs"]] == [f"{SITE_ORIGIN}/"]
    # the distribution itself, not a copy of its name: the client follows it if it is replaced
    assert props["CallbackURLs"][0]["Fn::Join"][1][1] == {
        "Fn::GetAtt": [dev.logical_id(dev.stack.cdn.distribution), "DomainName"]
    }


@pytest.mark.slow
def test_the_site_urls_are_further_callbacks(prod: Synthesized) -> None:
    props = prod.props(prod.stack.identity.website_client)
    refs = _deployed_refs(prod)
    origins = [SITE_ORIGIN, *SITE_URLS]
    assert [_evaluate(url, refs) for url in props["CallbackURLs"]] == [o + SIGNIN_CALLBACK_PATH for o in origins]
    assert [_evaluate(url, refs) for url in props["LogoutURLs"]] == [o + "/" for o in origins]


@pytest.mark.slow
@BY_NAME
def test_only_publish_api_gets_the_signin_providers(dev: Synthesized, definition: fns.FunctionDef) -> None:
    variables = _variables(dev, definition)
    if definition is not fns.PUBLISH_API:
        assert signin.SIGNIN_VAR not in variables
        return
    value = _evaluate(variables[signin.SIGNIN_VAR], _deployed_refs(dev))
    assert json.loads(value) == [_expected_cognito_provider()]
    [cognito] = signin.parse_providers(value)  # exactly what the function will read
    assert (cognito.name, cognito.kind, cognito.client_secret, cognito.client_secret_arn) == (
        "cognito", "oidc", None, None)
    assert len(value) < 1024  # Lambda's environment holds 4 KB in all
    assert not set(auth.ENVIRONMENT_VARIABLES) & set(variables)  # publish_api checks tokens of its own


@pytest.mark.slow
def test_github_signin_adds_its_provider(prod: Synthesized) -> None:
    variables = _variables(prod, fns.PUBLISH_API)
    value = _evaluate(variables[signin.SIGNIN_VAR], _deployed_refs(prod))
    assert json.loads(value) == [_expected_cognito_provider(), _expected_github_provider()]
    _, github = signin.parse_providers(value)  # exactly what the function will read
    assert github.client_secret is None and github.client_secret_arn == _secret_arn(GITHUB_SIGNIN["secretName"])
    assert "client_secret" not in value.replace("client_secret_arn", "")  # the secret's name, never its value
    assert len(value) < 2048


def _manage_callback_path() -> str:
    from marketplace.web import manage  # the page that receives the code

    return manage.CALLBACK_PATH


def _secret_statements(synth: Synthesized) -> dict[str, list[dict[str, Any]]]:
    """Every statement naming a Secrets Manager action, by the logical id of the policy or role holding it."""
    found: dict[str, list[dict[str, Any]]] = {}
    holders = {**synth.resources("AWS::IAM::Policy"), **synth.resources("AWS::IAM::Role")}
    for logical_id, holder in holders.items():
        documents = [holder["Properties"].get("PolicyDocument")]
        documents += [inline["PolicyDocument"] for inline in holder["Properties"].get("Policies", [])]
        for document in filter(None, documents):
            for statement in document["Statement"]:
                if any(str(a).startswith("secretsmanager:") for a in as_list(statement["Action"])):
                    found.setdefault(logical_id, []).append(statement)
    return found


@pytest.mark.slow
def test_publish_api_may_read_the_github_client_secret_and_nothing_else_may(prod: Synthesized) -> None:
    role = prod.stack.functions.function(fns.PUBLISH_API).role
    assert role is not None
    statements = [s for s in prod.statements_of_role(role) if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    assert statements == [
        {
            "Action": "secretsmanager:GetSecretValue",
            "Effect": "Allow",
            "Resource": _secret_arn(GITHUB_SIGNIN["secretName"]) + "-??????",
        }
    ]
    found = _secret_statements(prod)
    assert [s for ss in found.values() for s in ss] == statements  # no other role or policy names a secret


@pytest.mark.slow
def test_without_github_signin_no_function_may_read_a_secret(dev: Synthesized) -> None:
    assert _secret_statements(dev) == {}


# --- the construct alone, for each setting ---------------------------------------------------------------------


def test_the_website_client_needs_a_site_to_return_to() -> None:
    stack, identity = _identity(site_origin=None)
    with pytest.raises(ValueError, match="no site to return to"):
        _ = identity.site_origins
    with pytest.raises(Exception, match="no site to return to"):
        Template.from_stack(stack)


def test_site_urls_alone_are_enough_for_the_website_client() -> None:
    stack, _ = _identity({"siteUrls": '["https://market.example.com"]'}, site_origin=None)
    client = _website_client(Template.from_stack(stack))
    assert client["CallbackURLs"] == ["https://market.example.com/manage/signin/callback"]
    assert client["LogoutURLs"] == ["https://market.example.com/"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ()),
        ("", ()),
        ([], ()),
        ("https://Market.Example.com/", ("https://market.example.com",)),
        ("https://a.example, https://b.example:8443", ("https://a.example", "https://b.example:8443")),
        (["https://a.example", "https://a.example/"], ("https://a.example",)),
    ],
)
def test_site_urls_from_the_context(value: Any, expected: tuple[str, ...]) -> None:
    _, identity = _identity({} if value is None else {"siteUrls": value})
    assert identity.site_urls == expected
    assert identity.site_origins == [SITE_ORIGIN, *expected]


@pytest.mark.parametrize(
    "value",
    ["http://market.example.com", "https://market.example.com/shop", "https://*.example.com", "market.example.com",
     "https://market.example.com?x=1", "https://market.example.com#top", "https://"],
)
def test_site_urls_must_be_https_origins(value: str) -> None:
    with pytest.raises(ValueError, match=r"'siteUrls': .* is not an https:// origin"):
        _identity({"siteUrls": value})


def test_site_urls_must_be_a_list() -> None:
    with pytest.raises(ValueError, match="'siteUrls' must be a list of URLs"):
        _identity({"siteUrls": 42})
    with pytest.raises(ValueError, match="'siteUrls' is not a valid JSON list"):
        _identity({"siteUrls": "[https://a.example"})


@pytest.mark.parametrize(
    ("api_url", "web_url"),
    [
        (None, "https://github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
        ("https://api.acme.ghe.com", "https://acme.ghe.com"),
    ],
)
def test_github_signin_from_the_context(api_url: str | None, web_url: str) -> None:
    context: dict[str, Any] = {"signinGithub": json.dumps({"clientId": "Iv1.abc", "secretName": "gh/oauth"})}
    if api_url is not None:
        context["githubApiUrl"] = api_url
    stack, identity = _identity(context)
    cognito, github = _providers_of(stack, identity)
    assert cognito["name"] == "cognito"
    if api_url is None:  # github.com: the endpoints the sign-in module knows too
        assert f"{web_url}/login/oauth/authorize" == signin.GITHUB_AUTHORIZATION_ENDPOINT
        assert f"{web_url}/login/oauth/access_token" == signin.GITHUB_TOKEN_ENDPOINT
    assert github == {
        "name": "github",
        "kind": "github",
        "label": "Sign in with GitHub",
        "client_id": "Iv1.abc",
        "authorization_endpoint": f"{web_url}/login/oauth/authorize",
        "token_endpoint": f"{web_url}/login/oauth/access_token",
        "api_url": api_url or "https://api.github.com",
        "client_secret_arn": _secret_arn("gh/oauth"),
    }


@pytest.mark.parametrize("value", [None, ""])
def test_no_github_signin_without_the_context(value: Any) -> None:
    stack, identity = _identity({} if value is None else {"signinGithub": value})
    assert [p["name"] for p in _providers_of(stack, identity)] == ["cognito"]
    assert identity.github_secret_arn is None


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"signinGithub": "{oops"}, "'signinGithub' is not valid JSON"),
        ({"signinGithub": ["x"]}, "must be an object with 'clientId' and 'secretName'"),
        ({"signinGithub": {"clientId": "x", "secretName": "y", "secret": "z"}}, r"unknown keys \['secret'\]"),
        ({"signinGithub": {"secretName": "y"}}, "needs 'clientId'"),
        ({"signinGithub": {"clientId": "x y", "secretName": "y"}}, "needs 'clientId'"),
        ({"signinGithub": {"clientId": "x"}}, "needs 'secretName'"),
        ({"signinGithub": {"clientId": "x", "secretName": "arn:aws:secretsmanager:eu-west-1:1:secret:y"}},
         r"the name \(not the ARN\)"),
        ({"signinGithub": {"clientId": "x", "secretName": "y"}, "githubApiUrl": ""}, "'githubApiUrl' is empty"),
        ({"signinGithub": {"clientId": "x", "secretName": "y"}, "githubApiUrl": "https://git.example.com/gh"},
         "no GitHub sign-in pages known"),
    ],
)
def test_bad_github_signin_is_refused(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _identity(context)



def test_context_issuers_given_as_a_string_as_with_dash_c() -> None:
    stack, identity = _identity({"authIssuers": json.dumps([EXTRA_ISSUER])})
    assert _issuers_of(stack, identity) == [_expected_cognito_issuer(), EXTRA_ISSUER]


@pytest.mark.parametrize("value", [None, "", "[]", []])
def test_no_context_issuers_means_the_user_pool_only(value: Any) -> None:
    stack, identity = _identity({} if value is None else {"authIssuers": value})
    assert _issuers_of(stack, identity) == [_expected_cognito_issuer()]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[{not json", "authIssuers' is invalid: authIssuers is not valid JSON"),
        ('{"issuer": "https://a.example", "audiences": ["x"]}', "must be a JSON list of issuer objects"),
        ('["https://a.example"]', r"authIssuers\[0\] must be an object"),
        ('[{"issuer": "https://a.example"}]', r"authIssuers\[0\] needs 'issuer' and 'audiences'"),
        ('[{"issuer": "https://a.example", "audiences": []}]', "needs a non-empty 'issuer' and 'audiences'"),
        (42, "must be a JSON list of issuer objects"),
        ([{"name": "cognito", "issuer": "https://a.example", "audiences": ["x"]}], "'cognito' is already taken"),
        (
            [{"issuer": "https://a.example", "audiences": ["x"]}, {"issuer": "https://a.example/", "audiences": ["y"]}],
            r"\[1\]: the issuer name 'https://a.example' is already taken",
        ),
        ([{"issuer": "http://a.example", "audiences": ["x"]}], "'issuer' must be an https:// URL"),
        (
            [{"issuer": "https://a.example", "audiences": ["x"], "jwks_uri": "http://a.example/keys"}],
            "'jwks_uri' must be an https:// URL",
        ),
        (
            [{"issuer": "https://a.example", "audiences": ["x"], "jwks": {"keys": [{"n": "x" * 4000}]}}],
            "more than the 3072 that fit in a Lambda environment",
        ),
    ],
)
def test_a_bad_issuer_list_fails_synthesis_saying_what_is_wrong(value: Any, message: str, tmp_path: Path) -> None:
    """Through ``build_app``, as ``cdk synth`` runs it; the identity construct comes first, so this is quick."""
    with pytest.raises(ValueError, match=message):
        build_app(
            "dev", outdir=str(tmp_path), nag=False, account=ACCOUNT, region=REGION, context={"authIssuers": value}
        )


def test_an_inline_key_set_needs_no_https_issuer() -> None:
    entry = {"name": "lab", "issuer": "urn:lab", "audiences": ["x"], "jwks": {"keys": []}}
    stack, identity = _identity({"authIssuers": [entry]})
    assert _issuers_of(stack, identity)[1] == entry


@pytest.mark.slow
def test_the_cli_entry_point_reports_a_bad_issuer_list(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(
        HOME=str(tmp_path),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        AWS_DEFAULT_REGION=REGION,
        CDK_CONTEXT_JSON=json.dumps({"authIssuers": '[{"issuer": "https://a.example"}]'}),
    )
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "app.py")], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "error: CDK context 'authIssuers' is invalid: authIssuers[0] needs 'issuer' and 'audiences'" in result.stderr
    assert not list(tmp_path.glob("cdk.out/*.template.json"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "https://api.github.com"), ("", ""), ("https://ghe.example.com/api/v3/", "https://ghe.example.com/api/v3")],
)
def test_github_api_url_from_the_context(value: str | None, expected: str) -> None:
    _, identity = _identity({} if value is None else {"githubApiUrl": value})
    assert identity.function_environment[auth.GITHUB_API_VAR] == expected


def test_github_api_url_must_be_https() -> None:
    with pytest.raises(ValueError, match="'githubApiUrl' must be an https:// URL or empty"):
        _identity({"githubApiUrl": "http://api.github.com"})


@pytest.mark.parametrize(
    ("value", "admin_only"), [(None, True), (False, True), ("false", True), (True, False), ("true", False)]
)
def test_self_sign_up_only_when_the_context_enables_it(value: Any, admin_only: bool) -> None:
    stack, _ = _identity({} if value is None else {"authSelfSignUp": value})
    Template.from_stack(stack).has_resource_properties(
        "AWS::Cognito::UserPool", {"AdminCreateUserConfig": {"AllowAdminCreateUserOnly": admin_only}}
    )


def test_flags_accept_only_true_or_false() -> None:
    with pytest.raises(ValueError, match="'authSelfSignUp' must be true or false, not 'maybe'"):
        _identity({"authSelfSignUp": "maybe"})


def test_callback_urls_from_the_context() -> None:
    urls = ["vscode://publisher.sync-auth/callback", "https://code.example.com/callback", "http://localhost:8400/cb"]
    stack, _ = _identity({"authCallbackUrls": ",".join(urls)})
    Template.from_stack(stack).has_resource_properties("AWS::Cognito::UserPoolClient", {"CallbackURLs": urls})
    stack, _ = _identity({"authCallbackUrls": json.dumps(urls[:1])})
    Template.from_stack(stack).has_resource_properties("AWS::Cognito::UserPoolClient", {"CallbackURLs": urls[:1]})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://code.example.com/cb", "http is only allowed for localhost"),
        ("https://code.example.com/cb#x", "not an absolute URL without fragment"),
        ("callback", "not an absolute URL without fragment"),
        ("[not json", "not a valid JSON list"),
        ([], "must be a non-empty list of URLs"),
    ],
)
def test_bad_callback_urls_are_refused(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _identity({"authCallbackUrls": value})


@pytest.mark.parametrize("value", ["Marketplace", "my-aws-login", "-x", "a" * 64])
def test_bad_domain_prefixes_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="'authDomainPrefix' must be 1-63 lower-case letters"):
        _identity({"authDomainPrefix": value})


@pytest.mark.parametrize("threat_protection", [False, True])
def test_cdk_nag_is_satisfied_with_or_without_threat_protection(threat_protection: bool) -> None:
    stack, _ = _identity({"authThreatProtection": threat_protection, "authDomainPrefix": "market-login"})
    check(stack)
    template = Template.from_stack(stack)
    [pool] = template.find_resources("AWS::Cognito::UserPool").values()
    suppressed = [s["id"] for s in pool.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])]
    if threat_protection:
        assert pool["Properties"]["UserPoolTier"] == "PLUS"
        assert pool["Properties"]["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
        assert suppressed == []
    else:
        assert pool["Properties"]["UserPoolTier"] == "ESSENTIALS"
        assert suppressed == ["AwsSolutions-COG8"]
    annotations = Annotations.from_stack(stack)
    findings = Match.string_like_regexp("AwsSolutions-.*")
    assert [str(e.entry.data) for e in annotations.find_error("*", findings)] == []
    assert [str(w.entry.data) for w in annotations.find_warning("*", findings)] == []
