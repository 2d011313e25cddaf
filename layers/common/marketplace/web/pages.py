"""What each page of the website shows, read with the gallery's own readers: the catalog table for one
extension (so a version is on its page the moment it is installable), the search index for lists and search
(the gallery's ranking), statistics and reviews from their tables, READMEs and CHANGELOGs from the public
assets. Nothing here renders HTML: the templates do (``web.routes``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup

from marketplace.catalog import reader
from marketplace.catalog.ids import EXTENSION_ID, ID_PART, TARGET_PLATFORMS
from marketplace.catalog.model import ExtensionView, VersionView, from_items
from marketplace.gallery import assets, serialize
from marketplace.platform.errors import BadRequest, MarketplaceError, NotFound
from marketplace.reviews import store as reviews_store
from marketplace.reviews.service import newest_first
from marketplace.stats.totals import totals_for
from marketplace.web.render import item_url, publisher_url, remote_images

PAGE_SIZE = 24
HOME_LIST = 8
MAX_PAGE = 40  # the index answers at most 1000 results a query (40 pages of 24)
MAX_QUERY = 200
MAX_REVIEWS = 50

ICON = "Microsoft.VisualStudio.Services.Icons.Default"
DETAILS = "Microsoft.VisualStudio.Services.Content.Details"
CHANGELOG = "Microsoft.VisualStudio.Services.Content.Changelog"
LICENSE = "Microsoft.VisualStudio.Services.Content.License"

# The website's sorts, by the search index's names: (index sort, descending)
SORTS: dict[str, tuple[str, str, bool]] = {
    "relevance": ("Relevance", "relevance", True),
    "installs": ("Most installed", "installs", True),
    "rating": ("Highest rated", "weighted_rating", True),
    "updated": ("Recently updated", "updated", True),
    "trending": ("Trending", "trending_weekly", True),
}


class Gone(MarketplaceError):
    """The extension existed and was taken down (unpublished, or removed as malicious)."""

    status = 410
    code = "gone"


@dataclass(frozen=True)
class Card:
    """One extension in a list."""

    extension_id: str
    publisher: str
    name: str
    title: str
    description: str
    icon: str | None
    version: str
    installs: int
    rating: float | None
    rating_count: int
    verified: bool
    deprecated: bool

    @property
    def url(self) -> str:
        return item_url(self.publisher, self.name)


def _head(view: ExtensionView) -> VersionView | None:
    """The version a page shows: the newest release (universal build first), else the newest pre-release."""
    if not view.versions:
        return None
    releases = [v for v in view.versions if not v.pre_release] or list(view.versions)
    newest = releases[0].version
    builds = [v for v in releases if v.version == newest]
    return next((v for v in builds if v.target_platform == "universal"), builds[0])


def _asset_url(base: str, version: VersionView, asset_type: str) -> str | None:
    return f"{base}/{version.asset_base}/{asset_type}" if asset_type in version.assets else None


def card(view: ExtensionView, base: str) -> Card:
    head = _head(view)
    return Card(
        extension_id=view.extension_id, publisher=view.publisher, name=view.name,
        title=view.display_name or view.name, description=view.description or "",
        icon=_asset_url(base, head, ICON) if head else None, version=head.version if head else "",
        installs=view.installs, rating=view.average_rating, rating_count=view.rating_count,
        verified=view.verified, deprecated=view.deprecated,
    )


# --- search -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    category: str = ""
    platform: str = ""
    pre_release: bool = False
    verified: bool = False
    sort: str = "relevance"
    page: int = 1

    @classmethod
    def of(cls, params: Mapping[str, str]) -> SearchQuery:
        """The query a search page's parameters ask for (``BadRequest`` naming what is wrong)."""
        sort = params.get("sort") or "relevance"
        if sort not in SORTS:
            raise BadRequest(f"sort must be one of {', '.join(SORTS)}")
        platform = params.get("platform") or ""
        if platform and platform not in TARGET_PLATFORMS:
            raise BadRequest(f"platform must be one of {', '.join(sorted(TARGET_PLATFORMS))}")
        try:
            page = int(params.get("page") or "1")
        except ValueError:
            raise BadRequest("page must be a number") from None
        if not 1 <= page <= MAX_PAGE:
            raise BadRequest(f"page must be between 1 and {MAX_PAGE}")
        return cls(text=(params.get("q") or "").strip()[:MAX_QUERY], category=(params.get("category") or "")[:100],
                   platform=platform, pre_release=params.get("prerelease") == "1",
                   verified=params.get("verified") == "1", sort=sort, page=page)

    def url(self, **changes: Any) -> str:
        """This query's page with ``changes`` (a new sort or page), in the canonical parameter order."""
        values = {"q": self.text, "category": self.category, "platform": self.platform,
                  "prerelease": "1" if self.pre_release else "", "verified": "1" if self.verified else "",
                  "sort": "" if self.sort == "relevance" else self.sort, "page": "" if self.page == 1 else self.page}
        for name, value in changes.items():
            values[name] = "" if (name == "page" and value == 1) or (name == "sort" and value == "relevance") \
                else value
        kept = {name: value for name, value in values.items() if value not in ("", None)}
        return "/search" + ("?" + urlencode(kept) if kept else "")


@dataclass(frozen=True)
class SearchPage:
    query: SearchQuery
    total: int
    cards: list[Card]

    @property
    def pages(self) -> int:
        return max(1, min(MAX_PAGE, -(-self.total // PAGE_SIZE)))


def _index_search(**request: Any) -> tuple[int, list[ExtensionView]]:
    from marketplace.search.index import SearchRequest  # the index loads on the first list or search
    from marketplace.search.loader import current_index

    found = current_index().search(SearchRequest(**request))
    return found.total, list(found.views)


def search(query: SearchQuery, base: str) -> SearchPage:
    _, sort, descending = SORTS[query.sort]
    total, views = _index_search(
        text=query.text or None, categories=(query.category,) if query.category else (),
        target_platform=query.platform or None, pre_release=True if query.pre_release else None,
        verified=query.verified, sort=sort, descending=descending, offset=(query.page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE)
    return SearchPage(query, total, [card(v, base) for v in views])


# --- home ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HomePage:
    total: int
    featured: list[Card]
    most_installed: list[Card]
    recently_updated: list[Card]
    trending: list[Card]
    categories: list[tuple[str, int]]


def home(base: str) -> HomePage:
    from marketplace.search.loader import current_index

    def listed(**request: Any) -> list[Card]:
        return [card(v, base) for v in _index_search(limit=HOME_LIST, **request)[1]]

    total, _ = _index_search(limit=0)
    counts = current_index().category_counts()
    return HomePage(
        total=total,
        featured=listed(featured=True, sort="installs"),
        most_installed=listed(sort="installs"),
        recently_updated=listed(sort="updated"),
        trending=listed(sort="trending_weekly"),
        categories=sorted(((_category_name(name), count) for name, count in counts.items()),
                          key=lambda item: (-item[1], item[0])),
    )


def _category_name(lowered: str) -> str:
    """Categories are indexed lower-cased; VS Code's own are shown title-cased (``SCM Providers`` as is)."""
    return " ".join(word.upper() if word in ("scm", "ai") else word.capitalize() for word in lowered.split(" "))


# --- one extension ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryEntry:
    version: str
    target_platform: str
    pre_release: bool
    published_at: datetime
    state: str  # "published" or "unpublished"


@dataclass(frozen=True)
class Review:
    author: str
    rating: int
    title: str | None
    comment: str | None
    version: str
    date: str


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class ExtensionPage:
    view: ExtensionView
    head: VersionView
    icon: str | None
    download: str
    readme: Markup | None
    changelog: Markup | None
    links: list[Link]
    history: list[HistoryEntry]
    dependencies: list[str]
    pack: list[str]
    reviews: list[Review]
    replacement: str | None

    @property
    def item_name(self) -> str:
        return f"{self.view.publisher}.{self.view.name}"

    @property
    def title(self) -> str:
        return self.view.display_name or self.view.name

    @property
    def platforms(self) -> list[str]:
        return sorted(self.view.target_platforms)

    @property
    def has_pre_release(self) -> bool:
        return any(v.pre_release for v in self.view.versions)


def item_name(value: str) -> tuple[str, str]:
    found = EXTENSION_ID.fullmatch(value)
    if found is None:
        raise BadRequest("itemName must be publisher.name (letters, digits and hyphens)")
    return found.group(1), found.group(2)


def _https(url: str | None) -> str | None:
    """A link from a manifest, kept only when it is an http(s) URL (never ``javascript:`` and the like)."""
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")) and " " not in url:
        return url
    return None


@lru_cache(maxsize=256)
def _sponsor(manifest_key: str) -> str | None:
    """package.json's ``sponsor.url`` (an http(s) URL), read once per instance: an asset never changes."""
    stored = assets.read(manifest_key)
    try:
        found = json.loads(stored.body) if stored and stored.body else {}
    except ValueError:
        return None
    sponsor = found.get("sponsor") if isinstance(found, dict) else None
    return _https(sponsor.get("url")) if isinstance(sponsor, dict) else None


@lru_cache(maxsize=64)
def _rendered(key: str, package_files: str | None, repository: str | None, remote: bool) -> Markup | None:
    """A README or CHANGELOG as safe HTML. An asset never changes once written, so its rendering is kept."""
    # loaded with the first extension page: lists and search never render markdown
    from marketplace.web.content import LinkPolicy, render_markdown

    stored = assets.read(key)
    if stored is None or stored.body is None:
        return None
    policy = LinkPolicy(package_files=package_files, repository=repository, remote_images=remote)
    return render_markdown(stored.body.decode("utf-8", errors="replace"), policy)


def _links(version: VersionView, base: str) -> list[Link]:
    links = []
    license_file = _asset_url(base, version, LICENSE)
    if license_file:  # the package's own LICENSE file, served as plain text by the CDN
        links.append(Link("License", license_file))
    for label, url in (("Repository", version.repository), ("Homepage", version.homepage),
                       ("Issues", version.bugs)):
        if _https(url):
            links.append(Link(label, str(url)))
    sponsor = _sponsor(f"{version.asset_base}/{serialize.MANIFEST}") if serialize.MANIFEST in version.assets \
        else None
    if sponsor:
        links.append(Link("Sponsor", sponsor))
    return links


def extension(publisher: str, name: str, base: str) -> ExtensionPage:
    """The extension page; ``NotFound`` when it never existed, ``Gone`` when it was taken down."""
    extension_id = f"{publisher}.{name}".lower()
    summary, rows = reader.rows(extension_id)
    if summary is None:
        raise NotFound(f"There is no extension {publisher}.{name}.")
    if summary.malicious:
        raise Gone(f"{summary.publisher}.{summary.name} was removed from the marketplace because it was found "
                   "to be malicious. If you have it installed, uninstall it.")
    view = from_items(summary, rows, totals_for([extension_id]).get(extension_id))
    head = _head(view)
    if summary.unpublished or head is None:
        raise Gone(f"{summary.publisher}.{summary.name} was unpublished by its publisher.")
    package_files = (f"{base}/{head.asset_base}/{serialize.WEB_RESOURCES}/extension/"
                     if serialize.WEB_RESOURCES in head.assets else None)
    policy = (package_files, head.repository, remote_images())
    readme = _rendered(f"{head.asset_base}/{DETAILS}", *policy) if DETAILS in head.assets else None
    changelog = _rendered(f"{head.asset_base}/{CHANGELOG}", *policy) if CHANGELOG in head.assets else None
    download = (f"{base}/_apis/public/gallery/publishers/{quote(view.publisher)}/vsextensions/"
                f"{quote(view.name)}/{quote(head.version)}/vspackage")
    if head.target_platform != "universal":
        download += f"?targetPlatform={head.target_platform}"
    history = [HistoryEntry(r.version, r.target_platform, bool(r.pre_release), r.published_at,
                            "unpublished" if r.unpublished_at is not None else "published")
               for r in sorted(rows, key=lambda r: r.published_at, reverse=True) if not r.quarantined]
    stored_reviews = newest_first([r for r in reviews_store.reviews_of(extension_id, consistent=False)
                                  if r.counted])[:MAX_REVIEWS]
    return ExtensionPage(
        view=view, head=head, icon=_asset_url(base, head, ICON), download=download, readme=readme,
        changelog=changelog, links=_links(head, base), history=history,
        dependencies=[d for d in head.dependencies if EXTENSION_ID.fullmatch(d)],
        pack=[p for p in head.extension_pack if EXTENSION_ID.fullmatch(p)],
        reviews=[Review(r.display_name, r.rating, r.title, r.comment, r.version, r.updated_at[:10])
                 for r in stored_reviews],
        replacement=view.replacement if view.deprecated and view.replacement
        and EXTENSION_ID.fullmatch(view.replacement) else None,
    )


# --- one publisher ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PublisherPage:
    name: str
    verified: bool
    cards: list[Card]
    installs: int
    downloads: int
    display_name: str | None = None  # the details the namespace's owners set
    description: str | None = None
    website: str | None = None
    logo: str | None = None  # the logo's URL (the CDN's, as the icons')


def publisher(name: str, base: str) -> PublisherPage:
    if not ID_PART.fullmatch(name):
        raise NotFound(f"There is no publisher {name}.")
    summaries = [s for s in reader.extensions_in_namespace(name) if not s.unpublished and not s.malicious]
    views = [v for v in reader.load_all([s.extension_id for s in summaries]) if v.versions]
    if not views:
        raise NotFound(f"There is no publisher {name} with published extensions.")
    views.sort(key=lambda v: (-v.installs, v.extension_id))
    from marketplace.publishing import logos  # publisher pages alone read the namespace's details
    from marketplace.publishing import store as publishing

    details = publishing.get_namespace(name.lower())
    logo = logos.public_path(details.logo) if details else None
    return PublisherPage(name=views[0].publisher, verified=any(v.verified for v in views),
                         cards=[card(v, base) for v in views], installs=sum(v.installs for v in views),
                         downloads=sum(v.downloads for v in views),
                         display_name=details.display_name if details else None,
                         description=details.description if details else None,
                         website=_https(details.website) if details else None,
                         logo=f"{base}{logo}" if logo else None)


# --- the sitemap --------------------------------------------------------------------------------------------

SITEMAP_LIMIT = 50_000  # URLs a sitemap file may list


def sitemap_paths() -> list[tuple[str, datetime | None]]:
    """Every page worth crawling: home, each extension and each publisher (from the search index)."""
    paths: list[tuple[str, datetime | None]] = [("/", None)]
    publishers: dict[str, None] = {}
    offset = 0
    while len(paths) < SITEMAP_LIMIT:
        total, views = _index_search(sort="installs", offset=offset, limit=1000)
        for view in views:
            paths.append((item_url(view.publisher, view.name), view.updated_at))
            publishers.setdefault(view.publisher, None)
        offset += 1000
        if not views or offset >= total:
            break
    paths += [(publisher_url(p), None) for p in publishers]
    return paths[:SITEMAP_LIMIT]
