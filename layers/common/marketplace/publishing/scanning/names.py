"""Look-alike extension names: a new extension whose id (``publisher.name``) or display name reads like one of
the most installed extensions of another namespace is refused, naming the extension it imitates.

Two names are alike when their skeletons are equal, or differ by one edit (Damerau-Levenshtein: one character
added, removed, replaced, or two neighbours swapped) and are at least ``MIN_EDIT_LENGTH`` characters long. A
skeleton is the name in NFKC with Unicode's confusable characters folded to the ASCII they read as (Cyrillic
a, U+0430, is ``a``), separators dropped (``ms-python``, ``ms_python``, ``ms.python`` and ``mspython`` are one), and
``publishing.namespaces.skeleton``'s pairs applied (``rn`` is ``m``, ``0`` is ``o``).

Popular extensions are the ``POPULAR`` most installed ones of the search snapshot, read by each ingest process
at most every ``CACHE_SECONDS`` (the snapshot's manifest is asked with its ETag: usually nothing is fetched).
A new version of an extension that exists is not checked again.
"""

from __future__ import annotations

import heapq
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from marketplace.catalog import reader as catalog_reader
from marketplace.publishing import namespaces
from marketplace.publishing.scanning import REJECT, Finding, Subject
from marketplace.search import snapshot

POPULAR = 1000
CACHE_SECONDS = 600.0
MIN_EDIT_LENGTH = 6  # shorter names are too often one edit apart by chance
_SEPARATORS = re.compile(r"[\s._\-]+")


def skeleton(name: str) -> str:
    """What ``name`` reads as, for comparing names (see the module's description)."""
    return namespaces.skeleton(_SEPARATORS.sub("", namespaces.fold_confusables(name).lower()))


def distance(a: str, b: str) -> int:
    """The Damerau-Levenshtein distance (optimal string alignment) between ``a`` and ``b``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def alike(a: str, b: str) -> bool:
    """Whether two skeletons are one too many: equal, or one edit apart and long enough."""
    if a == b:
        return True
    if min(len(a), len(b)) < MIN_EDIT_LENGTH or abs(len(a) - len(b)) > 1:
        return False
    return distance(a, b) <= 1


@dataclass(frozen=True)
class Popular:
    """A most-installed extension, with the skeletons of its id and of its display name."""

    extension_id: str
    display_name: str
    installs: int = 0

    @property
    def namespace(self) -> str:
        return self.extension_id.partition(".")[0]

    @property
    def id_skeleton(self) -> str:
        return skeleton(self.extension_id)

    @property
    def name_skeleton(self) -> str:
        return skeleton(self.display_name)


class _Cache:
    """The popular extensions, read from the search snapshot at most every ``CACHE_SECONDS``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.found: list[tuple[Popular, str, str]] = []  # (extension, id skeleton, display-name skeleton)
        self.etag: str | None = None
        self.until = 0.0

    def get(self) -> list[tuple[Popular, str, str]]:
        with self.lock:
            if time.monotonic() >= self.until:
                manifest = snapshot.read_manifest(if_none_match=self.etag)
                if manifest is None:
                    self.found, self.etag = [], None
                elif isinstance(manifest, snapshot.Manifest):
                    self.found = [(p, p.id_skeleton, p.name_skeleton) for p in _most_installed(manifest)]
                    self.etag = manifest.etag
                self.until = time.monotonic() + CACHE_SECONDS
            return self.found

    def clear(self) -> None:
        with self.lock:
            self.found, self.etag, self.until = [], None, 0.0


_cache = _Cache()


def _most_installed(manifest: snapshot.Manifest) -> list[Popular]:
    best: list[tuple[int, str, bytes]] = []
    for segment in sorted(manifest.segments):
        found = snapshot.read_segment(segment)
        if found is None:
            continue
        for document in found[0].documents:
            entry = (document.installs, document.extension_id, document.record)
            if len(best) < POPULAR:
                heapq.heappush(best, entry)
            elif entry > best[0]:
                heapq.heapreplace(best, entry)
    return [Popular(extension_id, _display_name(record, extension_id), installs)
            for installs, extension_id, record in sorted(best, reverse=True)]


def _display_name(record: bytes, extension_id: str) -> str:
    """The display name as its publisher wrote it (the snapshot record's ``dn``), else the extension's name."""
    try:
        fields = json.loads(record)
    except ValueError:
        fields = {}
    shown = fields.get("dn") or fields.get("n") if isinstance(fields, dict) else None
    return str(shown) if shown else extension_id.partition(".")[2]


def popular_extensions() -> list[tuple[Popular, str, str]]:
    return _cache.get()


def reset() -> None:
    """Forget the cached popular extensions (tests)."""
    _cache.clear()


def _exists(extension_id: str) -> bool:
    return catalog_reader.get_extension(extension_id) is not None


class NamesScanner:
    """Refuses a new extension whose id or display name reads like a popular extension's of another namespace."""

    name = "names"

    def __init__(self, popular: Callable[[], Sequence[tuple[Popular, str, str]]] = popular_extensions,
                 exists: Callable[[str], bool] = _exists) -> None:
        self.popular = popular
        self.exists = exists

    def scan(self, subject: Subject) -> list[Finding]:
        package = subject.package
        if self.exists(package.id):
            return []
        return lookalikes(package.id, package.display_name, self.popular())


def lookalikes(extension_id: str, display_name: str | None,
               popular: Sequence[tuple[Popular, str, str]]) -> list[Finding]:
    """The findings for a new extension named ``extension_id`` and ``display_name``: at most one, naming the most
    installed popular extension of another namespace it reads like."""
    namespace = extension_id.partition(".")[0]
    id_skeleton = skeleton(extension_id)
    name_skeleton = skeleton(display_name) if display_name else ""
    for other, other_id, other_name in popular:
        if other.namespace == namespace or other.extension_id == extension_id:
            continue
        if alike(id_skeleton, other_id):
            what = f"the id {extension_id}"
        elif name_skeleton and other_name and alike(name_skeleton, other_name):
            what = "the display name"
        else:
            continue
        return [Finding("name.lookalike", f"{what} reads like {other.extension_id} ({other.display_name}), an "
                                          "extension of another publisher; choose a name of your own",
                        severity=REJECT)]
    return []
