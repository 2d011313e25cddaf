"""The website's pages from the web function, on the gallery's test catalog (published through the real
ingest): what each page shows, the error pages and their status codes, and the headers every answer carries."""

from __future__ import annotations

import base64
import gzip
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from functions.web import handler
from tests.integration.events import context, http_event
from tests.integration.gallery_catalog import HOST, Reply, gallery_catalog

__all__ = ["gallery_catalog"]  # the module-scoped fixture, imported to be found

pytestmark = pytest.mark.usefixtures("gallery_catalog")


def get(path: str, query: str = "", method: str = "GET", headers: dict[str, str] | None = None) -> Reply:
    sent = {"host": HOST, "user-agent": "Mozilla/5.0", "accept-encoding": "gzip", **(headers or {})}
    event = http_event(method, path, f"ANY {path}", headers=sent, query=query)
    result = handler.lambda_handler(event, context("web"))
    out_headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    data = result.get("body") or ""
    raw = base64.b64decode(data) if result.get("isBase64Encoded") else data.encode()
    if out_headers.get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)
    return Reply(result["statusCode"], out_headers, raw)


class Page(HTMLParser):
    """The parts of a page the tests read: text, links, images, scripts, styles and meta tags."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.images: list[str] = []
        self.scripts: list[dict[str, Any]] = []
        self.inline_styles = 0
        self.handlers: list[str] = []
        self.meta: dict[str, str] = {}
        self.canonical: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if "style" in values:
            self.inline_styles += 1
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if tag == "img":
            self.images.append(str(values.get("src")))
        if tag == "script":
            self.scripts.append(values)
        if tag == "style":
            self.inline_styles += 1
        if tag == "meta" and values.get("property"):
            self.meta[str(values["property"])] = str(values.get("content"))
        if tag == "link" and values.get("rel") == "canonical":
            self.canonical = values.get("href")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def words(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def page(path: str, query: str = "", status: int = 200) -> Page:
    reply = get(path, query)
    assert reply.status == status, reply.text[:500]
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    return Page(reply.text)


def test_the_home_page_lists_the_catalog_and_its_categories():
    found = page("/")
    assert "Most installed" in found.words
    assert "/items?itemName=acme.linter" in found.links
    assert "Featured" in found.words  # acme.linter is featured
    assert any(link.startswith("/search?category=Linters") for link in found.links)
    assert "evil.miner" not in found.words and "acme.gone" not in " ".join(found.links)


def test_the_extension_page_shows_what_a_person_needs_to_decide():
    found = page("/items", "itemName=acme.linter")
    words = found.words
    assert "Finds lint in python code." in words  # the README, rendered
    assert "Faster" in words  # the CHANGELOG
    assert "vscode:extension/acme.linter" in found.links
    assert "code --install-extension acme.linter" in words
    assert any(link.endswith("/vsextensions/linter/1.1.0/vspackage") for link in found.links)
    assert "1.2.0" in words and "Unpublished" in words  # the history shows the unpublished version as such
    assert any("Icons.Default" in image for image in found.images)
    assert any(link.endswith("/Microsoft.VisualStudio.Services.Content.License") for link in found.links)
    assert found.canonical == f"https://{HOST}/items?itemName=acme.linter"
    assert found.meta["og:title"].startswith("Acme Linter") or found.meta["og:title"]


def test_dependencies_and_pack_members_are_linked():
    found = page("/items", "itemName=gamma.bundle")
    assert "/items?itemName=acme.linter" in found.links
    assert "/items?itemName=acme.themes" in found.links


def test_a_deprecated_extension_says_so_and_links_its_replacement():
    found = page("/items", "itemName=gamma.old")
    assert "deprecated" in found.words
    assert "/items?itemName=gamma.bundle" in found.links


@pytest.mark.parametrize(("item", "status", "words"), [
    ("nobody.nothing", 404, "There is no extension"),
    ("evil.miner", 410, "malicious"),
    ("acme.gone", 410, "unpublished"),
    ("not an id", 400, "itemName must be"),
])
def test_missing_blocked_unpublished_and_malformed_items_are_html_error_pages(item, status, words):
    found = page("/items", f"itemName={item.replace(' ', '%20')}", status)
    assert words in found.words


def test_an_unknown_page_is_an_html_404():
    reply = get("/publishers/nobody")
    assert reply.status == 404
    assert reply.headers["content-type"].startswith("text/html")


def test_the_publisher_page_lists_its_extensions():
    found = page("/publishers/acme")
    assert "/items?itemName=acme.linter" in found.links
    assert "/items?itemName=acme.themes" in found.links
    assert "/items?itemName=acme.gone" not in found.links


def test_search_finds_by_description_word_and_filters():
    found = page("/search", "q=lint")
    assert "/items?itemName=acme.linter" in found.links
    prerelease = page("/search", "prerelease=1&sort=updated")
    assert "/items?itemName=beta.nightly" in prerelease.links
    assert "/items?itemName=gamma.bundle" not in prerelease.links


@pytest.mark.parametrize("query", ["sort=nope", "page=0", "page=x", "platform=amiga"])
def test_bad_search_parameters_are_a_400_page(query):
    page("/search", query, 400)


@pytest.mark.parametrize(("path", "query"), [("/", ""), ("/items", "itemName=acme.linter"), ("/search", "q=x"),
                                             ("/items", "itemName=nobody.nothing"), ("/manage/publishers/x", "")])
def test_every_page_carries_a_strict_content_security_policy(path, query):
    reply = get(path, query)
    policy = reply.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["referrer-policy"]
    found = Page(reply.text)
    assert found.inline_styles == 0 and not found.handlers
    assert all(script.get("src", "").startswith("/static/") for script in found.scripts)


def test_static_files_are_addressed_by_digest_and_cached_for_a_year():
    home = page("/")
    (script,) = home.scripts
    reply = get(script["src"])
    assert reply.status == 200
    assert reply.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert reply.headers["content-type"].startswith("text/javascript")
    assert get("/static/0000/site.css").headers["cache-control"] == "no-cache"
    assert get("/static/0000/nothing.css").status == 404


def test_sitemap_and_robots():
    reply = get("/sitemap.xml")
    assert reply.status == 200
    assert f"https://{HOST}/items?itemName=acme.linter" in reply.text.replace("&amp;", "&")
    assert f"https://{HOST}/publishers/acme" in reply.text
    assert "evil" not in reply.text
    robots = get("/robots.txt")
    assert f"Sitemap: https://{HOST}/sitemap.xml" in robots.text


def test_the_links_vs_code_builds_from_item_url_and_publisher_url_open_the_pages():
    # {itemUrl}/?itemName=..., {itemUrl}/?itemName=...&ssr=false#review-details, {publisherUrl}/{publisher}
    assert "Finds lint in python code." in page("/items/", "itemName=acme.linter").words
    reviews = get("/items/", "itemName=acme.linter&ssr=false")
    assert reviews.status == 200 and 'id="review-details"' in reviews.text
    assert "/items?itemName=acme.linter" in page("/publishers/acme").links


def test_third_party_images_are_allowed_by_the_policy_only_with_the_operators_consent(monkeypatch):
    assert "img-src 'self';" in get("/").headers["content-security-policy"]
    monkeypatch.setenv("WEB_REMOTE_IMAGES", "true")
    assert "img-src 'self' https:;" in get("/").headers["content-security-policy"]


def test_head_answers_like_get():
    reply = get("/items", "itemName=acme.linter", method="HEAD")
    assert reply.status == 200 and reply.headers["content-type"] == "text/html; charset=utf-8"


def test_other_methods_are_not_pages():
    assert get("/items", "itemName=acme.linter", method="POST").status == 404


def test_the_publisher_page_shows_the_details_its_owners_set():
    from marketplace.publishing import store

    namespace = store.get_namespace("gamma")
    assert namespace is not None
    store.set_namespace_details(namespace, {"display_name": "Gamma Labs", "description": "<b>We</b> build things.",
                                            "website": "https://gamma.example"})
    try:
        reply = get("/publishers/gamma")
        found = Page(reply.text)
        assert "Gamma Labs" in found.words and "<b>We</b> build things." in found.words  # text, escaped
        assert "&lt;b&gt;We&lt;/b&gt;" in reply.text  # the owners' text is shown as text, never as markup
        assert "https://gamma.example" in found.links
    finally:
        store.set_namespace_details(namespace, {"display_name": None, "description": None, "website": None})
