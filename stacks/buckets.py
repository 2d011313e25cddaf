"""The settings every bucket of the stack shares: public access blocked, ACLs disabled (the bucket owner owns
every object), TLS 1.2 or later only, server access logs to the access-log bucket, and removed with a
development stage (objects too) but kept in production. Encryption is SSE-KMS under the bucket's key with an
S3 bucket key, or SSE-S3 where S3 requires it (the access-log bucket)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.settings import StageSettings


def hardened_bucket(
    scope: Construct,
    construct_id: str,
    *,
    stage: StageSettings,
    key: kms.IKey | None,
    versioned: bool,
    lifecycle_rules: Sequence[s3.LifecycleRule],
    access_logs: s3.IBucket | None = None,
    access_log_prefix: str | None = None,
) -> s3.Bucket:
    """A private bucket; ``key`` ``None`` is SSE-S3 (what S3 server access logging requires of its target)."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS if key is not None else s3.BucketEncryption.S3_MANAGED,
        encryption_key=key,
        bucket_key_enabled=True if key is not None else None,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        versioned=versioned,
        lifecycle_rules=list(lifecycle_rules),
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_log_prefix,
        removal_policy=stage.removal_policy,
        auto_delete_objects=not stage.production,
    )
