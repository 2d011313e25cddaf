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
from marketplace.platform import functions as fns
from stacks.identity import Identity
from stacks.layer import PROJECT_ROOT
from stacks.marketplace_stack import build_app
from stacks.nag import check
from stacks.settings import StageSettings

from .synth import ACCOUNT, EXTRA_ISSUER, REGION, Synthesized

BY_NAME = pytest.mark.parametrize("definition", fns.FUNCTIONS, ids=lambda f: f.name)
URL_SUFFIX = "amazonaws.com"


def _evaluate(value: Any, refs: dict[str, str]) -> str:
    """A CloudFormation string (literal, ``Ref`` or ``Fn::Join``) with each ``Ref`` replaced from ``refs``."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return URL_SUFFIX if value["Ref"] == "AWS::URLSuffix" else refs[value["Ref"]]
    separator, parts = value["Fn::Join"]
    return str(separator).join(_evaluate(part, refs) for part in parts)


def _only(synth: Synthesized, resource_type: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = synth.resources(resource_type).items()
    return logical_id, resource


def _deployed_refs(synth: Synthesized) -> dict[str, str]:
    """What CloudFormation would give for the pool's and the client's ``Ref``."""
    pool_id, _ = _only(synth, "AWS::Cognito::UserPool")
    client_id, _ = _only(synth, "AWS::Cognito::UserPoolClient")
    return {pool_id: f"{REGION}_PoolId", client_id: "editors-client-id"}


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


def _identity(context: dict[str, Any] | None = None, stage: str = "dev") -> tuple[Stack, Identity]:
    """The construct alone in a small stack: seconds cheaper than the whole marketplace."""
    app = App(context=context or {}, analytics_reporting=False)
    stack = Stack(app, "IdentityOnly", env=Environment(account=ACCOUNT, region=REGION))
    return stack, Identity(stack, "Identity", stage=StageSettings(stage))


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
    _, client = _only(dev, "AWS::Cognito::UserPoolClient")
    props = client["Properties"]
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


# --- the construct alone, for each setting ---------------------------------------------------------------------


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
