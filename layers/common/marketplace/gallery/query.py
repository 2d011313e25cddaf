"""The ``extensionquery`` request: parsing and validation of the body VS Code, vsce and other gallery
clients POST (docs/protocols/vscode-gallery.md A3). Anything malformed is a ``BadRequest`` with a message naming
the field, so the caller gets a 400 and never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Any

from marketplace.platform.errors import BadRequest

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
MAX_CRITERIA = 1000
MAX_FILTERS = 10
MAX_VALUE_LENGTH = 1024
SEARCH_TEXT_LENGTH = 200  # what VS Code truncates to
TARGET = "Microsoft.VisualStudio.Code"
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only: ``str.isdigit`` also accepts "²", which ``int`` refuses


class FilterType(IntEnum):
    TAG = 1
    EXTENSION_ID = 4
    CATEGORY = 5
    EXTENSION_NAME = 7
    TARGET = 8
    FEATURED = 9
    SEARCH_TEXT = 10
    EXCLUDE_WITH_FLAGS = 12


class Flags(IntFlag):
    NONE = 0x0
    INCLUDE_VERSIONS = 0x1
    INCLUDE_FILES = 0x2
    INCLUDE_CATEGORY_AND_TAGS = 0x4
    INCLUDE_SHARED_ACCOUNTS = 0x8
    INCLUDE_VERSION_PROPERTIES = 0x10
    EXCLUDE_NON_VALIDATED = 0x20
    INCLUDE_INSTALLATION_TARGETS = 0x40
    INCLUDE_ASSET_URI = 0x80
    INCLUDE_STATISTICS = 0x100
    INCLUDE_LATEST_VERSION_ONLY = 0x200
    UNPUBLISHED = 0x1000
    INCLUDE_NAME_CONFLICT_INFO = 0x8000
    INCLUDE_LATEST_PRERELEASE_AND_STABLE_VERSION_ONLY = 0x10000


# sortBy numbers (docs/protocols/vscode-gallery.md A3.4, with the Marketplace's full enum, Azure DevOps'
# ``SortByType``): 5 and 10 both mean published date; 7, 8 and 9 are TrendingDaily, TrendingWeekly and TrendingMonthly.
SORTS: dict[int, str] = {
    0: "relevance", 1: "updated", 2: "title", 3: "publisher", 4: "installs", 5: "published", 6: "rating",
    7: "trending_daily", 8: "trending_weekly", 9: "trending_monthly", 10: "published", 11: "publisher",
    12: "weighted_rating",
}
ASCENDING_BY_DEFAULT = frozenset({"title", "publisher"})


@dataclass(frozen=True)
class Filter:
    """One element of ``filters``: its criteria grouped by type (values of one type are OR-ed, types AND-ed)."""

    tags: tuple[str, ...] = ()
    extension_ids: tuple[str, ...] = ()  # UUIDs
    categories: tuple[str, ...] = ()
    extension_names: tuple[str, ...] = ()  # publisher.name
    targets: tuple[str, ...] = ()
    featured: bool = False
    text: str | None = None
    exclude_flags: int = 0
    page_number: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    sort: str = "relevance"
    descending: bool = True
    sort_given: bool = field(default=False, compare=False)

    @property
    def is_lookup(self) -> bool:
        """Asks for named extensions (by UUID or id) rather than searching or browsing."""
        return bool(self.extension_ids or self.extension_names)

    @property
    def offset(self) -> int:
        return (self.page_number - 1) * self.page_size

    @property
    def targets_code(self) -> bool:
        """Every extension here targets VS Code: a Target criterion for anything else matches nothing."""
        return not self.targets or any(t.startswith(TARGET) for t in self.targets)


@dataclass(frozen=True)
class ExtensionQuery:
    filters: tuple[Filter, ...]
    flags: Flags
    asset_types: tuple[str, ...] = ()


def _int(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    raise BadRequest(f"{name} must be an integer")


def _value(criterion: dict[str, Any], index: int) -> str:
    value = criterion.get("value")
    if not isinstance(value, str):
        raise BadRequest(f"filters[].criteria[{index}].value must be a string")
    if len(value) > MAX_VALUE_LENGTH:
        raise BadRequest(f"filters[].criteria[{index}].value is longer than {MAX_VALUE_LENGTH} characters")
    return value.strip()


def _filter(raw: Any, position: int) -> Filter:
    if not isinstance(raw, dict):
        raise BadRequest(f"filters[{position}] must be an object")
    criteria = raw.get("criteria", [])
    if not isinstance(criteria, list):
        raise BadRequest(f"filters[{position}].criteria must be a list")
    if len(criteria) > MAX_CRITERIA:
        raise BadRequest(f"filters[{position}] has more than {MAX_CRITERIA} criteria")
    grouped: dict[FilterType, list[str]] = {t: [] for t in FilterType}
    featured = False
    exclude = 0
    for index, criterion in enumerate(criteria):
        if not isinstance(criterion, dict):
            raise BadRequest(f"filters[{position}].criteria[{index}] must be an object")
        kind = _int(criterion.get("filterType"), f"filters[{position}].criteria[{index}].filterType", -1)
        try:
            filter_type = FilterType(kind)
        except ValueError:
            raise BadRequest(f"filterType {kind} is not supported; supported: "
                             + ", ".join(f"{t.value} ({t.name})" for t in FilterType)) from None
        if filter_type is FilterType.FEATURED:
            featured = True
            continue
        value = _value(criterion, index)
        if filter_type is FilterType.EXCLUDE_WITH_FLAGS:
            exclude |= _int(value, f"filters[{position}].criteria[{index}].value (ExcludeWithFlags)", 0)
        elif value:
            grouped[filter_type].append(value)
    page_number = _int(raw.get("pageNumber"), "pageNumber", 1)
    page_size = _int(raw.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE)
    if page_number < 1:
        raise BadRequest("pageNumber must be 1 or more")
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise BadRequest(f"pageSize must be between 0 and {MAX_PAGE_SIZE}")
    lookups = len(grouped[FilterType.EXTENSION_ID]) + len(grouped[FilterType.EXTENSION_NAME])
    if page_size == 0:
        page_size = max(lookups, DEFAULT_PAGE_SIZE) if lookups else DEFAULT_PAGE_SIZE
    sort_number = _int(raw.get("sortBy"), "sortBy", 0)
    if sort_number not in SORTS:
        raise BadRequest(f"sortBy {sort_number} is not supported; supported: {', '.join(map(str, sorted(SORTS)))}")
    order = _int(raw.get("sortOrder"), "sortOrder", 0)
    if order not in (0, 1, 2):
        raise BadRequest("sortOrder must be 0 (default), 1 (ascending) or 2 (descending)")
    texts = grouped[FilterType.SEARCH_TEXT]
    text = " ".join(texts)[:SEARCH_TEXT_LENGTH].strip() or None
    sort = SORTS[sort_number]
    descending = sort not in ASCENDING_BY_DEFAULT if order == 0 else order == 2
    return Filter(
        tags=tuple(grouped[FilterType.TAG]), extension_ids=tuple(grouped[FilterType.EXTENSION_ID]),
        categories=tuple(grouped[FilterType.CATEGORY]), extension_names=tuple(grouped[FilterType.EXTENSION_NAME]),
        targets=tuple(grouped[FilterType.TARGET]), featured=featured, text=text, exclude_flags=exclude,
        page_number=page_number, page_size=page_size, sort=sort, descending=descending,
        sort_given="sortBy" in raw,
    )


def parse(body: Any) -> ExtensionQuery:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object with 'filters' and 'flags'")
    filters = body.get("filters")
    if not isinstance(filters, list) or not filters:
        raise BadRequest("'filters' must be a non-empty list")
    if len(filters) > MAX_FILTERS:
        raise BadRequest(f"at most {MAX_FILTERS} filters per query")
    flags = _int(body.get("flags"), "flags", 0)
    if flags < 0 or flags > 0x7FFFFFFF:
        raise BadRequest("flags must be a non-negative 32-bit integer")
    asset_types = body.get("assetTypes") or []
    if not isinstance(asset_types, list) or not all(isinstance(a, str) for a in asset_types):
        raise BadRequest("'assetTypes' must be a list of strings")
    return ExtensionQuery(tuple(_filter(f, i) for i, f in enumerate(filters)), Flags(flags), tuple(asset_types))
