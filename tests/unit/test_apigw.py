"""API Gateway HTTP API emulation: route selection and payload format 2.0."""

import base64
import json

import pytest

from marketplace.local.apigw import RouteTable, build_event, to_response
from marketplace.platform.functions import FUNCTIONS, FunctionDef, Route

ROUTES = RouteTable(FUNCTIONS)


@pytest.mark.parametrize(
    ("method", "path", "function", "route_key"),
    [
        ("POST", "/_apis/public/gallery/extensionquery", "gallery", "ANY /_apis/public/gallery/{proxy+}"),
        ("GET", "/api/somepub/hello", "gallery", "ANY /api/{proxy+}"),
        ("POST", "/api/publish/uploads", "publish_api", "ANY /api/publish/{proxy+}"),
        ("POST", "/api/telemetry", "telemetry", "ANY /api/telemetry"),
        ("GET", "/api/somepub/hello/reviews", "reviews", "GET /api/{namespace}/{extension}/reviews"),
        ("POST", "/api/somepub/hello/reviews", "gallery", "ANY /api/{proxy+}"),
        ("POST", "/api/somepub/hello/review/delete", "reviews", "ANY /api/{namespace}/{extension}/review/delete"),
        ("GET", "/sync/v1/manifest", "sync", "ANY /sync/{proxy+}"),
        ("GET", "/", "web", "ANY /"),
        ("GET", "/items", "web", "ANY /items"),
        ("GET", "/items/", "web", "ANY /items"),  # a trailing slash is routed as without (VS Code's item links)
        ("GET", "/publishers/acme", "web", "ANY /publishers/{proxy+}"),
        ("GET", "/_apis/public/gallery/publishers/acme", "gallery", "ANY /_apis/public/gallery/{proxy+}"),
    ],
)
def test_routes_pick_the_most_specific_match(method, path, function, route_key):
    match = ROUTES.match(method, path)
    assert match is not None
    assert (match.function.name, match.route_key) == (function, route_key)


def test_no_route_and_path_parameters():
    assert ROUTES.match("GET", "/unknown") is None
    assert ROUTES.match("GET", "/sync") is None  # {proxy+} needs at least one segment
    match = ROUTES.match("GET", "/api/pub/ext/reviews")
    assert match is not None and match.path_parameters == {"namespace": "pub", "extension": "ext"}
    assert ROUTES.match("GET", "/sync/v1/resource/settings/latest").path_parameters == {  # type: ignore[union-attr]
        "proxy": "v1/resource/settings/latest"
    }


def test_duplicate_routes_are_refused():
    fn = FunctionDef("a", "x", 128, 3, routes=(Route("GET", "/x"),))
    with pytest.raises(ValueError, match="routes defined twice"):
        RouteTable([fn, FunctionDef("b", "x", 128, 3, routes=(Route("GET", "/x"),))])


def _event(body: bytes, content_type: str | None, query: str = ""):
    headers = [("Host", "127.0.0.1:8080"), ("User-Agent", "VSCode 1.100.3"), ("Cookie", "a=1; b=2"),
               ("X-Dup", "1"), ("X-Dup", "2")]
    if content_type:
        headers.append(("Content-Type", content_type))
    match = ROUTES.match("POST", "/api/publish/uploads")
    assert match is not None
    return build_event(method="post", raw_path="/api/publish/uploads", raw_query=query, headers=headers, body=body,
                       source_ip="127.0.0.1", match=match, domain_name="127.0.0.1")


def test_event_has_the_payload_v2_shape():
    event = _event(b'{"a": 1}', "application/json", "x=1&x=2&y=")
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /api/publish/{proxy+}"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["headers"]["x-dup"] == "1,2"
    assert "cookie" not in event["headers"] and event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"] == {
        "method": "POST", "path": "/api/publish/uploads", "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1", "userAgent": "VSCode 1.100.3",
    }
    assert event["requestContext"]["stage"] == "$default"
    assert event["pathParameters"] == {"proxy": "uploads"}
    assert event["body"] == '{"a": 1}' and event["isBase64Encoded"] is False


def test_binary_bodies_are_base64_encoded():
    raw = b"PK\x03\x04\xff\x00"
    event = _event(raw, "application/octet-stream")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw
    # text content types that are not valid UTF-8 are still delivered intact
    event = _event(b"\xff\xfe", "text/plain")
    assert event["isBase64Encoded"] is True


def test_response_mapping():
    response = to_response({"statusCode": 201, "headers": {"etag": "1"}, "cookies": ["s=1"], "body": "x"})
    assert (response.status, response.body) == (201, b"x")
    assert ("etag", "1") in response.headers and ("set-cookie", "s=1") in response.headers
    binary = to_response({"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True})
    assert binary.body == b"\x00\x01"
    inferred = to_response({"hello": "world"})
    assert inferred.status == 200 and json.loads(inferred.body) == {"hello": "world"}


@pytest.mark.parametrize("status", [1000, 99, 0, -1, "abc", None, "2OO"])
def test_a_status_code_outside_http_is_api_gateways_500(status):
    response = to_response({"statusCode": status, "body": "x"})
    assert response.status == 500 and json.loads(response.body) == {"message": "Internal Server Error"}
