"""The Settings Sync store's operations against moto: history, conditional writes, deletes, reset,
collections, large bodies in S3, envelope encryption and the KMS call budget."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from marketplace.local.provision import Deployment
from marketplace.platform import aws
from marketplace.platform import resources as r
from marketplace.platform.errors import BadRequest, NotFound, PreconditionFailed, ServiceUnavailable
from marketplace.sync import store
from marketplace.sync.crypto import KmsDataKeys
from marketplace.sync.protocol import NO_REF, ROOT, ref_sequence
from marketplace.sync.service import Limits, SyncService, TooManyResources

ALICE = "a" * 64
BOB = "b" * 64


@pytest.fixture
def kms_calls(deployment: Deployment) -> Iterator[list[str]]:
    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    aws.client("kms").meta.events.register("before-call.kms.*", count)
    yield calls


@pytest.fixture
def sync(deployment: Deployment) -> SyncService:
    return SyncService(KmsDataKeys(cache_seconds=300), Limits(history=5, inline_bytes=4096, max_resources=6))


def _table_items(deployment: Deployment) -> list[dict[str, Any]]:
    table = boto3.client("dynamodb").scan(TableName=deployment.env[r.SYNC_TABLE.env_var])
    return list(table["Items"])


def _objects(deployment: Deployment) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    bucket = deployment.bucket_names[r.PACKAGES_BUCKET.id]
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="private/sync/").get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


def envelope(content: str, machine: str = "m1") -> str:
    return json.dumps({"version": 2, "machineId": machine, "content": content})


def test_a_new_user_has_no_manifest_and_no_resources(sync: SyncService) -> None:
    assert sync.manifest(ALICE) is None
    assert sync.read_latest(ALICE, ROOT, "settings") is None
    assert sync.list_refs(ALICE, ROOT, "settings") == []
    assert sync.list_collections(ALICE) == []


def test_write_then_read_latest_and_the_manifest(sync: SyncService) -> None:
    ref = sync.write(ALICE, ROOT, "settings", envelope("{}"), None)
    document = sync.read_latest(ALICE, ROOT, "settings")
    assert document is not None and document.ref == ref and document.content == envelope("{}")
    manifest = sync.manifest(ALICE)
    assert manifest is not None and manifest.latest == {"settings": ref}
    assert len(manifest.session) == 32
    # the manifest's ETag changes with what it says
    second = sync.write(ALICE, ROOT, "keybindings", envelope("[]"), None)
    again = sync.manifest(ALICE)
    assert again is not None and again.latest == {"settings": ref, "keybindings": second}
    assert again.etag() != manifest.etag() and again.session == manifest.session


def test_if_match_decides_between_write_and_412(sync: SyncService) -> None:
    with pytest.raises(PreconditionFailed):
        sync.write(ALICE, ROOT, "settings", "x", "1-00000000")  # nothing stored: the current ref is 0
    assert sync.manifest(ALICE) is None  # the refused write left no session behind
    first = sync.write(ALICE, ROOT, "settings", "one", NO_REF)
    second = sync.write(ALICE, ROOT, "settings", "two", first)
    with pytest.raises(PreconditionFailed) as stale:
        sync.write(ALICE, ROOT, "settings", "three", first)
    assert stale.value.headers["ETag"] == second
    assert sync.read_latest(ALICE, ROOT, "settings").content == "two"  # type: ignore[union-attr]
    assert [ref for ref, _ in sync.list_refs(ALICE, ROOT, "settings")] == [second, first]


def test_history_keeps_the_newest_refs_and_expires_older_ones(sync: SyncService, deployment: Deployment) -> None:
    refs = [sync.write(ALICE, ROOT, "settings", f"v{i}", None) for i in range(8)]
    listed = sync.list_refs(ALICE, ROOT, "settings")
    assert [ref for ref, _ in listed] == refs[::-1][:5]
    assert all(isinstance(created, int) and created > 1_700_000_000 for _, created in listed)
    assert sync.read_ref(ALICE, ROOT, "settings", refs[3]) == "v3"
    with pytest.raises(NotFound):
        sync.read_ref(ALICE, ROOT, "settings", refs[2])  # outside the window of 5
    expiring = {i["sk"]["S"] for i in _table_items(deployment) if "expires_at" in i}
    assert expiring == {store.ref_key(ROOT, "settings", n) for n in (1, 2, 3)}


def test_malformed_and_unknown_refs(sync: SyncService) -> None:
    ref = sync.write(ALICE, ROOT, "settings", "v", None)
    for bad in ("latest2", "0", "-1", "12", "1-XYZ", "1-0000000g", "01-00000000", "../../etc"):
        with pytest.raises(BadRequest):
            sync.read_ref(ALICE, ROOT, "settings", bad)
    sequence = ref_sequence(ref)
    with pytest.raises(NotFound):
        sync.read_ref(ALICE, ROOT, "settings", f"{sequence}-00000000")  # right sequence, wrong ref
    with pytest.raises(NotFound):
        sync.read_ref(ALICE, ROOT, "keybindings", ref)


def test_deleting_refs_and_resources(sync: SyncService) -> None:
    one = sync.write(ALICE, ROOT, "editSessions", "one", None)
    two = sync.write(ALICE, ROOT, "editSessions", "two", None)
    three = sync.write(ALICE, ROOT, "editSessions", "three", None)
    sync.delete_ref(ALICE, ROOT, "editSessions", two)
    assert [ref for ref, _ in sync.list_refs(ALICE, ROOT, "editSessions")] == [three, one]
    sync.delete_ref(ALICE, ROOT, "editSessions", three)  # the latest: the previous one becomes latest
    latest = sync.read_latest(ALICE, ROOT, "editSessions")
    assert latest is not None and (latest.ref, latest.content) == (one, "one")
    with pytest.raises(NotFound):
        sync.delete_ref(ALICE, ROOT, "editSessions", three)
    sync.delete_resource(ALICE, ROOT, "editSessions")
    assert sync.read_latest(ALICE, ROOT, "editSessions") is None
    assert sync.list_refs(ALICE, ROOT, "editSessions") == []
    manifest = sync.manifest(ALICE)
    assert manifest is not None and "editSessions" not in manifest.latest
    # a new ref never reuses the sequence of a deleted one
    four = sync.write(ALICE, ROOT, "editSessions", "four", NO_REF)
    assert ref_sequence(four) == 4


def test_reset_ends_the_session_and_shreds_the_key(sync: SyncService, deployment: Deployment) -> None:
    sync.write(ALICE, ROOT, "settings", "secret-settings", None)
    collection = sync.create_collection(ALICE)
    sync.write(ALICE, collection, "settings", "profile-settings", None)
    sync.write(BOB, ROOT, "settings", "bob", None)
    before = sync.manifest(ALICE)
    assert before is not None
    sync.reset(ALICE)
    assert sync.manifest(ALICE) is None
    assert sync.list_collections(ALICE) == []
    alice_items = [i for i in _table_items(deployment) if i["pk"]["S"] == f"U#{ALICE}"]
    assert alice_items == []
    assert sync.read_latest(BOB, ROOT, "settings").content == "bob"  # type: ignore[union-attr]
    sync.write(ALICE, ROOT, "settings", "after", None)
    after = sync.manifest(ALICE)
    assert after is not None and after.session != before.session


def test_collections(sync: SyncService) -> None:
    first = sync.create_collection(ALICE)
    second = sync.create_collection(ALICE)
    assert sorted([first, second]) == sync.list_collections(ALICE)
    ref = sync.write(ALICE, first, "settings", "profile", None)
    root = sync.write(ALICE, ROOT, "settings", "root", None)
    manifest = sync.manifest(ALICE)
    assert manifest is not None
    assert manifest.body()["collections"] == {first: {"latest": {"settings": ref}}, second: {"latest": {}}}
    assert manifest.latest == {"settings": root}
    data = sync.latest_data(ALICE)
    assert data == {
        "resources": {"settings": [{"ref": root, "content": "root"}]},
        "collections": {first: {"resources": {"settings": [{"ref": ref, "content": "profile"}]}},
                        second: {"resources": {}}},
    }
    sync.delete_collection(ALICE, first)
    assert sync.list_collections(ALICE) == [second]
    assert sync.read_latest(ALICE, first, "settings") is None
    with pytest.raises(NotFound):
        sync.write(ALICE, first, "settings", "gone", None)
    with pytest.raises(NotFound):
        sync.write(ALICE, "f" * 32, "settings", "never created", None)
    sync.delete_collections(ALICE)
    assert sync.list_collections(ALICE) == []
    assert sync.read_latest(ALICE, ROOT, "settings").content == "root"  # type: ignore[union-attr]


def test_distinct_resource_names_are_capped_per_user(sync: SyncService) -> None:
    for name in ("settings", "keybindings", "snippets", "tasks", "prompts", "mcp"):
        sync.write(ALICE, ROOT, name, "x", None)
    with pytest.raises(TooManyResources):
        sync.write(ALICE, ROOT, "another", "x", None)
    sync.write(ALICE, ROOT, "settings", "again", None)  # a known name is still fine
    sync.write(BOB, ROOT, "another", "x", None)  # the cap is per user


def test_large_bodies_go_to_s3_still_encrypted(sync: SyncService, deployment: Deployment) -> None:
    marker = "PLAINTEXT-MARKER-" + "z" * 10_000
    ref = sync.write(ALICE, ROOT, "editSessions", envelope(marker), None)
    objects = _objects(deployment)
    assert len(objects) == 1
    assert sync.read_latest(ALICE, ROOT, "editSessions").content == envelope(marker)  # type: ignore[union-attr]
    assert sync.read_ref(ALICE, ROOT, "editSessions", ref) == envelope(marker)
    assert sync.latest_data(ALICE)["resources"] == {"editSessions": [{"ref": ref, "content": envelope(marker)}]}
    sync.delete_ref(ALICE, ROOT, "editSessions", ref)
    assert _objects(deployment) == {}


def test_nothing_stored_contains_plaintext(sync: SyncService, deployment: Deployment) -> None:
    small, large = "tiny-secret-" + "q" * 20, "large-secret-" + "w" * 8000
    sync.write(ALICE, ROOT, "settings", envelope(small), None)
    sync.write(ALICE, ROOT, "globalState", envelope(large), None)
    collection = sync.create_collection(ALICE)
    sync.write(ALICE, collection, "snippets", envelope(small), None)
    stored = repr(_table_items(deployment)).encode() + b"".join(_objects(deployment).values())
    for needle in (b"tiny-secret", b"large-secret", b"qqqqqqqq", b"wwwwwwww", b"machineId"):
        assert needle not in stored
    for value in _objects(deployment).values():
        assert b"wwwwwwww" not in value


def _ref_item(deployment: Deployment, user: str, scope: str, resource: str, sequence: int) -> dict[str, Any]:
    key = {"pk": {"S": f"U#{user}"}, "sk": {"S": store.ref_key(scope, resource, sequence)}}
    return dict(boto3.client("dynamodb").get_item(TableName=deployment.env[r.SYNC_TABLE.env_var], Key=key)["Item"])


def _put(deployment: Deployment, item: dict[str, Any]) -> None:
    boto3.client("dynamodb").put_item(TableName=deployment.env[r.SYNC_TABLE.env_var], Item=item)


@pytest.mark.parametrize("target", ["other-ref", "other-resource", "other-user"])
def test_a_ciphertext_moved_elsewhere_does_not_decrypt(sync: SyncService, deployment: Deployment, target: str) -> None:
    secret = sync.write(ALICE, ROOT, "settings", "alice-secret", None)
    stolen = _ref_item(deployment, ALICE, ROOT, "settings", ref_sequence(secret))["body"]
    if target == "other-ref":
        victim, resource, ref = ALICE, "settings", sync.write(ALICE, ROOT, "settings", "mine", None)
    elif target == "other-resource":
        victim, resource, ref = ALICE, "keybindings", sync.write(ALICE, ROOT, "keybindings", "mine", None)
    else:
        victim, resource, ref = BOB, "settings", sync.write(BOB, ROOT, "settings", "mine", None)
    item = _ref_item(deployment, victim, ROOT, resource, ref_sequence(ref))
    item["body"] = stolen
    _put(deployment, item)
    with pytest.raises(ServiceUnavailable):
        sync.read_latest(victim, ROOT, resource)


def test_kms_is_called_once_per_user_per_cache_window(deployment: Deployment, kms_calls: list[str]) -> None:
    writer = SyncService(KmsDataKeys(cache_seconds=300))
    for i in range(10):
        writer.write(ALICE, ROOT, "settings", f"v{i}", None)
        writer.read_latest(ALICE, ROOT, "settings")
    assert kms_calls == ["GenerateDataKey"]
    # a new instance (cold start) unwraps the key once, then serves from its cache
    reader = SyncService(KmsDataKeys(cache_seconds=300))
    for _ in range(10):
        reader.read_latest(ALICE, ROOT, "settings")
        reader.manifest(ALICE)
    assert kms_calls == ["GenerateDataKey", "Decrypt"]
    # each user has their own key
    writer.write(BOB, ROOT, "settings", "b", None)
    assert kms_calls == ["GenerateDataKey", "Decrypt", "GenerateDataKey"]
    # with the cache off every read unwraps
    uncached = SyncService(KmsDataKeys(cache_seconds=0))
    uncached.read_latest(ALICE, ROOT, "settings")
    uncached.read_latest(ALICE, ROOT, "settings")
    assert kms_calls.count("Decrypt") == 3
