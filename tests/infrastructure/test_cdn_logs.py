"""CloudFront's access logs: standard logging v2 from the us-east-1 edge stack into the CDN-log bucket, with no
query string (ovsx sends ?token=) and no client address in any record."""

from __future__ import annotations

import pytest

from stacks.cdn_logs import DELIVERY_REGION, EXCLUDED_FIELDS, LOG_PREFIX, RECORD_FIELDS, delivery_source_name

from .synth import ACCOUNT, REGION, Synthesized

pytestmark = pytest.mark.slow


def test_the_delivery_lives_in_us_east_1_next_to_the_main_stack(dev: Synthesized) -> None:
    edge = dev.stack.edge
    assert edge.region == DELIVERY_REGION == "us-east-1"
    assert edge.account == ACCOUNT
    assert edge.stack_name == f"{dev.stack.stack_name}-Edge"
    assert dev.stack in edge.dependencies


def test_the_source_is_this_distribution(dev: Synthesized) -> None:
    (source,) = dev.edge_resources("AWS::Logs::DeliverySource").values()
    props = source["Properties"]
    assert props["LogType"] == "ACCESS_LOGS"
    assert props["Name"] == delivery_source_name(dev.stack.stage, REGION)
    prefix, reference = props["ResourceArn"]["Fn::Join"][1]
    assert prefix == f"arn:aws:cloudfront::{ACCOUNT}:distribution/"
    output = reference["Fn::GetStackOutput"]
    assert (output["StackName"], output["Region"]) == (dev.stack.stack_name, REGION)
    assert dev.json["Outputs"][output["OutputName"]]["Value"] == dev.ref(dev.stack.cdn.distribution)


def test_the_destination_is_the_cdn_log_bucket_under_its_prefix(dev: Synthesized) -> None:
    (destination,) = dev.edge_resources("AWS::Logs::DeliveryDestination").values()
    props = destination["Properties"]
    assert props["DeliveryDestinationType"] == "S3"
    reference, suffix = props["DestinationResourceArn"]["Fn::Join"][1]
    assert suffix == f"/{LOG_PREFIX}"
    output = reference["Fn::GetStackOutput"]
    assert dev.json["Outputs"][output["OutputName"]]["Value"] == dev.arn(dev.stack.buckets.cdn_logs)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_records_carry_no_query_string_and_no_client_address(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(stage)
    (delivery,) = synth.edge_resources("AWS::Logs::Delivery").values()
    fields = delivery["Properties"]["RecordFields"]
    assert fields == list(RECORD_FIELDS)
    assert not set(fields) & EXCLUDED_FIELDS
    assert {"cs-uri-query", "c-ip", "x-forwarded-for", "cs(Cookie)"} <= EXCLUDED_FIELDS
    assert {"date", "time", "cs-method", "cs-uri-stem", "sc-status", "x-edge-request-id"} <= set(fields)
    (source_id,) = synth.edge_resources("AWS::Logs::DeliverySource")
    (destination_id,) = synth.edge_resources("AWS::Logs::DeliveryDestination")
    assert delivery["Properties"]["DeliverySourceName"] == {"Ref": source_id}
    assert delivery["Properties"]["DeliveryDestinationArn"] == {"Fn::GetAtt": [destination_id, "Arn"]}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_nothing_else_logs_cloudfront_requests(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(stage)
    (distribution,) = synth.resources("AWS::CloudFront::Distribution").values()
    assert "Logging" not in distribution["Properties"]["DistributionConfig"]  # legacy logging records the query
    assert not synth.resources("AWS::CloudFront::RealtimeLogConfig")
    assert set(synth.edge_json["Resources"]) == {
        *synth.edge_resources("AWS::Logs::DeliverySource"),
        *synth.edge_resources("AWS::Logs::DeliveryDestination"),
        *synth.edge_resources("AWS::Logs::Delivery"),
    }


def test_prod_protects_its_edge_stack(prod: Synthesized) -> None:
    assert prod.stack.edge.termination_protection is True
