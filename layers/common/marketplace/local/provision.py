"""Creates every key, table, queue, stream and bucket (the data lake's too) from ``marketplace.platform.resources``
on an AWS endpoint (the embedded moto server, or moto's in-process mock in tests), and returns the environment
variables that tell handlers where they are: the same variables CDK sets on each function."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from marketplace.local import atomic_dynamodb
from marketplace.local.tls import LOOPBACK_NAMES, WILDCARD_HOSTS
from marketplace.platform import resources as r

# The names a browser on this machine reaches a loopback- or wildcard-bound runtime by.
LOOPBACK_ALIASES = ("127.0.0.1", "localhost")


@dataclass
class Deployment:
    stage: str
    env: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    stream_arns: dict[str, str] = field(default_factory=dict)
    table_stream_arns: dict[str, str] = field(default_factory=dict)
    bucket_names: dict[str, str] = field(default_factory=dict)


def _attribute_definitions(table: r.TableDef) -> list[dict[str, str]]:
    attributes = [table.partition_key, *([table.sort_key] if table.sort_key else [])]
    for index in table.indexes:
        attributes += [index.partition_key, *([index.sort_key] if index.sort_key else [])]
    unique = {a.name: a.type for a in attributes}
    return [{"AttributeName": name, "AttributeType": kind} for name, kind in unique.items()]


def _key_schema(partition: r.KeyAttribute, sort: r.KeyAttribute | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    if sort:
        schema.append({"AttributeName": sort.name, "KeyType": "RANGE"})
    return schema


def table_request(table: r.TableDef, stage: str, kms_key_id: str) -> dict[str, Any]:
    """The CreateTable request for a table definition."""
    request: dict[str, Any] = {
        "TableName": table.physical_name(stage),
        "AttributeDefinitions": _attribute_definitions(table),
        "KeySchema": _key_schema(table.partition_key, table.sort_key),
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key_id},
    }
    if table.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.partition_key, index.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.indexes
        ]
    if table.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table.stream}
    return request


def _private_bucket(s3: Any, name: str, key_id: str) -> None:
    """A bucket no one outside can reach, encrypted by default with ``key_id`` (as the stack's buckets are)."""
    s3.create_bucket(Bucket=name)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True,
            "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id},
            "BucketKeyEnabled": True,
        }]},
    )


def site_origins(site_url: str) -> list[str]:
    """The origins a browser may show the local site at: ``site_url``'s own and, for a loopback or wildcard
    host, ``127.0.0.1`` and ``localhost`` with the same scheme and port."""
    origin = site_url.rstrip("/")
    scheme, _, authority = origin.partition("://")
    host, _, port = authority.rpartition(":")
    if not port.isdigit():
        host, port = authority, ""
    if host.strip("[]") not in {*WILDCARD_HOSTS, *LOOPBACK_NAMES}:
        return [origin]
    suffix = f":{port}" if port else ""
    return list(dict.fromkeys([origin, *(f"{scheme}://{alias}{suffix}" for alias in LOOPBACK_ALIASES)]))


def provision(
    stage: str = "local", session: boto3.session.Session | None = None, *, site_url: str | None = None
) -> Deployment:
    """``site_url``: where the local website is served (the runtime's base URL); its pages may then POST
    uploads straight to the packages bucket (``resources.upload_cors_rules``), as the deployed site's may."""
    atomic_dynamodb.install()  # the emulator's conditional writes must be atomic, as DynamoDB's are
    session = session or boto3.session.Session()
    deployment = Deployment(stage)
    kms = session.client("kms")
    existing = existing_aliases(kms)
    for key in r.KEYS:
        key_id = existing.get(key.alias(stage))  # a key put back by a restore: its data must stay readable
        if key_id is None:
            key_id = kms.create_key(Description=f"marketplace {stage}: {key.purpose}")["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=key.alias(stage), TargetKeyId=key_id)
        kms.enable_key_rotation(KeyId=key_id)
        deployment.key_ids[key.id] = key_id
        if key.env_var:
            deployment.env[key.env_var] = key_id
    dynamodb = session.client("dynamodb")
    for table in r.TABLES:
        description = dynamodb.create_table(**table_request(table, stage, deployment.key_ids[table.key]))[
            "TableDescription"]
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table.physical_name(stage),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        dynamodb.update_continuous_backups(
            TableName=table.physical_name(stage),
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
        if table.stream:
            deployment.table_stream_arns[table.id] = description["LatestStreamArn"]
        deployment.env[table.env_var] = table.physical_name(stage)

    sqs = session.client("sqs")
    for queue in sorted(r.QUEUES, key=lambda q: q.dead_letter is not None):  # dead-letter queues first
        attributes = {
            "VisibilityTimeout": str(queue.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(queue.retention_days * 86400),
            "KmsMasterKeyId": deployment.key_ids[queue.key],
        }
        if queue.dead_letter:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": deployment.queue_arns[queue.dead_letter],
                 "maxReceiveCount": queue.max_receive_count}
            )
        url = sqs.create_queue(QueueName=queue.physical_name(stage), Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        deployment.queue_urls[queue.id], deployment.queue_arns[queue.id] = url, arn
        deployment.env[queue.env_var] = url

    kinesis = session.client("kinesis")
    for stream in r.STREAMS:
        name = stream.physical_name(stage)
        kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
        kinesis.start_stream_encryption(
            StreamName=name, EncryptionType="KMS", KeyId=deployment.key_ids[stream.key]
        )
        if stream.retention_hours != 24:
            kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=stream.retention_hours)
        deployment.stream_arns[stream.id] = kinesis.describe_stream_summary(StreamName=name)[
            "StreamDescriptionSummary"]["StreamARN"]
        deployment.env[stream.env_var] = name

    s3 = session.client("s3")
    for bucket in r.BUCKETS:
        name = f"{r.PRODUCT}-{stage}-{bucket.id}"
        _private_bucket(s3, name, deployment.key_ids[bucket.key])
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": lifecycle_rules(bucket)})
        s3.put_bucket_notification_configuration(
            Bucket=name,
            NotificationConfiguration={"QueueConfigurations": [
                {
                    "QueueArn": deployment.queue_arns[n.queue],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": n.prefix}]}},
                }
                for n in bucket.notifications
            ]},
        )
        if site_url is not None:
            s3.put_bucket_cors(
                Bucket=name, CORSConfiguration={"CORSRules": r.upload_cors_rules(site_origins(site_url))}
            )
        deployment.bucket_names[bucket.id] = name
        deployment.env[bucket.env_var] = name

    for lake in r.LAKE_BUCKETS:  # written only by the delivery emulation (marketplace.local.firehose)
        name = f"{r.PRODUCT}-{stage}-{lake.id}"
        _private_bucket(s3, name, deployment.key_ids[lake.key])
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": lake_lifecycle_rules(lake)})
        deployment.bucket_names[lake.id] = name
    return deployment


def existing_aliases(kms: Any) -> dict[str, str]:
    """Alias name -> target key id for every alias the endpoint already has (none on a fresh one)."""
    return {
        alias["AliasName"]: alias["TargetKeyId"]
        for page in kms.get_paginator("list_aliases").paginate()
        for alias in page.get("Aliases", [])
        if alias.get("TargetKeyId") and not alias["AliasName"].startswith("alias/aws/")
    }


def lifecycle_rules(bucket: r.BucketDef) -> list[dict[str, Any]]:
    return [
        {
            "ID": "expire-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": bucket.upload_prefix},
            "Expiration": {"Days": bucket.upload_expiry_days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        {
            "ID": "expire-noncurrent-versions",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": bucket.noncurrent_version_expiry_days},
        },
    ]


def lake_lifecycle_rules(lake: r.LakeBucketDef) -> list[dict[str, Any]]:
    return [
        {
            "ID": "expire-lake-objects",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Expiration": {"Days": lake.expiry_days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": lake.abort_incomplete_upload_days},
        },
    ]
