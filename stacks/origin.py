"""The origin secret: proof that a request to the HTTP API came through CloudFront (``marketplace.platform.trust``).

Secrets Manager generates the value at deploy time, so it is in no template, no asset and no repository.
CloudFormation resolves the same dynamic reference (``{{resolve:secretsmanager:...}}``) into the distribution's
origin custom header and into the environment of every function the API routes to.
"""

from __future__ import annotations

from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from marketplace.platform import resources as r
from marketplace.platform import trust
from stacks import nag
from stacks.settings import StageSettings

SECRET_LENGTH = 48


class OriginSecret(Construct):
    """``value`` is the dynamic reference to the secret's string (a token; resolved by CloudFormation)."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: StageSettings) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description=(
                f"{r.PRODUCT} {stage.name}: the value CloudFront sends in {trust.ORIGIN_HEADER} to the HTTP API; "
                "the HTTP functions refuse requests without it"
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=SECRET_LENGTH,
                exclude_punctuation=True,  # a header value: letters and digits only
                include_space=False,
            ),
            removal_policy=stage.removal_policy,
        )
        nag.suppress(
            self.secret,
            "SMG4",
            "Rotation would need CloudFront and the functions to change together; the value is only resolved "
            "at deploy time, so it is rotated by putting a new value and redeploying (docs/deployment-security.md).",
        )

    @property
    def value(self) -> str:
        """The secret's value as a CloudFormation dynamic reference: never plain text in the template."""
        return self.secret.secret_value.unsafe_unwrap()
