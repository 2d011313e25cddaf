"""What differs between deployment stages, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

STAGES: tuple[str, ...] = ("dev", "prod")


@dataclass(frozen=True)
class StageSettings:
    """Per-stage choices; ``prod`` keeps data when the stack goes away and protects it from deletion."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in STAGES:
            allowed = ", ".join(STAGES)
            raise ValueError(f"unknown stage {self.name!r}: the stage must be one of {allowed}")

    @property
    def production(self) -> bool:
        return self.name == "prod"

    @property
    def removal_policy(self) -> RemovalPolicy:
        """For stateful resources: kept in production, removed with a development stack."""
        return RemovalPolicy.RETAIN if self.production else RemovalPolicy.DESTROY

    @property
    def log_retention(self) -> logs.RetentionDays:
        return logs.RetentionDays.ONE_YEAR if self.production else logs.RetentionDays.ONE_MONTH
