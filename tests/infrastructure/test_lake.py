"""The data lake: a private, TLS-only bucket under its own key with an 18-month lifecycle, and a Kinesis Data
Firehose delivery stream from the event stream into it, with a role that may do exactly that."""

from __future__ import annotations

from typing import Any

import pytest

from marketplace.platform import resources as r
from stacks.lake import ERROR_LOG_STREAM

from .buckets import assert_private, assert_tls_only
from .synth import REGION, Synthesized, as_list, join

pytestmark = pytest.mark.slow
LAKE = r.LAKE_BUCKET
DELIVERY = r.EVENTS_TO_LAKE


def _bucket_statements(dev: Synthesized) -> list[dict[str, Any]]:
    bucket = dev.stack.lake.bucket(LAKE)
    (policy,) = [
        p for p in dev.resources("AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == dev.ref(bucket)
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _role_statements(dev: Synthesized) -> list[dict[str, Any]]:
    return dev.statements_of_role(dev.stack.lake.roles[DELIVERY.id])


def _destination(dev: Synthesized) -> dict[str, Any]:
    props = dev.props(dev.stack.lake.delivery_stream(DELIVERY))
    destination: dict[str, Any] = props["ExtendedS3DestinationConfiguration"]
    return destination


def test_the_lake_is_private_unversioned_and_encrypted_with_its_own_key(dev: Synthesized) -> None:
    props = dev.props(dev.stack.lake.bucket(LAKE))
    assert_private(props)
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == {
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": dev.arn(dev.stack.keys.key(r.LAKE_KEY)),
        },
    }
    assert "VersioningConfiguration" not in props
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": dev.ref(dev.stack.buckets.access_logs),
        "LogFilePrefix": f"s3/{LAKE.id}/",
    }


def test_the_lake_refuses_plain_http_and_old_tls(dev: Synthesized) -> None:
    assert_tls_only(_bucket_statements(dev))


def test_lake_objects_expire_after_18_months(dev: Synthesized) -> None:
    (rule,) = dev.props(dev.stack.lake.bucket(LAKE))["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and "Prefix" not in rule
    assert rule["ExpirationInDays"] == LAKE.expiry_days == 548
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": LAKE.abort_incomplete_upload_days}


def test_firehose_reads_the_event_stream_and_writes_gzip_json_lines_by_day(dev: Synthesized) -> None:
    props = dev.props(dev.stack.lake.delivery_stream(DELIVERY))
    role_arn = dev.arn(dev.stack.lake.roles[DELIVERY.id])
    assert props["DeliveryStreamName"] == DELIVERY.physical_name(dev.stage)
    assert props["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert props["KinesisStreamSourceConfiguration"] == {
        "KinesisStreamARN": dev.arn(dev.stack.streams.stream(r.stream(DELIVERY.source))),
        "RoleARN": role_arn,
    }
    destination = _destination(dev)
    assert destination["BucketARN"] == dev.arn(dev.stack.lake.bucket(LAKE))
    assert destination["RoleARN"] == role_arn
    assert destination["Prefix"] == "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
    assert destination["ErrorOutputPrefix"] == DELIVERY.error_prefix
    assert destination["CompressionFormat"] == "GZIP"
    assert destination["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 64}
    assert destination["EncryptionConfiguration"] == {
        "KMSEncryptionConfig": {"AWSKMSKeyARN": dev.arn(dev.stack.keys.key(r.LAKE_KEY))}
    }
    assert destination["ProcessingConfiguration"] == {
        "Enabled": True,
        "Processors": [
            {
                "Type": "AppendDelimiterToRecord",
                "Parameters": [{"ParameterName": "Delimiter", "ParameterValue": "\\n"}],
            }
        ],
    }
    assert "DeliveryStreamEncryptionConfigurationInput" not in props  # not offered for a Kinesis source


def test_delivery_errors_are_logged_to_an_encrypted_log_group(dev: Synthesized) -> None:
    log_group = dev.stack.lake.error_logs[DELIVERY.id]
    (stream_id,) = [
        logical_id
        for logical_id, stream in dev.resources("AWS::Logs::LogStream").items()
        if stream["Properties"]["LogGroupName"] == dev.ref(log_group)
    ]
    assert dev.json["Resources"][stream_id]["Properties"]["LogStreamName"] == ERROR_LOG_STREAM
    assert _destination(dev)["CloudWatchLoggingOptions"] == {
        "Enabled": True,
        "LogGroupName": dev.ref(log_group),
        "LogStreamName": {"Ref": stream_id},
    }
    assert dev.props(log_group)["KmsKeyId"] == dev.arn(dev.stack.keys.logs_key)


def test_only_firehose_of_this_account_may_assume_the_delivery_role(dev: Synthesized) -> None:
    (statement,) = dev.props(dev.stack.lake.roles[DELIVERY.id])["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": dev.stack.account}}


def test_the_delivery_role_reads_only_its_stream_and_writes_only_its_prefixes(dev: Synthesized) -> None:
    stream = dev.stack.streams.stream(r.stream(DELIVERY.source))
    bucket_arn = dev.arn(dev.stack.lake.bucket(LAKE))
    stream_key = dev.arn(dev.stack.keys.key(r.key(r.stream(DELIVERY.source).key)))
    lake_key = dev.arn(dev.stack.keys.key(r.LAKE_KEY))
    granted = {tuple(sorted(as_list(s["Action"]))): s for s in _role_statements(dev)}
    assert all(s["Effect"] == "Allow" for s in granted.values())
    assert set(granted) == {
        ("kinesis:DescribeStream", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"),
        ("kms:Decrypt",),
        ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"),
        ("s3:AbortMultipartUpload", "s3:PutObject"),
        ("kms:Decrypt", "kms:GenerateDataKey"),
        ("logs:PutLogEvents",),
    }
    assert granted[("kinesis:DescribeStream", "kinesis:GetRecords", "kinesis:GetShardIterator",
                    "kinesis:ListShards")]["Resource"] == dev.arn(stream)
    decrypt_stream = granted[("kms:Decrypt",)]
    assert decrypt_stream["Resource"] == stream_key
    assert decrypt_stream["Condition"]["StringEquals"]["kms:EncryptionContext:aws:kinesis:arn"] == dev.arn(stream)
    assert decrypt_stream["Condition"]["StringEquals"]["kms:ViaService"] == join(
        f"kinesis.{REGION}.", {"Ref": "AWS::URLSuffix"})
    assert granted[("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")]["Resource"] == bucket_arn
    objects = granted[("s3:AbortMultipartUpload", "s3:PutObject")]["Resource"]
    prefixes = [r.static_prefix(DELIVERY.prefix), r.static_prefix(DELIVERY.error_prefix)]
    assert sorted(as_list(objects), key=str) == sorted([join(bucket_arn, f"/{p}*") for p in prefixes], key=str)
    encrypt = granted[("kms:Decrypt", "kms:GenerateDataKey")]
    assert encrypt["Resource"] == lake_key
    assert encrypt["Condition"]["StringEquals"]["kms:EncryptionContext:aws:s3:arn"] == bucket_arn
    assert encrypt["Condition"]["StringEquals"]["kms:ViaService"] == join(f"s3.{REGION}.", {"Ref": "AWS::URLSuffix"})
    log_stream = granted[("logs:PutLogEvents",)]["Resource"]
    assert dev.ref(dev.stack.lake.error_logs[DELIVERY.id]) in log_stream["Fn::Join"][1]
    assert log_stream["Fn::Join"][1][-1] == f":log-stream:{ERROR_LOG_STREAM}"


def test_no_function_can_read_or_write_the_lake(dev: Synthesized) -> None:
    bucket_id = dev.logical_id(dev.stack.lake.bucket(LAKE))
    key_id = dev.logical_id(dev.stack.keys.key(r.LAKE_KEY))
    for function in dev.stack.functions.functions.values():
        assert function.role is not None
        text = str(dev.statements_of_role(function.role))
        assert bucket_id not in text and key_id not in text, function.node.id


def test_the_delivery_alarms_when_it_falls_behind(dev: Synthesized) -> None:
    delivery_ref = dev.ref(dev.stack.lake.delivery_stream(DELIVERY))
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in dev.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/Firehose"
    }
    assert set(alarms) == {"DeliveryToS3.DataFreshness", "KinesisMillisBehindLatest"}
    for alarm in alarms.values():
        assert alarm["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": delivery_ref}]
        assert alarm["AlarmActions"] == [dev.ref(dev.stack.monitoring.topic)]
    assert alarms["DeliveryToS3.DataFreshness"]["Threshold"] == 15 * 60


def test_the_lake_is_kept_in_production(prod: Synthesized) -> None:
    resource = prod.resource(prod.stack.lake.bucket(LAKE))
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    for logical_id, log_stream in prod.resources("AWS::Logs::LogStream").items():
        assert log_stream["DeletionPolicy"] == "Retain", logical_id
    assert "LakeBucketName" in prod.json["Outputs"]
