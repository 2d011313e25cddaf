"""The buckets of ``resources.BUCKETS`` and the access-log bucket that records requests to them."""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces import aws_s3 as s3_refs
from constructs import Construct

from marketplace.platform import resources as r
from stacks.keys import EncryptionKeys
from stacks.naming import pascal
from stacks.settings import StageSettings

ACCESS_LOG_EXPIRY_DAYS = 90
ACCESS_LOG_EXPIRY_DAYS_PROD = 365


class Buckets(Construct):
    """Private, versioned, SSE-KMS buckets; upload quarantine expires; S3 events go to the defined queues.

    ``access_logs`` receives the S3 server access logs of every bucket here and CloudFront's standard logs.
    CloudFront's legacy log delivery writes through ACLs and cannot write SSE-KMS objects, so that one
    bucket uses SSE-S3 and ``BUCKET_OWNER_PREFERRED`` object ownership.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageSettings,
        keys: EncryptionKeys,
        queues: Mapping[str, sqs.IQueue],
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(
                        ACCESS_LOG_EXPIRY_DAYS_PROD if stage.production else ACCESS_LOG_EXPIRY_DAYS
                    ),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=stage.removal_policy,
            auto_delete_objects=not stage.production,
        )
        self.buckets: dict[str, s3.Bucket] = {
            definition.id: self._bucket(definition, stage, keys.key(r.key(definition.key)), queues)
            for definition in r.BUCKETS
        }

    def bucket(self, definition: r.BucketDef) -> s3.Bucket:
        return self.buckets[definition.id]

    def _bucket(
        self, definition: r.BucketDef, stage: StageSettings, key: kms.IKey, queues: Mapping[str, sqs.IQueue]
    ) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            pascal(definition.id),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-uploads",
                    prefix=definition.upload_prefix,
                    expiration=Duration.days(definition.upload_expiry_days),
                ),
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(definition.noncurrent_version_expiry_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"s3/{definition.id}/",
            removal_policy=stage.removal_policy,
            auto_delete_objects=not stage.production,
        )
        for notification in definition.notifications:
            bucket.add_event_notification(
                s3.EventType.OBJECT_CREATED,
                _QueueDestination(queues[notification.queue]),
                s3.NotificationKeyFilter(prefix=notification.prefix),
            )
        return bucket


@jsii.implements(s3.IBucketNotificationDestination)
class _QueueDestination:
    """An SQS destination whose queue and key policies only admit this account's bucket.

    CDK's ``SqsDestination`` opens the queue's key to ``s3.amazonaws.com`` without conditions; here the
    service may only ``GenerateDataKey``/``Decrypt`` on behalf of this bucket in this account.
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(self, scope: Construct, bucket: s3_refs.IBucketRef) -> s3.BucketNotificationDestinationConfig:
        conditions = {
            "ArnLike": {"aws:SourceArn": bucket.bucket_ref.bucket_arn},
            "StringEquals": {"aws:SourceAccount": Stack.of(scope).account},
        }
        s3_service = iam.ServicePrincipal("s3.amazonaws.com")
        self._queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowBucketNotifications",
                principals=[s3_service],
                actions=["sqs:SendMessage"],
                resources=[self._queue.queue_arn],
                conditions=conditions,
            )
        )
        key = self._queue.encryption_master_key
        if key is not None:
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[s3_service],
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=["*"],
                    conditions=conditions,
                )
            )
        return s3.BucketNotificationDestinationConfig(
            type=s3.BucketNotificationDestinationType.QUEUE,
            arn=self._queue.queue_arn,
            dependencies=[self._queue],
        )
