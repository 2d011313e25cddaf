"""One DynamoDB table per ``resources.TABLES`` entry, shaped exactly as defined there."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from marketplace.platform import resources as r
from stacks.keys import EncryptionKeys
from stacks.naming import pascal
from stacks.settings import StageSettings

_ATTRIBUTE_TYPES: dict[str, dynamodb.AttributeType] = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


class Tables(Construct):
    """On-demand tables with point-in-time recovery, encrypted with ``key``; protected from deletion in prod."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: StageSettings, keys: EncryptionKeys) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.TableV2] = {
            definition.id: self._table(definition, stage, keys.key(r.key(definition.key))) for definition in r.TABLES
        }

    def table(self, definition: r.TableDef) -> dynamodb.TableV2:
        return self.tables[definition.id]

    def _table(self, definition: r.TableDef, stage: StageSettings, key: kms.IKey) -> dynamodb.TableV2:
        return dynamodb.TableV2(
            self,
            pascal(definition.id),
            table_name=definition.physical_name(stage.name),
            partition_key=_attribute(definition.partition_key),
            sort_key=_attribute(definition.sort_key) if definition.sort_key else None,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index.name,
                    partition_key=_attribute(index.partition_key),
                    sort_key=_attribute(index.sort_key) if index.sort_key else None,
                    projection_type=dynamodb.ProjectionType.ALL,
                )
                for index in definition.indexes
            ]
            or None,
            time_to_live_attribute=definition.ttl_attribute,
            dynamo_stream=dynamodb.StreamViewType[definition.stream] if definition.stream else None,
            billing=dynamodb.Billing.on_demand(),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=stage.production,
            removal_policy=stage.removal_policy,
        )


def _attribute(attribute: r.KeyAttribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=attribute.name, type=_ATTRIBUTE_TYPES[attribute.type])
