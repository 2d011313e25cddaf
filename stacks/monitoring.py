"""Alarms on what needs an operator: dead letters, function errors and throttles, stream consumers lagging,
the data lake's delivery falling behind."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from stacks.naming import pascal
from stacks.queues import dead_letter_queue_ids

PERIOD = Duration.minutes(5)
ITERATOR_AGE_LIMIT = Duration.minutes(5)
# Firehose writes at least every buffer interval (60 s) while records arrive; older data means it cannot.
DELIVERY_FRESHNESS_LIMIT = Duration.minutes(15)
API_SERVER_ERRORS_LIMIT = 5


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        functions: Mapping[str, lambda_.IFunction],
        queues: Mapping[str, sqs.IQueue],
        api: apigwv2.HttpApi,
        delivery_streams: Mapping[str, str],
    ) -> None:
        """``delivery_streams``: the physical name of each Firehose delivery stream, by ``DeliveryDef.id``."""
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Alarms", display_name=f"{r.PRODUCT} alarms", master_key=key, enforce_ssl=True)
        # As AWS documents it for AWS services publishing to an encrypted topic, limited to this account's alarms
        # (the topic's ARN cannot be named: the topic refers to the key); publishing still needs the topic policy,
        # which only admits this account.
        stack = Stack.of(self)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToTheEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        self._action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        for queue_id in dead_letter_queue_ids():
            if queue_id not in queues:  # the dead-letter queue of an optional function that is not deployed
                continue
            self._alarm(
                f"{pascal(queue_id)}Messages",
                queues[queue_id].metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=0,
                description=f"Messages are waiting in the dead-letter queue {queue_id}: {r.queue(queue_id).purpose}.",
            )
        for definition in fns.FUNCTIONS:
            if definition.name not in functions:  # an optional function the operator did not configure
                continue
            function = functions[definition.name]
            name = pascal(definition.name)
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                threshold=0,
                description=f"The {definition.name} function raised errors.",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                threshold=0,
                description=f"The {definition.name} function was throttled.",
            )
            if isinstance(definition.source, fns.StreamSource):
                self._alarm(
                    f"{name}IteratorAge",
                    function.metric("IteratorAge", period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM),
                    threshold=ITERATOR_AGE_LIMIT.to_milliseconds(),
                    description=f"The {definition.name} function lags behind its {definition.source.kind} stream.",
                )
        for delivery_id, delivery_name in delivery_streams.items():
            name = pascal(delivery_id)
            dimensions = {"DeliveryStreamName": delivery_name}
            self._alarm(
                f"{name}DataFreshness",
                cloudwatch.Metric(
                    namespace="AWS/Firehose",
                    metric_name="DeliveryToS3.DataFreshness",
                    dimensions_map=dimensions,
                    period=PERIOD,
                    statistic=cloudwatch.Stats.MAXIMUM,
                ),
                threshold=DELIVERY_FRESHNESS_LIMIT.to_seconds(),
                description=f"The oldest record in {delivery_id} waits to be written to S3: "
                f"{r.delivery_stream(delivery_id).purpose}.",
            )
            self._alarm(
                f"{name}BehindTheStream",
                cloudwatch.Metric(
                    namespace="AWS/Firehose",
                    metric_name="KinesisMillisBehindLatest",
                    dimensions_map=dimensions,
                    period=PERIOD,
                    statistic=cloudwatch.Stats.MAXIMUM,
                ),
                threshold=ITERATOR_AGE_LIMIT.to_milliseconds(),
                description=f"{delivery_id} lags behind its Kinesis stream.",
            )
        self._alarm(
            "ApiServerErrors",
            api.metric_server_error(period=PERIOD, statistic=cloudwatch.Stats.SUM),
            threshold=API_SERVER_ERRORS_LIMIT,
            description="The HTTP API answered with 5xx errors.",
        )

    def _alarm(self, construct_id: str, metric: cloudwatch.Metric, *, threshold: float, description: str) -> None:
        alarm = metric.create_alarm(
            self,
            construct_id,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)
