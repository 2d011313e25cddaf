"""The marketplace stack: composes one construct per concern, all built from the platform definitions."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnOutput, Environment, Stack, Tags
from constructs import Construct

from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from marketplace.platform import trust
from stacks.api import HttpApi
from stacks.cdn import ContentDelivery
from stacks.cdn_logs import EdgeStack
from stacks.functions import Functions, Resources
from stacks.identity import Identity
from stacks.keys import EncryptionKeys
from stacks.lake import DataLake
from stacks.layer import PROJECT_ROOT, CommonLayer
from stacks.monitoring import Monitoring
from stacks.nag import check as add_nag_checks
from stacks.nag import suppress
from stacks.naming import pascal
from stacks.origin import OriginSecret
from stacks.queues import Queues
from stacks.settings import StageSettings
from stacks.storage import Buckets
from stacks.streams import EventStreams
from stacks.tables import Tables

DEFAULT_STAGE = "dev"
CDK_JSON = PROJECT_ROOT / "cdk.json"
REGION_VARIABLES = ("CDK_DEFAULT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
FALLBACK_REGION = "us-east-1"  # what the CDK CLI sets CDK_DEFAULT_REGION to when no region is configured


class MarketplaceStack(Stack):
    def __init__(self, scope: Construct, *, stage: StageSettings, env: Environment) -> None:
        super().__init__(
            scope,
            f"Marketplace-{stage.name}",
            env=env,
            description=f"{r.PRODUCT} ({stage.name}): serverless extension marketplace for VS Code-style editors",
            termination_protection=stage.production,
        )
        self.stage = stage
        Tags.of(self).add("project", r.PRODUCT)
        Tags.of(self).add("stage", stage.name)

        self.identity = Identity(self, "Identity", stage=stage)  # first: it checks the context's settings
        self.keys = EncryptionKeys(self, "Keys", stage=stage, logs_key=r.DATA_KEY)
        self.tables = Tables(self, "Tables", stage=stage, keys=self.keys)
        self.queues = Queues(self, "Queues", stage=stage, keys=self.keys)
        self.streams = EventStreams(self, "Streams", stage=stage, keys=self.keys)
        self.buckets = Buckets(self, "Buckets", stage=stage, keys=self.keys, queues=self.queues.queues,
                               site_urls=self.identity.site_urls)
        self.lake = DataLake(
            self,
            "Lake",
            stage=stage,
            keys=self.keys,
            streams=self.streams.streams,
            access_logs=self.buckets.access_logs,
            logs_key=self.keys.logs_key,
        )
        self.layer = CommonLayer(self, "CommonLayer")
        self.origin_secret = OriginSecret(self, "OriginSecret", stage=stage)
        self.functions = Functions(
            self,
            "Functions",
            stage=stage,
            resources=Resources(
                keys=self.keys, tables=self.tables, queues=self.queues, streams=self.streams, buckets=self.buckets
            ),
            layer=self.layer.layer,
            auth_environment=self.identity.function_environment,
            http_environment={trust.ORIGIN_SECRET_VAR: self.origin_secret.value},
            function_environments={fns.PUBLISH_API.name: self.identity.signin_environment},
        )
        self.identity.grant_signin(self.functions.function(fns.PUBLISH_API))
        self.api = HttpApi(self, "Http", stage=stage, functions=self.functions.functions, logs_key=self.keys.logs_key)
        self.cdn = ContentDelivery(
            self,
            "Cdn",
            api=self.api.api,
            bucket=self.buckets.bucket(r.PACKAGES_BUCKET),
            bucket_definition=r.PACKAGES_BUCKET,
            origin_secret=self.origin_secret.value,
        )
        # Sign-in returns to the distribution: its domain is known only now, after the functions and the API.
        self.identity.add_site_origin(self.cdn.url)
        # CloudFront's access-log delivery lives in us-east-1: a stack of its own, next to this one in the app.
        self.edge = EdgeStack(
            scope,
            stage=stage,
            account=env.account,
            main_stack=self,
            distribution_arn=self.cdn.distribution_arn,
            bucket_arn=self.buckets.cdn_logs.bucket_arn,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            key=self.keys.logs_key,
            functions=self.functions.functions,
            queues=self.queues.queues,
            api=self.api.api,
            delivery_streams={delivery_id: stream.ref for delivery_id, stream in self.lake.delivery_streams.items()},
        )
        self._outputs()
        self._suppress_cdk_providers()

    def _outputs(self) -> None:
        CfnOutput(self, "Url", value=self.cdn.url, description="Public URL (CloudFront): point editors here")
        CfnOutput(self, "ApiUrl", value=self.api.api.api_endpoint, description="HTTP API endpoint (behind CloudFront)")
        for bucket in r.BUCKETS:
            CfnOutput(self, f"{pascal(bucket.id)}BucketName", value=self.buckets.bucket(bucket).bucket_name)
        for lake in r.LAKE_BUCKETS:
            CfnOutput(
                self,
                f"{pascal(lake.id)}BucketName",
                value=self.lake.bucket(lake).bucket_name,
                description=f"Data lake: {lake.purpose}",
            )
        for table in r.TABLES:
            CfnOutput(self, f"{pascal(table.id)}TableName", value=self.tables.table(table).table_name)
        for stream in r.STREAMS:
            CfnOutput(self, f"{pascal(stream.id)}StreamName", value=self.streams.stream(stream).stream_name)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        CfnOutput(self, "AuthIssuerUrl", value=self.identity.issuer_url, description="OIDC issuer (Cognito user pool)")
        CfnOutput(
            self,
            "AuthClientId",
            value=self.identity.client.user_pool_client_id,
            description="Public OAuth client for editors (authorization code + PKCE, no secret)",
        )
        CfnOutput(self, "AuthLoginUrl", value=self.identity.domain.base_url(), description="Managed login domain")
        CfnOutput(
            self,
            "WebsiteClientId",
            value=self.identity.website_client.user_pool_client_id,
            description="Public OAuth client of the website's publisher area (authorization code + PKCE)",
        )

    def _suppress_cdk_providers(self) -> None:
        """The singleton function CDK adds to configure bucket notifications at deploy time."""
        for child in self.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                suppress(
                    child,
                    "IAM4",
                    "CDK's bucket-notification custom resource (runs at deploy time only) comes with the "
                    "AWSLambdaBasicExecutionRole managed policy; CDK offers no way to replace it.",
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    ],
                )


def build_app(
    stage: str | None = None,
    outdir: str | None = None,
    nag: bool = True,
    *,
    account: str | None = None,
    region: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> tuple[App, MarketplaceStack]:
    """The CDK app with its one stack for ``stage`` (default: context ``stage``, else ``dev``).

    The app gets cdk.json's context (feature flags), so a synth without the CLI (tests, ``python app.py``)
    builds exactly what ``cdk synth`` builds. ``account`` and ``region`` default to context
    ``account``/``region``, then ``CDK_DEFAULT_ACCOUNT``/``CDK_DEFAULT_REGION`` (set by the CLI), then for
    the region ``AWS_REGION``/``AWS_DEFAULT_REGION`` and finally ``us-east-1``, the CLI's own fallback. The
    account may stay unknown; the region may not, because DynamoDB global tables (``TableV2``) encrypted
    with a customer key render per-region settings. ``context`` adds to (and overrides) cdk.json's, as
    ``-c key=value`` does for the CLI.
    """
    app = App(outdir=outdir, context={**_cdk_json_context(), **(context or {})}, analytics_reporting=False)
    settings = StageSettings(stage or str(app.node.try_get_context("stage") or DEFAULT_STAGE))
    account = account or _context(app, "account") or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = region or _context(app, "region") or _first_env(*REGION_VARIABLES) or FALLBACK_REGION
    stack = MarketplaceStack(app, stage=settings, env=Environment(account=account, region=region))
    if nag:
        add_nag_checks(app)
    return app, stack


def _first_env(*names: str) -> str | None:
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def _context(app: App, key: str) -> str | None:
    value = app.node.try_get_context(key)
    return str(value) if value else None


def _cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    if not path.is_file():
        return {}
    context = json.loads(path.read_text()).get("context", {})
    return dict(context) if isinstance(context, dict) else {}
