"""The CDN stand-in (``marketplace.local.cdn``) against moto's S3: assets as the CloudFront behaviour serves
them, CORS for browser clients as its response headers policy gives it, and errors in the API's JSON shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from marketplace.local import cdn
from marketplace.local.apigw import HttpResponse
from marketplace.platform import aws

BUCKET = "assets-test"
KEY = "assets/pub/ext/1.0.0/package.vsix"
PATH = "/" + KEY


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[cdn.Cdn]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        aws.reset_clients()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"0123456789", ContentType="application/vsix",
                      CacheControl="public, max-age=31536000, immutable")
        s3.put_object(Bucket=BUCKET, Key="assets/pub/ext/1.0.0/a b.txt", Body=b"spaced")
        yield cdn.Cdn(BUCKET, "assets/")
    aws.reset_clients()


def _headers(response: HttpResponse) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers}


def test_a_preflight_is_answered_as_the_response_headers_policy_does(store: cdn.Cdn):
    response = store.serve("OPTIONS", PATH, {"origin": "https://workbench.example",
                                             "access-control-request-method": "GET",
                                             "access-control-request-headers": "range"})
    headers = _headers(response)
    assert 200 <= response.status < 300 and response.body == b""
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    assert headers["access-control-allow-headers"] == "*"
    assert headers["access-control-max-age"] == str(cdn.CORS_MAX_AGE)
    assert "access-control-allow-credentials" not in headers
    # a preflight does not depend on the object existing
    assert store.serve("OPTIONS", "/assets/missing", {"origin": "https://x.example"}).status == response.status


def test_the_cors_constants_are_the_policy_the_stack_configures():
    assert cdn.CORS_ALLOW_ORIGIN == "*"
    assert cdn.CORS_ALLOW_METHODS == ("GET", "HEAD", "OPTIONS") == cdn.ALLOWED_METHODS
    assert cdn.CORS_ALLOW_HEADERS == ("*",)
    assert set(cdn.CORS_EXPOSE_HEADERS) >= {"ETag", "Content-Range", "Accept-Ranges"}
    assert isinstance(cdn.CORS_MAX_AGE, int) and cdn.CORS_MAX_AGE > 0
    assert cdn.CORS_ALLOW_CREDENTIALS is False


@pytest.mark.parametrize("origin", [{}, {"origin": "https://workbench.example"}])
def test_gets_carry_access_control_allow_origin(store: cdn.Cdn, origin: dict[str, str]):
    response = store.serve("GET", PATH, origin)
    headers = _headers(response)
    assert (response.status, response.body) == (200, b"0123456789")
    assert headers["access-control-allow-origin"] == "*"
    assert "ETag" in headers["access-control-expose-headers"]


def test_etag_cache_control_ranges_and_304_are_kept(store: cdn.Cdn):
    response = store.serve("GET", PATH, {})
    headers = _headers(response)
    assert headers["content-type"] == "application/vsix"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["accept-ranges"] == "bytes" and headers["content-length"] == "10"
    ranged = store.serve("GET", PATH, {"range": "bytes=2-4"})
    assert (ranged.status, ranged.body, _headers(ranged)["content-range"]) == (206, b"234", "bytes 2-4/10")
    unchanged = store.serve("GET", PATH, {"if-none-match": headers["etag"]})
    assert unchanged.status == 304 and _headers(unchanged)["etag"] == headers["etag"]
    head = store.serve("HEAD", PATH, {})
    assert head.status == 200 and head.body == b"" and _headers(head)["content-length"] == "10"


def test_a_missing_asset_is_a_json_404(store: cdn.Cdn):
    for method in ("GET", "HEAD"):
        response = store.serve(method, "/assets/pub/ext/1.0.0/missing", {})
        assert response.status == 404
        assert _headers(response)["content-type"] == "application/json"
        assert json.loads(response.body) == {"message": "Not Found"}
        assert _headers(response)["access-control-allow-origin"] == "*"


def test_other_errors_are_json_too(store: cdn.Cdn):
    unsatisfiable = store.serve("GET", PATH, {"range": "bytes=50-60"})
    assert unsatisfiable.status == 416 and set(json.loads(unsatisfiable.body)) == {"message"}
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        refused = store.serve(method, PATH, {})
        assert refused.status == 403 and set(json.loads(refused.body)) == {"message"}
        assert _headers(refused)["content-type"] == "application/json"


def test_the_path_is_decoded_to_the_key_as_s3_does(store: cdn.Cdn):
    assert store.serve("GET", "/assets/pub/ext/1.0.0/a%20b.txt", {}).body == b"spaced"
