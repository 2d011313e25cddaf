"""What every page of the website shares, whichever function serves it (the public pages from ``web``, the
publisher area from ``publish_api``): the Jinja2 templates, the static files addressed by their digest, and the
security headers. Light on purpose: it loads no catalog, search or statistics code.

Every answer (errors too) carries the same security headers: a Content-Security-Policy that allows no inline
script or style and nothing from other origins (third-party README images only when the operator allows
them; the publisher area's uploads go to the storage's origin), ``nosniff``, a referrer policy and frame
protection.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
from collections.abc import Iterable
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from marketplace.platform.config import setting_flag

if TYPE_CHECKING:
    from jinja2 import Environment

HERE = Path(__file__).parent
PAGE_CACHE = "public, max-age=60"  # a page is at most a minute behind the catalog, in browsers and CloudFront
ERROR_CACHE = "public, max-age=10"
PRIVATE = "private, no-store"  # the publisher area's pages: one person's, never kept by a cache
STATIC_CACHE = "public, max-age=31536000, immutable"  # static files are addressed by their content's digest
STATIC_STALE = "no-cache"
HTML = "text/html; charset=utf-8"
READ_METHODS = ["GET", "HEAD"]
REMOTE_IMAGES_VAR = "WEB_REMOTE_IMAGES"  # the operator's consent to load third-party images in READMEs


def remote_images() -> bool:
    return setting_flag(REMOTE_IMAGES_VAR)


def content_security_policy(remote_images: bool, connect: Iterable[str] = ()) -> str:
    images = "'self' https:" if remote_images else "'self'"
    sources = " ".join(["'self'", *connect])
    return ("default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src {images}; connect-src {sources}; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'; manifest-src 'self'")


def security_headers(connect: Iterable[str] = ()) -> dict[str, str]:
    """The headers of every answer; ``connect`` adds origins the page's scripts may send to."""
    return {
        "Content-Security-Policy": content_security_policy(remote_images(), connect),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    }


class StaticFile:
    def __init__(self, path: Path) -> None:
        self.body = path.read_bytes()
        self.digest = hashlib.sha256(self.body).hexdigest()[:16]
        self.content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if self.content_type.startswith("text/") or self.content_type.endswith("javascript"):
            self.content_type += "; charset=utf-8"


STATIC = {path.name: StaticFile(path) for path in sorted((HERE / "static").iterdir()) if path.is_file()}


def static_url(name: str) -> str:
    return f"/static/{STATIC[name].digest}/{name}"


def item_url(publisher: str, name: str) -> str:
    """The extension page's path: the URL ``vsce publish`` prints, and the gallery's ``itemUrl``."""
    return "/items?" + urlencode({"itemName": f"{publisher}.{name}"})


def publisher_url(publisher: str) -> str:
    return f"/publishers/{quote(publisher, safe='')}"


def _number(value: int) -> str:
    """Installs as people read them: 950, 12.3K, 4.5M."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)


@functools.cache
def templates() -> Environment:
    """The templates, made on first use: the publish_api function, which serves the publisher area, pays for
    Jinja2 only when a page of it is asked for."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.globals.update(static=static_url, item_url=item_url, publisher_url=publisher_url, sorts={})
    environment.filters["number"] = _number
    environment.tests["startingwith"] = lambda value, prefix: str(value).startswith(prefix)
    environment.filters["date"] = lambda moment: moment.astimezone(UTC).strftime("%Y-%m-%d") if moment else ""
    environment.filters["datetime"] = (lambda moment: moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
                                       if moment else "")
    return environment
