from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from marketplace.local import cdn as policy
from marketplace.platform import resources as r
from marketplace.platform import trust
from marketplace.platform.functions import PUBLISH_API, WEB
from marketplace.web import pages, render
from stacks.cdn import (
    FORWARDED_HOST_FUNCTION,
    MANAGE_PATHS,
    PAGE_PATHS,
    PAGE_QUERY_PARAMETERS,
    PREFLIGHT_STATUS,
    STATIC_PATH,
    preflight_function_code,
    preflight_headers,
)

from .synth import Synthesized

# CloudFront's managed policies, by their fixed ids
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ASSETS_PATTERN = f"{r.PACKAGES_BUCKET.public_prefix}*"


def _config(dev: Synthesized) -> dict[str, Any]:
    config: dict[str, Any] = dev.props(dev.stack.cdn.distribution)["DistributionConfig"]
    return config


def _behaviors(dev: Synthesized) -> dict[str, dict[str, Any]]:
    """The additional cache behaviours by path pattern (each pattern once)."""
    behaviors = _config(dev)["CacheBehaviors"]
    by_pattern = {behavior["PathPattern"]: behavior for behavior in behaviors}
    assert len(by_pattern) == len(behaviors)
    return by_pattern


def _assets(dev: Synthesized) -> dict[str, Any]:
    return _behaviors(dev)[ASSETS_PATTERN]


def _cache_policy(dev: Synthesized, behavior: dict[str, Any]) -> dict[str, Any]:
    """The ``CachePolicyConfig`` of a behaviour's own (not managed) cache policy."""
    config: dict[str, Any] = dev.json["Resources"][behavior["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]
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

    assets = _assets(dev)
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
    assets = _assets(dev)
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
    # a package's own .html or .svg opened from the CDN runs nothing on the website's origin
    assert security["ContentSecurityPolicy"] == {"ContentSecurityPolicy": local["content-security-policy"],
                                                 "Override": True}
    assert "sandbox" in local["content-security-policy"].split("; ")
    (association,) = assets["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    functions = dev.resources("AWS::CloudFront::Function")
    assert functions[association["FunctionARN"]["Fn::GetAtt"][0]]["Properties"]["FunctionCode"] == (
        preflight_function_code()
    )


def test_assets_forward_no_query_string_header_or_cookie_to_s3(dev: Synthesized) -> None:
    # CachingOptimized keys (and forwards) no query strings, headers or cookies, and there is no origin request
    # policy: no listing (?list-type=...) or response override can be asked of the bucket through the CDN
    assets = _assets(dev)
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
    assert default["CachePolicyId"]["Ref"] == dev.logical_id(dev.stack.cdn.api_cache)
    cache = _cache_policy(dev, default)
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


def _api_origin_id(dev: Synthesized) -> str:
    target: str = _config(dev)["DefaultCacheBehavior"]["TargetOriginId"]
    return target


def _assert_read_only_api_behavior(dev: Synthesized, behavior: dict[str, Any]) -> None:
    """Like the default behaviour (origin, origin request policy, forwarded host) but for GET and HEAD only."""
    default = _config(dev)["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == _api_origin_id(dev) != _assets(dev)["TargetOriginId"]
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert behavior["FunctionAssociations"] == default["FunctionAssociations"]  # the forwarded-host function
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["CachedMethods"] == ["GET", "HEAD"]
    assert behavior["Compress"] is True
    assert "ResponseHeadersPolicyId" not in behavior  # the function sets the pages' security headers itself


def _max_age(cache_control: str) -> int:
    match = re.search(r"(?:^|[ ,])max-age=(\d+)", cache_control)
    assert match is not None, cache_control
    return int(match.group(1))


def test_every_path_of_the_web_function_but_the_home_page_has_its_own_behaviour() -> None:
    """The API routes of the web function and the CloudFront patterns name the same paths; ``/`` is the default's."""
    routed = {route.path.replace("{proxy+}", "*") for route in WEB.routes}
    assert routed - {"/"} == {*PAGE_PATHS, STATIC_PATH}
    assert set(PAGE_PATHS) == {"/items", "/search", "/publishers/*", "/sitemap.xml", "/robots.txt"}


def test_the_manage_behaviours_are_the_publisher_areas_routes() -> None:
    """``/manage*`` is publish_api's (it owns the publishing table), not the web function's."""
    manage = {route.path.replace("{proxy+}", "*") for route in PUBLISH_API.routes if route.path.startswith("/manage")}
    assert manage == set(MANAGE_PATHS) == {"/manage", "/manage/*"}
    assert {route.method for route in PUBLISH_API.routes if route.path.startswith("/manage")} == {"ANY"}


@pytest.mark.slow
def test_pages_come_from_the_api_with_the_pages_cache_policy(dev: Synthesized) -> None:
    behaviors = _behaviors(dev)
    for path in PAGE_PATHS:
        page = behaviors[path]
        _assert_read_only_api_behavior(dev, page)
        assert page["CachePolicyId"] == dev.ref(dev.stack.cdn.pages_cache)


@pytest.mark.slow
def test_the_pages_cache_key_holds_only_the_query_parameters_the_pages_read(dev: Synthesized) -> None:
    cache = dev.props(dev.stack.cdn.pages_cache)["CachePolicyConfig"]
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {
        "QueryStringBehavior": "whitelist",
        "QueryStrings": ["itemName", "q", "category", "platform", "prerelease", "verified", "sort", "page"],
    }
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert key["EnableAcceptEncodingGzip"] is True
    assert key["EnableAcceptEncodingBrotli"] is True
    assert (cache["MinTTL"], cache["DefaultTTL"], cache["MaxTTL"]) == (0, 60, 86400)
    assert _max_age(render.PAGE_CACHE) == cache["DefaultTTL"]


class _Reading(dict[str, str]):
    """Query parameters that remember which names were asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def test_the_allow_list_is_what_the_pages_read_and_link_to() -> None:
    # a parameter left out of the cache key would get every value of it the same cached page
    params = _Reading()
    pages.SearchQuery.of(params)
    sort = next(name for name in pages.SORTS if name != "relevance")
    search = pages.SearchQuery(
        text="q", category="c", platform="linux-x64", pre_release=True, verified=True, sort=sort, page=2
    )
    linked = {*parse_qs(urlsplit(search.url()).query), *parse_qs(urlsplit(render.item_url("p", "n")).query)}
    assert params.read | {"itemName"} == linked == set(PAGE_QUERY_PARAMETERS)


@pytest.mark.slow
def test_static_files_come_from_the_api_and_are_cached_for_long(dev: Synthesized) -> None:
    static = _behaviors(dev)[STATIC_PATH]
    _assert_read_only_api_behavior(dev, static)
    assert static["CachePolicyId"] == dev.ref(dev.stack.cdn.static_cache)
    cache = dev.props(dev.stack.cdn.static_cache)["CachePolicyConfig"]
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert key["EnableAcceptEncodingGzip"] is True
    assert key["EnableAcceptEncodingBrotli"] is True
    # min 0: a stale digest's no-cache answer is not cached
    assert (cache["MinTTL"], cache["DefaultTTL"], cache["MaxTTL"]) == (0, 86400, 365 * 86400)
    assert _max_age(render.STATIC_CACHE) == cache["MaxTTL"]


@pytest.mark.slow
def test_manage_is_never_cached_and_gets_cookies_query_strings_and_every_method(dev: Synthesized) -> None:
    """Sign-in, sessions and forms: nothing cached (CloudFront's managed CachingDisabled), and the managed
    AllViewerExceptHostHeader origin request policy forwards every cookie (the session), every query string (the
    sign-in callback's code and state) and every viewer header but Host (Origin and Referer: the CSRF checks)."""
    behaviors = _behaviors(dev)
    default = _config(dev)["DefaultCacheBehavior"]
    assert set(MANAGE_PATHS) == {"/manage", "/manage/*"}
    for path in MANAGE_PATHS:
        behavior = behaviors[path]
        assert behavior["CachePolicyId"] == CACHING_DISABLED
        assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
        assert "ForwardedValues" not in behavior  # no legacy settings that would forward less
        assert set(behavior["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
        assert behavior["CachedMethods"] == ["GET", "HEAD"]
        assert behavior["TargetOriginId"] == _api_origin_id(dev) != _assets(dev)["TargetOriginId"]
        assert behavior["FunctionAssociations"] == default["FunctionAssociations"]  # the forwarded-host function
        assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
        assert "ResponseHeadersPolicyId" not in behavior  # the function sets its own headers


@pytest.mark.slow
def test_the_home_page_is_served_by_the_default_behaviour(dev: Synthesized) -> None:
    """No pattern matches ``/``; the API's cache policy keeps a page as long as its Cache-Control says."""
    assert not [pattern for pattern in _behaviors(dev) if re.fullmatch(pattern.replace("*", ".*"), "/")]
    api_cache = dev.props(dev.stack.cdn.api_cache)["CachePolicyConfig"]
    assert api_cache["MinTTL"] <= _max_age(render.PAGE_CACHE) <= api_cache["MaxTTL"]


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
