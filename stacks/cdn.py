"""CloudFront in front of everything: the HTTP API by default, public assets straight from S3 via OAC."""

from __future__ import annotations

from aws_cdk import Annotations, ArnFormat, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from marketplace.platform import resources as r
from stacks import nag

# Functions build public URLs from the host the viewer used, which CloudFront replaces with the origin's.
FORWARDED_HOST_FUNCTION = """\
function handler(event) {
    var request = event.request;
    var host = request.headers.host;
    if (host) {
        request.headers['x-forwarded-host'] = { value: host.value };
    }
    return request;
}
"""
API_CACHE_MAX_TTL = Duration.days(1)
LOG_PREFIX = "cloudfront/"


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
        log_bucket: s3.IBucket,
    ) -> None:
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
        api_cache = cloudfront.CachePolicy(
            self,
            "ApiCachePolicy",
            comment="Caches only what the API marks cacheable with Cache-Control",
            min_ttl=Duration.seconds(0),
            default_ttl=Duration.seconds(0),
            max_ttl=API_CACHE_MAX_TTL,
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        api_origin = origins.HttpOrigin(
            f"{api.api_id}.execute-api.{stack.region}.{stack.url_suffix}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        # The origin gets a read-only view of the bucket so that CDK does not write its own bucket policy
        # (which would open every object, not only the public prefix) nor touch the key policy; both are
        # written below, scoped to the public prefix.
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
            default_behavior=cloudfront.BehaviorOptions(
                origin=api_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=api_cache,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=forwarded_host, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            additional_behaviors={
                assets_pattern: cloudfront.BehaviorOptions(
                    origin=assets_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                    cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                    response_headers_policy=cloudfront.ResponseHeadersPolicy.CORS_ALLOW_ALL_ORIGINS_AND_SECURITY_HEADERS,
                    compress=True,
                )
            },
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_ipv6=True,
            enable_logging=True,
            log_bucket=log_bucket,
            log_file_prefix=LOG_PREFIX,
        )
        distribution_arn = stack.format_arn(
            service="cloudfront",
            region="",
            resource="distribution",
            resource_name=self.distribution.distribution_id,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudFrontReadOfPublicPrefix",
                principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(assets_pattern)],
                conditions={"StringEquals": {"AWS:SourceArn": distribution_arn}},
            )
        )
        if bucket.encryption_key is not None:
            # Key -> bucket -> distribution: naming this distribution in the key policy would be a cycle,
            # so the condition admits the account's distributions; the bucket policy above then limits
            # reads to this distribution and the public prefix.
            bucket.encryption_key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowCloudFrontDecryptOfPublicAssets",
                    principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                    actions=["kms:Decrypt"],
                    resources=["*"],
                    conditions={
                        "ArnLike": {
                            "AWS:SourceArn": stack.format_arn(
                                service="cloudfront",
                                region="",
                                resource="distribution",
                                resource_name="*",
                                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                            )
                        }
                    },
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
            "CFR4",
            "Without a custom domain the distribution uses the default *.cloudfront.net certificate, whose "
            "security policy CloudFront fixes; a custom certificate would allow TLSv1.2_2021.",
        )

    @property
    def url(self) -> str:
        return f"https://{self.distribution.distribution_domain_name}"
