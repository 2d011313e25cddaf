from __future__ import annotations

from pathlib import Path

import pytest

from marketplace.platform import resources as r
from stacks.marketplace_stack import build_app
from stacks.settings import STAGES

from .synth import Synthesized


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_synthesizes_its_own_stack(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(stage)
    assert synth.stack.stack_name == f"Marketplace-{stage}"
    names = {t["Properties"]["TableName"] for t in synth.resources("AWS::DynamoDB::GlobalTable").values()}
    assert names == {t.physical_name(stage) for t in r.TABLES}
    for function in synth.stack.functions.functions.values():
        tags = synth.props(function)["Tags"]
        assert {"Key": "stage", "Value": stage} in tags
        assert {"Key": "project", "Value": r.PRODUCT} in tags


@pytest.mark.slow
def test_prod_keeps_and_protects_its_data(prod: Synthesized) -> None:
    assert prod.stack.termination_protection is True
    for definition in r.TABLES:
        resource = prod.resource(prod.stack.tables.table(definition))
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
        assert resource["Properties"]["Replicas"][0]["DeletionProtectionEnabled"] is True
    for kind in ("AWS::KMS::Key", "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::Kinesis::Stream", "AWS::SQS::Queue"):
        for logical_id, resource in prod.resources(kind).items():
            assert resource["DeletionPolicy"] == "Retain", logical_id
    for logical_id, resource in prod.resources("AWS::Cognito::UserPool").items():
        assert resource["DeletionPolicy"] == "Retain", logical_id
        assert resource["Properties"]["DeletionProtection"] == "ACTIVE", logical_id
    assert not prod.resources("Custom::S3AutoDeleteObjects")
    assert {g["Properties"]["RetentionInDays"] for g in prod.resources("AWS::Logs::LogGroup").values()} == {365}


@pytest.mark.slow
def test_dev_cleans_up_after_itself(dev: Synthesized) -> None:
    assert dev.stack.termination_protection is False
    # the defined buckets, the lake buckets and the two log buckets (S3 access logs, CDN logs)
    assert len(dev.resources("Custom::S3AutoDeleteObjects")) == len(r.BUCKETS) + len(r.LAKE_BUCKETS) + 2
    for kind in ("AWS::KMS::Key", "AWS::S3::Bucket", "AWS::DynamoDB::GlobalTable", "AWS::Cognito::UserPool"):
        assert {res["DeletionPolicy"] for res in dev.resources(kind).values()} == {"Delete"}


def test_unknown_stage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be one of dev, prod"):
        build_app("qa", outdir=str(tmp_path), nag=False)
