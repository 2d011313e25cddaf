"""One Lambda function per ``functions.FUNCTIONS`` entry the deployment has (an optional one only when the operator
configures it: ``stacks.schedules``): its own role, log group, grants and event source."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import ArnFormat, CfnResource, Duration, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from stacks import nag
from stacks.keys import EncryptionKeys
from stacks.layer import ARCHITECTURE, PROJECT_ROOT, RUNTIME
from stacks.naming import pascal
from stacks.queues import Queues
from stacks.schedules import QUEUE_SEND_KEY_ACTIONS, Schedule, configured_source, deployed_functions
from stacks.schedules import function_environment as optional_environment
from stacks.settings import StageSettings
from stacks.storage import Buckets
from stacks.streams import EventStreams
from stacks.tables import Tables

# The KMS actions an S3 object action needs on the bucket's key (SSE-KMS with a bucket key).
_KMS_FOR_OBJECT_ACTION = {
    "s3:GetObject": "kms:Decrypt",
    "s3:GetObjectVersion": "kms:Decrypt",
    "s3:PutObject": "kms:GenerateDataKey",
}
# The DynamoDB actions the code uses (written as explicit statements: CDK's grant_read_data/grant_read_write_data
# add DescribeTable, Scan, the stream actions and kms:ReEncrypt*/GenerateDataKey*, which no function needs).
# Transactions need the per-item actions (TransactWriteItems is PutItem/UpdateItem/DeleteItem/ConditionCheckItem).
TABLE_ACTIONS: dict[fns.TableAccess, tuple[str, ...]] = {
    "read": ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"),
    "read_write": (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
    ),
}
# What a table's key must allow DynamoDB to do on the function's behalf: decrypt to read, and to write.
TABLE_KEY_ACTIONS: dict[fns.TableAccess, tuple[str, ...]] = {
    "read": ("kms:Decrypt",),
    "read_write": ("kms:Decrypt", "kms:GenerateDataKey"),
}
# A Kinesis producer needs GenerateDataKey and nothing else on the stream's key (PutRecord, PutRecords).
STREAM_WRITE_ACTIONS = ("kinesis:PutRecord", "kinesis:PutRecords")
STREAM_WRITE_KEY_ACTIONS = ("kms:GenerateDataKey",)


@dataclass(frozen=True)
class Resources:
    """The constructs a function can be granted, looked up through the definitions' ids."""

    keys: EncryptionKeys
    tables: Tables
    queues: Queues
    streams: EventStreams
    buckets: Buckets

    def locations(self) -> dict[str, str]:
        """Every resource's environment variable and its value (name, URL or key id)."""
        values: dict[str, str] = {}
        for table in r.TABLES:
            values[table.env_var] = self.tables.table(table).table_name
        for queue in r.QUEUES:
            if queue.id in self.queues.queues:  # an optional function's queue exists only with the function
                values[queue.env_var] = self.queues.queue(queue).queue_url
        for stream in r.STREAMS:
            values[stream.env_var] = self.streams.stream(stream).stream_name
        for bucket in r.BUCKETS:
            values[bucket.env_var] = self.buckets.bucket(bucket).bucket_name
        for key in r.KEYS:
            if key.env_var:
                values[key.env_var] = self.keys.key(key).key_id
        return values


class Functions(Construct):
    """Python 3.14 on arm64, X-Ray tracing, JSON logs into an encrypted log group, the common layer.

    Functions that check bearer tokens (``FunctionDef.authenticates``) also get ``auth_environment``: the
    issuers they accept (``stacks.identity``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageSettings,
        resources: Resources,
        layer: lambda_.ILayerVersion,
        auth_environment: Mapping[str, str],
        http_environment: Mapping[str, str],
        function_environments: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """``http_environment`` goes to every function the HTTP API routes to (the origin secret's reference);
        ``function_environments`` adds variables to single functions, by name (publish_api's sign-in
        providers)."""
        super().__init__(scope, construct_id)
        if not auth_environment and any(d.authenticates for d in fns.FUNCTIONS):
            raise ValueError("functions that authenticate need the issuers' environment (stacks.identity)")
        self._stage = stage
        self._resources = resources
        locations = resources.locations()
        extra = dict(function_environments or {})
        unknown = set(extra) - {d.name for d in fns.FUNCTIONS}
        if unknown:
            raise ValueError(f"environment for functions that do not exist: {sorted(unknown)}")
        self.functions: dict[str, lambda_.Function] = {}
        for definition in deployed_functions(self):
            # the same definition gives the local runtime's worker processes their environment
            settings = {name: str(self.node.try_get_context(name)) for name in definition.settings
                        if self.node.try_get_context(name) not in (None, "")}
            environment = definition.lambda_environment(stage.name, locations, auth_environment, http_environment,
                                                        settings)
            environment.update(optional_environment(self, definition))
            environment.update(extra.get(definition.name, {}))
            environment.update(_invoke_environment(self, definition))
            function = self._function(definition, layer, environment)
            wildcards = [*self._grant(definition, function), *self._add_event_source(definition, function)]
            self._suppress_grant_wildcards(definition, function, wildcards)
            self.functions[definition.name] = function

    def function(self, definition: fns.FunctionDef) -> lambda_.Function:
        return self.functions[definition.name]

    def _function(
        self, definition: fns.FunctionDef, layer: lambda_.ILayerVersion, environment: dict[str, str]
    ) -> lambda_.Function:
        construct_id = pascal(definition.name)
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=self._stage.log_retention,
            encryption_key=self._resources.keys.logs_key,
            removal_policy=self._stage.removal_policy,
        )
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{r.PRODUCT} {self._stage.name} {definition.name}: {definition.purpose}"[:1000],
            inline_policies={
                "WriteOwnLogGroup": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[log_group.log_group_arn],
                        )
                    ]
                )
            },
        )
        return lambda_.Function(
            self,
            construct_id,
            description=definition.purpose[:256],
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=definition.handler,
            code=lambda_.Code.from_asset(str(PROJECT_ROOT / definition.code_dir), exclude=["__pycache__", "*.pyc"]),
            layers=[layer],
            memory_size=definition.memory_mb,
            timeout=Duration.seconds(definition.timeout_seconds),
            reserved_concurrent_executions=definition.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            role=role,
            environment=environment,
        )

    def _grant(self, definition: fns.FunctionDef, function: lambda_.Function) -> list[str]:
        """Apply the definition's grants as explicit statements; return the wildcard resources they contain."""
        wildcards: list[str] = []
        res = self._resources
        stack = Stack.of(self)
        for grant in definition.grants:
            match grant:
                case fns.TableGrant(table=table_id, access=access):
                    table_def = r.table(table_id)
                    table = res.tables.table(table_def)
                    resources = [table.table_arn]
                    if table_def.indexes:
                        resources.append(f"{table.table_arn}/index/*")
                        wildcards.append(f"Resource::{_arn_of(table)}/index/*")
                    function.add_to_role_policy(
                        iam.PolicyStatement(actions=list(TABLE_ACTIONS[access]), resources=resources)
                    )
                    function.add_to_role_policy(
                        iam.PolicyStatement(
                            actions=list(TABLE_KEY_ACTIONS[access]),
                            resources=[res.keys.key(r.key(table_def.key)).key_arn],
                            conditions={"StringEquals": {"kms:ViaService": _via(stack, "dynamodb")}},
                        )
                    )
                case fns.ObjectGrant(bucket=bucket_id, prefix=prefix, actions=actions):
                    bucket = res.buckets.bucket(r.bucket(bucket_id))
                    function.add_to_role_policy(
                        iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects(f"{prefix}*")])
                    )
                    key_actions = sorted({_KMS_FOR_OBJECT_ACTION[a] for a in actions if a in _KMS_FOR_OBJECT_ACTION})
                    if key_actions and bucket.encryption_key is not None:
                        function.add_to_role_policy(
                            iam.PolicyStatement(actions=key_actions, resources=[bucket.encryption_key.key_arn])
                        )
                    wildcards.append(f"Resource::{_arn_of(bucket)}/{prefix}*")
                case fns.StreamGrant(stream=stream_id):
                    stream_def = r.stream(stream_id)
                    stream = res.streams.stream(stream_def)
                    function.add_to_role_policy(
                        iam.PolicyStatement(actions=list(STREAM_WRITE_ACTIONS), resources=[stream.stream_arn])
                    )
                    function.add_to_role_policy(
                        iam.PolicyStatement(
                            actions=list(STREAM_WRITE_KEY_ACTIONS),
                            resources=[res.keys.key(r.key(stream_def.key)).key_arn],
                            conditions={
                                "StringEquals": {
                                    "kms:ViaService": _via(stack, "kinesis"),
                                    "kms:EncryptionContext:aws:kinesis:arn": stream.stream_arn,
                                }
                            },
                        )
                    )
                case fns.KeyGrant(key=key_id, actions=actions):
                    res.keys.key(r.key(key_id)).grant(function, *actions)
                case fns.InvokeGrant(context=context):
                    target = invoke_target(self, context)
                    if target is not None:
                        function.add_to_role_policy(iam.PolicyStatement(
                            actions=["lambda:InvokeFunction"], resources=[_function_arn(stack, target)]))
        return wildcards

    def _add_event_source(self, definition: fns.FunctionDef, function: lambda_.Function) -> list[str]:
        res = self._resources
        source = definition.source
        if source is None:
            return []
        if isinstance(source, fns.ScheduleSource):
            queue = r.queue(source.dead_letter_queue)
            Schedule(self, f"{pascal(definition.name)}Schedule", stage=self._stage.name, definition=definition,
                     source=configured_source(self, source), function=function,
                     queue=res.queues.queue(queue), queue_key=res.keys.key(r.key(queue.key)))
            return []
        if isinstance(source, fns.SqsSource):
            function.add_event_source(
                event_sources.SqsEventSource(
                    res.queues.queue(r.queue(source.queue)),
                    batch_size=source.batch_size,
                    max_batching_window=Duration.seconds(source.max_batching_window_seconds),
                    report_batch_item_failures=True,
                )
            )
            return []
        options: dict[str, Any] = {  # shared by both stream kinds
            "batch_size": source.batch_size,
            "max_batching_window": Duration.seconds(source.max_batching_window_seconds),
            "starting_position": lambda_.StartingPosition[source.starting_position],
            "retry_attempts": source.max_retry_attempts,
            "bisect_batch_on_error": source.bisect_batch_on_error,
            "report_batch_item_failures": True,
            "on_failure": _OnFailureQueue(res.queues.queue(r.queue(source.on_failure))),
        }
        if source.kind == "kinesis":
            function.add_event_source(
                event_sources.KinesisEventSource(res.streams.stream(r.stream(source.source)), **options)
            )
            return []
        function.add_event_source(event_sources.DynamoEventSource(res.tables.table(r.table(source.source)), **options))
        # dynamodb:ListStreams has no resource-level permissions
        return ["Resource::*"]

    @staticmethod
    def _suppress_grant_wildcards(
        definition: fns.FunctionDef, function: lambda_.Function, wildcards: list[str]
    ) -> None:
        role = function.role
        assert role is not None
        nag.suppress(
            role,
            "IAM5",
            "X-Ray PutTraceSegments/PutTelemetryRecords (and dynamodb:ListStreams for a stream consumer) "
            "support no resource-level permissions; object grants are scoped to one key prefix of the "
            f"bucket as defined for {definition.name}; a table's index ARNs (index/*) are granted with the "
            "table because queries name the index.",
            applies_to=sorted({"Resource::*", *wildcards}),
        )


@jsii.implements(lambda_.IEventSourceDlq)
class _OnFailureQueue:
    """A stream consumer's on-failure queue, granted exactly: ``sqs:SendMessage`` on the queue and, through SQS
    only, the two KMS actions sending to an SSE-KMS queue needs.

    CDK's ``SqsDlq`` grants ``grant_send_messages``, which adds ``kms:Encrypt``, ``kms:ReEncrypt*`` and
    ``kms:GenerateDataKey*`` on the queue's key.
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(
        self, _target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
    ) -> lambda_.DlqDestinationConfig:
        target_handler.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self._queue.queue_arn])
        )
        key = self._queue.encryption_master_key
        if key is not None:
            target_handler.add_to_role_policy(
                iam.PolicyStatement(
                    actions=list(QUEUE_SEND_KEY_ACTIONS),
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": _via(Stack.of(target_handler), "sqs")}},
                )
            )
        return lambda_.DlqDestinationConfig(destination=self._queue.queue_arn)


# A function the operator names: its name (with an optional version or alias) or its full ARN.
_FUNCTION_NAME = r"[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9$_-]{1,128})?"
_FUNCTION_ARN = rf"arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{{12}}:function:{_FUNCTION_NAME}"
_FUNCTION_REFERENCE = re.compile(rf"(?!arn:){_FUNCTION_NAME}|{_FUNCTION_ARN}")


def invoke_target(scope: IConstruct, context: str) -> str | None:
    """The function named in the CDK context ``context`` (an ``InvokeGrant``'s), checked; ``None`` without it."""
    value = scope.node.try_get_context(context)
    if value is None or value == "" or value is False:
        return None
    if not isinstance(value, str) or Token.is_unresolved(value) or not _FUNCTION_REFERENCE.fullmatch(value.strip()):
        raise ValueError(f"CDK context {context!r} must be a Lambda function's name or ARN, not {value!r}")
    return value.strip()


def _invoke_environment(scope: IConstruct, definition: fns.FunctionDef) -> dict[str, str]:
    """Each configured ``InvokeGrant``'s function, in the grant's environment variable."""
    return {grant.env_var: target for grant in definition.grants if isinstance(grant, fns.InvokeGrant)
            if (target := invoke_target(scope, grant.context)) is not None}


def _function_arn(stack: Stack, target: str) -> str:
    """``target``'s ARN: as given, or a name (and qualifier) in this stack's account and region."""
    if target.startswith("arn:"):
        return target
    return stack.format_arn(service="lambda", resource="function", resource_name=target,
                            arn_format=ArnFormat.COLON_RESOURCE_NAME)


def _via(stack: Stack, service: str) -> str:
    """The ``kms:ViaService`` value of ``service`` in the stack's region (``dynamodb.eu-west-1.amazonaws.com``)."""
    return f"{service}.{stack.region}.{stack.url_suffix}"


def _arn_of(construct: IConstruct) -> str:
    """How cdk-nag prints a resource's ``Fn::GetAtt Arn`` in a finding: ``<LogicalId.Arn>``."""
    resource = construct.node.default_child
    assert isinstance(resource, CfnResource)
    return f"<{Stack.of(construct).get_logical_id(resource)}.Arn>"
