"""CloudFront in front of everything: the HTTP API by default, public assets straight from S3 via OAC.

- The API origin gets the origin secret as a custom header (``platform.trust``): the functions refuse requests
  without it, so a caller who skips CloudFront can neither reach them nor forge the headers CloudFront sets.
- ``assets/*`` answers ``GET``, ``HEAD`` and ``OPTIONS`` with the CORS and security headers the local CDN
  stand-in defines (``marketplace.local.cdn``: one definition for both): a viewer-request function answers every
  ``OPTIONS`` (CORS preflight) itself, since S3 refuses an ``OPTIONS`` for a bucket without a CORS configuration,
  and the response headers policy adds the headers to the rest. A missing asset is S3's own ``404`` because the
  distribution may list the bucket (S3 answers ``403`` to a reader without ``s3:ListBucket``). No
  distribution-wide custom error response: it would rewrite the API's own ``403``s too.
- The website (``marketplace.web``, the ``web`` function) is served by the API origin like the API: the home page
  ``/`` by the default behaviour (whose cache policy honours the ``Cache-Control: public, max-age=60`` the function
  sends), the other pages (``PAGE_PATHS``) by a ``GET``/``HEAD`` behaviour whose cache key holds only the query
  parameters the pages read (``PAGE_QUERY_PARAMETERS``), no header and no cookie, so an unknown parameter cannot
  split the cache. The origin request policy still forwards every parameter, header and cookie: a cached page must
  not depend on anything outside its key (the absolute URLs in a page come from the viewer's ``Host``, one per
  distribution). ``/static/*`` files are addressed by their digest and cached for long.
- The publisher area ``/manage*`` (the ``publish_api`` function: sign-in, sessions, forms) is never cached and
  answers every method (forms ``POST``); its origin request policy forwards every cookie (the session), every
  query string (the sign-in callback's ``code`` and ``state``) and every viewer header but ``Host``, ``Origin``
  and ``Referer`` included (the CSRF checks).
- Access logs: standard logging v2 (``stacks.cdn_logs``), without query strings or client addresses.
"""

from __future__ import annotations

import json
import re

from aws_cdk import Annotations, ArnFormat, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from marketplace.local import cdn as policy
from marketplace.platform import resources as r
from marketplace.platform import trust
from stacks import nag

# Functions build public URLs from the host the viewer used, which CloudFront replaces with the origin's. A
# viewer's own X-Forwarded-Host never reaches the API: the function overwrites it, or drops it.
FORWARDED_HOST_FUNCTION = """\
function handler(event) {
    var request = event.request;
    var host = request.headers.host;
    if (host) {
        request.headers['x-forwarded-host'] = { value: host.value };
    } else {
        delete request.headers['x-forwarded-host'];
    }
    return request;
}
"""
API_CACHE_MAX_TTL = Duration.days(1)
# The website's pages besides the home page (the default behaviour serves ``/``), read-only.
PAGE_PATHS: tuple[str, ...] = ("/items", "/search", "/publishers/*", "/sitemap.xml", "/robots.txt")
# Every query parameter the pages read (marketplace.web); the pages' cache key holds these and no other. Add a
# parameter here when a page starts reading it, or CloudFront answers every value of it with the same cached page.
PAGE_QUERY_PARAMETERS: tuple[str, ...] = (
    "itemName",  # the extension page, /items?itemName=publisher.name (the URL vsce publish prints)
    # the search page (marketplace.web.pages.SearchQuery)
    "q",
    "category",
    "platform",
    "prerelease",
    "verified",
    "sort",
    "page",
)
PAGE_CACHE_DEFAULT_TTL = Duration.seconds(60)  # as the function's Cache-Control on pages
PAGE_CACHE_MAX_TTL = Duration.days(1)
MANAGE_PATHS: tuple[str, ...] = ("/manage", "/manage/*")
STATIC_PATH = "/static/*"
STATIC_CACHE_DEFAULT_TTL = Duration.days(1)
STATIC_CACHE_MAX_TTL = Duration.days(365)  # the function answers digest-addressed files with max-age of a year
PREFLIGHT_STATUS = 200  # as the local stand-in answers a preflight (any 2xx passes a browser's CORS check)


def preflight_headers() -> list[tuple[str, str]]:
    """The headers of a preflight's answer: the CORS ones for a preflight and the security headers."""
    return [*policy.cors_headers(preflight=True), *policy.SECURITY_HEADERS]


def preflight_function_code() -> str:
    """The assets behaviour's viewer-request function: every ``OPTIONS`` gets the preflight answer."""
    headers = {name: {"value": value} for name, value in preflight_headers()}
    return (
        f"var PREFLIGHT_HEADERS = {json.dumps(headers, sort_keys=True)};\n"
        "function handler(event) {\n"
        "    var request = event.request;\n"
        "    if (request.method === 'OPTIONS') {\n"
        f"        return {{ statusCode: {PREFLIGHT_STATUS}, statusDescription: 'OK', headers: PREFLIGHT_HEADERS }};\n"
        "    }\n"
        "    return request;\n"
        "}\n"
    )


def security_headers_behavior() -> cloudfront.ResponseSecurityHeadersBehavior:
    """The response headers policy's security headers, read from the stand-in's ``SECURITY_HEADERS``."""
    headers = dict(policy.SECURITY_HEADERS)
    expected = {
        "strict-transport-security", "x-content-type-options", "x-frame-options", "referrer-policy", "x-xss-protection",
        "content-security-policy",
    }
    if set(headers) != expected or headers["x-content-type-options"] != "nosniff":
        raise ValueError(f"security headers the response headers policy cannot express: {sorted(headers)}")
    hsts = re.fullmatch(r"max-age=(\d+)", headers["strict-transport-security"])
    xss = re.fullmatch(r"1(; mode=block)?", headers["x-xss-protection"])
    if hsts is None or xss is None:
        raise ValueError(f"unexpected security header values: {headers}")
    return cloudfront.ResponseSecurityHeadersBehavior(
        strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
            access_control_max_age=Duration.seconds(int(hsts.group(1))), override=True
        ),
        content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
        frame_options=cloudfront.ResponseHeadersFrameOptions(
            frame_option=cloudfront.HeadersFrameOption[headers["x-frame-options"]], override=True
        ),
        referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
            referrer_policy=cloudfront.HeadersReferrerPolicy[headers["referrer-policy"].upper().replace("-", "_")],
            override=True,
        ),
        xss_protection=cloudfront.ResponseHeadersXSSProtection(
            protection=True, mode_block=xss.group(1) is not None, override=True
        ),
        content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
            content_security_policy=headers["content-security-policy"], override=True
        ),
    )


def _cache_policy(scope: Construct, construct_id: str, comment: str, default_ttl: Duration, max_ttl: Duration,
                  query_strings: cloudfront.CacheQueryStringBehavior) -> cloudfront.CachePolicy:
    """A cache policy keyed on ``query_strings`` and the compression the viewer accepts, never on headers or
    cookies; what the origin's ``Cache-Control`` says counts down to no caching (minimum TTL 0)."""
    return cloudfront.CachePolicy(
        scope,
        construct_id,
        comment=comment,
        min_ttl=Duration.seconds(0),
        default_ttl=default_ttl,
        max_ttl=max_ttl,
        query_string_behavior=query_strings,
        header_behavior=cloudfront.CacheHeaderBehavior.none(),
        cookie_behavior=cloudfront.CacheCookieBehavior.none(),
        enable_accept_encoding_gzip=True,
        enable_accept_encoding_brotli=True,
    )


def _allowed_methods(methods: tuple[str, ...]) -> cloudfront.AllowedMethods:
    for allowed in (cloudfront.AllowedMethods.ALLOW_GET_HEAD, cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS):
        if set(allowed.methods) == set(methods):
            return allowed
    raise ValueError(f"no CloudFront method set is exactly {methods}")


def api_behavior(
    origin: cloudfront.IOrigin,
    forwarded_host: cloudfront.IFunction,
    cache_policy: cloudfront.ICachePolicy,
    allowed_methods: cloudfront.AllowedMethods,
) -> cloudfront.BehaviorOptions:
    """A behaviour of the API origin; the default one and the website's differ only in caching and methods."""
    return cloudfront.BehaviorOptions(
        origin=origin,
        viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowed_methods=allowed_methods,
        cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
        cache_policy=cache_policy,
        # every viewer header but Host, and CloudFront's own headers (CloudFront-Viewer-Address,
        # CloudFront-Forwarded-Proto), which platform.trust believes once the origin secret matches
        origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        function_associations=[
            cloudfront.FunctionAssociation(
                function=forwarded_host, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
            )
        ],
        compress=True,
    )


class ContentDelivery(Construct):
    """The public entry point: ``https://<distribution>/`` for the API and ``/<public_prefix>*`` for assets."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigwv2.IHttpApi,
        bucket: s3.Bucket,
        bucket_definition: r.BucketDef,
        origin_secret: str,
    ) -> None:
        """``origin_secret``: the secret's dynamic reference (``stacks.origin.OriginSecret.value``)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        assets_pattern = f"{bucket_definition.public_prefix}*"

        forwarded_host = cloudfront.Function(
            self,
            "ForwardedHost",
            code=cloudfront.FunctionCode.from_inline(FORWARDED_HOST_FUNCTION),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="Copies the viewer's Host header into x-forwarded-host",
        )
        preflight = cloudfront.Function(
            self,
            "AssetsPreflight",
            code=cloudfront.FunctionCode.from_inline(preflight_function_code()),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="Answers CORS preflights (OPTIONS) for public assets",
        )
        self.api_cache = _cache_policy(
            self, "ApiCachePolicy", "Caches only what the API marks cacheable with Cache-Control",
            Duration.seconds(0), API_CACHE_MAX_TTL, cloudfront.CacheQueryStringBehavior.all(),
        )
        self.pages_cache = _cache_policy(
            self, "PagesCachePolicy",
            "Website pages: keyed on the query parameters the pages read, no header or cookie",
            PAGE_CACHE_DEFAULT_TTL, PAGE_CACHE_MAX_TTL,
            cloudfront.CacheQueryStringBehavior.allow_list(*PAGE_QUERY_PARAMETERS),
        )
        # the minimum TTL stays 0: a file asked for by a stale digest is answered with no-cache, which CloudFront
        # then honours
        self.static_cache = _cache_policy(
            self, "StaticCachePolicy", "Website static files, addressed by their digest",
            STATIC_CACHE_DEFAULT_TTL, STATIC_CACHE_MAX_TTL, cloudfront.CacheQueryStringBehavior.none(),
        )
        assets_headers = cloudfront.ResponseHeadersPolicy(
            self,
            "AssetsResponseHeaders",
            comment="CORS and security headers of public assets (marketplace.local.cdn)",
            cors_behavior=cloudfront.ResponseHeadersCorsBehavior(
                access_control_allow_origins=[policy.CORS_ALLOW_ORIGIN],
                access_control_allow_methods=list(policy.CORS_ALLOW_METHODS),
                access_control_allow_headers=list(policy.CORS_ALLOW_HEADERS),
                access_control_expose_headers=list(policy.CORS_EXPOSE_HEADERS),
                access_control_max_age=Duration.seconds(policy.CORS_MAX_AGE),
                access_control_allow_credentials=policy.CORS_ALLOW_CREDENTIALS,
                origin_override=True,
            ),
            security_headers_behavior=security_headers_behavior(),
        )
        api_origin = origins.HttpOrigin(
            f"{api.api_id}.execute-api.{stack.region}.{stack.url_suffix}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            # CloudFront overwrites a viewer's header of the same name with this value.
            custom_headers={trust.ORIGIN_HEADER: origin_secret},
        )

        def to_api(cache: cloudfront.ICachePolicy, methods: cloudfront.AllowedMethods) -> cloudfront.BehaviorOptions:
            return api_behavior(api_origin, forwarded_host, cache, methods)

        read_only = cloudfront.AllowedMethods.ALLOW_GET_HEAD  # the website's pages
        website_behaviors = {
            **{path: to_api(self.pages_cache, read_only) for path in PAGE_PATHS},
            **{path: to_api(cloudfront.CachePolicy.CACHING_DISABLED, cloudfront.AllowedMethods.ALLOW_ALL)
               for path in MANAGE_PATHS},
            STATIC_PATH: to_api(self.static_cache, read_only),
        }

        # The origin gets a read-only view of the bucket so that CDK does not write its own bucket policy
        # (which would open every object, not only the public prefix) nor touch the key policy; both are
        # written below, scoped to the public prefix and to this distribution.
        assets_origin = origins.S3BucketOrigin.with_origin_access_control(
            s3.Bucket.from_bucket_attributes(
                self,
                "AssetsOriginBucket",
                bucket_arn=bucket.bucket_arn,
                bucket_regional_domain_name=bucket.bucket_regional_domain_name,
            ),
            origin_access_control=cloudfront.S3OriginAccessControl(
                self, "AssetsAccessControl", signing=cloudfront.Signing.SIGV4_ALWAYS
            ),
        )
        Annotations.of(self).acknowledge_warning(
            "@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac",
            "The bucket policy for the distribution is written by ContentDelivery, limited to the public prefix",
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"{r.PRODUCT} {stack.stack_name}",
            default_behavior=to_api(self.api_cache, cloudfront.AllowedMethods.ALLOW_ALL),
            additional_behaviors={
                assets_pattern: cloudfront.BehaviorOptions(
                    origin=assets_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    allowed_methods=_allowed_methods(policy.ALLOWED_METHODS),
                    cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                    # no query string, header or cookie reaches S3 (no origin request policy either)
                    cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                    response_headers_policy=assets_headers,
                    function_associations=[
                        cloudfront.FunctionAssociation(
                            function=preflight, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                        )
                    ],
                    compress=True,
                ),
                **website_behaviors,
            },
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_ipv6=True,
            enable_logging=False,  # standard logging v2, see stacks.cdn_logs
        )
        self.distribution_arn = stack.format_arn(
            service="cloudfront",
            region="",
            resource="distribution",
            resource_name=self.distribution.distribution_id,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        this_distribution = {"StringEquals": {"AWS:SourceArn": self.distribution_arn}}
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudFrontReadOfPublicPrefix",
                principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(assets_pattern)],
                conditions=this_distribution,
            )
        )
        # With s3:ListBucket S3 answers a missing key with 404 NoSuchKey instead of 403 AccessDenied. No listing
        # can be asked for through the distribution: only assets/* paths reach the bucket, without query strings.
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudFrontToSeeMissingAssets",
                principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions=this_distribution,
            )
        )
        if bucket.encryption_key is not None:
            # This distribution only. Key -> bucket -> distribution would be a cycle; the packages bucket names
            # its key through the key's alias (stacks.storage), so the key can name the distribution.
            bucket.encryption_key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowCloudFrontDecryptOfPublicAssets",
                    principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                    actions=["kms:Decrypt"],
                    resources=["*"],
                    conditions=this_distribution,
                )
            )
        nag.suppress(
            self.distribution,
            "CFR1",
            "A public extension registry serves editors worldwide; geo restriction is not wanted.",
        )
        nag.suppress(
            self.distribution,
            "CFR2",
            "WAF is optional for self-hosters and attached by the operator (web ACLs for CloudFront live in "
            "us-east-1 and cost money); throttling is enforced on the API stage.",
        )
        nag.suppress(
            self.distribution,
            "CFR3",
            "Access logs are on, through CloudFront standard logging v2 (AWS::Logs::Delivery in the us-east-1 "
            "stack, stacks.cdn_logs), which leaves out query strings and client addresses; cdk-nag only "
            "recognises the legacy logging, which records both.",
        )
        nag.suppress(
            self.distribution,
            "CFR4",
            "Without a custom domain the distribution uses the default *.cloudfront.net certificate, whose "
            "security policy CloudFront fixes; a custom certificate would allow TLSv1.2_2021.",
        )

    @property
    def url(self) -> str:
        return f"https://{self.distribution.distribution_domain_name}"
