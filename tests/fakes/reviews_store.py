"""An in-memory ``ReviewsStorePort``: reviews by ``(extension, user)``, rating totals per extension and a
small catalog, with the adapter's (``reviews.store``) semantics. ``commit`` is conditional on the write
token read (or on there being no review), raises ``Changed`` when that no longer holds and moves the totals
by ``rating_delta`` in the same step, so a lost race can neither lose nor double a rating. Contention
(``Busy``) and races are scripted with ``faults`` (see ``tests.fakes.faults``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from marketplace.reviews.store import CatalogEntry, Changed, StoredReview, rating_delta
from tests.fakes.faults import Faults


@dataclass
class FakeReviewsStore:
    reviews: dict[tuple[str, str], StoredReview] = field(default_factory=dict)
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)  # extension -> (rating_sum, rating_count)
    catalog: dict[str, CatalogEntry] = field(default_factory=dict)
    versions: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # extension -> version -> targets
    touched: list[str] = field(default_factory=list)  # extensions touched for the search index
    faults: Faults = field(default_factory=Faults)

    def add_extension(self, entry: CatalogEntry, versions: Iterable[str] = ()) -> CatalogEntry:
        key = entry.extension_id.lower()
        self.catalog[key] = entry
        self.versions[key] = {version: ["universal"] for version in versions}
        return entry

    def rating_totals(self, extension_id: str) -> tuple[int, int]:
        return self.totals.get(extension_id.lower(), (0, 0))

    # --- the port ----------------------------------------------------------------------------------------

    def catalog_entry(self, extension_id: str) -> CatalogEntry | None:
        self.faults.run("catalog_entry")
        return self.catalog.get(extension_id.lower())

    def published_versions(self, extension_id: str, version: str) -> Sequence[str]:
        self.faults.run("published_versions")
        return list(self.versions.get(extension_id.lower(), {}).get(version, []))

    def get(self, extension_id: str, user_id: str) -> StoredReview | None:
        self.faults.run("get")
        return self.reviews.get((extension_id.lower(), user_id))

    def reviews_of(self, extension_id: str) -> list[StoredReview]:
        self.faults.run("reviews_of")
        return [review for (extension, _), review in sorted(self.reviews.items()) if extension == extension_id.lower()]

    def commit(self, before: StoredReview | None, after: StoredReview | None) -> None:
        self.faults.run("commit")
        current = after or before
        if current is None:
            return
        key = (current.extension_id.lower(), current.user_id)
        stored = self.reviews.get(key)
        holds = stored is None if before is None else stored is not None and stored.token == before.token
        if not holds:
            raise Changed(current.user_id)
        if after is None:
            del self.reviews[key]
        else:
            self.reviews[key] = after
        total, count = rating_delta(before, after)
        if total or count:
            rating_sum, rating_count = self.rating_totals(current.extension_id)
            self.totals[key[0]] = (rating_sum + total, rating_count + count)
            self.touched.append(key[0])
