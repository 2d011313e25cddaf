from __future__ import annotations

from typing import Any

import pytest

from marketplace.platform import resources as r

from .synth import ACCOUNT, REGION, Synthesized, as_list, join

pytestmark = pytest.mark.slow


def _statements(dev: Synthesized, key: r.KeyDef) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = dev.props(dev.stack.keys.key(key))["KeyPolicy"]["Statement"]
    return statements


def _by_service(statements: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    return [s for s in statements if s.get("Principal", {}).get("Service") == service]


def test_one_rotating_key_with_its_alias_per_definition(dev: Synthesized) -> None:
    assert len(dev.resources("AWS::KMS::Key")) == len(r.KEYS)
    aliases = {
        a["Properties"]["AliasName"]: a["Properties"]["TargetKeyId"] for a in dev.resources("AWS::KMS::Alias").values()
    }
    for key in r.KEYS:
        assert dev.props(dev.stack.keys.key(key))["EnableKeyRotation"] is True
        assert aliases[key.alias(dev.stage)] == dev.arn(dev.stack.keys.key(key))


def test_only_this_accounts_log_groups_may_use_the_logs_key(dev: Synthesized) -> None:
    (statement,) = _by_service(_statements(dev, r.DATA_KEY), f"logs.{REGION}.amazonaws.com")
    assert statement["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"}
    }
    assert dev.stack.keys.logs_key is dev.stack.keys.key(r.DATA_KEY)


def test_s3_may_use_the_queue_key_only_for_this_bucket_in_this_account(dev: Synthesized) -> None:
    (statement,) = _by_service(_statements(dev, r.DATA_KEY), "s3.amazonaws.com")
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": dev.arn(dev.stack.buckets.bucket(r.PACKAGES_BUCKET))},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }


def test_cloudfront_may_only_decrypt_with_the_assets_key_for_exactly_this_distribution(dev: Synthesized) -> None:
    (statement,) = _by_service(_statements(dev, r.ASSETS_KEY), "cloudfront.amazonaws.com")
    assert statement["Action"] == "kms:Decrypt"
    # the packages bucket names the key by its alias (test_storage.py), so the key can name the distribution
    assert statement["Condition"] == {
        "StringEquals": {
            "AWS:SourceArn": join(f"arn:aws:cloudfront::{ACCOUNT}:distribution/", dev.ref(dev.stack.cdn.distribution))
        }
    }
    for key in r.KEYS:
        if key is not r.ASSETS_KEY:
            assert not _by_service(_statements(dev, key), "cloudfront.amazonaws.com"), key.id


def _service_statements(synth: Synthesized) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for document in (synth.json, synth.edge_json):
        for logical_id, resource in document["Resources"].items():
            if resource["Type"] != "AWS::KMS::Key":
                continue
            for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
                for service in as_list(statement.get("Principal", {}).get("Service", [])):
                    found.append((logical_id, service, statement))
    return found


# CloudWatch Logs does not document aws:SourceArn/aws:SourceAccount for its calls to KMS; AWS's key policy for log
# groups conditions on the encryption context instead, which names the log group's ARN (account and region).
CONTEXT_CONDITIONED = {f"logs.{REGION}.amazonaws.com": "kms:EncryptionContext:aws:logs:arn"}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_service_principal_in_a_key_policy_is_conditioned_on_its_source(
    stage: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stage)
    statements = _service_statements(synth)
    assert {service for _, service, _ in statements} >= {
        "cloudfront.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "delivery.logs.amazonaws.com",
        "s3.amazonaws.com",
    }
    for logical_id, service, statement in statements:
        keys = {key.lower() for condition in statement.get("Condition", {}).values() for key in condition}
        if service in CONTEXT_CONDITIONED:
            (values,) = [c for c in statement["Condition"].values() if CONTEXT_CONDITIONED[service] in c]
            assert values[CONTEXT_CONDITIONED[service]] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"
            continue
        assert keys & {"aws:sourcearn", "aws:sourceaccount"}, (logical_id, service, statement)
        for condition in statement["Condition"].values():
            for key, value in condition.items():
                if key.lower() == "aws:sourceaccount":
                    assert value == ACCOUNT, (logical_id, service)


def test_cloudwatch_alarms_may_use_the_topic_key_for_this_accounts_alarms_only(dev: Synthesized) -> None:
    (statement,) = _by_service(_statements(dev, r.DATA_KEY), "cloudwatch.amazonaws.com")
    assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"},
    }


def test_log_delivery_may_encrypt_cdn_logs_through_s3_for_this_delivery_source_only(dev: Synthesized) -> None:
    (statement,) = _by_service(_statements(dev, r.DATA_KEY), "delivery.logs.amazonaws.com")
    assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    (source,) = dev.edge_resources("AWS::Logs::DeliverySource").values()
    name = source["Properties"]["Name"]
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": ACCOUNT,
            "kms:ViaService": join(f"s3.{REGION}.", {"Ref": "AWS::URLSuffix"}),
        },
        "ArnLike": {"aws:SourceArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:delivery-source:{name}"},
    }
