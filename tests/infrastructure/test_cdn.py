from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from marketplace.local import cdn as policy
from marketplace.platform import resources as r
from marketplace.platform import trust
from stacks.cdn import FORWARDED_HOST_FUNCTION, PREFLIGHT_STATUS, preflight_function_code, preflight_headers

from .synth import Synthesized

# CloudFront's managed policies, by their fixed ids
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


def _config(dev: Synthesized) -> dict[str, Any]:
    config: dict[str, Any] = dev.props(dev.stack.cdn.distribution)["DistributionConfig"]
    return config


@pytest.mark.slow
def test_api_is_the_default_origin_and_assets_come_from_the_bucket(dev: Synthesized) -> None:
    config = _config(dev)
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    assert len(origins) == 2
    default = config["DefaultCacheBehavior"]
    api_origin = origins[default["TargetOriginId"]]
    assert api_origin["DomainName"]["Fn::Join"][1][:2] == [
        dev.ref(dev.stack.api.api),
        f".execute-api.{dev.stack.region}.",
    ]
    assert api_origin["CustomOriginConfig"] == {"OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"]}

    (assets,) = config["CacheBehaviors"]
    assert assets["PathPattern"] == f"{r.PACKAGES_BUCKET.public_prefix}*"
    bucket_origin = origins[assets["TargetOriginId"]]
    assert bucket_origin["DomainName"] == {
        "Fn::GetAtt": [dev.logical_id(dev.stack.buckets.bucket(r.PACKAGES_BUCKET)), "RegionalDomainName"]
    }
    assert "OriginAccessControlId" in bucket_origin
    assert bucket_origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not a legacy identity
    assert "OriginCustomHeaders" not in bucket_origin  # the origin secret goes to the API only
    assert assets["CachePolicyId"] == CACHING_OPTIMIZED
    assert assets["ViewerProtocolPolicy"] == "redirect-to-https"


def test_the_api_origin_carries_the_origin_secret_from_secrets_manager(dev: Synthesized) -> None:
    config = _config(dev)
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    api_origin = origins[config["DefaultCacheBehavior"]["TargetOriginId"]]
    (header,) = api_origin["OriginCustomHeaders"]
    assert header["HeaderName"] == trust.ORIGIN_HEADER
    # a dynamic reference CloudFormation resolves at deploy time, never a literal
    assert header["HeaderValue"] == {
        "Fn::Join": ["", ["{{resolve:secretsmanager:", dev.ref(dev.stack.origin_secret.secret), ":SecretString:::}}"]]
    }


def test_the_api_gets_cloudfronts_viewer_address_and_not_the_viewers_host(dev: Synthesized) -> None:
    # AllViewerExceptHostHeader: every viewer header but Host, plus CloudFront's headers such as
    # CloudFront-Viewer-Address and CloudFront-Forwarded-Proto (platform.trust reads them once verified)
    assert _config(dev)["DefaultCacheBehavior"]["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert not dev.resources("AWS::CloudFront::OriginRequestPolicy")


def test_assets_answer_get_head_and_preflights_with_the_local_stand_ins_cors_policy(dev: Synthesized) -> None:
    (assets,) = _config(dev)["CacheBehaviors"]
    assert assets["AllowedMethods"] == ["GET", "HEAD", "OPTIONS"] == list(policy.ALLOWED_METHODS)
    assert assets["CachedMethods"] == ["GET", "HEAD"]
    ((policy_id, headers_policy),) = dev.resources("AWS::CloudFront::ResponseHeadersPolicy").items()
    assert assets["ResponseHeadersPolicyId"] == {"Ref": policy_id}
    config = headers_policy["Properties"]["ResponseHeadersPolicyConfig"]
    cors = config["CorsConfig"]
    assert cors["AccessControlAllowOrigins"] == {"Items": [policy.CORS_ALLOW_ORIGIN]}
    assert cors["AccessControlAllowMethods"] == {"Items": list(policy.CORS_ALLOW_METHODS)}
    assert cors["AccessControlAllowHeaders"] == {"Items": list(policy.CORS_ALLOW_HEADERS)}
    assert cors["AccessControlExposeHeaders"] == {"Items": list(policy.CORS_EXPOSE_HEADERS)}
    assert cors["AccessControlMaxAgeSec"] == policy.CORS_MAX_AGE
    assert cors["AccessControlAllowCredentials"] is policy.CORS_ALLOW_CREDENTIALS
    assert cors["OriginOverride"] is True
    security = config["SecurityHeadersConfig"]
    local = dict(policy.SECURITY_HEADERS)
    hsts = security["StrictTransportSecurity"]["AccessControlMaxAgeSec"]
    assert f"max-age={hsts}" == local["strict-transport-security"]
    assert security["FrameOptions"]["FrameOption"] == local["x-frame-options"]
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == local["referrer-policy"]
    assert security["XSSProtection"] == {"ModeBlock": True, "Override": True, "Protection": True}
    assert local["x-xss-protection"] == "1; mode=block"
    assert security["ContentTypeOptions"] == {"Override": True}
    assert local["x-content-type-options"] == "nosniff"
    (association,) = assets["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    functions = dev.resources("AWS::CloudFront::Function")
    assert functions[association["FunctionARN"]["Fn::GetAtt"][0]]["Properties"]["FunctionCode"] == (
        preflight_function_code()
    )


def test_assets_forward_no_query_string_header_or_cookie_to_s3(dev: Synthesized) -> None:
    # CachingOptimized keys (and forwards) no query strings, headers or cookies, and there is no origin request
    # policy: no listing (?list-type=...) or response override can be asked of the bucket through the CDN
    (assets,) = _config(dev)["CacheBehaviors"]
    assert assets["CachePolicyId"] == CACHING_OPTIMIZED
    assert "OriginRequestPolicyId" not in assets


def test_a_missing_asset_is_not_rewritten_by_a_distribution_wide_error_response(dev: Synthesized) -> None:
    # S3 itself answers 404 (the distribution may list the bucket, test_storage.py); a custom error response for
    # 403 would also rewrite the API's own 403s (forbidden, origin_not_verified)
    assert "CustomErrorResponses" not in _config(dev)


@pytest.mark.slow
def test_origin_access_control_signs_every_request(dev: Synthesized) -> None:
    (oac,) = dev.resources("AWS::CloudFront::OriginAccessControl").values()
    config = oac["Properties"]["OriginAccessControlConfig"]
    assert config["OriginAccessControlOriginType"] == "s3"
    assert config["SigningBehavior"] == "always"
    assert config["SigningProtocol"] == "sigv4"


@pytest.mark.slow
def test_api_behaviour_passes_everything_and_caches_only_on_request(dev: Synthesized) -> None:
    default = _config(dev)["DefaultCacheBehavior"]
    assert default["AllowedMethods"] == ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    (cache_policy,) = dev.resources("AWS::CloudFront::CachePolicy").values()
    assert default["CachePolicyId"] == {"Ref": next(iter(dev.resources("AWS::CloudFront::CachePolicy")))}
    cache = cache_policy["Properties"]["CachePolicyConfig"]
    assert cache["MinTTL"] == 0
    assert cache["DefaultTTL"] == 0
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    (association,) = default["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    functions = dev.resources("AWS::CloudFront::Function")
    assert len(functions) == 2  # this one and the assets' preflight function
    function = functions[association["FunctionARN"]["Fn::GetAtt"][0]]
    assert function["Properties"]["FunctionCode"] == FORWARDED_HOST_FUNCTION
    assert all(f["Properties"]["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0" for f in functions.values())


@pytest.mark.slow
def test_distribution_settings(dev: Synthesized) -> None:
    config = _config(dev)
    assert config["PriceClass"] == "PriceClass_100"
    assert config["HttpVersion"] == "http2and3"
    assert config["IPV6Enabled"] is True
    # no legacy standard logging: it records query strings (ovsx's ?token=) and client addresses
    assert "Logging" not in config


def _run_node(script: str) -> Any:
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(result.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_forwarded_host_function_copies_the_viewer_host() -> None:
    script = (
        FORWARDED_HOST_FUNCTION
        + "const out = [handler({request: {headers: {host: {value: 'market.example.org'}}}}),"
        + " handler({request: {headers: {}}})];"
        + "process.stdout.write(JSON.stringify(out));"
    )
    with_host, without_host = _run_node(script)
    assert with_host["headers"]["x-forwarded-host"] == {"value": "market.example.org"}
    assert with_host["headers"]["host"] == {"value": "market.example.org"}
    assert without_host == {"headers": {}}


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_forwarded_host_function_replaces_a_viewers_own_x_forwarded_host() -> None:
    script = (
        FORWARDED_HOST_FUNCTION
        + "const forged = {value: 'evil.example'};"
        + "const host = {value: 'd1.cloudfront.net'};"
        + "const out = [handler({request: {headers: {host: host, 'x-forwarded-host': forged}}}),"
        + " handler({request: {headers: {'x-forwarded-host': forged}}})];"
        + "process.stdout.write(JSON.stringify(out));"
    )
    replaced, dropped = _run_node(script)
    assert replaced["headers"]["x-forwarded-host"] == {"value": "d1.cloudfront.net"}
    assert "x-forwarded-host" not in dropped["headers"]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_preflight_function_answers_options_and_passes_everything_else() -> None:
    script = (
        preflight_function_code()
        + "const options = handler({request: {method: 'OPTIONS', uri: '/assets/a/b', headers: {}}});"
        + "const get = handler({request: {method: 'GET', uri: '/assets/a/b', headers: {}}});"
        + "process.stdout.write(JSON.stringify([options, get]));"
    )
    options, get = _run_node(script)
    assert options["statusCode"] == PREFLIGHT_STATUS == 200
    assert {name: value["value"] for name, value in options["headers"].items()} == dict(preflight_headers())
    assert options["headers"]["access-control-allow-methods"] == {"value": "GET, HEAD, OPTIONS"}
    assert get == {"method": "GET", "uri": "/assets/a/b", "headers": {}}


def test_the_preflight_answer_is_the_local_stand_ins() -> None:
    """The same status and headers as marketplace.local.cdn's answer to an OPTIONS (which reads no object)."""
    local = policy.Cdn("unused-bucket", r.PACKAGES_BUCKET.public_prefix).serve("OPTIONS", "/assets/x", {})
    assert local.status == PREFLIGHT_STATUS
    ignored = {"content-length", "x-cache"}  # CloudFront sets these itself
    assert {(n, v) for n, v in local.headers if n not in ignored} == set(preflight_headers())
