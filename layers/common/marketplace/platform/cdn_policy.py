"""What the CDN's ``assets/*`` behaviour adds to its answers: the one definition the CloudFront distribution
(``stacks/cdn.py``: response headers policy and preflight function) and the local CDN stand-in both use.

Browser workbenches (code-server's) fetch icons, READMEs, manifests and packages cross-origin and send the
gallery's request headers with them, so a fetch is preceded by a CORS preflight (``OPTIONS``). The preflight
is answered by the CDN itself with ``PREFLIGHT_STATUS`` (S3 answers ``403`` to an ``OPTIONS`` for a bucket
without a CORS configuration, and a preflight needs a 2xx); every other answer to a request with an ``Origin``
carries ``Access-Control-Allow-Origin`` and ``Access-Control-Expose-Headers``.

Plain data: importing it costs nothing and needs neither CDK nor boto3.
"""

from __future__ import annotations

CORS_ALLOW_ORIGIN = "*"
CORS_ALLOW_METHODS: tuple[str, ...] = ("GET", "HEAD", "OPTIONS")
# The request headers editors send with asset requests (the gallery's client headers), and the conditional and
# range headers a script may set; credentials are never needed for public assets.
CORS_ALLOW_HEADERS: tuple[str, ...] = (
    "Cache-Control",
    "If-Modified-Since",
    "If-None-Match",
    "Range",
    "VSCode-SessionId",
    "X-Account-Type",
    "X-Client-Commit",
    "X-Client-Name",
    "X-Client-Version",
    "X-Execution-Id",
    "X-Machine-Id",
    "X-Machine-Session-Id",
    "X-Market-Client-Id",
    "X-Market-User-Id",
    "X-User-Session-Id",
)
CORS_EXPOSE_HEADERS: tuple[str, ...] = ("Accept-Ranges", "Content-Length", "Content-Range", "ETag", "Last-Modified")
CORS_MAX_AGE = 600  # seconds a browser may cache a preflight's answer (as the API's CORS answers)
CORS_ALLOW_CREDENTIALS = False

PREFLIGHT_STATUS = 204

# The security headers of every assets answer (what CloudFront's managed CORS-and-SecurityHeadersPolicy set).
HSTS_MAX_AGE = 31_536_000
FRAME_OPTIONS = "SAMEORIGIN"
REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("strict-transport-security", f"max-age={HSTS_MAX_AGE}"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", FRAME_OPTIONS),
    ("referrer-policy", REFERRER_POLICY),
    ("x-xss-protection", "1; mode=block"),
)


def preflight_headers() -> tuple[tuple[str, str], ...]:
    """The headers of the CDN's answer to an ``OPTIONS`` request (lower-case names, in this order)."""
    return (
        ("access-control-allow-origin", CORS_ALLOW_ORIGIN),
        ("access-control-allow-methods", ", ".join(CORS_ALLOW_METHODS)),
        ("access-control-allow-headers", ", ".join(CORS_ALLOW_HEADERS)),
        ("access-control-max-age", str(CORS_MAX_AGE)),
        ("allow", ", ".join(CORS_ALLOW_METHODS)),
    )


def cors_headers() -> tuple[tuple[str, str], ...]:
    """The CORS headers of every other answer to a request that carries an ``Origin``."""
    return (
        ("access-control-allow-origin", CORS_ALLOW_ORIGIN),
        ("access-control-expose-headers", ", ".join(CORS_EXPOSE_HEADERS)),
    )
