"""The CDN stand-in: serves the bucket's public prefix the way the CloudFront behaviour does.

Only keys under the public prefix are reachable (the origin's bucket policy allows nothing else); a missing
object is answered with S3's ``AccessDenied`` (403), as S3 does for a reader without ``s3:ListBucket``.
Conditional requests (``If-None-Match``) and single byte ranges are honoured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from marketplace.local.apigw import HttpResponse
from marketplace.platform import aws

# What the assets behaviour's managed response-headers policy (CORS-And-SecurityHeadersPolicy) adds;
# CloudFront adds the CORS header only to requests that carry an Origin.
SECURITY_HEADERS = [
    ("strict-transport-security", "max-age=31536000"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("x-xss-protection", "1; mode=block"),
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


def _error(status: int, code: str, message: str) -> HttpResponse:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return HttpResponse(status, [("content-type", "application/xml"), ("x-cache", "Error from cloudfront")],
                        body.encode())


class Cdn:
    def __init__(self, bucket: str, public_prefix: str) -> None:
        self.bucket, self.public_prefix = bucket, public_prefix

    def handles(self, path: str) -> bool:
        return path.startswith("/" + self.public_prefix)

    def serve(self, method: str, path: str, headers: Mapping[str, str]) -> HttpResponse:
        if method not in ("GET", "HEAD"):
            return _error(403, "MethodNotAllowed", "This distribution only serves GET and HEAD here.")
        key = path.lstrip("/")
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
                return HttpResponse(304, [("etag", headers.get("if-none-match", ""))], b"")
            if status == 416:
                return _error(416, "InvalidRange", "The requested range is not satisfiable")
            return _error(403, "AccessDenied", "Access Denied")
        out = [("etag", found["ETag"]), ("accept-ranges", "bytes"),
               ("last-modified", found["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT")),
               ("content-length", str(found["ContentLength"])), ("x-cache", "Miss from cloudfront")]
        out += [(_HEADER_NAMES[name], str(found[name])) for name in _FORWARDED if found.get(name)]
        if found.get("ContentRange"):
            out.append(("content-range", found["ContentRange"]))
        out += SECURITY_HEADERS
        if headers.get("origin"):
            out.append(("access-control-allow-origin", "*"))
        body = found["Body"].read() if method == "GET" else b""
        return HttpResponse(206 if found.get("ContentRange") else 200, out, body)
