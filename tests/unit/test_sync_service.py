"""``SyncService``'s decisions against the in-memory store (``tests.fakes.sync_store``): If-Match and its 412,
the retries after a lost race, the conflict reasons that become 4xx, and what a failed write leaves behind.
The adapter's own conditions are tested against moto in ``tests/integration/test_sync_store.py``."""

from __future__ import annotations

import pytest

from marketplace.platform.errors import NotFound, PreconditionFailed, ServiceUnavailable
from marketplace.sync.protocol import NO_REF, ROOT, ref_sequence
from marketplace.sync.service import WRITE_ATTEMPTS, Limits, SyncService, TooManyResources
from marketplace.sync.store import TransactionFailed
from tests.fakes.sync_keys import FakeDataKeys
from tests.fakes.sync_store import FakeSyncStore

ALICE = "a" * 64


@pytest.fixture
def fake() -> FakeSyncStore:
    return FakeSyncStore()


@pytest.fixture
def keys() -> FakeDataKeys:
    return FakeDataKeys()


@pytest.fixture
def sync(fake: FakeSyncStore, keys: FakeDataKeys) -> SyncService:
    return SyncService(keys, Limits(history=3, inline_bytes=1024, max_resources=2), store=fake)


def latest(sync: SyncService, resource: str = "settings") -> tuple[str, str] | None:
    document = sync.read_latest(ALICE, ROOT, resource)
    return (document.ref, document.content) if document else None


def kept(sync: SyncService) -> list[str]:
    return [ref for ref, _ in sync.list_refs(ALICE, ROOT, "settings")]


def conflict() -> TransactionFailed:
    return TransactionFailed(["conflict"])


def test_a_write_is_stored_sealed_and_read_back(sync: SyncService, fake: FakeSyncStore) -> None:
    ref = sync.write(ALICE, ROOT, "settings", "hello", None)
    assert latest(sync) == (ref, "hello") and ref_sequence(ref) == 1
    bodies = [item["body"] for item in fake.items[ALICE].values() if "body" in item]
    assert len(bodies) == 1 and b"hello" not in bodies[0]
    manifest = sync.manifest(ALICE)
    assert manifest is not None and manifest.latest == {"settings": ref}


def test_a_stale_if_match_is_412_with_the_current_ref_and_writes_nothing(sync: SyncService,
                                                                       fake: FakeSyncStore) -> None:
    first = sync.write(ALICE, ROOT, "settings", "one", None)
    with pytest.raises(PreconditionFailed) as refused:
        sync.write(ALICE, ROOT, "settings", "two", "1-00000000")
    assert refused.value.headers == {"ETag": first}
    assert fake.faults.calls["commit_write"] == 1 and latest(sync) == (first, "one")


def test_if_match_0_means_no_data_yet(sync: SyncService, keys: FakeDataKeys, fake: FakeSyncStore) -> None:
    with pytest.raises(PreconditionFailed):
        sync.write(ALICE, ROOT, "settings", "x", "9-0000abcd")
    assert keys.calls["create"] == 0 and fake.items.get(ALICE, {}) == {}  # no session made for a refused write
    ref = sync.write(ALICE, ROOT, "settings", "x", NO_REF)
    assert latest(sync) == (ref, "x")


def test_if_match_loses_a_race_between_the_read_and_the_write(sync: SyncService, fake: FakeSyncStore) -> None:
    """The head moved after the snapshot: the transaction fails on ``head``, the write reads again and now
    finds its If-Match stale, so it is a 412 naming the winner's ref, not a lost update."""
    base = sync.write(ALICE, ROOT, "settings", "base", None)
    won: list[str] = []
    fake.faults.before("commit_write", lambda: won.append(sync.write(ALICE, ROOT, "settings", "winner", base)))
    with pytest.raises(PreconditionFailed) as refused:
        sync.write(ALICE, ROOT, "settings", "loser", base)
    assert refused.value.headers == {"ETag": won[0]}
    assert latest(sync) == (won[0], "winner") and kept(sync) == [won[0], base]


def test_a_write_without_if_match_retries_after_the_race_and_both_land(sync: SyncService,
                                                                       fake: FakeSyncStore) -> None:
    base = sync.write(ALICE, ROOT, "settings", "base", None)
    others: list[str] = []
    fake.faults.before("commit_write", lambda: others.append(sync.write(ALICE, ROOT, "settings", "other", None)),
                       times=3)
    mine = sync.write(ALICE, ROOT, "settings", "mine", None)
    assert fake.faults.calls["commit_write"] == 1 + 4  # the base, then three lost races and the write that held
    assert [ref_sequence(r) for r in [base, *others, mine]] == [1, 2, 3, 4, 5]
    assert latest(sync) == (mine, "mine")


def test_contention_on_every_attempt_is_503_and_leaves_no_body_behind(fake: FakeSyncStore,
                                                                      keys: FakeDataKeys) -> None:
    sync = SyncService(keys, Limits(inline_bytes=1024), store=fake)
    sync.write(ALICE, ROOT, "settings", "base", None)
    fake.faults.fail("commit_write", conflict, times=None)
    with pytest.raises(ServiceUnavailable, match="changing too quickly"):
        sync.write(ALICE, ROOT, "settings", "x" * 4096, None)  # large: its body goes to the bucket first
    assert fake.faults.calls["commit_write"] == 1 + WRITE_ATTEMPTS
    assert fake.faults.calls["put_blob"] == WRITE_ATTEMPTS and fake.blobs == {}


def test_the_resource_cap_is_a_4xx_not_a_retry(sync: SyncService, fake: FakeSyncStore) -> None:
    sync.write(ALICE, ROOT, "settings", "1", None)
    sync.write(ALICE, ROOT, "keybindings", "2", None)
    with pytest.raises(TooManyResources):
        sync.write(ALICE, ROOT, "snippets", "3", None)
    assert fake.faults.calls["commit_write"] == 3
    sync.write(ALICE, ROOT, "settings", "still fine", None)  # a name already in use is not new


def test_a_collection_deleted_during_the_write_is_404(sync: SyncService, fake: FakeSyncStore) -> None:
    collection = sync.create_collection(ALICE)
    fake.faults.before("commit_write", lambda: sync.delete_collection(ALICE, collection))
    with pytest.raises(NotFound, match="No collection"):
        sync.write(ALICE, collection, "settings", "x", None)
    assert fake.faults.calls["commit_write"] == 1


def test_a_reset_during_the_write_starts_a_new_session(sync: SyncService, fake: FakeSyncStore) -> None:
    """The session ended (``meta`` and ``head`` fail together): the write reads again and lands in a new
    session; nothing of the old one is readable."""
    sync.write(ALICE, ROOT, "settings", "old", None)
    old = sync.manifest(ALICE)
    fake.faults.before("commit_write", lambda: sync.reset(ALICE))
    ref = sync.write(ALICE, ROOT, "settings", "new", None)
    manifest = sync.manifest(ALICE)
    assert old is not None and manifest is not None and manifest.session != old.session
    assert latest(sync) == (ref, "new") and kept(sync) == [ref]
    assert fake.faults.calls["commit_write"] == 3  # the first write, the one the reset beat, the one that held


def test_losing_the_race_to_create_the_users_data_uses_the_winners(sync: SyncService, fake: FakeSyncStore,
                                                                   keys: FakeDataKeys) -> None:
    fake.faults.before("create_meta", lambda: sync.write(ALICE, ROOT, "keybindings", "first", None))
    ref = sync.write(ALICE, ROOT, "settings", "second", None)
    assert keys.calls["create"] == 2 and keys.calls["forget"] == 1  # the loser's key is dropped
    manifest = sync.manifest(ALICE)
    assert manifest is not None and set(manifest.latest) == {"settings", "keybindings"}
    assert latest(sync) == (ref, "second")


def test_history_beyond_the_limit_is_expired_and_its_bodies_deleted(sync: SyncService, fake: FakeSyncStore) -> None:
    refs = [sync.write(ALICE, ROOT, "settings", f"{i}" * 2048, None) for i in range(5)]  # bodies in the bucket
    assert kept(sync) == refs[:1:-1] and len(fake.blobs) == 3
    with pytest.raises(NotFound):
        sync.read_ref(ALICE, ROOT, "settings", refs[0])


def test_a_failed_expiry_does_not_fail_the_write(sync: SyncService, fake: FakeSyncStore) -> None:
    for i in range(3):
        sync.write(ALICE, ROOT, "settings", str(i), None)
    fake.faults.fail("expire_ref", RuntimeError("throttled"))
    ref = sync.write(ALICE, ROOT, "settings", "3", None)
    assert latest(sync) == (ref, "3") and fake.faults.calls["expire_ref"] == 1


def test_deleting_the_latest_ref_retries_when_the_head_moves(sync: SyncService, fake: FakeSyncStore) -> None:
    first = sync.write(ALICE, ROOT, "settings", "one", None)
    second = sync.write(ALICE, ROOT, "settings", "two", None)
    newer: list[str] = []
    fake.faults.before("delete_latest_ref", lambda: newer.append(sync.write(ALICE, ROOT, "settings", "three", None)))
    sync.delete_ref(ALICE, ROOT, "settings", second)  # no longer the latest on the retry: a plain delete
    assert fake.faults.calls["delete_latest_ref"] == 1
    assert kept(sync) == [newer[0], first] and latest(sync) == (newer[0], "three")


def test_deleting_a_resource_retries_and_keeps_its_sequence(sync: SyncService, fake: FakeSyncStore) -> None:
    sync.write(ALICE, ROOT, "settings", "one", None)
    fake.faults.before("clear_head", lambda: sync.write(ALICE, ROOT, "settings", "two", None))
    sync.delete_resource(ALICE, ROOT, "settings")
    assert fake.faults.calls["clear_head"] == 2 and latest(sync) is None and kept(sync) == []
    assert ref_sequence(sync.write(ALICE, ROOT, "settings", "three", None)) == 3


def test_endless_contention_on_deletes_and_collections_is_503(sync: SyncService, fake: FakeSyncStore) -> None:
    ref = sync.write(ALICE, ROOT, "settings", "one", None)
    operations = ("delete_latest_ref", "clear_head", "put_collection")
    for operation in operations:
        fake.faults.fail(operation, conflict, times=None)
    with pytest.raises(ServiceUnavailable):
        sync.delete_ref(ALICE, ROOT, "settings", ref)
    with pytest.raises(ServiceUnavailable):
        sync.delete_resource(ALICE, ROOT, "settings")
    with pytest.raises(ServiceUnavailable):
        sync.create_collection(ALICE)
    assert [fake.faults.calls[operation] for operation in operations] == [WRITE_ATTEMPTS] * 3
    assert latest(sync) == (ref, "one")


def test_a_collection_made_while_a_reset_ends_the_session_is_retried(sync: SyncService, fake: FakeSyncStore) -> None:
    sync.write(ALICE, ROOT, "settings", "one", None)
    fake.faults.before("put_collection", lambda: sync.reset(ALICE))
    collection = sync.create_collection(ALICE)
    assert sync.list_collections(ALICE) == [collection] and fake.faults.calls["put_collection"] == 2
    assert sync.read_latest(ALICE, ROOT, "settings") is None
