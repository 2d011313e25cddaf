from __future__ import annotations

from typing import Any

import pytest

from marketplace.platform import resources as r

from .synth import ACCOUNT, REGION, Synthesized

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


def test_cloudfront_may_only_decrypt_with_the_assets_key(dev: Synthesized) -> None:
    (statement,) = _by_service(_statements(dev, r.ASSETS_KEY), "cloudfront.amazonaws.com")
    assert statement["Action"] == "kms:Decrypt"
    # any distribution of this account: naming this one would be a cycle (key -> bucket -> distribution);
    # the bucket policy is what limits reads to this distribution and the public prefix
    assert statement["Condition"] == {"ArnLike": {"AWS:SourceArn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/*"}}
    for key in (r.DATA_KEY, r.STREAM_KEY, r.SYNC_KEY):
        assert not _by_service(_statements(dev, key), "cloudfront.amazonaws.com")
