"""cdk-nag's AWS Solutions pack reports nothing unsuppressed, and every suppression says why."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from stacks.nag import MIN_REASON_LENGTH, _suppression

from .synth import Synthesized

AWS_SOLUTIONS = Match.string_like_regexp("AwsSolutions-.*")


def _suppressions(synth: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, rule)
        for document in (synth.json, synth.edge_json)
        for logical_id, resource in document["Resources"].items()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_no_unsuppressed_findings(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(stage)
    for stack in (synth.stack, synth.stack.edge):
        annotations = Annotations.from_stack(stack)
        errors = annotations.find_error("*", AWS_SOLUTIONS)
        warnings = annotations.find_warning("*", AWS_SOLUTIONS)
        assert [f"{e.id}: {e.entry.data}" for e in errors] == []
        assert [f"{w.id}: {w.entry.data}" for w in warnings] == []


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_suppression_has_a_reason(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(stage)
    suppressions = _suppressions(synth)
    assert suppressions
    for logical_id, rule in suppressions:
        assert rule["id"].startswith("AwsSolutions-"), logical_id
        assert len(rule.get("reason", "").strip()) >= MIN_REASON_LENGTH, (logical_id, rule)


@pytest.mark.slow
def test_wildcard_suppressions_name_the_findings_they_cover(dev: Synthesized) -> None:
    for logical_id, rule in _suppressions(dev):
        if rule["id"] in ("AwsSolutions-IAM4", "AwsSolutions-IAM5"):
            assert rule.get("applies_to"), f"{logical_id}: {rule['id']} suppressed wholesale"


def test_suppressions_need_a_specific_reason() -> None:
    with pytest.raises(ValueError, match="specific reason"):
        _suppression("IAM5", "because", [])
    with pytest.raises(ValueError, match="without its pack prefix"):
        _suppression("AwsSolutions-IAM5", "a reason long enough to pass the length check", [])
    assert _suppression("L1", "a reason long enough to pass the length check", []).id == "AwsSolutions-L1"
