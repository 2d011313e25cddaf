"""The in-memory search index the gallery answers text search and browsing from.

Every published extension is one ``analysis.Document``: its snapshot record (JSON bytes, decoded only
when a query returns it) plus what ranking and filtering need, computed by the snapshot's writer:

- token postings per field, each document under its best field per word (name and display name, then
  publisher, then tags and categories, then description), with a sorted vocabulary for prefix matching
  ("pyth" finds "python"): as-you-type search;
- a static quality score (installs on a log scale, a Bayesian rating, deprecated and unverified extensions
  demoted) and the documents ordered by it;
- one ordering per sort (installs, downloads, updated, published, title, publisher, rating, weighted
  rating, trending daily, weekly and monthly), made on first use and kept sorted as documents come and go;
  the trending orderings are made again when the UTC day changes (a score depends on the day: documents
  hold installs per day, ``stats.measures``);
- sets per category, tag, target platform, featured, release and pre-release for the filters.

A text query scores ``field weight x static score``. The words of a query are AND-ed; the best field a
document matches a word in gives the weight (summed over the words), a prefix completion half of it, and
an exact match of the whole query with an id, a name or a display name outranks everything. Documents
fall into a few groups of equal weight, so the best page of each group comes from the static ordering
(or a small sort), never from scoring every match: a query costs about the same whether it matches 10 or
40,000 extensions.

Pure Python: no AWS here (``loader`` keeps the gallery's index current from the snapshot).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from marketplace.catalog.ids import UNIVERSAL, WEB_EXTENSION_TAG
from marketplace.catalog.model import WEB, ExtensionView
from marketplace.search.analysis import (
    FEATURED,
    FIELDS,
    PRE_RELEASE,
    RELEASE,
    STOPWORDS,
    VERIFIED,
    Document,
    normalize,
    weighted_rating,
    words,
)
from marketplace.search.encoding import document_of, searchable, view_of
from marketplace.stats import measures

MAX_TEXT = 200  # what VS Code sends at most
MAX_QUERY_WORDS = 8
MIN_PREFIX = 2  # a single letter matches whole words only
SHORT_PREFIX = 2  # prefixes this short complete to common words only (used by COMMON or more extensions)
COMMON = 5
VIEW_CACHE = 4096  # decoded views kept for the extensions results show most
MAX_PAGE = 1000
BULK = 256  # more changes than this at once: sort the orderings afterwards instead of inserting one by one

# the weight a match in each field gives (title, publisher, tags, description); a prefix completion half
WORD_WEIGHT = (30, 20, 12, 4)
PREFIX_WEIGHT = (15, 10, 6, 2)
EXACT_WEIGHT = 1000

TRENDING: dict[str, int] = {f"trending_{name}": days for name, days in measures.TRENDING_WINDOWS.items()}
SORTS = frozenset({"relevance", "installs", "updated", "published", "title", "publisher", "rating",
                   "weighted_rating", "downloads", *TRENDING})


@dataclass(frozen=True)
class SearchRequest:
    text: str | None = None  # free text (at most 200 characters are used); None or "" browses
    tags: tuple[str, ...] = ()  # OR-ed, case-insensitive
    categories: tuple[str, ...] = ()  # OR-ed, case-insensitive
    target_platform: str | None = None  # a version for that platform or a universal one; "web": web extensions
    featured: bool = False
    verified: bool = False  # only extensions of verified publishers (the website's filter)
    pre_release: bool | None = None  # True: extensions with a pre-release; False: extensions with a release
    sort: str = "relevance"  # one of SORTS
    descending: bool = True
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class SearchResult:
    total: int  # every match, for paging
    views: list[ExtensionView] = field(default_factory=list)


# Sort keys, ascending; descending walks an ordering backwards. Every key ends with the id, so keys are
# unique and a document's position is found by bisection; the better one comes first among equals.
_SORT_KEYS: dict[str, Callable[[Document], tuple[Any, ...]]] = {
    "installs": lambda d: (d.installs, d.static, d.extension_id),
    "downloads": lambda d: (d.downloads, d.static, d.extension_id),
    "updated": lambda d: (d.updated, d.static, d.extension_id),
    "published": lambda d: (d.published, d.static, d.extension_id),
    "title": lambda d: (d.title, -d.static, d.extension_id),
    "publisher": lambda d: (d.publisher, d.title, -d.static, d.extension_id),
    "rating": lambda d: (d.average_rating or 0.0, d.rating_count, d.static, d.extension_id),
    "weighted_rating": lambda d: (weighted_rating(d.average_rating, d.rating_count), d.rating_count, d.static,
                                  d.extension_id),
    "static": lambda d: (-d.static, d.extension_id),  # best first
}

Group = tuple[int, set[int]]  # a field weight and the documents that match with exactly that weight


# ------------------------------------------------------------------------------------------ index


class SearchIndex:
    """Published extensions, searchable. Thread-safe: every method holds the index's lock. ``today`` tells the
    UTC day (days since 1970-01-01) trending scores are computed for."""

    def __init__(self, today: Callable[[], int] = measures.today) -> None:
        self._today = today
        self._day = today()
        self._lock = threading.RLock()
        self._slots: dict[str, int] = {}  # extension id -> slot
        self._free: list[int] = []
        self._documents: list[Document | None] = []
        self._orders: dict[str, list[int]] = {}  # sort -> slots, ascending; made on first use
        self._terms: dict[str, dict[int, set[int]]] = {}  # word -> field -> slots
        self._vocabulary: list[str] = []  # the words of _terms, sorted (prefix lookups)
        self._common: list[str] = []  # the words of COMMON or more documents, sorted (short prefixes)
        self._static_keys: list[tuple[float, str] | None] = []  # slot -> the "static" sort key (relevance)
        self._views: OrderedDict[str, tuple[Document, ExtensionView]] = OrderedDict()
        self._exact: dict[str, tuple[int, ...]] = {}
        self._categories: dict[str, set[int]] = {}
        self._tags: dict[str, set[int]] = {}
        self._platforms: dict[str, set[int]] = {}
        self._flags: dict[int, set[int]] = {FEATURED: set(), VERIFIED: set(), RELEASE: set(),
                                              PRE_RELEASE: set()}
        self._unsorted = False  # after a bulk change: orderings and vocabulary are sorted by settle()

    # ----------------------------------------------------------------------------------- changes

    def upsert(self, view: ExtensionView) -> None:
        """Add or replace an extension (its head versions); one that is not published is removed."""
        if searchable(view):
            self.apply([document_of(view)], ())
        else:
            self.remove(view.extension_id)

    def remove(self, extension_id: str) -> None:
        self.apply((), [extension_id])

    def apply(self, upserts: Iterable[Document], removals: Iterable[str] = ()) -> None:
        """Add or replace documents and remove extensions by id, as one change."""
        upserts = list(upserts)
        removals = [i.lower() for i in removals]
        with self._lock:
            if len(upserts) + len(removals) > BULK:
                self._unsorted = True
            ordered = not self._unsorted
            for extension_id in removals:
                slot = self._slots.pop(extension_id, None)
                if slot is not None:
                    self._unindex(slot, ordered=ordered)
                    self._free.append(slot)
            for document in upserts:
                slot = self._slots.get(document.extension_id)
                if slot is None:
                    slot = self._allocate()
                    self._slots[document.extension_id] = slot
                else:
                    self._unindex(slot, ordered=ordered)
                self._index(slot, document, ordered=ordered)

    def settle(self) -> None:
        """Sort what a bulk change left unsorted (the first query after one does it otherwise): the
        vocabulary and the relevance ordering; the other orderings are made when first asked for."""
        with self._lock:
            if self._unsorted:
                self._orders.clear()
                self._vocabulary = sorted(self._terms)
                self._common = [w for w in self._vocabulary if _frequency(self._terms[w]) >= COMMON]
                self._unsorted = False
            self._order("static")

    def _roll_over(self) -> None:
        """A new UTC day: the trending orderings were sorted with yesterday's scores."""
        day = self._today()
        if day != self._day:
            self._day = day
            for name in TRENDING:
                self._orders.pop(name, None)

    def _order(self, sort: str) -> list[int]:
        order = self._orders.get(sort)
        if order is None:
            order = self._orders[sort] = sorted(self._slots.values(), key=self._key(sort))
        return order

    def _key(self, sort: str) -> Callable[[int], Any]:
        """The ``sort`` key of a slot."""
        if sort == "static":
            return self._static_keys.__getitem__
        if sort in TRENDING:
            window, day, docs = TRENDING[sort], self._day, self._documents

            def trending(slot: int) -> tuple[Any, ...]:
                document = docs[slot]
                assert document is not None
                return (document.trending(day, window), document.installs, document.static, document.extension_id)

            return trending
        key, documents = _SORT_KEYS[sort], self._documents
        return lambda slot: key(documents[slot])  # type: ignore[arg-type]

    def _allocate(self) -> int:
        if self._free:
            return self._free.pop()
        self._documents.append(None)
        self._static_keys.append(None)
        return len(self._documents) - 1

    def _index(self, slot: int, document: Document, *, ordered: bool) -> None:
        self._documents[slot] = document
        self._static_keys[slot] = (-document.static, document.extension_id)
        terms = self._terms
        for where in FIELDS:
            for word in document.words[where].split():
                fields = terms.get(word)
                if fields is None:
                    fields = terms[word] = {}
                    if ordered:
                        insort(self._vocabulary, word)
                members = fields.get(where)
                if members is None:
                    fields[where] = {slot}
                else:
                    members.add(slot)
                if ordered and _frequency(fields) == COMMON:
                    position = bisect_left(self._common, word)
                    if position == len(self._common) or self._common[position] != word:
                        self._common.insert(position, word)
        for table, values in ((self._categories, document.categories), (self._tags, document.tags),
                              (self._platforms, document.platforms)):
            for value in values:
                members = table.get(value)
                if members is None:
                    table[value] = {slot}
                else:
                    members.add(slot)
        exact = self._exact
        for value in document.exact:
            exact[value] = (*exact[value], slot) if value in exact else (slot,)
        for flag, members in self._flags.items():
            if document.flags & flag:
                members.add(slot)
        if ordered:
            for name, order in self._orders.items():
                insort(order, slot, key=self._key(name))

    def _unindex(self, slot: int, *, ordered: bool) -> None:
        document = self._documents[slot]
        if document is None:
            return
        if ordered:
            for name, order in self._orders.items():
                _remove_sorted(order, slot, self._key(name))
        for where in FIELDS:
            for word in document.words[where].split():
                fields = self._terms[word]
                _discard(fields, where, slot)
                if not fields:
                    del self._terms[word]
                    if ordered:
                        _remove_word(self._vocabulary, word)
                        _remove_word(self._common, word)
        for table, values in ((self._categories, document.categories), (self._tags, document.tags),
                              (self._platforms, document.platforms)):
            for value in values:
                _discard(table, value, slot)
        for value in document.exact:
            rest = tuple(s for s in self._exact.get(value, ()) if s != slot)
            if rest:
                self._exact[value] = rest
            else:
                self._exact.pop(value, None)
        for members in self._flags.values():
            members.discard(slot)
        self._documents[slot] = None

    # ----------------------------------------------------------------------------------- reading

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, extension_id: object) -> bool:
        return isinstance(extension_id, str) and extension_id.lower() in self._slots

    def document(self, extension_id: str) -> Document | None:
        with self._lock:
            slot = self._slots.get(extension_id.lower())
            return self._documents[slot] if slot is not None else None

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._slots)

    def documents(self) -> list[Document]:
        with self._lock:
            return [d for d in self._documents if d is not None]

    def category_counts(self) -> dict[str, int]:
        """How many extensions each category (lower-cased) has."""
        return {category: len(members) for category, members in self._categories.items() if members}

    def get(self, extension_id: str) -> ExtensionView | None:
        document = self.document(extension_id)
        return self._view(document) if document is not None else None

    def _view(self, document: Document) -> ExtensionView:
        """The view of a document: decoded once, then kept while it is among the most asked-for (views are
        immutable; their ``extra`` must not be changed)."""
        with self._lock:
            cached = self._views.get(document.extension_id)
            if cached is not None and cached[0] is document:
                self._views.move_to_end(document.extension_id)
                return cached[1]
        view = view_of(document)
        with self._lock:
            self._views[document.extension_id] = (document, view)
            if len(self._views) > VIEW_CACHE:
                self._views.popitem(last=False)
        return view

    def search(self, request: SearchRequest) -> SearchResult:
        if request.sort not in SORTS:
            raise ValueError(f"unknown sort {request.sort!r}")
        offset = max(0, request.offset)
        limit = max(0, min(request.limit, MAX_PAGE))
        with self._lock:
            self._roll_over()
            self.settle()
            allowed = self._allowed(request)
            text = normalize((request.text or "")[:MAX_TEXT])
            slots: list[int] = []
            if text:
                groups, matched = self._match(text, allowed)
                total = len(matched)
                if limit and matched and request.sort == "relevance":
                    slots = self._rank(groups, offset + limit)[offset:]
                elif limit and matched:
                    slots = self._ordered(request.sort, request.descending, matched, offset, limit)
            else:
                browse = request.sort == "relevance"  # browsing by relevance: the most installed first
                total = len(self._slots) if allowed is None else len(allowed)
                if limit:
                    slots = self._ordered("installs" if browse else request.sort, browse or request.descending,
                                          allowed, offset, limit)
            found = [self._documents[slot] for slot in slots]
        return SearchResult(total, [self._view(d) for d in found if d is not None])

    def _allowed(self, request: SearchRequest) -> set[int] | None:
        """The documents the filters let through (None: every document). Never mutate the result."""
        wanted: list[set[int]] = []
        if request.categories:
            wanted.append(_union_of(self._categories, (c.lower() for c in request.categories)))
        if request.tags:
            wanted.append(_union_of(self._tags, (t.lower() for t in request.tags)))
        if request.target_platform:
            platform = request.target_platform.lower()
            if platform == WEB:  # VS Code offers web clients only extensions tagged for the web
                wanted.append(self._tags.get(WEB_EXTENSION_TAG, set()))
            else:
                wanted.append(_union_of(self._platforms, (platform, UNIVERSAL)))
        if request.featured:
            wanted.append(self._flags[FEATURED])
        if request.verified:
            wanted.append(self._flags[VERIFIED])
        if request.pre_release is not None:
            wanted.append(self._flags[PRE_RELEASE if request.pre_release else RELEASE])
        if not wanted:
            return None
        wanted.sort(key=len)
        result = wanted[0]
        for other in wanted[1:]:
            result = result & other
        return result

    def _expansions(self, word: str) -> list[tuple[str, bool]]:
        """The indexed words a query word stands for: itself, and its completions (``True``: exact)."""
        found = [(word, True)] if word in self._terms else []
        if len(word) >= MIN_PREFIX:
            # a short prefix of a large vocabulary stands for thousands of rare words: complete it to common
            # words only (the rare ones are found with a letter or two more)
            vocabulary = self._common if len(word) <= SHORT_PREFIX else self._vocabulary
            position = bisect_left(vocabulary, word)
            while position < len(vocabulary) and vocabulary[position].startswith(word):
                if vocabulary[position] != word:
                    found.append((vocabulary[position], False))
                position += 1
        return found

    def _levels(self, word: str, allowed: set[int] | None) -> tuple[list[Group], set[int]]:
        """The documents matching one query word, by weight (a document may be under several), and all of
        them. Never mutate the sets: they may be the index's own."""
        parts: dict[int, list[set[int]]] = {}
        for term, exact in self._expansions(word):
            weights = WORD_WEIGHT if exact else PREFIX_WEIGHT
            for where, members in self._terms[term].items():
                parts.setdefault(weights[where], []).append(members)
        levels: list[Group] = []
        for weight in sorted(parts, reverse=True):
            members = _union(parts[weight])
            if allowed is not None:
                members = members & allowed
            if members:
                levels.append((weight, members))
        return levels, _union([members for _, members in levels])

    def _match(self, text: str, allowed: set[int] | None) -> tuple[list[Group], set[int]]:
        """Groups of matching documents with their total field weight (a document may be in several: its
        best counts), and every matching document. Every word of the query must match (prefixes count); an
        exact match of the whole query outranks everything."""
        query = list(dict.fromkeys(words(text)))
        meaningful = [w for w in query if w not in STOPWORDS]
        query = (meaningful or query)[:MAX_QUERY_WORDS]
        per_word = [self._levels(w, allowed) for w in query]
        groups: list[Group] = []
        matched: set[int] = set()
        if per_word and all(everything for _, everything in per_word):
            per_word.sort(key=lambda found: len(found[1]))
            groups, matched = per_word[0]
            for levels, everything in per_word[1:]:
                matched = matched & everything
                combined: dict[int, list[set[int]]] = {}
                for weight, members in groups:
                    members = members & matched
                    for other_weight, other in levels:
                        both = members & other
                        if both:
                            combined.setdefault(weight + other_weight, []).append(both)
                groups = [(weight, _union(sets)) for weight, sets in combined.items()]
                if not matched:
                    break
        exact = set(self._exact.get(text, ()))
        if exact and allowed is not None:
            exact &= allowed
        if exact:
            groups = [*groups, (EXACT_WEIGHT, exact)]
            matched = matched | exact
        return groups, matched

    def _rank(self, groups: list[Group], count: int) -> list[int]:
        """The ``count`` best documents by field weight x static score."""
        documents = self._documents
        scored: list[tuple[float, str, int]] = []
        seen: set[int] = set()
        for weight, members in sorted(groups, key=lambda group: -group[0]):
            for slot in self._first(members, "static", False, count):
                if slot in seen:  # already under a better weight
                    continue
                seen.add(slot)
                document = documents[slot]
                assert document is not None
                scored.append((-weight * document.static, document.extension_id, slot))
        scored.sort()
        return [slot for _, _, slot in scored[:count]]

    def _first(self, members: set[int], sort: str, descending: bool, count: int) -> list[int]:
        """The first ``count`` of ``members`` in the ``sort`` ordering."""
        # Walking the ordering takes about count x (all / len(members)) steps in C; sorting the members takes
        # len(members) key computations in Python: walk unless the set is small.
        if len(members) > count and len(members) * len(members) * 16 >= count * len(self._slots):
            order = self._order(sort)
            walk = reversed(order) if descending else iter(order)
            return list(islice(filter(members.__contains__, walk), count))
        return sorted(members, key=self._key(sort), reverse=descending)[:count]

    def _ordered(self, sort: str, descending: bool, allowed: set[int] | None, offset: int, limit: int) -> list[int]:
        if allowed is None:
            order = self._order(sort)
            if descending:
                end = len(order) - offset
                return order[max(0, end - limit):max(0, end)][::-1]
            return order[offset:offset + limit]
        return self._first(allowed, sort, descending, offset + limit)[offset:]


def _union_of(table: dict[str, set[int]], keys: Iterable[str]) -> set[int]:
    return _union([table[k] for k in dict.fromkeys(keys) if k in table])


def _union(sets: list[set[int]]) -> set[int]:
    """The union of ``sets``: the only one itself (do not mutate it), else a copy of the largest (a fast
    table copy) updated with the others."""
    if len(sets) == 1:
        return sets[0]
    if not sets:
        return set()
    largest = max(sets, key=len)
    result = set(largest)
    result.update(*(other for other in sets if other is not largest))
    return result


def _discard(table: dict[Any, set[int]], key: Any, slot: int) -> None:
    members = table.get(key)
    if members is not None:
        members.discard(slot)
        if not members:
            del table[key]


def _frequency(fields: dict[int, set[int]]) -> int:
    """How many documents use a word (a document is under one field per word)."""
    return sum(len(members) for members in fields.values())


def _remove_word(words: list[str], word: str) -> None:
    position = bisect_left(words, word)
    if position < len(words) and words[position] == word:
        del words[position]


def _remove_sorted(order: list[int], slot: int, key: Callable[[int], Any]) -> None:
    position = bisect_left(order, key(slot), key=key)
    if position < len(order) and order[position] == slot:
        del order[position]
    else:  # not where its key says it is: a bug elsewhere, but never a wrong answer here
        order.remove(slot)
