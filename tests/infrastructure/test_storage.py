from __future__ import annotations

from typing import Any

import pytest

from marketplace.platform import resources as r
from stacks.cdn_logs import LOG_PREFIX
from stacks.storage import CLOUDFRONT_ORIGINS, LOG_NONCURRENT_EXPIRY_DAYS, log_expiry_days

from .buckets import assert_private, assert_tls_only
from .synth import ACCOUNT, REGION, SITE_URLS, Synthesized, as_list, join

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
    assert_private(props)
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    # By the assets key's alias: a reference to the key would close the cycle key -> bucket -> distribution
    # (the key names the distribution, test_keys.py). The alias is a string of this account and region.
    alias = r.ASSETS_KEY.alias(dev.stage)
    assert encryption == {
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}",
        },
    }
    (target,) = [
        a["Properties"]["TargetKeyId"]
        for a in dev.resources("AWS::KMS::Alias").values()
        if a["Properties"]["AliasName"] == alias
    ]
    assert target == dev.arn(dev.stack.keys.key(r.ASSETS_KEY))
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}


@pytest.mark.parametrize(
    ("stage", "origins"), [("dev", [CLOUDFRONT_ORIGINS]), ("prod", [CLOUDFRONT_ORIGINS, *SITE_URLS])]
)
def test_the_websites_pages_may_post_uploads_to_the_bucket(
    stage: str, origins: list[str], request: pytest.FixtureRequest
) -> None:
    """The one rule ``resources.upload_cors_rules`` defines (the local runtime puts the same one), for the site's
    origins: CloudFront's (its domain itself would close a cycle, the distribution reads this bucket) and the
    ``siteUrls``; nothing else of the stack's buckets answers a browser."""
    synth: Synthesized = request.getfixturevalue(stage)
    [rule] = r.upload_cors_rules(origins)
    assert synth.props(synth.stack.buckets.bucket(BUCKET))["CorsConfiguration"] == {
        "CorsRules": [
            {
                "Id": rule["ID"],
                "AllowedMethods": ["POST"],
                "AllowedOrigins": origins,
                "AllowedHeaders": ["*"],
                "ExposedHeaders": ["ETag"],
                "MaxAge": 3000,
            }
        ]
    }
    assert rule["AllowedMethods"] == ["POST"] and rule["ExposeHeaders"] == ["ETag"] and rule["MaxAgeSeconds"] == 3000
    with_cors = [b for b in synth.resources("AWS::S3::Bucket").values() if "CorsConfiguration" in b["Properties"]]
    assert len(with_cors) == len(r.BUCKETS)


def test_bucket_refuses_plain_http_and_old_tls(dev: Synthesized) -> None:
    assert_tls_only(_bucket_statements(dev))


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


def _policy_of(dev: Synthesized, bucket: Any) -> list[dict[str, Any]]:
    (policy,) = [
        p for p in dev.resources("AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == dev.ref(bucket)
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_s3_requests_are_logged_to_the_sse_s3_access_log_bucket(dev: Synthesized) -> None:
    logs = dev.stack.buckets.access_logs
    for bucket in (dev.stack.buckets.bucket(BUCKET), dev.stack.buckets.cdn_logs, *dev.stack.lake.buckets.values()):
        assert dev.props(bucket)["LoggingConfiguration"]["DestinationBucketName"] == dev.ref(logs)
    # S3 server access logging delivers only into buckets whose default encryption is SSE-S3
    (encryption,) = dev.props(logs)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    # written by the logging service under a bucket policy, not through ACLs
    writers = [s for s in _policy_of(dev, logs) if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}]
    assert len(writers) == 3
    assert all(s["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT} for s in writers)


def test_cdn_logs_are_encrypted_with_the_logs_key(dev: Synthesized) -> None:
    props = dev.props(dev.stack.buckets.cdn_logs)
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == {
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": dev.arn(dev.stack.keys.logs_key),
        },
    }


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("bucket_name", ["access_logs", "cdn_logs"])
def test_log_buckets_are_private_versioned_and_expire(
    stage: str, bucket_name: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stage)
    props = synth.props(getattr(synth.stack.buckets, bucket_name))
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert_private(props)  # no ACLs either
    assert_tls_only(_policy_of(synth, getattr(synth.stack.buckets, bucket_name)))
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    days = log_expiry_days(synth.stack.stage)
    assert days == (365 if stage == "prod" else 90)
    (current,) = [rule for rule in rules.values() if "ExpirationInDays" in rule]
    assert current["ExpirationInDays"] == days
    assert current["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    (noncurrent,) = [rule for rule in rules.values() if "NoncurrentVersionExpiration" in rule]
    assert noncurrent["NoncurrentVersionExpiration"] == {"NoncurrentDays": LOG_NONCURRENT_EXPIRY_DAYS}
    assert noncurrent["ExpiredObjectDeleteMarker"] is True
    assert not [rule for rule in rules.values() if "Prefix" in rule or "Filter" in rule]  # the whole bucket


def test_only_this_stages_cloudfront_log_delivery_may_write_cdn_logs(dev: Synthesized) -> None:
    logs = dev.stack.buckets.cdn_logs
    (source,) = dev.edge_resources("AWS::Logs::DeliverySource").values()
    delivery = {"Service": "delivery.logs.amazonaws.com"}
    (statement,) = [s for s in _policy_of(dev, logs) if s.get("Principal") == delivery]
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["s3:PutObject"]
    assert statement["Resource"] == join(dev.arn(logs), f"/{LOG_PREFIX}/*")
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT, "s3:x-amz-acl": "bucket-owner-full-control"},
        "ArnLike": {
            "aws:SourceArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:delivery-source:{source['Properties']['Name']}"
        },
    }
    # nobody else is allowed to put objects (the other Allow is CDK's auto-delete role in dev)
    others = [s for s in _policy_of(dev, logs) if s["Effect"] == "Allow" and s is not statement]
    assert all("s3:PutObject" not in as_list(s["Action"]) for s in others)


def _cloudfront_statements(dev: Synthesized) -> list[dict[str, Any]]:
    return [s for s in _bucket_statements(dev) if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]


def test_cloudfront_may_read_only_the_public_prefix(dev: Synthesized) -> None:
    bucket_arn = dev.arn(dev.stack.buckets.bucket(BUCKET))
    (statement,) = [s for s in _cloudfront_statements(dev) if "s3:GetObject" in as_list(s["Action"])]
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["s3:GetObject"]
    assert statement["Resource"] == join(bucket_arn, f"/{BUCKET.public_prefix}*")
    source = statement["Condition"]["StringEquals"]["AWS:SourceArn"]
    assert {"Ref": dev.logical_id(dev.stack.cdn.distribution)} in source["Fn::Join"][1]


def test_cloudfront_may_list_the_bucket_so_a_missing_asset_is_a_404(dev: Synthesized) -> None:
    """S3 answers a missing key with 404 NoSuchKey to a reader with s3:ListBucket, with 403 to any other."""
    statements = _cloudfront_statements(dev)
    assert len(statements) == 2
    (listing,) = [s for s in statements if "s3:ListBucket" in as_list(s["Action"])]
    assert as_list(listing["Action"]) == ["s3:ListBucket"]
    assert listing["Resource"] == dev.arn(dev.stack.buckets.bucket(BUCKET))
    assert listing["Condition"] == {
        "StringEquals": {
            "AWS:SourceArn": join(f"arn:aws:cloudfront::{ACCOUNT}:distribution/", dev.ref(dev.stack.cdn.distribution))
        }
    }


def _grants_to_anyone(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    return principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS", [])))


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_no_bucket_is_public(stage: str, request: pytest.FixtureRequest) -> None:
    """Every bucket of both stacks, not only the ones named above: public access blocked in all four ways, and no
    bucket policy allows anyone (``Principal: "*"``) without a condition."""
    synth: Synthesized = request.getfixturevalue(stage)

    def of_type(resource_type: str) -> list[dict[str, Any]]:
        return [*synth.resources(resource_type).values(), *synth.edge_resources(resource_type).values()]

    buckets = of_type("AWS::S3::Bucket")
    assert len(buckets) >= 3 + len(synth.stack.lake.buckets)  # packages, access logs, CDN logs and the lake's
    for bucket in buckets:
        assert_private(bucket["Properties"])
    for policy in of_type("AWS::S3::BucketPolicy"):
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow" and _grants_to_anyone(statement):
                assert statement.get("Condition"), statement
