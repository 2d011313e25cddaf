"""The scheduled mirror function: deployed only with the CDK context ``mirror`` (``prod`` has it in these tests,
``dev`` not), run by an EventBridge rule with retries and a dead-letter queue, granted exactly what it uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App

from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from stacks import schedules
from stacks.functions import TABLE_ACTIONS
from stacks.marketplace_stack import build_app

from . import test_functions as generic
from .synth import ACCOUNT, MIRROR, REGION, Synthesized, as_list, get_att, join

pytestmark = pytest.mark.slow
RULE_NAME = "marketplace-prod-mirror"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{RULE_NAME}"


def _function(prod: Synthesized) -> str:
    return prod.logical_id(prod.stack.functions.function(fns.MIRROR))


def _queue(prod: Synthesized) -> str:
    return prod.logical_id(prod.stack.queues.queue(r.MIRROR_DLQ))


def _one(prod: Synthesized, resource_type: str, **matching: Any) -> dict[str, Any]:
    [found] = [res["Properties"] for res in prod.resources(resource_type).values()
               if all(res["Properties"].get(key) == value for key, value in matching.items())]
    return found


def test_without_the_context_there_is_no_mirror_function_rule_or_dead_letter_queue(dev: Synthesized) -> None:
    assert fns.MIRROR.name not in dev.stack.functions.functions
    assert r.MIRROR_DLQ.id not in dev.stack.queues.queues
    assert dev.resources("AWS::Events::Rule") == {}
    assert dev.resources("AWS::Lambda::EventInvokeConfig") == {}
    assert not [q for q in dev.resources("AWS::SQS::Queue").values()
                if q["Properties"]["QueueName"] == r.MIRROR_DLQ.physical_name(dev.stage)]
    assert "mirror" not in json.dumps(dev.resources("AWS::Lambda::Function")).lower()


def test_the_function_is_sized_and_configured_from_the_definition_and_the_context(prod: Synthesized) -> None:
    props = prod.props(prod.stack.functions.function(fns.MIRROR))
    assert (props["MemorySize"], props["Timeout"], props["ReservedConcurrentExecutions"]) == (1024, 900, 1)
    assert props["Handler"] == "handler.lambda_handler" and props["Runtime"] == "python3.14"
    assert "VpcConfig" not in props  # Lambda's own internet egress reaches the upstream (docs/import-and-mirror.md)
    variables = props["Environment"]["Variables"]
    assert {name: value for name, value in variables.items() if name.startswith("MIRROR_")} == {
        "MIRROR_UPSTREAM": MIRROR["upstream"], "MIRROR_JOBS": str(MIRROR["jobs"]), "MIRROR_RATE": str(MIRROR["rate"])}
    located = {name for name in variables if not name.startswith(("MIRROR_", "POWERTOOLS_"))}
    assert located == {"MARKETPLACE_STAGE", "PUBLISHING_TABLE", "EXTENSIONS_TABLE", "PACKAGES_BUCKET"}
    assert variables["PACKAGES_BUCKET"] == prod.ref(prod.stack.buckets.bucket(r.PACKAGES_BUCKET))


def test_the_rule_runs_the_function_on_the_contexts_schedule_with_retries_and_the_dead_letter_queue(
    prod: Synthesized,
) -> None:
    [(rule_id, rule)] = prod.resources("AWS::Events::Rule").items()
    props = rule["Properties"]
    assert props["Name"] == RULE_NAME == fns.MIRROR.rule_name("prod")
    assert props["ScheduleExpression"] == MIRROR["schedule"] == "cron(0 3 * * ? *)"
    assert props["State"] == "ENABLED"
    [target] = props["Targets"]
    assert target["Arn"] == get_att(_function(prod), "Arn")
    assert "Input" not in target and "InputTransformer" not in target  # the scheduled event as EventBridge makes it
    source = fns.MIRROR.source
    assert isinstance(source, fns.ScheduleSource)
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": source.max_retry_attempts,
                                     "MaximumEventAgeInSeconds": source.max_event_age_seconds}
    assert target["DeadLetterConfig"] == {"Arn": get_att(_queue(prod), "Arn")}
    # EventBridge, from this rule only, is the one caller that may invoke it
    [permission] = [p["Properties"] for p in prod.resources("AWS::Lambda::Permission").values()
                    if p["Properties"]["FunctionName"] == get_att(_function(prod), "Arn")]
    assert permission == {"Action": "lambda:InvokeFunction", "FunctionName": get_att(_function(prod), "Arn"),
                          "Principal": "events.amazonaws.com", "SourceArn": get_att(rule_id, "Arn")}


def test_a_run_that_raises_is_retried_by_lambda_then_dead_lettered(prod: Synthesized) -> None:
    config = _one(prod, "AWS::Lambda::EventInvokeConfig", FunctionName={"Ref": _function(prod)})
    assert config == {
        "FunctionName": {"Ref": _function(prod)},
        "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 3600,
        "DestinationConfig": {"OnFailure": {"Destination": get_att(_queue(prod), "Arn")}},
    }


def test_the_dead_letter_queue_is_encrypted_like_the_others_and_takes_only_this_rules_events(
    prod: Synthesized,
) -> None:
    queue = prod.props(prod.stack.queues.queue(r.MIRROR_DLQ))
    assert queue["QueueName"] == "marketplace-prod-mirror-dlq"
    assert queue["KmsMasterKeyId"] == prod.arn(prod.stack.keys.key(r.DATA_KEY))
    assert queue["MessageRetentionPeriod"] == 14 * 86400
    [policy] = [p["Properties"]["PolicyDocument"]["Statement"] for p in prod.resources("AWS::SQS::QueuePolicy").values()
                if p["Properties"]["Queues"] == [{"Ref": _queue(prod)}]]
    allows = [s for s in policy if s["Effect"] == "Allow"]
    [rule_id] = prod.resources("AWS::Events::Rule")
    assert [(s["Principal"], s["Action"], s["Condition"]) for s in allows] == [
        ({"Service": "events.amazonaws.com"}, "sqs:SendMessage", {"ArnEquals": {"aws:SourceArn": get_att(rule_id,
                                                                                                           "Arn")}})]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)
    # EventBridge may use the queue's key for this rule only (named by its ARN: no reference, so no cycle)
    key = prod.props(prod.stack.keys.key(r.DATA_KEY))["KeyPolicy"]["Statement"]
    [statement] = [s for s in key if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert set(as_list(statement["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": RULE_ARN},
                                      "StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_dead_letter_queue_alarms_on_its_first_message_and_the_function_on_errors(prod: Synthesized) -> None:
    alarms = [a["Properties"] for a in prod.resources("AWS::CloudWatch::Alarm").values()]
    dimensions = [a["Dimensions"][0]["Value"] for a in alarms if a.get("Dimensions")]
    assert get_att(_queue(prod), "QueueName") in dimensions
    assert [a["MetricName"] for a in alarms if a.get("Dimensions") and a["Dimensions"][0]["Value"] == {
        "Ref": _function(prod)}] == ["Errors", "Throttles"]


def _normalized(statement: dict[str, Any]) -> tuple[Any, ...]:
    return (tuple(sorted(as_list(statement["Action"]))), json.dumps(statement["Resource"], sort_keys=True),
            json.dumps(statement.get("Condition"), sort_keys=True))


def test_the_role_holds_exactly_the_mirrors_grants(prod: Synthesized) -> None:
    role = prod.stack.functions.function(fns.MIRROR).role
    assert role is not None
    statements = prod.statements_of_role(role)
    assert all(s["Effect"] == "Allow" for s in statements)
    log_group = prod.props(prod.stack.functions.function(fns.MIRROR))["LoggingConfig"]["LogGroup"]["Ref"]
    bucket = prod.arn(prod.stack.buckets.bucket(r.PACKAGES_BUCKET))
    data_key = prod.arn(prod.stack.keys.key(r.DATA_KEY))
    publishing = prod.arn(prod.stack.tables.table(r.PUBLISHING_TABLE))
    extensions = prod.arn(prod.stack.tables.table(r.EXTENSIONS_TABLE))

    def via(service: str) -> dict[str, Any]:
        return {"StringEquals": {"kms:ViaService": join(f"{service}.{REGION}.", {"Ref": "AWS::URLSuffix"})}}

    expected: list[dict[str, Any]] = [
        {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": get_att(log_group, "Arn")},
        {"Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Resource": "*"},
        {"Action": list(TABLE_ACTIONS["read_write"]), "Resource": [publishing, join(publishing, "/index/*")]},
        {"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": data_key, "Condition": via("dynamodb")},
        {"Action": list(TABLE_ACTIONS["read"]), "Resource": [extensions, join(extensions, "/index/*")]},
        {"Action": "s3:PutObject", "Resource": join(bucket, "/uploads/*")},
        {"Action": "s3:GetObject", "Resource": join(bucket, "/private/mirror/*")},
        {"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": prod.arn(prod.stack.keys.key(r.ASSETS_KEY))},
        {"Action": "sqs:SendMessage", "Resource": get_att(_queue(prod), "Arn")},
        {"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": data_key, "Condition": via("sqs")},
    ]
    assert sorted(map(_normalized, statements)) == sorted(map(_normalized, expected))


def test_wildcard_suppressions_of_its_role_name_the_findings(prod: Synthesized) -> None:
    role = prod.stack.functions.function(fns.MIRROR).role
    assert role is not None
    rules = list(prod.resource(role).get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []))
    for policy in prod.resources("AWS::IAM::Policy").values():
        if {"Ref": prod.logical_id(role)} in policy["Properties"]["Roles"]:
            rules += policy.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    assert rules
    for rule in rules:
        assert rule["id"] == "AwsSolutions-IAM5" and rule.get("applies_to"), rule


@pytest.mark.parametrize("check", [
    generic.test_function_runtime_and_sizing_come_from_the_definition,
    generic.test_object_access_is_exactly_the_granted_prefixes_and_actions,
    generic.test_assets_key_use_follows_the_object_actions,
    generic.test_table_access_is_exactly_the_granted_tables,
    generic.test_stream_and_key_grants,
    generic.test_no_function_may_reencrypt_or_use_data_key_wildcards,
    generic.test_table_actions_are_exactly_the_ones_the_code_uses,
    generic.test_table_keys_decrypt_to_read_and_generate_data_keys_to_write_through_dynamodb,
], ids=lambda check: check.__name__.removeprefix("test_"))
def test_the_checks_every_function_passes(prod: Synthesized, check: Any) -> None:
    """The least-privilege checks of test_functions.py, on the stage that deploys the mirror."""
    check(prod, fns.MIRROR)


# --- the context, checked at synth --------------------------------------------------------------------------


def _settings(value: object) -> fns.MirrorSettings | None:
    return schedules.mirror_settings(App(context={"mirror": value}, analytics_reporting=False))


def test_the_context_may_be_an_object_or_json_text_and_absent_means_no_mirror() -> None:
    expected = fns.MirrorSettings("https://open-vsx.org", "rate(6 hours)", 4, 2.0)
    assert _settings({"upstream": "https://open-vsx.org"}) == expected
    assert _settings('{"upstream": "https://open-vsx.org/", "rate": 2}') == expected
    for absent in (None, "", False):
        assert _settings(absent) is None
    assert schedules.configured_options(App(analytics_reporting=False)) == frozenset()
    assert schedules.deployed_functions(App(analytics_reporting=False)) == fns.deployed()


@pytest.mark.parametrize(("value", "why"), [
    ({"upstream": "http://open-vsx.org"}, "must be an https:// URL"),
    ({"upstream": "https://open-vsx.org", "schedule": "rate(1 hours)"}, "singular unit for 1"),
    ({"upstream": "https://open-vsx.org", "schedule": "cron(0 3 * * * *)"}, "exactly one of day-of-month"),
    ({"upstream": "https://open-vsx.org", "schedule": "rate(10 minutes)"}, "shorter than a run may last"),
    ({"upstream": "https://open-vsx.org", "jobs": 64}, "'jobs'"),
    ({"schedule": "rate(6 hours)"}, "'upstream' is required"),
    ({"upstream": "https://open-vsx.org", "allow": ["redhat.java"]}, "unknown keys ['allow']"),
    ("{not json", "is not valid JSON"),
    (["https://open-vsx.org"], "must be an object"),
])
def test_a_bad_context_is_refused_at_synth_saying_why(value: object, why: str) -> None:
    with pytest.raises(ValueError, match="CDK context 'mirror'") as refused:
        _settings(value)
    assert why in str(refused.value)


def test_a_bad_schedule_stops_the_synth(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="schedule 'rate\\(6 hour\\)'"):
        build_app("prod", outdir=str(tmp_path), account=ACCOUNT, region=REGION,
                  context={"mirror": {"upstream": "https://open-vsx.org", "schedule": "rate(6 hour)"}})
