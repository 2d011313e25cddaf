from __future__ import annotations

from typing import Any

import pytest

from marketplace.platform import resources as r

from .synth import Synthesized, as_list, join

pytestmark = pytest.mark.slow
BUCKET = r.PACKAGES_BUCKET


def _bucket_statements(dev: Synthesized) -> list[dict[str, Any]]:
    bucket = dev.stack.buckets.bucket(BUCKET)
    (policy,) = [
        p for p in dev.resources("AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == dev.ref(bucket)
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_bucket_is_private_versioned_and_encrypted_with_the_assets_key(dev: Synthesized) -> None:
    props = dev.props(dev.stack.buckets.bucket(BUCKET))
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == {
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": dev.arn(dev.stack.keys.key(r.ASSETS_KEY)),
        },
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_bucket_refuses_plain_http_and_old_tls(dev: Synthesized) -> None:
    denials = [s for s in _bucket_statements(dev) if s["Effect"] == "Deny"]
    conditions = [s["Condition"] for s in denials]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions


def test_lifecycle_expires_uploads_and_old_versions(dev: Synthesized) -> None:
    rules = dev.props(dev.stack.buckets.bucket(BUCKET))["LifecycleConfiguration"]["Rules"]
    (uploads,) = [rule for rule in rules if rule.get("Prefix") == BUCKET.upload_prefix]
    assert uploads["ExpirationInDays"] == BUCKET.upload_expiry_days
    assert uploads["Status"] == "Enabled"
    (versions,) = [rule for rule in rules if "NoncurrentVersionExpiration" in rule]
    assert "Prefix" not in versions
    assert versions["NoncurrentVersionExpiration"] == {"NoncurrentDays": BUCKET.noncurrent_version_expiry_days}
    assert versions["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_object_created_events_go_to_the_defined_queues(dev: Synthesized) -> None:
    (notifications,) = dev.resources("Custom::S3BucketNotifications").values()
    assert notifications["Properties"]["BucketName"] == dev.ref(dev.stack.buckets.bucket(BUCKET))
    configured = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert configured == [
        {
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": n.prefix}]}},
            "QueueArn": dev.arn(dev.stack.queues.queue(r.queue(n.queue))),
        }
        for n in BUCKET.notifications
    ]


def test_only_this_bucket_may_send_to_the_notification_queues(dev: Synthesized) -> None:
    bucket_arn = dev.arn(dev.stack.buckets.bucket(BUCKET))
    for notification in BUCKET.notifications:
        queue = dev.stack.queues.queue(r.queue(notification.queue))
        (policy,) = [
            p for p in dev.resources("AWS::SQS::QueuePolicy").values() if p["Properties"]["Queues"] == [dev.ref(queue)]
        ]
        (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
        assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
        assert allow["Action"] == "sqs:SendMessage"
        assert allow["Condition"]["ArnLike"] == {"aws:SourceArn": bucket_arn}
        assert "aws:SourceAccount" in allow["Condition"]["StringEquals"]


def test_requests_are_logged_to_the_access_log_bucket(dev: Synthesized) -> None:
    logs = dev.stack.buckets.access_logs
    props = dev.props(dev.stack.buckets.bucket(BUCKET))
    assert props["LoggingConfiguration"]["DestinationBucketName"] == dev.ref(logs)
    log_props = dev.props(logs)
    # CloudFront's standard logs are written through ACLs, and cannot be written SSE-KMS
    (encryption,) = log_props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert log_props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}
    assert log_props["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    assert all("ExpirationInDays" in rule for rule in log_props["LifecycleConfiguration"]["Rules"])


def test_cloudfront_may_read_only_the_public_prefix(dev: Synthesized) -> None:
    bucket_arn = dev.arn(dev.stack.buckets.bucket(BUCKET))
    cloudfront = [s for s in _bucket_statements(dev) if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]
    (statement,) = cloudfront
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["s3:GetObject"]
    assert statement["Resource"] == join(bucket_arn, f"/{BUCKET.public_prefix}*")
    source = statement["Condition"]["StringEquals"]["AWS:SourceArn"]
    assert {"Ref": dev.logical_id(dev.stack.cdn.distribution)} in source["Fn::Join"][1]
