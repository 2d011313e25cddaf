"""The buckets of ``resources.BUCKETS`` and the two log buckets: S3 server access logs and CloudFront's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces import aws_s3 as s3_refs
from constructs import Construct

from marketplace.platform import resources as r
from stacks import cdn_logs
from stacks.buckets import hardened_bucket
from stacks.keys import EncryptionKeys
from stacks.naming import pascal
from stacks.settings import StageSettings

ACCESS_LOG_EXPIRY_DAYS = 90
ACCESS_LOG_EXPIRY_DAYS_PROD = 365
# A deleted or overwritten log object stays recoverable (as a noncurrent version) this long.
LOG_NONCURRENT_EXPIRY_DAYS = 30
# The distribution's own origin, for the upload CORS rule. Naming the distribution's domain would close a cycle:
# the distribution has the packages bucket as its assets origin (and the bucket's policy names the distribution).
# Any CloudFront domain may then make a browser POST to the bucket, which grants nothing: what may be uploaded,
# where and by whom is the presigned POST's signed policy, which only publish_api signs.
CLOUDFRONT_ORIGINS = "https://*.cloudfront.net"


def log_expiry_days(stage: StageSettings) -> int:
    return ACCESS_LOG_EXPIRY_DAYS_PROD if stage.production else ACCESS_LOG_EXPIRY_DAYS


class Buckets(Construct):
    """Private, versioned, SSE-KMS buckets (``stacks.buckets.hardened_bucket``); upload quarantine expires; S3
    events go to the defined queues.

    Two log buckets, both hardened and versioned, expiring their objects after
    ``log_expiry_days`` (noncurrent versions ``LOG_NONCURRENT_EXPIRY_DAYS`` later):

    - ``access_logs`` receives the S3 server access logs of every bucket (here and the lake's). S3 delivers
      them only into buckets whose default encryption is SSE-S3, so this one is SSE-S3.
    - ``cdn_logs`` receives CloudFront's access logs (standard logging v2, ``stacks.cdn_logs``), SSE-KMS with
      the logs key; the delivery service may write under ``cloudfront/`` for this stage's delivery source only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageSettings,
        keys: EncryptionKeys,
        queues: Mapping[str, sqs.IQueue],
        site_urls: Sequence[str] = (),
    ) -> None:
        """``site_urls``: the website's origins besides the distribution's (context ``siteUrls``), whose pages
        may POST uploads to the packages bucket."""
        super().__init__(scope, construct_id)
        self._stage = stage
        self._upload_origins = (CLOUDFRONT_ORIGINS, *site_urls)
        # SSE-S3 (no key): what S3 server access logging requires of its target
        self.access_logs = hardened_bucket(self, "AccessLogs", stage=stage, key=None, versioned=True,
                                           lifecycle_rules=self._log_expiry("access-logs"))
        self.cdn_logs = hardened_bucket(self, "CdnLogs", stage=stage, key=keys.logs_key, versioned=True,
                                        lifecycle_rules=self._log_expiry("cdn-logs"),
                                        access_logs=self.access_logs, access_log_prefix="s3/cdn-logs/")
        self._allow_cdn_log_delivery(keys.logs_key)
        self.buckets: dict[str, s3.Bucket] = {
            definition.id: self._bucket(definition, stage, keys.key(r.key(definition.key)), queues)
            for definition in r.BUCKETS
        }

    def bucket(self, definition: r.BucketDef) -> s3.Bucket:
        return self.buckets[definition.id]

    def _log_expiry(self, name: str) -> list[s3.LifecycleRule]:
        return [
            s3.LifecycleRule(
                id=f"expire-{name}",
                expiration=Duration.days(log_expiry_days(self._stage)),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            ),
            s3.LifecycleRule(
                id=f"expire-noncurrent-{name}",
                noncurrent_version_expiration=Duration.days(LOG_NONCURRENT_EXPIRY_DAYS),
                expired_object_delete_marker=True,
            ),
        ]

    def _allow_cdn_log_delivery(self, key: kms.IKey) -> None:
        """The log delivery service may put objects under ``cloudfront/`` and encrypt them with the logs key, on
        behalf of this stage's CloudFront delivery source (in us-east-1) and nothing else."""
        stack = Stack.of(self)
        source = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": cdn_logs.delivery_source_arn(self, self._stage, stack.region)},
        }
        delivery = iam.ServicePrincipal("delivery.logs.amazonaws.com")
        self.cdn_logs.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudFrontLogDelivery",
                principals=[delivery],
                actions=["s3:PutObject"],
                resources=[self.cdn_logs.arn_for_objects(f"{cdn_logs.LOG_PREFIX}/*")],
                conditions={
                    **source,
                    "StringEquals": {
                        **source["StringEquals"],
                        "s3:x-amz-acl": "bucket-owner-full-control",
                    },
                },
            )
        )
        # S3 calls KMS for the delivery service: GenerateDataKey for each object (bucket key), Decrypt for the
        # parts of a multipart upload.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudFrontLogDeliveryThroughS3",
                principals=[delivery],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],
                conditions={
                    **source,
                    "StringEquals": {
                        **source["StringEquals"],
                        "kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}",
                    },
                },
            )
        )

    def _bucket(
        self, definition: r.BucketDef, stage: StageSettings, key: kms.IKey, queues: Mapping[str, sqs.IQueue]
    ) -> s3.Bucket:
        bucket = hardened_bucket(
            self,
            pascal(definition.id),
            stage=stage,
            key=key,
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
            access_logs=self.access_logs,
            access_log_prefix=f"s3/{definition.id}/",
        )
        for rule in r.upload_cors_rules(self._upload_origins):
            bucket.add_cors_rule(
                id=rule["ID"],
                allowed_methods=[s3.HttpMethods(method) for method in rule["AllowedMethods"]],
                allowed_origins=rule["AllowedOrigins"],
                allowed_headers=rule["AllowedHeaders"],
                exposed_headers=rule["ExposeHeaders"],
                max_age=rule["MaxAgeSeconds"],
            )
        # The bucket names its key by the key's alias, not by its ARN: the key's policy names the CDN distribution
        # that reads the public prefix, and the distribution names this bucket, so a reference from the bucket to
        # the key would close a cycle. The alias ARN is a plain string of this account and region.
        cfn_bucket = bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.add_property_override(
            "BucketEncryption.ServerSideEncryptionConfiguration.0.ServerSideEncryptionByDefault.KMSMasterKeyID",
            key_alias_arn(self, r.key(definition.key), stage),
        )
        for notification in definition.notifications:
            bucket.add_event_notification(
                s3.EventType.OBJECT_CREATED,
                _QueueDestination(queues[notification.queue]),
                s3.NotificationKeyFilter(prefix=notification.prefix),
            )
        return bucket


def key_alias_arn(scope: Construct, key: r.KeyDef, stage: StageSettings) -> str:
    """``arn:aws:kms:<region>:<account>:alias/marketplace/<stage>/<key>``: the key's alias in this stack."""
    return Stack.of(scope).format_arn(
        service="kms",
        resource=key.alias(stage.name),
        arn_format=ArnFormat.NO_RESOURCE_NAME,
    )


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
