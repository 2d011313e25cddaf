"""What the search index knows about one extension (a ``Document``), and how text becomes words.

The snapshot writer analyses each extension once and stores the result next to its record, so the gallery
loads 50,000 documents without running a tokenizer or parsing a single record: records stay compact JSON
bytes until a query returns them. ``ANALYSIS`` versions the tokenizer; a snapshot analysed by another
version is analysed again from its records when loaded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marketplace.catalog.ids import UNIVERSAL, WEB_EXTENSION_TAG
from marketplace.stats.measures import RATING_PRIOR_MEAN, trending
from marketplace.stats.measures import weighted_rating as weighted_rating  # the one definition; re-exported

ANALYSIS = 2  # bump when words(), title_words(), document_words() or the entry layout change

MAX_DESCRIPTION_WORDS = 64

# fields, best first
TITLE, PUBLISHER, TAG, DESCRIPTION = 0, 1, 2, 3
FIELDS = (TITLE, PUBLISHER, TAG, DESCRIPTION)

# Document.flags
FEATURED, VERIFIED, DEPRECATED, RELEASE, PRE_RELEASE = 1, 2, 4, 8, 16

DEPRECATED_FACTOR = 0.3
UNVERIFIED_FACTOR = 0.85

STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "into", "is", "it", "its", "of", "on",
    "or", "so", "that", "the", "this", "to", "use", "using", "with", "you", "your"))

_WORD = re.compile(r"[^\W_]+(?:\+\+|#)?")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_SPACE = re.compile(r"\s+")


def words(text: str) -> list[str]:
    """Lower-case words: letters and digits, keeping ``c++``, ``c#``, ``f#``."""
    return _WORD.findall(text.lower())


def title_words(text: str) -> set[str]:
    """Words of a name, plus the camel-case parts ("GitLens": git, lens) and dotted or hyphenated
    compounds joined ("vscode-eslint": vscodeeslint, "Node.js": nodejs)."""
    found: set[str] = set()
    for chunk in text.split():
        parts = _WORD.findall(chunk)
        for part in parts:
            found.add(part.lower())
            pieces = _CAMEL.findall(part)
            if len(pieces) > 1:
                found.update(p.lower() for p in pieces)
        if len(parts) > 1:
            found.add("".join(parts).lower())
    return found


def normalize(text: str) -> str:
    """A whole query or name as compared for an exact match: lower case, single spaces."""
    return _SPACE.sub(" ", text.strip().lower())


def static_score(installs: int, average_rating: float | None, rating_count: int, flags: int) -> float:
    """How good an extension is whatever the query: 1 (no installs) to about 5 (10M installs), times a
    rating factor (0.9 to 1.1), demoted when deprecated or from an unverified publisher."""
    score = 1.0 + 0.5 * math.log10(1 + installs)
    rated = weighted_rating(average_rating, rating_count)
    if rated:
        score *= 1 + 0.05 * (rated - RATING_PRIOR_MEAN)
    if flags & DEPRECATED:
        score *= DEPRECATED_FACTOR
    if not flags & VERIFIED:
        score *= UNVERIFIED_FACTOR
    return score


@dataclass(frozen=True, slots=True, eq=False)
class Document:
    """One extension in the index. ``record`` is its snapshot record as compact JSON (``encoding``)."""

    extension_id: str  # lower case
    record: bytes
    installs: int
    downloads: int
    updated: int  # microseconds since the epoch
    published: int
    average_rating: float | None
    rating_count: int
    flags: int
    title: str  # display name (or name), normalized (lower case, single spaces)
    publisher: str  # lower case
    categories: tuple[str, ...]  # lower case
    tags: tuple[str, ...]  # lower case, with __web_extension for web extensions
    platforms: tuple[str, ...]  # of the head versions
    exact: tuple[str, ...]  # what a whole query must equal to rank it first: id, name, display name
    words: tuple[str, str, str, str]  # per field, space-separated; each word under its best field only
    static: float
    installs_by_day: tuple[int, ...] = ()  # newest first from stats_day (``stats.measures``): trending
    stats_day: int = 0

    def trending(self, today: int, window: int) -> float:
        return trending(self.installs_by_day, self.stats_day or today, today, window)

    def entry(self) -> list[Any]:
        """The analysis as stored in a segment (everything but the record)."""
        return [self.extension_id, self.installs, self.downloads, self.updated, self.published,
                self.average_rating, self.rating_count, self.flags, self.title, self.publisher,
                list(self.categories), list(self.tags), list(self.platforms), list(self.words),
                list(self.installs_by_day), self.stats_day]

    @classmethod
    def from_entry(cls, entry: list[Any], record: bytes) -> Document:
        (extension_id, installs, downloads, updated, published, average_rating, rating_count, flags, title, publisher,
         categories, tags, platforms, field_words, installs_by_day, stats_day) = entry
        return cls(extension_id, record, installs, downloads, updated, published, average_rating, rating_count,
                   flags, title, publisher, tuple(categories), tuple(tags), tuple(platforms),
                   exact_keys(extension_id, title), tuple(field_words),
                   static_score(installs, average_rating, rating_count, flags), tuple(installs_by_day), stats_day)

    def same_as(self, other: Document) -> bool:
        return self.record == other.record


def exact_keys(extension_id: str, title: str) -> tuple[str, ...]:
    """What a whole query must equal to rank an extension first: its id, its name, its display name."""
    return tuple(dict.fromkeys((extension_id, extension_id.partition(".")[2], title)))


def document_words(record: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """Each word of an extension under the best field it occurs in: name and display name, publisher,
    tags and categories, description (without stop words, first 64 words)."""
    found: dict[str, int] = {}
    for word in sorted(title_words(record["n"]) | title_words(record.get("dn") or "")):
        found[word] = TITLE
    for word in sorted(title_words(record["p"])):
        found.setdefault(word, PUBLISHER)
    for value in (*record.get("t", ()), *record.get("c", ())):
        if not value.startswith("__"):
            for word in words(value):
                found.setdefault(word, TAG)
    for word in words(record.get("ds") or "")[:MAX_DESCRIPTION_WORDS]:
        if word not in STOPWORDS:
            found.setdefault(word, DESCRIPTION)
    per_field: list[list[str]] = [[], [], [], []]
    for word, where in found.items():
        per_field[where].append(word)
    return (" ".join(per_field[0]), " ".join(per_field[1]), " ".join(per_field[2]), " ".join(per_field[3]))


def analyze(record: Mapping[str, Any], raw: bytes | None = None) -> Document:
    """The document of a snapshot record (``raw``: its JSON, when the caller has it)."""
    versions = record.get("v") or ()
    tags = [str(t).lower() for t in record.get("t", ())]
    if versions and versions[0].get("w") and WEB_EXTENSION_TAG not in tags:
        tags.append(WEB_EXTENSION_TAG)
    flags = ((FEATURED if record.get("f") else 0) | (VERIFIED if record.get("vf") else 0)
             | (DEPRECATED if record.get("dep") else 0)
             | (RELEASE if any(not v.get("pr") for v in versions) else 0)
             | (PRE_RELEASE if any(v.get("pr") for v in versions) else 0))
    extension_id = str(record["id"]).lower()
    title = normalize(str(record.get("dn") or record["n"]))
    rating = record.get("ar")
    installs, rating_count = int(record.get("in", 0)), int(record.get("rc", 0))
    return Document(
        extension_id=extension_id,
        record=raw if raw is not None else dump(record),
        installs=installs, downloads=int(record.get("dl", 0)), updated=int(record["ut"]), published=int(record["ct"]),
        average_rating=float(rating) if rating is not None else None, rating_count=rating_count, flags=flags,
        title=title, publisher=str(record["p"]).lower(),
        categories=tuple(dict.fromkeys(str(c).lower() for c in record.get("c", ()))),
        tags=tuple(dict.fromkeys(tags)),
        platforms=tuple(sorted({v.get("tp", UNIVERSAL) for v in versions})),
        exact=exact_keys(extension_id, title), words=document_words(record),
        static=static_score(installs, float(rating) if rating is not None else None, rating_count, flags),
        installs_by_day=tuple(int(n) for n in record.get("ib", ())), stats_day=int(record.get("sd", 0)),
    )


def dump(record: Mapping[str, Any]) -> bytes:
    """A record's JSON as the snapshot stores it (compact, UTF-8, deterministic for the same record)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
