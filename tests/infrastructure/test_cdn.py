from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from marketplace.platform import resources as r
from stacks.cdn import FORWARDED_HOST_FUNCTION

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
    assert assets["CachePolicyId"] == CACHING_OPTIMIZED
    assert assets["AllowedMethods"] == ["GET", "HEAD"]
    assert assets["ViewerProtocolPolicy"] == "redirect-to-https"


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
    (policy,) = dev.resources("AWS::CloudFront::CachePolicy").values()
    assert default["CachePolicyId"] == {"Ref": next(iter(dev.resources("AWS::CloudFront::CachePolicy")))}
    cache = policy["Properties"]["CachePolicyConfig"]
    assert cache["MinTTL"] == 0
    assert cache["DefaultTTL"] == 0
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    (association,) = default["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    (function,) = dev.resources("AWS::CloudFront::Function").values()
    assert association["FunctionARN"]["Fn::GetAtt"][0] == next(iter(dev.resources("AWS::CloudFront::Function")))
    assert function["Properties"]["FunctionCode"] == FORWARDED_HOST_FUNCTION
    assert function["Properties"]["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"


@pytest.mark.slow
def test_distribution_settings(dev: Synthesized) -> None:
    config = _config(dev)
    assert config["PriceClass"] == "PriceClass_100"
    assert config["HttpVersion"] == "http2and3"
    assert config["IPV6Enabled"] is True
    assert config["Logging"]["Bucket"] == {
        "Fn::GetAtt": [dev.logical_id(dev.stack.buckets.access_logs), "RegionalDomainName"]
    }


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_forwarded_host_function_copies_the_viewer_host() -> None:
    script = (
        FORWARDED_HOST_FUNCTION
        + "const out = [handler({request: {headers: {host: {value: 'market.example.org'}}}}),"
        + " handler({request: {headers: {}}})];"
        + "process.stdout.write(JSON.stringify(out));"
    )
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=30)
    with_host, without_host = json.loads(result.stdout)
    assert with_host["headers"]["x-forwarded-host"] == {"value": "market.example.org"}
    assert with_host["headers"]["host"] == {"value": "market.example.org"}
    assert without_host == {"headers": {}}
