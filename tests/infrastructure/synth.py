"""A synthesized stage and small lookups into its CloudFormation template."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnResource, Stack
from aws_cdk.assertions import Template
from constructs import IConstruct

from marketplace.platform.functions import FUNCTIONS, FunctionDef
from stacks.marketplace_stack import MarketplaceStack, build_app

ACCOUNT = "123456789012"
REGION = "eu-west-1"

Resource = dict[str, Any]

# The session's ``prod`` synth also carries the operator settings cdk.json or ``-c`` can add, so the whole
# pipeline (nag, cfn-lint, the functions' environment) sees them; ``dev`` is synthesized with the defaults.
EXTRA_ISSUER = {
    "name": "corporate",
    "issuer": "https://login.example.com/realms/engineering",
    "audiences": ["marketplace-editors"],
    "account_types": ["corporate"],
    "required_scopes": ["marketplace/sync"],
}
SITE_URLS = ("https://market.example.com", "https://registry.example.org:8443")
GITHUB_SIGNIN = {"clientId": "Ov23liExampleApp01", "secretName": "marketplace/prod/github-oauth"}
# the scheduled mirror: deployed only with this context (prod has it, dev not)
MIRROR = {"upstream": "https://open-vsx.org", "schedule": "cron(0 3 * * ? *)", "jobs": 4, "rate": 2}
PROD_CONTEXT: dict[str, Any] = {
    "authIssuers": [EXTRA_ISSUER],
    "githubApiUrl": "https://github.example.com/api/v3/",
    # a custom domain in front of the distribution (given as with -c, a trailing slash dropped) and GitHub sign-in
    "siteUrls": f"{SITE_URLS[0]}/, {SITE_URLS[1]}",
    "signinGithub": GITHUB_SIGNIN,
    # the operator's settings the functions read (FunctionDef.settings)
    "WEB_REMOTE_IMAGES": "true",
    "NAMESPACE_CREATION": "domains:example.com",
    "GALLERY_ADVERTISE_VSIX_SIGNATURE": "true",
    "SCAN_EXTERNAL_COMMAND": "/opt/scanner/bin/scan --no-summary {path}",
    "SCAN_EXTERNAL_TIMEOUT_SECONDS": "90",
    "SCAN_EXTERNAL_ON_FAILURE": "warn",
    "SCAN_WARN_RULES": "secret.jwt",
    "SCAN_QUARANTINE_SCORE": "12",
    "SCAN_REQUIRE_OPERATOR_APPROVAL": "true",
    "mirror": MIRROR,
}


@dataclass
class Synthesized:
    """The main stack's template (``json``) and the us-east-1 edge stack's (``edge_json``)."""

    app: App
    stack: MarketplaceStack
    template_path: Path
    edge_template_path: Path
    template: Template = field(init=False)
    json: dict[str, Any] = field(init=False)
    edge_json: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.json = json.loads(self.template_path.read_text())
        self.template = Template.from_json(self.json)
        self.edge_json = json.loads(self.edge_template_path.read_text())

    @property
    def stage(self) -> str:
        return self.stack.stage.name

    @property
    def functions(self) -> tuple[FunctionDef, ...]:
        """The definitions of the functions this stage deploys (the optional ones only when configured)."""
        return tuple(f for f in FUNCTIONS if f.name in self.stack.functions.functions)

    def resources(self, resource_type: str) -> dict[str, Resource]:
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == resource_type}

    def edge_resources(self, resource_type: str) -> dict[str, Resource]:
        return {k: v for k, v in self.edge_json["Resources"].items() if v["Type"] == resource_type}

    def logical_id(self, construct: IConstruct) -> str:
        resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
        assert isinstance(resource, CfnResource), f"{construct.node.path} has no CloudFormation resource"
        return Stack.of(construct).get_logical_id(resource)

    def resource(self, construct: IConstruct) -> Resource:
        resource: Resource = self.json["Resources"][self.logical_id(construct)]
        return resource

    def props(self, construct: IConstruct) -> dict[str, Any]:
        props: dict[str, Any] = self.resource(construct)["Properties"]
        return props

    def arn(self, construct: IConstruct) -> dict[str, Any]:
        return get_att(self.logical_id(construct), "Arn")

    def ref(self, construct: IConstruct) -> dict[str, Any]:
        return {"Ref": self.logical_id(construct)}

    def statements_of_role(self, role: IConstruct) -> list[dict[str, Any]]:
        """Every statement of the policies attached to ``role`` (inline and ``AWS::IAM::Policy``)."""
        role_id = self.logical_id(role)
        statements: list[dict[str, Any]] = []
        for inline in self.props(role).get("Policies", []):
            statements += inline["PolicyDocument"]["Statement"]
        for policy in self.resources("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                statements += policy["Properties"]["PolicyDocument"]["Statement"]
        return statements


def synthesize(stage: str, outdir: Path, context: dict[str, Any] | None = None) -> Synthesized:
    app, stack = build_app(stage, outdir=str(outdir), account=ACCOUNT, region=REGION, context=context)
    assembly = app.synth()
    return Synthesized(
        app,
        stack,
        Path(assembly.get_stack_by_name(stack.stack_name).template_full_path),
        Path(assembly.get_stack_by_name(stack.edge.stack_name).template_full_path),
    )


def get_att(logical_id: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def join(*parts: Any) -> dict[str, Any]:
    return {"Fn::Join": ["", list(parts)]}
