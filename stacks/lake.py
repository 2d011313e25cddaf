"""The data lake: a bucket per ``resources.LAKE_BUCKETS`` entry and a Kinesis Data Firehose delivery stream per
``resources.DELIVERY_STREAMS`` entry, reading its event stream and writing GZIP JSON lines into the lake.

Each delivery stream has its own role, and the role may do exactly what the delivery needs: read its one
stream and decrypt with the stream key (only through Kinesis, only for that stream), write objects under the
delivery's two prefixes and encrypt with the lake key (only through S3, only for that bucket), and append to
its one log stream of delivery errors.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from marketplace.platform import resources as r
from stacks import nag
from stacks.buckets import hardened_bucket
from stacks.keys import EncryptionKeys
from stacks.naming import pascal
from stacks.settings import StageSettings

ERROR_LOG_STREAM = "DestinationDelivery"
# What Firehose's processing configuration wants for a newline: the two characters backslash and n.
_ESCAPED_DELIMITERS = {"\n": "\\n"}


class DataLake(Construct):
    """``buckets`` by ``LakeBucketDef.id``; ``delivery_streams``, ``roles`` and ``error_logs`` by ``DeliveryDef.id``.

    Server access logs of the lake buckets go to ``access_logs``; delivery-error log groups are encrypted
    with ``logs_key``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageSettings,
        keys: EncryptionKeys,
        streams: Mapping[str, kinesis.Stream],
        access_logs: s3.IBucket,
        logs_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stage = stage
        self._keys = keys
        self.buckets: dict[str, s3.Bucket] = {
            definition.id: self._bucket(definition, access_logs) for definition in r.LAKE_BUCKETS
        }
        self.delivery_streams: dict[str, firehose.CfnDeliveryStream] = {}
        self.roles: dict[str, iam.Role] = {}
        self.error_logs: dict[str, logs.LogGroup] = {}
        for definition in r.DELIVERY_STREAMS:
            self._delivery(definition, streams[definition.source], logs_key)

    def bucket(self, definition: r.LakeBucketDef) -> s3.Bucket:
        return self.buckets[definition.id]

    def delivery_stream(self, definition: r.DeliveryDef) -> firehose.CfnDeliveryStream:
        return self.delivery_streams[definition.id]

    def _bucket(self, definition: r.LakeBucketDef, access_logs: s3.IBucket) -> s3.Bucket:
        return hardened_bucket(
            self,
            pascal(definition.id, "bucket"),
            stage=self._stage,
            key=self._keys.key(r.key(definition.key)),
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-lake-objects",
                    expiration=Duration.days(definition.expiry_days),
                    abort_incomplete_multipart_upload_after=Duration.days(definition.abort_incomplete_upload_days),
                )
            ],
            access_logs=access_logs,
            access_log_prefix=f"s3/{definition.id}/",
        )

    def _delivery(self, definition: r.DeliveryDef, stream: kinesis.Stream, logs_key: kms.IKey) -> None:
        stack = Stack.of(self)
        name = pascal(definition.id)
        lake = r.lake_bucket(definition.bucket)
        bucket = self.buckets[lake.id]
        lake_key = self._keys.key(r.key(lake.key))
        stream_key = stream.encryption_key
        assert stream_key is not None, "the event streams are encrypted with a customer-managed key"

        error_logs = logs.LogGroup(
            self,
            f"{name}Errors",
            retention=self._stage.log_retention,
            encryption_key=logs_key,
            removal_policy=self._stage.removal_policy,
        )
        log_stream = logs.LogStream(
            self,
            f"{name}ErrorStream",
            log_group=error_logs,
            log_stream_name=ERROR_LOG_STREAM,
            removal_policy=self._stage.removal_policy,
        )
        prefixes = [r.static_prefix(definition.prefix), r.static_prefix(definition.error_prefix)]
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com").with_conditions(
                {"StringEquals": {"sts:ExternalId": stack.account}}
            ),
            description=f"{r.PRODUCT} {self._stage.name} {definition.id}: {definition.purpose}"[:1000],
            inline_policies={
                "ReadTheEventStream": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=[
                                "kinesis:DescribeStream",
                                "kinesis:GetShardIterator",
                                "kinesis:GetRecords",
                                "kinesis:ListShards",
                            ],
                            resources=[stream.stream_arn],
                        ),
                        iam.PolicyStatement(
                            actions=["kms:Decrypt"],
                            resources=[stream_key.key_arn],
                            conditions={
                                "StringEquals": {
                                    "kms:ViaService": f"kinesis.{stack.region}.{stack.url_suffix}",
                                    "kms:EncryptionContext:aws:kinesis:arn": stream.stream_arn,
                                }
                            },
                        ),
                    ]
                ),
                "WriteTheLake": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                            resources=[bucket.bucket_arn],
                        ),
                        iam.PolicyStatement(
                            actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
                        ),
                        # Multipart uploads of SSE-KMS objects need Decrypt as well as GenerateDataKey. With an
                        # S3 bucket key the encryption context is the bucket's ARN.
                        iam.PolicyStatement(
                            actions=["kms:GenerateDataKey", "kms:Decrypt"],
                            resources=[lake_key.key_arn],
                            conditions={
                                "StringEquals": {
                                    "kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}",
                                    "kms:EncryptionContext:aws:s3:arn": bucket.bucket_arn,
                                }
                            },
                        ),
                    ]
                ),
                "LogDeliveryErrors": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["logs:PutLogEvents"],
                            resources=[
                                stack.format_arn(
                                    service="logs",
                                    resource="log-group",
                                    resource_name=f"{error_logs.log_group_name}:log-stream:{ERROR_LOG_STREAM}",
                                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                                )
                            ],
                        )
                    ]
                ),
            },
        )
        nag.suppress(
            role,
            "IAM5",
            f"The delivery writes objects whose keys it makes at delivery time (date partitions and a random "
            f"suffix) under its data prefix {prefixes[0]!r} and its error prefix {prefixes[1]!r}; the grant "
            "names those two prefixes of the lake bucket and nothing else.",
            applies_to=[f"Resource::<{stack.get_logical_id(_cfn(bucket))}.Arn>/{prefix}*" for prefix in prefixes],
        )

        delivery = firehose.CfnDeliveryStream(
            self,
            name,
            delivery_stream_name=definition.physical_name(self._stage.name),
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=stream.stream_arn,
                role_arn=role.role_arn,
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket.bucket_arn,
                role_arn=role.role_arn,
                prefix=definition.prefix,
                error_output_prefix=definition.error_prefix,
                compression_format=definition.compression,
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=definition.buffer_seconds,
                    size_in_m_bs=definition.buffer_mib,
                ),
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=lake_key.key_arn
                    )
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        firehose.CfnDeliveryStream.ProcessorProperty(
                            type="AppendDelimiterToRecord",
                            parameters=[
                                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                                    parameter_name="Delimiter",
                                    parameter_value=_ESCAPED_DELIMITERS[definition.delimiter],
                                )
                            ],
                        )
                    ],
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=error_logs.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
            ),
        )
        # Firehose checks its role when the delivery stream is created: the policies must be there first.
        delivery.node.add_dependency(role)
        nag.suppress(
            delivery,
            "KDF1",
            "Firehose offers no server-side encryption for a delivery stream whose source is a Kinesis data "
            "stream: it keeps no data at rest, the records rest encrypted in the source stream (stream key) "
            "and in the lake bucket (lake key).",
        )
        self.delivery_streams[definition.id] = delivery
        self.roles[definition.id] = role
        self.error_logs[definition.id] = error_logs


def _cfn(bucket: s3.Bucket) -> s3.CfnBucket:
    resource = bucket.node.default_child
    assert isinstance(resource, s3.CfnBucket)
    return resource
