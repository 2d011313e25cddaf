"""The HTTP API: one Lambda integration per routed function, one route per ``Route`` of its definition."""

from __future__ import annotations

import json
from collections.abc import Mapping

import jsii
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from stacks import nag
from stacks.naming import pascal
from stacks.settings import StageSettings

BURST_LIMIT = 200
RATE_LIMIT = 100

# No client address: the marketplace never stores IP addresses (telemetry promises it, and nothing else needs
# them); API Gateway's throttling and the functions' rate limits work without a log of who called.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "latency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "userAgent": "$context.identity.userAgent",
}


class HttpApi(Construct):
    """No CORS configuration here: the functions answer CORS themselves (preflights reach them via ANY)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageSettings,
        functions: Mapping[str, lambda_.IFunction],
        logs_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=f"{r.PRODUCT}-{stage.name}",
            description=f"{r.PRODUCT} {stage.name}: gallery, publishing, sync and telemetry",
            create_default_stage=False,
        )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=stage.log_retention,
            encryption_key=logs_key,
            removal_policy=stage.removal_policy,
        )
        self.stage = self.api.add_stage(
            "DefaultStage",
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(burst_limit=BURST_LIMIT, rate_limit=RATE_LIMIT),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":"))),
            ),
        )
        for definition in fns.FUNCTIONS:
            if not definition.routes:
                continue
            integration = integrations.HttpLambdaIntegration(
                f"{pascal(definition.name)}Integration", functions[definition.name]
            )
            for route in definition.routes:
                self.api.add_routes(
                    path=route.path, methods=[apigwv2.HttpMethod[route.method]], integration=integration
                )
        nag.suppress(
            self.api,
            "APIG4",
            "The gallery is public (editors query it anonymously); publish, sync and review routes "
            "authenticate bearer tokens (publisher PATs, sync tokens) inside the functions themselves.",
        )


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, destination: apigwv2.IAccessLogDestination, log_format: apigateway.AccessLogFormat) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return self._format
