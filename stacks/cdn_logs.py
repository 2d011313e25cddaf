"""CloudFront access logs through standard logging v2, with the fields chosen so that no secret and no client
address is written: no query string (``ovsx`` sends ``?token=``), no cookie, no referrer, no ``c-ip``,
``c-port`` or ``x-forwarded-for``, no location derived from the address.

CloudFront is global and its log delivery is configured through CloudWatch Logs in us-east-1 only: the delivery
source (the distribution), the delivery destination (the CDN-log bucket, which stays in the stack's region,
SSE-KMS with the logs key) and the delivery are created there, in ``EdgeStack``. The bucket policy and the key
policy that let the delivery service write are in the main stack (``stacks.storage``) and name this delivery
source exactly, by the name ``delivery_source_name`` gives it.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Environment, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from marketplace.platform import resources as r
from stacks.settings import StageSettings

DELIVERY_REGION = "us-east-1"
LOG_PREFIX = "cloudfront"
OUTPUT_FORMAT = "json"
LOG_TYPE = "ACCESS_LOGS"
# What each request's record holds, in this order. Left out on purpose: cs-uri-query (query strings carry tokens),
# cs(Cookie), cs(Referer), c-ip, c-port, x-forwarded-for, asn, c-country.
RECORD_FIELDS: tuple[str, ...] = (
    "date",
    "time",
    "x-edge-location",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-protocol-version",
    "cs-method",
    "cs-uri-stem",
    "sc-status",
    "sc-bytes",
    "cs-bytes",
    "time-taken",
    "time-to-first-byte",
    "x-edge-result-type",
    "x-edge-response-result-type",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "cs(User-Agent)",
    "ssl-protocol",
    "ssl-cipher",
)
EXCLUDED_FIELDS: frozenset[str] = frozenset(
    {"cs-uri-query", "cs(Cookie)", "cs(Referer)", "c-ip", "c-port", "x-forwarded-for", "asn", "c-country"}
)


def delivery_source_name(stage: StageSettings, region: str) -> str:
    """Unique per account in us-east-1: one per stage and main-stack region."""
    return f"{r.PRODUCT}-{stage.name}-{region}-cdn"


def delivery_source_arn(scope: Construct, stage: StageSettings, region: str) -> str:
    """The delivery source's ARN as the delivery service presents it (``aws:SourceArn``)."""
    return Stack.of(scope).format_arn(
        service="logs",
        region=DELIVERY_REGION,
        resource="delivery-source",
        resource_name=delivery_source_name(stage, region),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class CdnAccessLogs(Construct):
    """The delivery of ``distribution_arn``'s access logs into ``bucket_arn`` under ``LOG_PREFIX``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageSettings,
        main_region: str,
        distribution_arn: str,
        bucket_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        name = delivery_source_name(stage, main_region)
        self.source = logs.CfnDeliverySource(
            self,
            "Source",
            name=name,
            log_type=LOG_TYPE,
            resource_arn=distribution_arn,
        )
        self.destination = logs.CfnDeliveryDestination(
            self,
            "Destination",
            name=f"{name}-s3",
            delivery_destination_type="S3",
            destination_resource_arn=f"{bucket_arn}/{LOG_PREFIX}",
            output_format=OUTPUT_FORMAT,
        )
        self.delivery = logs.CfnDelivery(
            self,
            "Delivery",
            delivery_source_name=self.source.ref,
            delivery_destination_arn=self.destination.attr_arn,
            record_fields=list(RECORD_FIELDS),
        )


class EdgeStack(Stack):
    """What CloudFront needs in us-east-1 whatever the main stack's region: the access-log delivery."""

    def __init__(
        self,
        scope: Construct,
        *,
        stage: StageSettings,
        account: str | None,
        main_stack: Stack,
        distribution_arn: str,
        bucket_arn: str,
    ) -> None:
        super().__init__(
            scope,
            f"{main_stack.stack_name}-Edge",
            env=Environment(account=account, region=DELIVERY_REGION),
            description=f"{r.PRODUCT} ({stage.name}): CloudFront access-log delivery (us-east-1) for "
            f"{main_stack.stack_name}",
            termination_protection=stage.production,
            cross_region_references=main_stack.region != DELIVERY_REGION,
        )
        self.add_stack_dependency(main_stack, "the distribution and the log bucket must exist first")
        self.access_logs = CdnAccessLogs(
            self,
            "CdnAccessLogs",
            stage=stage,
            main_region=main_stack.region,
            distribution_arn=distribution_arn,
            bucket_arn=bucket_arn,
        )
