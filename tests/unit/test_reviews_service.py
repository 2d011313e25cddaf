"""The reviews contention loop against the in-memory store (``tests.fakes.reviews_store``): a write that
loses a race or meets contention is retried from a fresh read, after the policy's pauses, and the rating
totals stay exact. The adapter's transaction and its cancellation reasons are tested against moto in
``tests/integration/test_reviews_api.py``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketplace.platform.errors import ServiceUnavailable
from marketplace.platform.retry import Backoff
from marketplace.reviews import service
from marketplace.reviews.service import WRITE_ATTEMPTS, ExtensionNotFound, NoReview, Reviewer, Reviews
from marketplace.reviews.store import Busy, CatalogEntry
from marketplace.reviews.validation import InvalidReview, ReviewInput
from tests.fakes.reviews_store import FakeReviewsStore

HELLO = CatalogEntry("acme.hello", "Acme", "hello", "1.0.0", None, listed=True)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def fake() -> FakeReviewsStore:
    store = FakeReviewsStore()
    store.add_extension(HELLO, versions=["1.0.0", "0.9.0"])
    return store


@pytest.fixture
def pauses() -> list[float]:
    return []


@pytest.fixture
def reviews(fake: FakeReviewsStore, pauses: list[float]) -> Reviews:
    return Reviews(fake, Backoff(WRITE_ATTEMPTS, base=0.02, cap=0.5, sleep=pauses.append, random=lambda: 1.0))


def reviewer(name: str) -> Reviewer:
    return Reviewer(user_id=f"{name:0<64}", display_name=name, provider="github")


def review(rating: int, comment: str | None = None, version: str | None = None) -> ReviewInput:
    return ReviewInput(rating=rating, title=None, comment=comment, version=version)


def rate(reviews: Reviews, name: str, rating: int, comment: str | None = None) -> bool:
    return reviews.post(HELLO, reviewer(name), review(rating, comment), NOW).replaced


def test_contention_is_retried_with_growing_pauses_and_counted_once(reviews: Reviews, fake: FakeReviewsStore,
                                                                     pauses: list[float]) -> None:
    fake.faults.fail("commit", lambda: Busy("None, TransactionConflict"), times=2)
    assert rate(reviews, "alice", 4) is False
    assert fake.faults.calls["commit"] == 3 and fake.faults.calls["get"] == 3  # each attempt reads afresh
    assert fake.rating_totals("acme.hello") == (4, 1) and pauses == [0.02, 0.04]


def test_endless_contention_is_503_with_retry_after_and_changes_nothing(reviews: Reviews, fake: FakeReviewsStore,
                                                                        pauses: list[float]) -> None:
    fake.faults.fail("commit", lambda: Busy("TransactionConflict"), times=None)
    with pytest.raises(ServiceUnavailable) as refused:
        rate(reviews, "alice", 4)
    assert refused.value.headers == {"Retry-After": "1"}
    assert fake.faults.calls["commit"] == WRITE_ATTEMPTS and fake.rating_totals("acme.hello") == (0, 0)
    assert len(pauses) == WRITE_ATTEMPTS - 1 and max(pauses) == 0.5  # capped, and none after the last attempt
    assert fake.reviews == {}


def test_a_replacement_that_loses_the_race_is_retried_on_the_winners_review(reviews: Reviews,
                                                                             fake: FakeReviewsStore) -> None:
    """Two requests of one reviewer at once: the loser's transaction fails on the write token it read
    (``Changed``), it reads the winner's review and replaces that; the totals count the reviewer once."""
    rate(reviews, "zed", 1)
    fake.faults.before("commit", lambda: rate(reviews, "zed", 5, "the winner"))
    assert rate(reviews, "zed", 3, "the loser, retried") is True
    assert fake.faults.calls["commit"] == 3 and fake.rating_totals("acme.hello") == (3, 1)
    (stored,) = fake.reviews_of("acme.hello")
    assert (stored.rating, stored.comment, stored.created_at) == (3, "the loser, retried", "2026-01-02T03:04:05.000Z")


def test_a_first_review_racing_another_first_review_by_the_same_user(reviews: Reviews,
                                                                    fake: FakeReviewsStore) -> None:
    fake.faults.before("commit", lambda: rate(reviews, "ann", 2))
    assert rate(reviews, "ann", 4) is True  # it found the winner's review on the retry: a replacement
    assert fake.rating_totals("acme.hello") == (4, 1)


def test_many_interleaved_reviewers_keep_the_totals_exact(reviews: Reviews, fake: FakeReviewsStore) -> None:
    """Pairs of reviewers at once: the rival's transaction on the same totals item commits first and cancels
    the other's (``Busy``, as DynamoDB's TransactionConflict), which is retried; every rating lands once."""
    ratings = {f"user{i:02d}": 1 + (i * 7) % 5 for i in range(12)}
    pending = list(ratings)
    while pending:
        name, rival = pending.pop(0), pending.pop(0)

        def racing(rival: str = rival) -> None:
            rate(reviews, rival, ratings[rival])
            raise Busy("None, TransactionConflict")

        fake.faults.before("commit", racing)
        rate(reviews, name, ratings[name])
    assert fake.faults.calls["commit"] == len(ratings)  # six lost and six retried; the rivals' are not counted
    assert fake.rating_totals("acme.hello") == (sum(ratings.values()), len(ratings))
    assert sorted(r.rating for r in fake.reviews_of("acme.hello")) == sorted(ratings.values())


def test_a_delete_racing_a_hide_deletes_the_hidden_review_and_counts_it_once(reviews: Reviews,
                                                                             fake: FakeReviewsStore) -> None:
    rate(reviews, "bob", 5)
    rate(reviews, "cat", 1)
    bob = reviewer("bob").user_id
    fake.faults.before("commit", lambda: reviews.set_hidden(HELLO, bob, True, "spam", NOW))
    deleted = reviews.delete(HELLO, bob)
    assert deleted.hidden is True  # what was deleted is the review as the hide left it
    assert fake.rating_totals("acme.hello") == (1, 1)
    assert [r.display_name for r in reviews.visible_reviews(HELLO)] == ["cat"]


def test_hiding_twice_writes_once(reviews: Reviews, fake: FakeReviewsStore) -> None:
    rate(reviews, "dan", 2)
    user = reviewer("dan").user_id
    first, changed = reviews.set_hidden(HELLO, user, True, "spam", NOW)
    again, changed_again = reviews.set_hidden(HELLO, user, True, "spam", NOW)
    assert changed and not changed_again and again == first
    assert fake.faults.calls["commit"] == 2 and fake.rating_totals("acme.hello") == (0, 0)
    reviews.set_hidden(HELLO, user, False)
    assert fake.rating_totals("acme.hello") == (2, 1)


def test_deleting_a_review_that_a_racing_delete_removed_is_no_review(reviews: Reviews,
                                                                     fake: FakeReviewsStore) -> None:
    rate(reviews, "eve", 3)
    user = reviewer("eve").user_id
    fake.faults.before("commit", lambda: reviews.delete(HELLO, user))
    with pytest.raises(NoReview):
        reviews.delete(HELLO, user)
    assert fake.rating_totals("acme.hello") == (0, 0) and fake.reviews == {}


def test_the_extension_and_version_come_from_the_store(reviews: Reviews, fake: FakeReviewsStore) -> None:
    with pytest.raises(ExtensionNotFound):
        reviews.extension("acme", "missing")
    fake.add_extension(CatalogEntry("acme.gone", "acme", "gone", None, None, listed=False))
    with pytest.raises(ExtensionNotFound):
        reviews.extension("acme", "gone")
    assert reviews.extension_by_id("acme.gone").name == "gone"
    assert reviews.extension("acme", "hello") == HELLO
    with pytest.raises(InvalidReview, match=r"no published version 2\.0\.0"):
        reviews.post(HELLO, reviewer("fay"), review(3, version="2.0.0"))
    assert reviews.post(HELLO, reviewer("fay"), review(3, version="0.9.0")).review.version == "0.9.0"


def test_the_default_policy_follows_the_module_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "BACKOFF_CAP_SECONDS", 0.001)
    policy = service.write_backoff()
    assert (policy.attempts, policy.base, policy.cap) == (WRITE_ATTEMPTS, service.BACKOFF_BASE_SECONDS, 0.001)
