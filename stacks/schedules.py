"""The optional functions the operator configures, and the EventBridge schedules that invoke them.

The scheduled mirror (``functions.MIRROR``) is deployed only with the CDK context ``mirror`` (``cdk.json`` or
``-c mirror='{"upstream": "https://open-vsx.org"}'``)::

    {"upstream": "https://open-vsx.org", "schedule": "rate(6 hours)", "jobs": 4, "rate": 2}

``upstream`` (https only) is required; ``schedule`` (an EventBridge rate or cron expression, checked at synth),
``jobs`` (downloads at once) and ``rate`` (requests a second to the upstream) have those defaults. Without it
there is no mirror function, no rule and no mirror dead-letter queue.

A ``ScheduleSource`` becomes an EventBridge rule with the function as its target. EventBridge invokes Lambda
asynchronously: an event it cannot deliver is retried by EventBridge (the target's retry policy), a run that
raises is retried by Lambda (the function's asynchronous invocation settings); both end, after as many
attempts, in the source's dead-letter queue, where the Monitoring construct alarms on the first message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import jsii
from aws_cdk import ArnFormat, Duration, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from stacks import nag

# Sending to an SSE-KMS queue through SQS: what EventBridge and the function's role need on the queue's key.
QUEUE_SEND_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


def mirror_settings(scope: IConstruct) -> fns.MirrorSettings | None:
    """The ``mirror`` context, checked; ``None`` when the operator configured no mirror."""
    value = scope.node.try_get_context(fns.MIRROR_CONTEXT)
    if value is None or value == "" or value is False:
        return None
    where = f"CDK context {fns.MIRROR_CONTEXT!r}"
    if isinstance(value, str):
        if Token.is_unresolved(value):
            raise ValueError(f"{where} must be a literal JSON object, not a deploy-time value")
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ValueError(f"{where} is not valid JSON: {error}") from error
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object such as {{\"upstream\": \"https://open-vsx.org\"}}")
    try:
        settings = fns.MirrorSettings.from_mapping(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where} is invalid: {error}") from error
    if not settings.upstream.startswith("https://"):
        raise ValueError(f"{where}: 'upstream' must be an https:// URL (the packages and their hashes come from it)")
    interval = fns.rate_seconds(settings.schedule)
    if interval is not None and interval < fns.MIRROR.timeout_seconds:
        raise ValueError(f"{where}: the schedule {settings.schedule!r} is shorter than a run may last "
                         f"({fns.MIRROR.timeout_seconds} s): runs would queue up behind each other")
    return settings


def configured_options(scope: IConstruct) -> frozenset[str]:
    """The optional functions' contexts (``FunctionDef.enabled_by``) the operator set."""
    return frozenset({fns.MIRROR_CONTEXT}) if mirror_settings(scope) is not None else frozenset()


def deployed_functions(scope: IConstruct) -> tuple[fns.FunctionDef, ...]:
    return fns.deployed(configured_options(scope))


def unused_queue_ids(scope: IConstruct) -> frozenset[str]:
    """Queues that only optional functions the operator did not configure would use (their schedules'
    dead-letter queues): not deployed."""
    deployed = deployed_functions(scope)

    def schedule_queues(functions: tuple[fns.FunctionDef, ...]) -> set[str]:
        return {f.source.dead_letter_queue for f in functions if isinstance(f.source, fns.ScheduleSource)}

    return frozenset(schedule_queues(fns.FUNCTIONS) - schedule_queues(deployed))


def schedule_queue_ids() -> tuple[str, ...]:
    """The dead-letter queues of scheduled functions."""
    return tuple(dict.fromkeys(f.source.dead_letter_queue for f in fns.FUNCTIONS
                               if isinstance(f.source, fns.ScheduleSource)))


def function_environment(scope: IConstruct, definition: fns.FunctionDef) -> dict[str, str]:
    """What an optional function's context puts in its environment (the mirror's upstream, jobs and rate)."""
    if definition.enabled_by == fns.MIRROR_CONTEXT:
        settings = mirror_settings(scope)
        return settings.environment() if settings is not None else {}
    return {}


def configured_source(scope: IConstruct, source: fns.ScheduleSource) -> fns.ScheduleSource:
    """The definition's schedule with the operator's expression, if the context gives one."""
    settings = mirror_settings(scope)
    if settings is None or settings.schedule == source.expression:
        return source
    return fns.ScheduleSource(settings.schedule, source.dead_letter_queue, source.max_retry_attempts,
                              source.max_event_age_seconds)


class Schedule(Construct):
    """One EventBridge rule invoking ``function`` on ``source``'s schedule with the scheduled event, retried and
    dead-lettered as the source says (by EventBridge for delivery, by Lambda for runs that raise)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        definition: fns.FunctionDef,
        source: fns.ScheduleSource,
        function: lambda_.Function,
        queue: sqs.IQueue,
        queue_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # named, so that the queue's key can name the rule without referring to it (the key would then depend
        # on the rule, the rule on the function and the function's role on the key: a cycle)
        self.rule_name = definition.rule_name(stage)
        rule_arn = stack.format_arn(service="events", resource="rule", resource_name=self.rule_name,
                                    arn_format=ArnFormat.SLASH_RESOURCE_NAME)
        retries = source.max_retry_attempts
        max_age = Duration.seconds(source.max_event_age_seconds)
        self.rule = events.Rule(
            self,
            "Rule",
            rule_name=self.rule_name,
            description=f"{r.PRODUCT} {stage}: runs {definition.name} on {source.expression}",
            schedule=events.Schedule.expression(source.expression),
            targets=[targets.LambdaFunction(function, retry_attempts=retries, max_event_age=max_age,
                                            dead_letter_queue=queue)],
        )
        # EventBridge puts an undeliverable event into the SSE-KMS queue: it needs the key, for this rule only
        queue_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"AllowTheRule{definition.service.title().replace('-', '')}ToSendToItsDeadLetterQueue",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=list(QUEUE_SEND_KEY_ACTIONS),
                resources=["*"],
                conditions={"ArnEquals": {"aws:SourceArn": rule_arn},
                            "StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        # a run that raised, after Lambda's retries: its invocation record (the event included) goes to the queue
        function.configure_async_invoke(retry_attempts=retries, max_event_age=max_age,
                                        on_failure=_QueueDestination(queue))
        nag.suppress(
            queue,
            "SQS3",
            f"This queue is itself a dead-letter queue: of the EventBridge rule that runs {definition.name} and of "
            "the function's asynchronous invocations, which cdk-nag cannot see as it only recognises redrive "
            "policies.",
        )


@jsii.implements(lambda_.IDestination)
class _QueueDestination:
    """An asynchronous invocation's on-failure destination, granted exactly: ``sqs:SendMessage`` on the queue
    and, through SQS only, the two KMS actions sending to an SSE-KMS queue needs (CDK's ``SqsDestination``
    grants ``grant_send_messages``: ``kms:Encrypt``, ``kms:ReEncrypt*`` and ``kms:GenerateDataKey*`` too)."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(
        self, scope: Construct, fn: lambda_.IFunction, *, type: lambda_.DestinationType
    ) -> lambda_.DestinationConfig:
        fn.add_to_role_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self._queue.queue_arn]))
        key = self._queue.encryption_master_key
        if key is not None:
            stack = Stack.of(fn)
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=list(QUEUE_SEND_KEY_ACTIONS),
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"sqs.{stack.region}.{stack.url_suffix}"}},
                )
            )
        return lambda_.DestinationConfig(destination=self._queue.queue_arn)
