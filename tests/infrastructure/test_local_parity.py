"""The local runtime and the CDK stack build the same resources from the same definitions.

The stack is synthesized, the local runtime's provisioning runs against moto, and the two descriptions
are compared: table names, key schemas, attribute types, indexes, TTL attributes, streams, PITR and
encryption; queues and their redrive; the event stream; bucket notifications and lifecycle; event-source
mapping settings, schedules and API routes; which functions run (the optional mirror only when configured).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from marketplace.local.apigw import RouteTable
from marketplace.local.provision import Deployment, provision
from marketplace.platform import aws
from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from marketplace.platform.functions import FUNCTIONS, SqsSource, StreamSource
from tests.infrastructure.synth import PROD_CONTEXT, Synthesized

pytestmark = pytest.mark.slow
STAGE = "dev"
LOCAL_SITE = "http://127.0.0.1:8080"  # the local runtime's base URL (provision's site_url)


@pytest.fixture(scope="module")
def template(dev: Synthesized) -> dict[str, Any]:
    """The session's synthesized ``dev`` stage (tests/infrastructure/conftest.py)."""
    assert dev.stage == STAGE
    return dev.json


@pytest.fixture(scope="module")
def local() -> Iterator[tuple[Deployment, boto3.session.Session]]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "t",
            "AWS_SECRET_ACCESS_KEY": "t",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        }.items():
            env.setenv(name, value)
        with mock_aws():
            aws.reset_clients()
            session = boto3.session.Session()
            yield provision(STAGE, session, site_url=LOCAL_SITE), session
        aws.reset_clients()


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [res["Properties"] for res in template["Resources"].values() if res["Type"] == kind]


def _key_schema(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


def _cfn_table(template: dict[str, Any], name: str) -> dict[str, Any]:
    [table] = [t for t in _resources(template, "AWS::DynamoDB::GlobalTable") if t["TableName"] == name]
    return table


@pytest.mark.parametrize("definition", r.TABLES, ids=lambda t: t.id)
def test_tables_agree(template, local, definition: r.TableDef):
    _, session = local
    name = definition.physical_name(STAGE)
    cfn = _cfn_table(template, name)
    dynamodb = session.client("dynamodb")
    described = dynamodb.describe_table(TableName=name)["Table"]

    assert _key_schema(cfn["KeySchema"]) == _key_schema(described["KeySchema"])
    assert sorted(map(tuple, (a.values() for a in cfn["AttributeDefinitions"]))) == sorted(
        map(tuple, (a.values() for a in described["AttributeDefinitions"]))
    )
    cfn_indexes = {
        i["IndexName"]: (_key_schema(i["KeySchema"]), i["Projection"]["ProjectionType"])
        for i in cfn.get("GlobalSecondaryIndexes", [])
    }
    local_indexes = {
        i["IndexName"]: (_key_schema(i["KeySchema"]), i["Projection"]["ProjectionType"])
        for i in described.get("GlobalSecondaryIndexes", [])
    }
    assert cfn_indexes == local_indexes

    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    cfn_ttl = cfn.get("TimeToLiveSpecification", {})
    assert (cfn_ttl.get("AttributeName"), bool(cfn_ttl.get("Enabled"))) == (
        ttl.get("AttributeName"),
        ttl["TimeToLiveStatus"] == "ENABLED",
    )

    cfn_stream = cfn.get("StreamSpecification", {}).get("StreamViewType")
    local_stream = described.get("StreamSpecification", {}).get("StreamViewType")
    assert cfn_stream == local_stream == definition.stream

    assert cfn["BillingMode"] == described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    [replica] = cfn["Replicas"]
    assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert cfn["SSESpecification"]["SSEEnabled"] is True and cfn["SSESpecification"]["SSEType"] == "KMS"
    assert described["SSEDescription"]["SSEType"] == "KMS"


@pytest.mark.parametrize("definition", r.QUEUES, ids=lambda q: q.id)
def test_queues_agree(dev: Synthesized, prod: Synthesized, local, definition: r.QueueDef):
    """Locally every queue exists; the stack's scheduled mirror dead-letter queue only with the mirror (prod's)."""
    deployment, session = local
    synth = dev if definition.id in dev.stack.queues.queues else prod
    name = definition.physical_name(synth.stage)
    [cfn] = [q for q in _resources(synth.json, "AWS::SQS::Queue") if q.get("QueueName") == name]
    attributes = session.client("sqs").get_queue_attributes(
        QueueUrl=deployment.queue_urls[definition.id], AttributeNames=["All"]
    )["Attributes"]
    assert int(cfn["VisibilityTimeout"]) == int(attributes["VisibilityTimeout"])
    assert int(cfn["MessageRetentionPeriod"]) == int(attributes["MessageRetentionPeriod"])
    assert "KmsMasterKeyId" in cfn and "KmsMasterKeyId" in attributes
    if definition.dead_letter:
        local_redrive = json.loads(attributes["RedrivePolicy"])
        assert int(cfn["RedrivePolicy"]["maxReceiveCount"]) == int(local_redrive["maxReceiveCount"])
        assert local_redrive["deadLetterTargetArn"].endswith(r.queue(definition.dead_letter).physical_name(STAGE))
        assert cfn["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] == synth.logical_id(
            synth.stack.queues.queue(r.queue(definition.dead_letter)))
    else:
        assert "RedrivePolicy" not in cfn and "RedrivePolicy" not in attributes


@pytest.mark.parametrize("definition", r.STREAMS, ids=lambda s: s.id)
def test_streams_agree(template, local, definition: r.StreamDef):
    _, session = local
    name = definition.physical_name(STAGE)
    [cfn] = [s for s in _resources(template, "AWS::Kinesis::Stream") if s.get("Name") == name]
    summary = session.client("kinesis").describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert cfn["StreamModeDetails"]["StreamMode"] == summary["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
    assert int(cfn.get("RetentionPeriodHours", 24)) == summary["RetentionPeriodHours"]
    assert cfn["StreamEncryption"]["EncryptionType"] == summary["EncryptionType"] == "KMS"


def test_keys_agree(template, local):
    deployment, session = local
    cfn_keys = _resources(template, "AWS::KMS::Key")
    assert len(cfn_keys) == len(r.KEYS) == len(deployment.key_ids)
    assert all(k.get("EnableKeyRotation") is True for k in cfn_keys)
    kms = session.client("kms")
    assert all(kms.get_key_rotation_status(KeyId=k)["KeyRotationEnabled"] for k in deployment.key_ids.values())
    cfn_aliases = {a["AliasName"] for a in _resources(template, "AWS::KMS::Alias")}
    local_aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"] if "marketplace" in a["AliasName"]}
    assert cfn_aliases == local_aliases == {k.alias(STAGE) for k in r.KEYS}


def test_bucket_notifications_and_lifecycle_agree(template, local):
    deployment, session = local
    s3 = session.client("s3")
    bucket = deployment.bucket_names[r.PACKAGES_BUCKET.id]
    local_notifications = {
        (c["Filter"]["Key"]["FilterRules"][0]["Value"], c["QueueArn"].rsplit(":", 1)[1])
        for c in s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    }
    [custom] = [
        res["Properties"] for res in template["Resources"].values() if res["Type"] == "Custom::S3BucketNotifications"
    ]
    cfn_notifications = set()
    for config in custom["NotificationConfiguration"]["QueueConfigurations"]:
        prefix = next(rule["Value"] for rule in config["Filter"]["Key"]["FilterRules"] if rule["Name"] == "prefix")
        queue_logical_id = config["QueueArn"]["Fn::GetAtt"][0]
        queue_name = template["Resources"][queue_logical_id]["Properties"]["QueueName"]
        cfn_notifications.add((prefix, queue_name))
    expected = {(n.prefix, r.queue(n.queue).physical_name(STAGE)) for n in r.PACKAGES_BUCKET.notifications}
    assert cfn_notifications == local_notifications == expected

    local_rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    [upload_rule] = [rule for rule in local_rules if rule["Filter"].get("Prefix") == r.PACKAGES_BUCKET.upload_prefix]
    [packages] = [
        b
        for b in _resources(template, "AWS::S3::Bucket")
        if "NotificationConfiguration" not in b
        and b.get("LifecycleConfiguration")
        and any(rule.get("Prefix") == r.PACKAGES_BUCKET.upload_prefix for rule in b["LifecycleConfiguration"]["Rules"])
    ]
    [cfn_rule] = [
        rule
        for rule in packages["LifecycleConfiguration"]["Rules"]
        if rule.get("Prefix") == r.PACKAGES_BUCKET.upload_prefix
    ]
    assert cfn_rule["ExpirationInDays"] == upload_rule["Expiration"]["Days"] == r.PACKAGES_BUCKET.upload_expiry_days


def test_the_upload_cors_rule_agrees_but_for_the_sites_origins(dev: Synthesized, local):
    """One definition (``resources.upload_cors_rules``): the stack's rule names the deployed site's origins, the
    local one the runtime's own."""
    from marketplace.local.provision import site_origins
    from stacks.storage import CLOUDFRONT_ORIGINS

    deployment, session = local
    local_rules = session.client("s3").get_bucket_cors(Bucket=deployment.bucket_names[r.PACKAGES_BUCKET.id])
    [cfn] = dev.props(dev.stack.buckets.bucket(r.PACKAGES_BUCKET))["CorsConfiguration"]["CorsRules"]
    [rule] = local_rules["CORSRules"]
    assert rule == r.upload_cors_rules(site_origins(LOCAL_SITE))[0]
    assert rule["AllowedOrigins"] == [LOCAL_SITE, "http://localhost:8080"]
    assert cfn["AllowedOrigins"] == [CLOUDFRONT_ORIGINS]
    assert (cfn["Id"], cfn["AllowedMethods"], cfn["AllowedHeaders"], cfn["ExposedHeaders"], cfn["MaxAge"]) == (
        rule["ID"], rule["AllowedMethods"], rule["AllowedHeaders"], rule["ExposeHeaders"], rule["MaxAgeSeconds"])


def test_event_source_mappings_match_what_the_local_pollers_use(template):
    mappings = _resources(template, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len([fn for fn in FUNCTIONS if isinstance(fn.source, SqsSource | StreamSource)])
    by_size = sorted(
        (
            m["BatchSize"],
            m.get("MaximumRetryAttempts"),
            m.get("BisectBatchOnFunctionError"),
            tuple(m.get("FunctionResponseTypes", [])),
            m.get("StartingPosition"),
        )
        for m in mappings
    )
    expected: list[tuple[object, ...]] = []
    for fn in FUNCTIONS:
        if isinstance(fn.source, SqsSource):
            expected.append((fn.source.batch_size, None, None, ("ReportBatchItemFailures",), None))
        elif isinstance(fn.source, StreamSource):
            expected.append(
                (
                    fn.source.batch_size,
                    fn.source.max_retry_attempts,
                    fn.source.bisect_batch_on_error,
                    ("ReportBatchItemFailures",),
                    fn.source.starting_position,
                )
            )
    assert by_size == sorted(expected)


def test_api_routes_match_the_local_router(template):
    cfn_routes = {route["RouteKey"] for route in _resources(template, "AWS::ApiGatewayV2::Route")}
    local_routes = {compiled.route.key for compiled in RouteTable(FUNCTIONS).routes}
    assert cfn_routes == local_routes


@pytest.mark.parametrize("definition", r.LAKE_BUCKETS, ids=lambda b: b.id)
def test_lake_buckets_agree(template, local, definition: r.LakeBucketDef):
    deployment, session = local
    s3 = session.client("s3")
    bucket = deployment.bucket_names[definition.id]
    [cfn] = [
        b
        for b in _resources(template, "AWS::S3::Bucket")
        if b.get("LoggingConfiguration", {}).get("LogFilePrefix") == f"s3/{definition.id}/"
    ]
    [cfn_rule] = cfn["LifecycleConfiguration"]["Rules"]
    [local_rule] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert cfn_rule["ExpirationInDays"] == local_rule["Expiration"]["Days"] == definition.expiry_days
    assert (
        cfn_rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        == local_rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        == definition.abort_incomplete_upload_days
    )
    assert "Prefix" not in cfn_rule and local_rule["Filter"].get("Prefix", "") == ""

    [cfn_encryption] = cfn["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    [local_encryption] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert cfn_encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert local_encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    lake_key_logical_id = cfn_encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
    [alias] = [a for a in _resources(template, "AWS::KMS::Alias")
               if a["TargetKeyId"] == {"Fn::GetAtt": [lake_key_logical_id, "Arn"]}]
    assert alias["AliasName"] == r.key(definition.key).alias(STAGE)
    local_key = local_encryption["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert local_key == deployment.key_ids[definition.key]
    assert cfn_encryption["BucketKeyEnabled"] is local_encryption["BucketKeyEnabled"] is True

    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == cfn["PublicAccessBlockConfiguration"] and all(block.values())
    assert "VersioningConfiguration" not in cfn
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None


@pytest.mark.parametrize("definition", r.DELIVERY_STREAMS, ids=lambda d: d.id)
def test_delivery_streams_read_and_write_what_the_local_delivery_does(template, local, definition: r.DeliveryDef):
    deployment, _ = local
    [cfn] = [d for d in _resources(template, "AWS::KinesisFirehose::DeliveryStream")
             if d["DeliveryStreamName"] == definition.physical_name(STAGE)]
    source_logical_id = cfn["KinesisStreamSourceConfiguration"]["KinesisStreamARN"]["Fn::GetAtt"][0]
    source_name = template["Resources"][source_logical_id]["Properties"]["Name"]
    assert source_name == r.stream(definition.source).physical_name(STAGE)
    assert deployment.stream_arns[definition.source].endswith(f"/{source_name}")  # what the local delivery reads
    destination = cfn["ExtendedS3DestinationConfiguration"]
    assert (destination["Prefix"], destination["ErrorOutputPrefix"]) == (definition.prefix, definition.error_prefix)
    assert destination["CompressionFormat"] == definition.compression
    assert definition.bucket in deployment.bucket_names  # what the local delivery writes


def _mirror_options(tmp_path) -> Any:
    """The local runtime's mirror, as ``prod``'s ``mirror`` context configures the stack's."""
    from marketplace.local.scheduler import MirrorOptions

    allow = tmp_path / "allow.txt"
    allow.write_text("redhat.java\n")
    return MirrorOptions(fns.MirrorSettings.from_mapping(PROD_CONTEXT["mirror"]), allow, None, 60.0)


@pytest.mark.parametrize("definition", FUNCTIONS, ids=lambda fn: fn.name)
def test_local_workers_get_the_environment_cdk_gives_each_function(dev: Synthesized, prod: Synthesized, local,
                                                                   definition, tmp_path):
    """The same variables, by name, and the same resource locations: no worker sees a resource its function
    is not granted, nor misses one it is (the stack's values are tokens; the local ones are physical names).
    An optional function is compared with prod's, configured there as the local runtime is here."""
    from marketplace.identity.config import ISSUERS_VAR
    from marketplace.local.runtime import _FUNCTION_SCOPED, LocalMarketplace

    deployment, _ = local
    synth = dev if definition in dev.functions else prod
    deployed = synth.props(synth.stack.functions.function(definition))["Environment"]["Variables"]
    runtime = LocalMarketplace(stage=STAGE, mirror=_mirror_options(tmp_path) if definition.enabled_by else None)
    runtime.deployment = deployment
    runtime._auth = {ISSUERS_VAR: "[]"}
    worker = runtime.function_environment(definition)
    lambda_set = {"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                  "AWS_LAMBDA_LOG_GROUP_NAME"}
    scoped = {name for name in worker if name in _FUNCTION_SCOPED or name in deployed}
    assert scoped == set(deployed), definition.name
    assert lambda_set <= set(worker)
    for name in definition.environment_variables():
        assert worker[name] == deployment.env[name]
    # Powertools' settings and, for the mirror, the context's settings: the same values
    same = [name for name in deployed if name.startswith("POWERTOOLS_")]
    if definition.enabled_by == fns.MIRROR_CONTEXT:
        same += [fns.MIRROR_UPSTREAM_VAR, fns.MIRROR_JOBS_VAR, fns.MIRROR_RATE_VAR]
    assert {name: worker[name] for name in same} == {name: deployed[name] for name in same}


def test_the_runtime_runs_the_functions_the_stack_deploys(dev: Synthesized, prod: Synthesized, tmp_path):
    """Without a mirror configured, what ``dev`` deploys; with one, also the mirror, as ``prod`` (whose context
    configures it) deploys it."""
    from marketplace.local.runtime import LocalMarketplace

    assert LocalMarketplace(stage=STAGE).functions == dev.functions == fns.deployed()
    assert LocalMarketplace(stage=STAGE, mirror=_mirror_options(tmp_path)).functions == prod.functions == FUNCTIONS


def test_schedules_match_what_the_local_scheduler_does(prod: Synthesized, local, tmp_path):
    """The rule EventBridge runs and the local scheduler: the rule's name (the ARN in each event), the schedule,
    the retries (EventBridge's delivery and Lambda's runs) and the dead-letter queue."""
    from marketplace.local.runtime import LocalMarketplace
    from marketplace.local.scheduler import Scheduler

    deployment, _ = local
    runtime = LocalMarketplace(stage=STAGE, mirror=_mirror_options(tmp_path))
    runtime.deployment = deployment
    scheduled = [fn for fn in FUNCTIONS if isinstance(fn.source, fns.ScheduleSource)]
    assert scheduled == [fns.MIRROR]
    rules = prod.resources("AWS::Events::Rule")
    configs = prod.resources("AWS::Lambda::EventInvokeConfig")
    assert len(rules) == len(configs) == len(scheduled)
    for fn in scheduled:
        assert isinstance(fn.source, fns.ScheduleSource)
        scheduler = runtime._poller(fn)
        assert isinstance(scheduler, Scheduler) and scheduler.fn is fn
        function = prod.logical_id(prod.stack.functions.function(fn))
        [rule] = [res["Properties"] for res in rules.values()
                  if res["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [function, "Arn"]}]
        [config] = [res["Properties"] for res in configs.values() if res["Properties"]["FunctionName"] == {
            "Ref": function}]
        assert rule["Name"] == fn.rule_name(prod.stage)
        assert scheduler.rule.endswith(f":rule/{fn.rule_name(STAGE)}")
        assert rule["ScheduleExpression"] == PROD_CONTEXT["mirror"]["schedule"]  # the context's, not the default
        [target] = rule["Targets"]
        assert (target["RetryPolicy"]["MaximumRetryAttempts"], config["MaximumRetryAttempts"]) == (
            scheduler.source.max_retry_attempts, scheduler.source.max_retry_attempts)
        assert (target["RetryPolicy"]["MaximumEventAgeInSeconds"], config["MaximumEventAgeInSeconds"]) == (
            fn.source.max_event_age_seconds, fn.source.max_event_age_seconds)
        queue = prod.arn(prod.stack.queues.queue(r.queue(fn.source.dead_letter_queue)))
        assert target["DeadLetterConfig"]["Arn"] == config["DestinationConfig"]["OnFailure"]["Destination"] == queue
        assert scheduler.dead_letter_url == deployment.queue_urls[fn.source.dead_letter_queue]
