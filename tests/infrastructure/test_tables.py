from __future__ import annotations

import pytest

from marketplace.platform import resources as r

from .synth import Synthesized

pytestmark = pytest.mark.slow


def _key_schema(partition: r.KeyAttribute, sort: r.KeyAttribute | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    if sort:
        schema.append({"AttributeName": sort.name, "KeyType": "RANGE"})
    return schema


def _attributes(definition: r.TableDef) -> dict[str, str]:
    keys = [definition.partition_key, definition.sort_key]
    for index in definition.indexes:
        keys += [index.partition_key, index.sort_key]
    return {key.name: key.type for key in keys if key}


def test_one_table_per_definition(dev: Synthesized) -> None:
    names = {t["Properties"]["TableName"] for t in dev.resources("AWS::DynamoDB::GlobalTable").values()}
    assert names == {table.physical_name(dev.stage) for table in r.TABLES}


@pytest.mark.parametrize("definition", r.TABLES, ids=lambda t: t.id)
def test_table_is_shaped_exactly_as_defined(dev: Synthesized, definition: r.TableDef) -> None:
    table = dev.stack.tables.table(definition)
    props = dev.props(table)

    assert props["TableName"] == definition.physical_name(dev.stage)
    assert props["KeySchema"] == _key_schema(definition.partition_key, definition.sort_key)
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == _attributes(definition)
    indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {index.name for index in definition.indexes}
    for index in definition.indexes:
        assert indexes[index.name]["KeySchema"] == _key_schema(index.partition_key, index.sort_key)
        assert indexes[index.name]["Projection"] == {"ProjectionType": "ALL"}
    if definition.ttl_attribute:
        assert props["TimeToLiveSpecification"] == {"AttributeName": definition.ttl_attribute, "Enabled": True}
    else:
        assert "TimeToLiveSpecification" not in props
    if definition.stream:
        assert props["StreamSpecification"] == {"StreamViewType": definition.stream}
    else:
        assert "StreamSpecification" not in props


@pytest.mark.parametrize("definition", r.TABLES, ids=lambda t: t.id)
def test_table_is_on_demand_recoverable_and_encrypted_with_the_data_key(
    dev: Synthesized, definition: r.TableDef
) -> None:
    props = dev.props(dev.stack.tables.table(definition))
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    (replica,) = props["Replicas"]
    assert replica["Region"] == dev.stack.region
    assert replica["SSESpecification"] == {"KMSMasterKeyId": dev.arn(dev.stack.keys.key(r.DATA_KEY))}
    assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_dev_tables_go_with_the_stack(dev: Synthesized) -> None:
    for definition in r.TABLES:
        resource = dev.resource(dev.stack.tables.table(definition))
        assert resource["DeletionPolicy"] == "Delete"
        assert resource["Properties"]["Replicas"][0]["DeletionProtectionEnabled"] is False
