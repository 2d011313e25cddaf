"""The website's routes: server-rendered HTML on the first response, so links, previews, crawlers and
browsers without JavaScript all work; one small script enhances search as you type.

Every answer (errors too) carries the same security headers: a Content-Security-Policy that allows no inline
script or style and nothing from other origins (third-party README images only when the operator allows
them), ``nosniff``, a referrer policy and frame protection.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from markupsafe import escape

from marketplace.platform.errors import NotFound
from marketplace.platform.http import public_base_url
from marketplace.platform.router import Response, Router
from marketplace.web import pages
from marketplace.web.render import (
    ERROR_CACHE,
    HTML,
    PAGE_CACHE,
    READ_METHODS,
    STATIC,
    STATIC_CACHE,
    STATIC_STALE,
    item_url,
    publisher_url,
    security_headers,
    templates,
)

router = Router()

TEMPLATES = templates()
TEMPLATES.globals["sorts"] = pages.SORTS  # the search page's sort menu


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
    canonical = _base() + item_url(page.view.publisher, page.view.name)
    return render("extension.html", page=page, canonical=canonical)


@router.route("/publishers/<namespace>/?", READ_METHODS)
def publisher(namespace: str) -> Response:
    page = pages.publisher(namespace, _base())
    return render("publisher.html", page=page, canonical=_base() + publisher_url(page.name))


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

