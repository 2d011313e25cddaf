"""The website's routes: server-rendered HTML on the first response, so links, previews, crawlers and
browsers without JavaScript all work; one small script enhances search as you type.

Every answer (errors too) carries the same security headers: a Content-Security-Policy that allows no inline
script or style and nothing from other origins (third-party README images only when the operator allows
them), ``nosniff``, a referrer policy and frame protection.
"""

from __future__ import annotations

import hashlib
import mimetypes
from datetime import UTC
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import escape

from marketplace.platform.errors import NotFound
from marketplace.platform.http import public_base_url
from marketplace.platform.router import Response, Router
from marketplace.web import pages

router = Router()

HERE = Path(__file__).parent
PAGE_CACHE = "public, max-age=60"  # a page is at most a minute behind the catalog, in browsers and CloudFront
ERROR_CACHE = "public, max-age=10"
STATIC_CACHE = "public, max-age=31536000, immutable"  # static files are addressed by their content's digest
STATIC_STALE = "no-cache"
HTML = "text/html; charset=utf-8"
READ_METHODS = ["GET", "HEAD"]


def content_security_policy(remote_images: bool) -> str:
    images = "'self' https:" if remote_images else "'self'"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src {images}; connect-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'; manifest-src 'self'")


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(pages.remote_images()),
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


def _number(value: int) -> str:
    """Installs as people read them: 950, 12.3K, 4.5M."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)


TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
TEMPLATES.globals.update(static=static_url, item_url=pages.item_url, publisher_url=pages.publisher_url,
                         sorts=pages.SORTS)
TEMPLATES.filters["number"] = _number
TEMPLATES.tests["startingwith"] = lambda value, prefix: str(value).startswith(prefix)
TEMPLATES.filters["date"] = lambda moment: moment.astimezone(UTC).strftime("%Y-%m-%d") if moment else ""


def _base() -> str:
    return public_base_url(router.current_event.headers or {})


def _params() -> dict[str, str]:
    return dict(router.current_event.query_string_parameters or {})


def render(template: str, *, status: int = 200, cache: str = PAGE_CACHE, **context: Any) -> Response:
    base = _base()
    event = router.current_event
    html = TEMPLATES.get_template(template).render(base=base, path=event.path, **context)
    return Response(status, HTML, html, headers={**security_headers(), "Cache-Control": cache}, compress=True)


def error_page(status: int, message: str) -> Response:
    """Every error of the website as a page, with the status the JSON API would give."""
    titles = {400: "That request is not right", 404: "Page not found", 410: "No longer available",
              429: "Too many requests", 503: "Temporarily unavailable"}
    return render("error.html", status=status, cache=ERROR_CACHE if status < 500 else "no-store",
                  title=titles.get(status, "Something went wrong"), message=message, status_code=status)


@router.route("/", READ_METHODS)
def home() -> Response:
    return render("home.html", home=pages.home(_base()), canonical=f"{_base()}/")


@router.route("/search/?", READ_METHODS)
def search() -> Response:
    query = pages.SearchQuery.of(_params())
    found = pages.search(query, _base())
    return render("search.html", found=found, query=query, canonical=_base() + query.url())


@router.route("/items/?", READ_METHODS)
def item() -> Response:
    publisher, name = pages.item_name(_params().get("itemName", ""))
    page = pages.extension(publisher, name, _base())
    canonical = _base() + pages.item_url(page.view.publisher, page.view.name)
    return render("extension.html", page=page, canonical=canonical)


@router.route("/publishers/<namespace>/?", READ_METHODS)
def publisher(namespace: str) -> Response:
    page = pages.publisher(namespace, _base())
    return render("publisher.html", page=page, canonical=_base() + pages.publisher_url(page.name))


@router.route("/manage(?:/.*)?", READ_METHODS)
def manage() -> Response:
    """The publisher area (``vsce publish`` prints its hub URL): it needs sign-in, which is not built yet."""
    return render("manage.html", cache="no-store")


@router.route("/static/<digest>/<name>", READ_METHODS)
def static(digest: str, name: str) -> Response:
    found = STATIC.get(name)
    if found is None:
        raise NotFound(f"There is no file {name}.")
    cache = STATIC_CACHE if digest == found.digest else STATIC_STALE
    return Response(200, found.content_type, found.body,
                    headers={**security_headers(), "Cache-Control": cache}, compress=True)


@router.route("/robots.txt", READ_METHODS)
def robots() -> Response:
    text = f"User-agent: *\nAllow: /\nDisallow: /manage\nSitemap: {_base()}/sitemap.xml\n"
    return Response(200, "text/plain; charset=utf-8", text,
                    headers={**security_headers(), "Cache-Control": "public, max-age=3600"})


@router.route("/sitemap.xml", READ_METHODS)
def sitemap() -> Response:
    base = _base()
    entries = []
    for path, modified in pages.sitemap_paths():
        lastmod = f"<lastmod>{modified.astimezone(UTC).strftime('%Y-%m-%d')}</lastmod>" if modified else ""
        entries.append(f"<url><loc>{escape(base + path)}</loc>{lastmod}</url>")
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + "".join(entries) + "</urlset>\n")
    return Response(200, "application/xml; charset=utf-8", xml,
                    headers={**security_headers(), "Cache-Control": "public, max-age=3600"}, compress=True)

