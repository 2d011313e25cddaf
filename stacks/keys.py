"""One customer-managed KMS key per ``resources.KEYS`` entry, with yearly rotation and its alias."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from marketplace.platform import resources as r
from stacks.naming import pascal
from stacks.settings import StageSettings


class EncryptionKeys(Construct):
    """The keys, by ``KeyDef.id``; ``logs_key`` is the one CloudWatch Logs may use for log groups."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: StageSettings, logs_key: r.KeyDef) -> None:
        super().__init__(scope, construct_id)
        self.keys: dict[str, kms.Key] = {
            definition.id: kms.Key(
                self,
                pascal(definition.id, "key"),
                alias=definition.alias(stage.name),
                description=f"{r.PRODUCT} {stage.name}: {definition.purpose}",
                enable_key_rotation=True,
                pending_window=Duration.days(30 if stage.production else 7),
                removal_policy=stage.removal_policy,
            )
            for definition in r.KEYS
        }
        self.logs_key = self.key(logs_key)
        self._allow_cloudwatch_logs(self.logs_key)

    def key(self, definition: r.KeyDef) -> kms.Key:
        return self.keys[definition.id]

    @staticmethod
    def _allow_cloudwatch_logs(key: kms.Key) -> None:
        """CloudWatch Logs encrypts log groups of this account and region with the key (and nothing else)."""
        stack = Stack.of(key)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
