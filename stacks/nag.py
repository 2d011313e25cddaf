"""The one way to suppress a cdk-nag finding: a rule, a specific reason and, where the rule allows, the
exact findings (``applies_to``) it covers."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aspects
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct

MIN_REASON_LENGTH = 20

AppliesTo = str | RegexAppliesTo


def check(scope: IConstruct) -> None:
    """Run the AWS Solutions rule pack over everything under ``scope`` at synth."""
    Aspects.of(scope).add(AwsSolutionsChecks(verbose=True))


def suppress(
    construct: IConstruct,
    rule: str,
    reason: str,
    *,
    applies_to: Sequence[AppliesTo] = (),
) -> None:
    """Suppress ``AwsSolutions-<rule>`` on ``construct`` and its children, with a reason that says why."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [_suppression(rule, reason, applies_to)],
        apply_to_children=True,
    )


def _suppression(rule: str, reason: str, applies_to: Sequence[AppliesTo]) -> NagPackSuppression:
    if rule.startswith("AwsSolutions-"):
        raise ValueError(f"give the rule without its pack prefix: {rule!r}")
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"the suppression of {rule} needs a specific reason, not {reason!r}")
    return NagPackSuppression(id=f"AwsSolutions-{rule}", reason=reason.strip(), applies_to=list(applies_to) or None)
