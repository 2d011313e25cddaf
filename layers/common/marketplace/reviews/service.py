"""The reviews capability's operations: what posting, replacing, deleting, listing, hiding and unhiding a
review mean, over ``store``.

Every write is read → decide → conditional transaction (``commit``); when the review changed under us
or DynamoDB reports contention, the whole step runs again from a fresh read, after a short jittered backoff,
so each write lands exactly once on the state it was computed from.

``Reviews`` takes its store as a ``ReviewsStorePort`` (``reviews.store`` by default; an in-memory one in the
unit tests); the module-level functions are those of the default instance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from marketplace.catalog.ids import ID_PART
from marketplace.platform.errors import BadRequest, NotFound, ServiceUnavailable
from marketplace.platform.retry import Backoff
from marketplace.reviews import store as reviews_store
from marketplace.reviews.store import Busy, CatalogEntry, Changed, StoredReview
from marketplace.reviews.validation import MAX_TITLE, InvalidReview, ReviewError, ReviewInput, clean_text

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 12
BACKOFF_BASE_SECONDS = 0.02
BACKOFF_CAP_SECONDS = 0.5
MIN_ID_PREFIX = 6  # an operator may name a review by this many leading characters of its user id
MAX_NAME = 128


class ExtensionNotFound(ReviewError, NotFound):
    pass


class NoReview(ReviewError, BadRequest):
    pass


class ReviewNotFound(ReviewError, NotFound):
    pass


class Ambiguous(ReviewError, BadRequest):
    pass


@dataclass(frozen=True)
class Reviewer:
    user_id: str
    display_name: str
    provider: str


@dataclass(frozen=True)
class Posted:
    extension: CatalogEntry
    review: StoredReview
    replaced: bool


def now_iso(moment: datetime | None = None) -> str:
    """Open VSX's timestamp form: ISO 8601 UTC with milliseconds and ``Z``."""
    value = (moment or datetime.now(UTC)).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _not_found(namespace: str, name: str) -> ExtensionNotFound:
    return ExtensionNotFound(f"Extension not found: {namespace}.{name}")


def newest_first(reviews: list[StoredReview]) -> list[StoredReview]:
    return sorted(reviews, key=lambda r: (r.updated_at, r.user_id), reverse=True)


class ReviewsStorePort(Protocol):
    """What the operations need of storage: exactly the functions of ``reviews.store`` (the default) they
    call. ``commit`` raises ``reviews.store.Changed`` when the review is no longer ``before`` and
    ``reviews.store.Busy`` on contention, writing nothing either way."""

    def catalog_entry(self, extension_id: str) -> CatalogEntry | None: ...

    def published_versions(self, extension_id: str, version: str) -> Sequence[str]: ...

    def get(self, extension_id: str, user_id: str) -> StoredReview | None: ...

    def reviews_of(self, extension_id: str) -> list[StoredReview]: ...

    def commit(self, before: StoredReview | None, after: StoredReview | None) -> None: ...


def write_backoff() -> Backoff:
    """The contention loop's policy, from the module's settings as they are when a write starts."""
    return Backoff(attempts=WRITE_ATTEMPTS, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS)


class Reviews:
    def __init__(self, store: ReviewsStorePort = reviews_store, backoff: Backoff | None = None) -> None:
        self.store = store
        self.backoff = backoff  # ``None``: ``write_backoff()`` at each write

    def extension(self, namespace: str, name: str, *, listed_only: bool = True) -> CatalogEntry:
        """The extension named by the path; blocked and wholly unpublished ones are not found (as in the
        gallery)."""
        if len(namespace) > MAX_NAME or len(name) > MAX_NAME or not ID_PART.fullmatch(namespace) \
                or not ID_PART.fullmatch(name):
            raise _not_found(namespace[:MAX_NAME], name[:MAX_NAME])
        entry = self.store.catalog_entry(f"{namespace}.{name}")
        if entry is None or (listed_only and not entry.listed):
            raise _not_found(namespace, name)
        return entry

    def extension_by_id(self, extension_id: str) -> CatalogEntry:
        namespace, _, name = extension_id.partition(".")
        return self.extension(namespace, name, listed_only=False)

    def visible_reviews(self, entry: CatalogEntry) -> list[StoredReview]:
        """The reviews the public sees, newest first; hidden ones are left out."""
        return newest_first([r for r in self.store.reviews_of(entry.extension_id) if not r.hidden])

    def reviewed_version(self, entry: CatalogEntry, asked: str | None) -> str:
        if asked is None:
            latest = entry.latest
            if latest is None:
                raise _not_found(entry.publisher, entry.name)
            return latest
        if not self.store.published_versions(entry.extension_id, asked):
            raise InvalidReview(f"Extension {entry.display_id} has no published version {asked}")
        return asked

    def post(self, entry: CatalogEntry, reviewer: Reviewer, review: ReviewInput,
             now: datetime | None = None) -> Posted:
        """Add the reviewer's review of the extension, or replace theirs. A replaced review keeps its first
        ``created_at`` and, if an operator hid it, stays hidden."""
        version = self.reviewed_version(entry, review.version)

        def change(before: StoredReview | None) -> StoredReview:
            stamp = now_iso(now)
            return StoredReview(
                extension_id=entry.extension_id, user_id=reviewer.user_id, display_name=reviewer.display_name,
                provider=reviewer.provider, rating=review.rating, title=review.title, comment=review.comment,
                version=version, created_at=before.created_at if before else stamp, updated_at=stamp,
                hidden=before.hidden if before else False, hidden_reason=before.hidden_reason if before else None,
                hidden_at=before.hidden_at if before else None,
            ).renewed()

        before, after = self._write(entry.extension_id, reviewer.user_id, change)
        assert after is not None
        return Posted(entry, after, replaced=before is not None)

    def delete(self, entry: CatalogEntry, user_id: str) -> StoredReview:
        """Delete the user's review of the extension; ``NoReview`` when there is none."""

        def change(before: StoredReview | None) -> None:
            if before is None:
                raise NoReview("You have not submitted any review yet.")
            return None

        before, _ = self._write(entry.extension_id, user_id, change)
        assert before is not None
        return before

    def find(self, entry: CatalogEntry, who: str) -> StoredReview:
        """An operator's review by its user id, a unique prefix of it, or the reviewer's exact public name."""
        every = self.store.reviews_of(entry.extension_id)
        wanted = who.strip()
        exact = [r for r in every if r.user_id == wanted.lower()]
        if exact:
            return exact[0]
        matches = []
        if len(wanted) >= MIN_ID_PREFIX:
            matches = [r for r in every if r.user_id.startswith(wanted.lower())]
        if not matches:
            matches = [r for r in every if r.display_name == wanted]
        if not matches:
            raise ReviewNotFound(f"{entry.display_id} has no review by {wanted!r} (give the reviewer's name or the "
                                 "id that 'marketplace review list' shows)")
        if len(matches) > 1:
            ids = ", ".join(r.user_id[:12] for r in matches)
            raise Ambiguous(f"{wanted!r} names {len(matches)} reviews of {entry.display_id} ({ids}): give more of "
                            "the id")
        return matches[0]

    def set_hidden(self, entry: CatalogEntry, user_id: str, hidden: bool, reason: str | None = None,
                   now: datetime | None = None) -> tuple[StoredReview, bool]:
        """Hide a review (it leaves the list and the average) or show it again. Returns the review and whether
        anything changed (hiding a hidden review changes nothing)."""
        note = clean_text(reason, "reason", MAX_TITLE, multiline=False) if hidden else None

        def change(before: StoredReview | None) -> StoredReview:
            if before is None:
                raise ReviewNotFound(f"The review of {entry.display_id} by {user_id[:12]} no longer exists")
            if before.hidden == hidden:
                return before
            return replace(before, hidden=hidden, hidden_reason=note,
                           hidden_at=now_iso(now) if hidden else None).renewed()

        before, after = self._write(entry.extension_id, user_id, change)
        assert after is not None
        return after, after is not before

    def _write(self, extension_id: str, user_id: str,
               change: Callable[[StoredReview | None], StoredReview | None]) -> tuple[StoredReview | None,
                                                                                       StoredReview | None]:
        """Apply ``change`` to the review as currently stored until the conditional transaction holds."""

        def attempt() -> tuple[StoredReview | None, StoredReview | None]:
            before = self.store.get(extension_id, user_id)
            after = change(before)
            if after is not before:  # otherwise there is nothing to write
                self.store.commit(before, after)
            return before, after

        def retrying(number: int, error: BaseException | None) -> None:
            if isinstance(error, Changed):
                log.info("review changed while it was written; reading it again", extra={"attempt": number})
            else:
                log.info("review write met contention (%s); retrying", error, extra={"attempt": number})

        try:
            return (self.backoff or write_backoff()).call(attempt, retry_on=(Changed, Busy), on_retry=retrying)
        except (Changed, Busy) as error:
            raise ServiceUnavailable("Too many concurrent changes to this extension's reviews; try again",
                                     headers={"Retry-After": "1"}) from error


_default = Reviews()
extension = _default.extension
extension_by_id = _default.extension_by_id
visible_reviews = _default.visible_reviews
reviewed_version = _default.reviewed_version
post = _default.post
delete = _default.delete
find = _default.find
set_hidden = _default.set_hidden
