"""The external scanner function (CDK context ``scanExternalLambda``): with it, the ingest's role may invoke exactly
that function and the ingest is told its name; without it, no role anywhere may invoke a Lambda function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Annotations

from marketplace.platform import functions as fns
from stacks.functions import invoke_target

from .synth import ACCOUNT, REGION, Synthesized, as_list, synthesize
from .test_nag import AWS_SOLUTIONS

pytestmark = pytest.mark.slow
SCANNER = "marketplace-scanner"
INVOKE = "lambda:InvokeFunction"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("dev", tmp_path_factory.mktemp("cdk-scan"), context={fns.SCAN_EXTERNAL_LAMBDA_CONTEXT: SCANNER})


def _invoking(synth: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM statement, of any policy, that allows invoking a Lambda function."""
    found: list[tuple[str, dict[str, Any]]] = []
    for resource_type in ("AWS::IAM::Policy", "AWS::IAM::Role"):
        for logical_id, resource in synth.resources(resource_type).items():
            documents = [resource["Properties"].get("PolicyDocument")] + [
                policy["PolicyDocument"] for policy in resource["Properties"].get("Policies", [])]
            for document in filter(None, documents):
                for statement in as_list(document["Statement"]):
                    actions = as_list(statement.get("Action", []))
                    if any(a in (INVOKE, "lambda:*", "*") or a.startswith("lambda:Invoke") for a in actions):
                        found.append((logical_id, statement))
    return found


def _environment(synth: Synthesized, definition: fns.FunctionDef) -> dict[str, str]:
    function = synth.stack.functions.function(definition)
    variables: dict[str, str] = synth.props(function)["Environment"]["Variables"]
    return variables


def test_with_the_context_the_ingest_may_invoke_exactly_that_function(scanned: Synthesized) -> None:
    role = scanned.stack.functions.function(fns.INGEST).role
    assert role is not None
    invoking = _invoking(scanned)
    assert len(invoking) == 1
    statement = invoking[0][1]
    assert statement in scanned.statements_of_role(role)
    assert statement["Effect"] == "Allow" and as_list(statement["Action"]) == [INVOKE]
    assert statement["Resource"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{SCANNER}"  # one, no wildcard
    assert _environment(scanned, fns.INGEST)[fns.SCAN_EXTERNAL_LAMBDA_VAR] == SCANNER
    others = [d for d in scanned.functions if d is not fns.INGEST]
    assert all(fns.SCAN_EXTERNAL_LAMBDA_VAR not in _environment(scanned, d) for d in others)


def test_with_the_context_cdk_nag_stays_clean(scanned: Synthesized) -> None:
    annotations = Annotations.from_stack(scanned.stack)
    assert [f"{e.id}: {e.entry.data}" for e in annotations.find_error("*", AWS_SOLUTIONS)] == []
    assert [f"{w.id}: {w.entry.data}" for w in annotations.find_warning("*", AWS_SOLUTIONS)] == []


def test_without_the_context_no_role_may_invoke_a_function(dev: Synthesized) -> None:
    assert _invoking(dev) == []
    assert fns.SCAN_EXTERNAL_LAMBDA_VAR not in _environment(dev, fns.INGEST)


def _target(value: object) -> str | None:
    return invoke_target(App(context={fns.SCAN_EXTERNAL_LAMBDA_CONTEXT: value}, analytics_reporting=False),
                         fns.SCAN_EXTERNAL_LAMBDA_CONTEXT)


def test_the_context_names_a_function_or_its_arn() -> None:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:scanner:live"
    assert [_target(v) for v in (None, "", False, " scanner ", "scanner:3", arn)] == [
        None, None, None, "scanner", "scanner:3", arn]


@pytest.mark.parametrize("value", ["arn:aws:lambda:eu-west-1:1:function:x", "arn:scanner", "scan*", "a b",
                                   "x" * 65, {"name": "scanner"}, True])
def test_anything_else_is_refused_at_synth(value: object) -> None:
    with pytest.raises(ValueError, match="CDK context 'scanExternalLambda' must be a Lambda function's name or ARN"):
        _target(value)


def test_an_arn_is_granted_as_given(tmp_path: Path) -> None:
    from stacks.functions import _function_arn

    stack = Stack(App(analytics_reporting=False), "S", env={"account": ACCOUNT, "region": REGION})
    arn = f"arn:aws:lambda:{REGION}:210987654321:function:scanner"
    assert _function_arn(stack, arn) == arn
