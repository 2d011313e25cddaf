"""The CDN stand-in: serves the bucket's public prefix the way the CloudFront behaviour does.

Only keys under the public prefix are reachable (the origin's bucket policy allows nothing else). The deployed
distribution may list the bucket, so S3 answers a missing key with ``404 NoSuchKey`` rather than ``403
AccessDenied``; here a missing asset is ``404 {"message": "Not Found"}``, the same status in the API's shape.
Conditional requests (``If-None-Match``) and single byte ranges are honoured.

Browser clients (a web workbench fetching from another origin) get CORS as the behaviour's response headers
policy gives it: ``Access-Control-Allow-Origin: *`` on every answer, and a preflight ``OPTIONS`` answered with
the allowed methods and headers. The ``CORS_*`` constants are that policy: the CDK stack reads them, so the two
cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from marketplace.local.apigw import HttpResponse
from marketplace.platform import aws
from marketplace.platform.headers import ASSET_CONTENT_SECURITY_POLICY

# The assets behaviour's response headers policy (CORS part), and its allowed methods.
ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")
CORS_ALLOW_ORIGIN = "*"
CORS_ALLOW_METHODS = ALLOWED_METHODS
CORS_ALLOW_HEADERS = ("*",)
CORS_EXPOSE_HEADERS = ("Accept-Ranges", "Content-Range", "ETag")  # the rest a download needs is safelisted
CORS_MAX_AGE = 86400  # seconds a browser may reuse a preflight answer
CORS_ALLOW_CREDENTIALS = False  # public objects: no cookies, no Access-Control-Allow-Credentials header
# The policy's security headers (as the managed CORS-and-SecurityHeadersPolicy sets them).
SECURITY_HEADERS = [
    ("strict-transport-security", "max-age=31536000"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("x-xss-protection", "1; mode=block"),
    ("content-security-policy", ASSET_CONTENT_SECURITY_POLICY),
]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_FORWARDED = ("ContentType", "ContentEncoding", "CacheControl", "ContentDisposition", "ContentLanguage")
_HEADER_NAMES = {
    "ContentType": "content-type",
    "ContentEncoding": "content-encoding",
    "CacheControl": "cache-control",
    "ContentDisposition": "content-disposition",
    "ContentLanguage": "content-language",
}


def cors_headers(*, preflight: bool) -> list[tuple[str, str]]:
    """What the response headers policy adds: the origin and exposed headers to every answer; the allowed
    methods and headers and the max age to a preflight."""
    headers = [("access-control-allow-origin", CORS_ALLOW_ORIGIN)]
    if preflight:
        headers += [
            ("access-control-allow-methods", ", ".join(CORS_ALLOW_METHODS)),
            ("access-control-allow-headers", ", ".join(CORS_ALLOW_HEADERS)),
            ("access-control-max-age", str(CORS_MAX_AGE)),
        ]
    else:
        headers.append(("access-control-expose-headers", ", ".join(CORS_EXPOSE_HEADERS)))
    return headers


def _error(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json"), ("x-cache", "Error from cloudfront"),
                                 *cors_headers(preflight=False), *SECURITY_HEADERS],
                        json.dumps({"message": message}).encode())


class Cdn:
    def __init__(self, bucket: str, public_prefix: str) -> None:
        self.bucket, self.public_prefix = bucket, public_prefix

    def handles(self, path: str) -> bool:
        return path.startswith("/" + self.public_prefix)

    def serve(self, method: str, path: str, headers: Mapping[str, str]) -> HttpResponse:
        if method == "OPTIONS":  # a preflight: answered by the policy, whatever the key
            return HttpResponse(200, [*cors_headers(preflight=True), *SECURITY_HEADERS, ("content-length", "0"),
                                      ("x-cache", "Miss from cloudfront")], b"")
        if method not in ALLOWED_METHODS:
            # CloudFront refuses a method its behaviour does not allow with a 403
            return _error(403, "This distribution only serves GET, HEAD and OPTIONS here")
        key = unquote(path.lstrip("/"))  # CloudFront forwards the path as sent; S3 decodes it to the key
        s3 = aws.client("s3")
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if headers.get("if-none-match"):
            request["IfNoneMatch"] = headers["if-none-match"]
        byte_range = headers.get("range")
        if byte_range and _RANGE.match(byte_range.strip()):
            request["Range"] = byte_range.strip()
        try:
            found = s3.get_object(**request) if method == "GET" else s3.head_object(**request)
        except ClientError as error:
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
            if status == 304:
                return HttpResponse(304, [("etag", headers.get("if-none-match", "")),
                                          *cors_headers(preflight=False)], b"")
            if status == 416:
                return _error(416, "The requested range is not satisfiable")
            if status in (403, 404):  # NoSuchKey (AccessDenied for a reader that may not list): a 404
                return _error(404, "Not Found")
            return _error(502, "Bad Gateway")
        out = [("etag", found["ETag"]), ("accept-ranges", "bytes"),
               ("last-modified", found["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT")),
               ("content-length", str(found["ContentLength"])), ("x-cache", "Miss from cloudfront")]
        out += [(_HEADER_NAMES[name], str(found[name])) for name in _FORWARDED if found.get(name)]
        if found.get("ContentRange"):
            out.append(("content-range", found["ContentRange"]))
        out += SECURITY_HEADERS
        out += cors_headers(preflight=False)
        body = found["Body"].read() if method == "GET" else b""
        return HttpResponse(206 if found.get("ContentRange") else 200, out, body)
