from __future__ import annotations

from typing import Any

import pytest

from marketplace.identity import config as auth
from marketplace.identity import signin
from marketplace.platform import config, trust
from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from stacks.functions import STREAM_WRITE_ACTIONS, TABLE_ACTIONS, TABLE_KEY_ACTIONS

from .synth import PROD_CONTEXT, REGION, Synthesized, as_list, get_att, join

pytestmark = pytest.mark.slow
# every stage's functions (the optional mirror, deployed with the ``mirror`` context only: test_mirror_function.py)
BY_NAME = pytest.mark.parametrize("definition", fns.deployed(), ids=lambda f: f.name)


def _statements(dev: Synthesized, definition: fns.FunctionDef) -> list[dict[str, Any]]:
    role = dev.stack.functions.function(definition).role
    assert role is not None
    return dev.statements_of_role(role)


def _actions(statement: dict[str, Any]) -> set[str]:
    return set(as_list(statement["Action"]))


def _get_att_target(resource: Any) -> str | None:
    return resource["Fn::GetAtt"][0] if isinstance(resource, dict) and "Fn::GetAtt" in resource else None


def test_one_function_per_definition(dev: Synthesized) -> None:
    assert set(dev.stack.functions.functions) == {f.name for f in fns.deployed()}


@BY_NAME
def test_function_runtime_and_sizing_come_from_the_definition(dev: Synthesized, definition: fns.FunctionDef) -> None:
    props = dev.props(dev.stack.functions.function(definition))
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == definition.handler
    assert props["MemorySize"] == definition.memory_mb
    assert props["Timeout"] == definition.timeout_seconds
    assert props.get("ReservedConcurrentExecutions") == definition.reserved_concurrency
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Layers"] == [dev.ref(dev.stack.layer.layer)]


@BY_NAME
def test_function_logs_json_into_its_own_encrypted_log_group(dev: Synthesized, definition: fns.FunctionDef) -> None:
    function = dev.stack.functions.function(definition)
    logging = dev.props(function)["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    log_group_id = logging["LogGroup"]["Ref"]
    log_group = dev.json["Resources"][log_group_id]["Properties"]
    assert log_group["RetentionInDays"] == 30
    assert log_group["KmsKeyId"] == dev.arn(dev.stack.keys.logs_key)
    # the role may write to that log group and to no other
    log_statements = [s for s in _statements(dev, definition) if any(a.startswith("logs:") for a in _actions(s))]
    assert log_statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": get_att(log_group_id, "Arn"),
        }
    ]


def test_log_groups_are_not_shared(dev: Synthesized) -> None:
    groups = [dev.props(dev.stack.functions.function(d))["LoggingConfig"]["LogGroup"]["Ref"] for d in dev.functions]
    assert len(set(groups)) == len(dev.functions)


def test_every_function_has_its_own_role_without_managed_policies(dev: Synthesized) -> None:
    roles = [dev.props(dev.stack.functions.function(d))["Role"] for d in dev.functions]
    assert len({str(role) for role in roles}) == len(dev.functions)
    for role in roles:
        role_props = dev.json["Resources"][role["Fn::GetAtt"][0]]["Properties"]
        assert "ManagedPolicyArns" not in role_props
        (trust,) = role_props["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}


@BY_NAME
def test_the_operators_settings_reach_exactly_the_functions_that_read_them(prod: Synthesized, dev: Synthesized,
                                                                           definition: fns.FunctionDef) -> None:
    variables = prod.props(prod.stack.functions.function(definition))["Environment"]["Variables"]
    settings = {name for name in PROD_CONTEXT if name.isupper()}
    assert {name: variables[name] for name in settings if name in variables} == {
        name: PROD_CONTEXT[name] for name in definition.settings}
    unset = dev.props(dev.stack.functions.function(definition))["Environment"]["Variables"]
    assert not settings & set(unset)


def test_each_setting_is_the_variable_its_module_reads() -> None:
    from marketplace.publishing import lifecycle, namespaces, scanning
    from marketplace.web import render

    assert fns.WEB.settings == (render.REMOTE_IMAGES_VAR,)
    assert fns.PUBLISH_API.settings == (namespaces.POLICY_VAR, lifecycle.REQUIRE_OPERATOR_APPROVAL)
    assert scanning.QUARANTINE_SCORE_SETTING in fns.INGEST.settings


@BY_NAME
def test_environment_locates_exactly_the_granted_resources(dev: Synthesized, definition: fns.FunctionDef) -> None:
    variables = dev.props(dev.stack.functions.function(definition))["Environment"]["Variables"]
    assert variables[config.STAGE_VAR] == dev.stage
    assert variables["POWERTOOLS_SERVICE_NAME"] == definition.service
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Marketplace"
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
    located = set(variables) - {
        config.STAGE_VAR,
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    }
    issuers = set(auth.ENVIRONMENT_VARIABLES) if definition.authenticates else set()  # see test_identity.py
    origin = {trust.ORIGIN_SECRET_VAR} if definition.routes else set()  # see test_origin.py
    providers = {signin.SIGNIN_VAR} if definition is fns.PUBLISH_API else set()  # see test_identity.py
    assert located == set(definition.environment_variables()) | issuers | origin | providers
    stack = dev.stack
    for grant in definition.grants:
        match grant:
            case fns.TableGrant(table=table_id):
                assert variables[r.table(table_id).env_var] == dev.ref(stack.tables.table(r.table(table_id)))
            case fns.ObjectGrant(bucket=bucket_id):
                assert variables[r.bucket(bucket_id).env_var] == dev.ref(stack.buckets.bucket(r.bucket(bucket_id)))
            case fns.StreamGrant(stream=stream_id):
                assert variables[r.stream(stream_id).env_var] == dev.ref(stack.streams.stream(r.stream(stream_id)))
            case fns.KeyGrant(key=key_id):
                env_var = r.key(key_id).env_var
                if env_var:
                    assert variables[env_var] == dev.ref(stack.keys.key(r.key(key_id)))


@BY_NAME
def test_object_access_is_exactly_the_granted_prefixes_and_actions(
    dev: Synthesized, definition: fns.FunctionDef
) -> None:
    bucket_arn = dev.arn(dev.stack.buckets.bucket(r.PACKAGES_BUCKET))
    granted: dict[str, set[str]] = {}
    for statement in _statements(dev, definition):
        s3_actions = {a for a in _actions(statement) if a.startswith("s3:")}
        if s3_actions:
            for resource in as_list(statement["Resource"]):
                granted.setdefault(resource["Fn::Join"][1][1].lstrip("/"), set()).update(s3_actions)
                assert resource == join(bucket_arn, "/" + resource["Fn::Join"][1][1].lstrip("/"))
    expected: dict[str, set[str]] = {}
    for grant in definition.grants:
        if isinstance(grant, fns.ObjectGrant):
            expected.setdefault(f"{grant.prefix}*", set()).update(grant.actions)
    assert granted == expected


def test_publish_api_writes_uploads_and_namespace_logos_and_no_other_public_object() -> None:
    """Namespace logos are public, so the publish API may write there; the prefix is one no namespace's assets
    share (``assets/<namespace>/...``): its first segment, ``-``, can be no namespace's name."""
    from marketplace.publishing import logos, namespaces

    bucket = r.PACKAGES_BUCKET
    grants = {(g.prefix, g.actions) for g in fns.PUBLISH_API.grants if isinstance(g, fns.ObjectGrant)}
    assert grants == {(bucket.upload_prefix, ("s3:PutObject",)),
                      (bucket.namespace_logo_prefix, ("s3:PutObject", "s3:DeleteObject"))}
    assert logos.PREFIX is bucket.namespace_logo_prefix  # one definition
    assert bucket.namespace_logo_prefix.startswith(bucket.public_prefix)
    segment = bucket.namespace_logo_prefix.removeprefix(bucket.public_prefix).split("/")[0]
    with pytest.raises(namespaces.InvalidName):
        namespaces.validate(segment)


@BY_NAME
def test_assets_key_use_follows_the_object_actions(dev: Synthesized, definition: fns.FunctionDef) -> None:
    assets_key = dev.arn(dev.stack.keys.key(r.ASSETS_KEY))
    actions: set[str] = set()
    for statement in _statements(dev, definition):
        if assets_key in as_list(statement["Resource"]):
            actions |= _actions(statement)
    object_actions = {a for g in definition.grants if isinstance(g, fns.ObjectGrant) for a in g.actions}
    expected = set()
    if object_actions & {"s3:GetObject"}:
        expected.add("kms:Decrypt")
    if object_actions & {"s3:PutObject"}:
        expected.add("kms:GenerateDataKey")
    assert actions == expected


@BY_NAME
def test_table_access_is_exactly_the_granted_tables(dev: Synthesized, definition: fns.FunctionDef) -> None:
    reads: set[str] = set()
    writes: set[str] = set()
    tables = {dev.logical_id(dev.stack.tables.table(t)): t.id for t in r.TABLES}
    for statement in _statements(dev, definition):
        actions = _actions(statement)
        for resource in as_list(statement["Resource"]):
            logical_id = _get_att_target(resource)
            if logical_id in tables and actions & {"dynamodb:GetItem", "dynamodb:Query"}:
                reads.add(tables[logical_id])
            if logical_id in tables and actions & {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}:
                writes.add(tables[logical_id])
    grants = [g for g in definition.grants if isinstance(g, fns.TableGrant)]
    assert reads == {g.table for g in grants}
    assert writes == {g.table for g in grants if g.access == "read_write"}


@BY_NAME
def test_stream_and_key_grants(dev: Synthesized, definition: fns.FunctionDef) -> None:
    statements = _statements(dev, definition)
    stream_writes = {
        _get_att_target(resource)
        for s in statements
        if "kinesis:PutRecords" in _actions(s)
        for resource in as_list(s["Resource"])
    }
    expected_streams = {
        dev.logical_id(dev.stack.streams.stream(r.stream(g.stream)))
        for g in definition.grants
        if isinstance(g, fns.StreamGrant)
    }
    assert stream_writes == expected_streams

    def actions_on(key: r.KeyDef) -> set[str]:
        arn = dev.arn(dev.stack.keys.key(key))
        return {a for s in statements if arn in as_list(s["Resource"]) for a in _actions(s)}

    key_grants = {g.key: set(g.actions) for g in definition.grants if isinstance(g, fns.KeyGrant)}
    for key_id, actions in key_grants.items():
        assert actions <= actions_on(r.key(key_id))
    # the sync key serves KeyGrants only: nobody else may use it, its grantees exactly as granted
    assert actions_on(r.SYNC_KEY) == key_grants.get(r.SYNC_KEY.id, set())


# --- least privilege: explicit statements instead of CDK's grant helpers ----------------------------------------


def _kms_actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in _actions(s) if a.startswith("kms:")}


@BY_NAME
def test_no_function_may_reencrypt_or_use_data_key_wildcards(dev: Synthesized, definition: fns.FunctionDef) -> None:
    actions = _kms_actions(_statements(dev, definition))
    assert not {a for a in actions if a.startswith("kms:ReEncrypt")}
    assert not {a for a in actions if a.endswith("*")}
    granted = {a for g in definition.grants if isinstance(g, fns.KeyGrant) for a in g.actions}
    # kms:Encrypt only where a KeyGrant asks for it (the ingest wraps the signing key)
    assert ("kms:Encrypt" in actions) == ("kms:Encrypt" in granted)


def _table_statements(dev: Synthesized, definition: fns.FunctionDef, table: r.TableDef) -> list[dict[str, Any]]:
    logical_id = dev.logical_id(dev.stack.tables.table(table))
    return [
        s
        for s in _statements(dev, definition)
        if any(_get_att_target(res) == logical_id for res in as_list(s["Resource"]))
        and any(a.startswith("dynamodb:") and "Stream" not in a for a in _actions(s))
        and not {"dynamodb:DescribeStream", "dynamodb:GetRecords"} & _actions(s)
    ]


@BY_NAME
def test_table_actions_are_exactly_the_ones_the_code_uses(dev: Synthesized, definition: fns.FunctionDef) -> None:
    for grant in definition.grants:
        if not isinstance(grant, fns.TableGrant):
            continue
        table = r.table(grant.table)
        actions = {a for s in _table_statements(dev, definition, table) for a in _actions(s)}
        assert actions == set(TABLE_ACTIONS[grant.access]), table.id
        assert not actions & {"dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:GetRecords"}


@BY_NAME
def test_table_keys_decrypt_to_read_and_generate_data_keys_to_write_through_dynamodb(
    dev: Synthesized, definition: fns.FunctionDef
) -> None:
    via_dynamodb = {"StringEquals": {"kms:ViaService": join(f"dynamodb.{REGION}.", {"Ref": "AWS::URLSuffix"})}}
    statements = [s for s in _statements(dev, definition) if s.get("Condition") == via_dynamodb]
    grants = [g for g in definition.grants if isinstance(g, fns.TableGrant)]
    if not grants:
        assert statements == []
        return
    expected = set().union(*(TABLE_KEY_ACTIONS[g.access] for g in grants))
    assert {a for s in statements for a in _actions(s)} == expected
    keys = {dev.logical_id(dev.stack.keys.key(r.key(r.table(g.table).key))) for g in grants}
    assert {_get_att_target(res) for s in statements for res in as_list(s["Resource"])} == keys
    assert TABLE_KEY_ACTIONS == {"read": ("kms:Decrypt",), "read_write": ("kms:Decrypt", "kms:GenerateDataKey")}


@BY_NAME
def test_stream_writers_put_records_and_generate_data_keys_only(dev: Synthesized, definition: fns.FunctionDef) -> None:
    statements = _statements(dev, definition)
    for grant in definition.grants:
        if not isinstance(grant, fns.StreamGrant):
            continue
        stream = dev.stack.streams.stream(r.stream(grant.stream))
        on_stream = [s for s in statements if dev.arn(stream) in as_list(s["Resource"])]
        assert {a for s in on_stream for a in _actions(s)} == set(STREAM_WRITE_ACTIONS)
        key_arn = dev.arn(dev.stack.keys.key(r.key(r.stream(grant.stream).key)))
        (key_statement,) = [s for s in statements if key_arn in as_list(s["Resource"])]
        assert _actions(key_statement) == {"kms:GenerateDataKey"}
        assert key_statement["Condition"]["StringEquals"]["kms:EncryptionContext:aws:kinesis:arn"] == dev.arn(stream)


@BY_NAME
def test_on_failure_queues_are_sent_to_with_exact_actions(dev: Synthesized, definition: fns.FunctionDef) -> None:
    source = definition.source
    if not isinstance(source, fns.StreamSource):
        return
    queue = dev.arn(dev.stack.queues.queue(r.queue(source.on_failure)))
    statements = _statements(dev, definition)
    on_queue = [s for s in statements if queue in as_list(s["Resource"])]
    assert {a for s in on_queue for a in _actions(s)} == {"sqs:SendMessage"}
    via_sqs = {"StringEquals": {"kms:ViaService": join(f"sqs.{REGION}.", {"Ref": "AWS::URLSuffix"})}}
    (key_statement,) = [s for s in statements if s.get("Condition") == via_sqs]
    assert _actions(key_statement) == {"kms:GenerateDataKey", "kms:Decrypt"}


def test_grant_wildcard_suppressions_no_longer_name_kms_action_wildcards(dev: Synthesized) -> None:
    for definition in dev.functions:
        role = dev.stack.functions.function(definition).role
        assert role is not None
        rules = dev.resource(role).get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
        for policy in dev.resources("AWS::IAM::Policy").values():
            if {"Ref": dev.logical_id(role)} in policy["Properties"]["Roles"]:
                rules += policy.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
        for rule in rules:
            assert "ReEncrypt" not in rule["reason"], definition.name
            assert not [a for a in rule.get("applies_to") or [] if str(a).startswith("Action::kms:")], definition.name
