from __future__ import annotations

import json

import pytest

from marketplace.platform import functions as fns

from .synth import Synthesized

pytestmark = pytest.mark.slow


def test_routes_are_exactly_those_of_the_definitions(dev: Synthesized) -> None:
    route_keys = [route["Properties"]["RouteKey"] for route in dev.resources("AWS::ApiGatewayV2::Route").values()]
    expected = [route.key for definition in fns.FUNCTIONS for route in definition.routes]
    assert sorted(route_keys) == sorted(expected)
    assert len(set(route_keys)) == len(route_keys)


def test_each_route_invokes_its_own_function(dev: Synthesized) -> None:
    integrations = dev.resources("AWS::ApiGatewayV2::Integration")
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in dev.resources("AWS::ApiGatewayV2::Route").values()}
    for definition in dev.functions:
        function_arn = dev.arn(dev.stack.functions.function(definition))
        for route in definition.routes:
            target = routes[route.key]["Target"]["Fn::Join"][1]
            assert target[0] == "integrations/"
            integration = integrations[target[1]["Ref"]]["Properties"]
            assert integration["IntegrationType"] == "AWS_PROXY"
            assert integration["IntegrationUri"] == function_arn
            assert integration["PayloadFormatVersion"] == "2.0"
            assert routes[route.key]["AuthorizationType"] == "NONE"  # the functions check bearer tokens


def test_the_publisher_area_is_routed_to_publish_api(dev: Synthesized) -> None:
    """``/manage`` moved from the website's function to the one that owns the publishing table."""
    integrations = dev.resources("AWS::ApiGatewayV2::Integration")
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in dev.resources("AWS::ApiGatewayV2::Route").values()}
    manage = {key: props for key, props in routes.items() if key.split(" ", 1)[1].startswith("/manage")}
    assert set(manage) == {"ANY /manage", "ANY /manage/{proxy+}"}
    for props in manage.values():
        integration = integrations[props["Target"]["Fn::Join"][1][1]["Ref"]]["Properties"]
        assert integration["IntegrationUri"] == dev.arn(dev.stack.functions.function(fns.PUBLISH_API))
    assert not [route for route in fns.WEB.routes if route.path.startswith("/manage")]


def test_api_leaves_cors_to_the_functions(dev: Synthesized) -> None:
    (api,) = dev.resources("AWS::ApiGatewayV2::Api").values()
    assert "CorsConfiguration" not in api["Properties"]
    assert api["Properties"]["ProtocolType"] == "HTTP"


def test_default_stage_throttles_and_logs_json_to_an_encrypted_group(dev: Synthesized) -> None:
    (stage,) = dev.resources("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100}
    access = dev.stack.api.access_logs
    assert props["AccessLogSettings"]["DestinationArn"] == dev.arn(access)
    fields = json.loads(props["AccessLogSettings"]["Format"])
    for name, variable in {
        "requestId": "$context.requestId",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "latency": "$context.responseLatency",
    }.items():
        assert fields[name] == variable
    assert not any("sourceIp" in variable for variable in fields.values())  # no IP addresses are stored
    group = dev.props(access)
    assert group["KmsKeyId"] == dev.arn(dev.stack.keys.logs_key)
    assert group["RetentionInDays"] == 30


def test_api_may_invoke_each_function_only_through_its_routes(dev: Synthesized) -> None:
    api = dev.ref(dev.stack.api.api)
    for definition in dev.functions:
        function_arn = dev.arn(dev.stack.functions.function(definition))
        permissions = [
            p["Properties"]
            for p in dev.resources("AWS::Lambda::Permission").values()
            if p["Properties"]["FunctionName"] == function_arn
        ]
        assert all(p["Principal"] == "apigateway.amazonaws.com" for p in permissions)
        assert all(api in p["SourceArn"]["Fn::Join"][1] for p in permissions)
        scoped_paths = sorted(p["SourceArn"]["Fn::Join"][1][-1].split("/", 3)[3] for p in permissions)
        assert scoped_paths == sorted(route.path.lstrip("/") for route in definition.routes)
