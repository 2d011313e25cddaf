"""How the extension presents itself and where it links to: homepage, bugs, repository, Q&A, sponsor and
badges; markdown flavour, gallery banner, pricing and preview; the license."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marketplace.publishing.manifest.fields import MAX_SHORT_TEXT, check_text, check_url, typed
from marketplace.publishing.vsix import Rejected, show

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}")


def links(pkg: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, str | bool | None, str | None]:
    homepage = pkg.get("homepage")
    if homepage is not None:
        check_url(homepage, '"homepage"')
    bugs = pkg.get("bugs")
    bugs_url: str | None = None
    if isinstance(bugs, dict):
        if bugs.get("url") is not None:
            bugs_url = check_url(bugs.get("url"), '"bugs.url"')
        email = bugs.get("email")
        if email is not None and not (isinstance(email, str) and _EMAIL.fullmatch(email)):
            raise Rejected("manifest.field", 'package.json "bugs.email" must be an e-mail address')
    elif bugs is not None:
        bugs_url = check_url(bugs, '"bugs"')
    repository = pkg.get("repository")
    repository_url: str | None = None
    if isinstance(repository, dict):
        if repository.get("url") is not None:
            repository_url = check_url(repository.get("url"), '"repository.url"', repository=True)
    elif repository is not None:
        repository_url = check_url(repository, '"repository"', repository=True)
    qna = pkg.get("qna")
    if qna is not None and qna is not False and qna != "marketplace":
        if not isinstance(qna, str):
            raise Rejected("manifest.field", 'package.json "qna" must be "marketplace", false or a URL')
        check_url(qna, '"qna"')
    sponsor = pkg.get("sponsor")
    sponsor_url: str | None = None
    if sponsor is not None:
        if not isinstance(sponsor, dict):
            raise Rejected("manifest.field", 'package.json "sponsor" must be an object with a "url"')
        sponsor_url = check_url(sponsor.get("url"), '"sponsor.url"')
    badges = pkg.get("badges")
    if badges is not None:
        if not isinstance(badges, list) or len(badges) > 64 or not all(isinstance(b, dict) for b in badges):
            raise Rejected("manifest.field", 'package.json "badges" must be a list of at most 64 objects')
        for badge in badges:
            url = check_url(badge.get("url"), '"badges[].url"')
            if not url.lower().startswith("https:"):
                raise Rejected("manifest.url", f'package.json "badges[].url" ({show(url)}) must be an https:// URL')
            check_url(badge.get("href"), '"badges[].href"')
            description = badge.get("description", "")
            if not isinstance(description, str):
                raise Rejected("manifest.field", 'package.json "badges[].description" must be a string')
            check_text(description, '"badges[].description"', MAX_SHORT_TEXT)
    return repository_url, homepage, bugs_url, qna, sponsor_url


def presentation(pkg: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, str | None, bool]:
    markdown = typed(pkg, "markdown", str, '"github" or "standard"')
    if markdown is not None and markdown not in ("github", "standard"):
        raise Rejected("manifest.field", 'package.json "markdown" must be "github" or "standard"')
    banner = typed(pkg, "galleryBanner", dict, "an object with color and theme")
    color = theme = None
    if banner is not None:
        color = banner.get("color")
        theme = banner.get("theme")
        if color is not None and not (isinstance(color, str) and len(color) <= 16):
            raise Rejected("manifest.field", 'package.json "galleryBanner.color" must be a CSS colour of at most 16 '
                                             "characters")
        if color is not None:
            check_text(color, '"galleryBanner.color"', 16)
        if theme is not None and theme not in ("dark", "light"):
            raise Rejected("manifest.field", 'package.json "galleryBanner.theme" must be "dark" or "light"')
    pricing = typed(pkg, "pricing", str, '"Free" or "Trial"')
    if pricing is not None and pricing not in ("Free", "Trial"):
        raise Rejected("manifest.field", 'package.json "pricing" must be "Free" or "Trial"')
    preview = typed(pkg, "preview", bool, "true or false")
    return markdown, color, theme, pricing, bool(preview)


def license_of(pkg: Mapping[str, Any]) -> str | None:
    value = pkg.get("license")
    if isinstance(value, dict):  # legacy {"type": "MIT", "url": ...}
        value = value.get("type")
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected("manifest.field", 'package.json "license" must be an SPDX expression string')
    return check_text(value, '"license"', MAX_SHORT_TEXT)

