"""An in-memory ``SyncStorePort``: the sync table as a dict of items per user, the bucket as a dict of
bodies, with the adapter's (``sync.store``) conditions. A conditional write checks every condition of its
transaction first and raises ``TransactionFailed`` naming those that failed, writing nothing; otherwise it
applies all of them. Faults are scripted with ``faults`` (see ``tests.fakes.faults``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from marketplace.sync import store
from marketplace.sync.protocol import Head
from marketplace.sync.store import META, Meta, Snapshot, StoredRef, TransactionFailed
from tests.fakes.faults import Faults

Item = dict[str, Any]


@dataclass
class FakeSyncStore:
    items: dict[str, dict[str, Item]] = field(default_factory=dict)  # user -> sort key -> item
    blobs: dict[str, bytes] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)

    # --- keys: the adapter's own naming -------------------------------------------------------------------

    @staticmethod
    def ref_key(scope: str, resource: str, sequence: int) -> str:
        return store.ref_key(scope, resource, sequence)

    @staticmethod
    def collection_key(collection: str) -> str:
        return store.collection_key(collection)

    @staticmethod
    def blob_key(user_id: str, scope: str, resource: str, ref: str) -> str:
        return store.blob_key(user_id, scope, resource, ref)

    # --- reading ------------------------------------------------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Item]:
        return self.items.setdefault(user_id, {})

    @staticmethod
    def _meta(item: Item | None) -> Meta | None:
        if item is None:
            return None
        return Meta(item["session"], item["wrapped_key"], frozenset(item.get("names", ())))

    @staticmethod
    def _head(sort_key: str, item: Item) -> Head:
        _, scope, resource = sort_key.split("#", 2)
        return Head(scope=scope, resource=resource, sequence=item["seq"], latest=item.get("latest"),
                    latest_created=item.get("latest_created"), cleared=item.get("cleared", 0))

    @staticmethod
    def _ref(sort_key: str, item: Item, with_body: bool = True) -> StoredRef:
        _, scope, resource, sequence = sort_key.split("#", 3)
        return StoredRef(scope=scope, resource=resource, sequence=int(sequence), ref=item["ref"],
                         created=item["created"], session=item["session"],
                         body=item.get("body") if with_body else None, blob=item.get("blob"))

    def snapshot(self, user_id: str, scope: str, resource: str | None, collection: str | None) -> Snapshot:
        self.faults.run("snapshot")
        items = self._user(user_id)
        meta = self._meta(items.get(META))
        head, head_sequence = None, 0
        if resource is not None and (head_item := items.get(store.head_key(scope, resource))) is not None:
            head_sequence = head_item["seq"]
            if meta is not None and head_item["session"] == meta.session:
                head = self._head(store.head_key(scope, resource), head_item)
        collection_item = items.get(store.collection_key(collection)) if collection is not None else None
        exists = collection_item is not None and meta is not None and collection_item["session"] == meta.session
        return Snapshot(meta, head, head_sequence, exists)

    def manifest_items(self, user_id: str) -> tuple[Meta | None, list[Head], list[str]]:
        self.faults.run("manifest_items")
        items = self._user(user_id)
        meta = self._meta(items.get(META))
        if meta is None:
            return None, [], []
        current = sorted((sk, item) for sk, item in items.items()
                         if sk[:2] in ("C#", "H#") and item["session"] == meta.session)
        heads = [self._head(sk, item) for sk, item in current if sk.startswith("H#")]
        return meta, heads, [sk[2:] for sk, _ in current if sk.startswith("C#")]

    def get_ref(self, user_id: str, scope: str, resource: str, sequence: int) -> StoredRef | None:
        self.faults.run("get_ref")
        sort_key = store.ref_key(scope, resource, sequence)
        item = self._user(user_id).get(sort_key)
        return self._ref(sort_key, item) if item is not None else None

    def get_refs(self, user_id: str, keys: Sequence[tuple[str, str, int]]) -> list[StoredRef]:
        self.faults.run("get_refs")
        items = self._user(user_id)
        wanted = dict.fromkeys(store.ref_key(*key) for key in keys)
        return [self._ref(sk, items[sk]) for sk in wanted if sk in items]

    def refs(self, user_id: str, scope: str, resource: str, low: int, high: int, *, newest_first: bool = True,
             limit: int | None = None, with_bodies: bool = False) -> list[StoredRef]:
        self.faults.run("refs")
        if high < low:
            return []
        first, last = store.ref_key(scope, resource, low), store.ref_key(scope, resource, high)
        found = sorted((sk, item) for sk, item in self._user(user_id).items() if first <= sk <= last)
        if newest_first:
            found.reverse()
        return [self._ref(sk, item, with_bodies) for sk, item in found][:limit]

    def items_to_clean(self, user_id: str, session: str, prefixes: Sequence[str]) -> Iterator[tuple[str, str | None]]:
        self.faults.run("items_to_clean")
        items = self._user(user_id)
        for prefix in prefixes:
            for sort_key in sorted(items):
                if sort_key.startswith(prefix) and items[sort_key].get("session") == session:
                    yield sort_key, items[sort_key].get("blob")

    # --- conditional writes -------------------------------------------------------------------------------

    @staticmethod
    def _check(conditions: Sequence[tuple[str, bool]]) -> None:
        failed = [name for name, holds in conditions if not holds]
        if failed:
            raise TransactionFailed(failed)

    @staticmethod
    def _in_session(item: Item | None, session: str) -> bool:
        return item is not None and item.get("session") == session

    def create_meta(self, user_id: str, session: str, wrapped_key: bytes) -> bool:
        self.faults.run("create_meta")
        items = self._user(user_id)
        if META in items:
            return False
        items[META] = {"session": session, "wrapped_key": wrapped_key}
        return True

    def commit_write(self, user_id: str, session: str, scope: str, resource: str, *, previous_sequence: int,
                     head_exists: bool, ref: str, sequence: int, created: int, body: bytes | None,
                     blob: str | None, new_name: bool, max_names: int, collection: str | None) -> None:
        self.faults.run("commit_write")
        items = self._user(user_id)
        head_key, ref_key = store.head_key(scope, resource), store.ref_key(scope, resource, sequence)
        head, meta = items.get(head_key), items.get(META)
        head_holds = head is not None and head["seq"] == previous_sequence if head_exists else head is None
        meta_holds = self._in_session(meta, session) and (
            not new_name or (meta is not None and len(meta.get("names", ())) < max_names))
        conditions = [("head", head_holds), ("ref", ref_key not in items), ("meta", meta_holds)]
        if collection is not None:
            conditions.append(("collection", self._in_session(items.get(store.collection_key(collection)), session)))
        self._check(conditions)
        assert meta is not None
        cleared = head.get("cleared", 0) if head is not None else 0
        items[head_key] = {"session": session, "seq": sequence, "latest": ref, "latest_created": created,
                           "cleared": cleared}
        items[ref_key] = {"session": session, "ref": ref, "created": created,
                          **({"body": body} if body is not None else {}), **({"blob": blob} if blob else {})}
        if new_name:
            meta["names"] = {*meta.get("names", ()), resource}

    def expire_ref(self, user_id: str, scope: str, resource: str, sequence: int, expires_at: int) -> str | None:
        self.faults.run("expire_ref")
        item = self._user(user_id).get(store.ref_key(scope, resource, sequence))
        if item is None or "expires_at" in item:
            return None
        item["expires_at"] = expires_at
        blob: str | None = item.get("blob")
        return blob

    def delete_latest_ref(self, user_id: str, session: str, head: Head, target: StoredRef,
                          previous: StoredRef | None) -> None:
        self.faults.run("delete_latest_ref")
        items = self._user(user_id)
        stored = items.get(store.head_key(head.scope, head.resource))
        self._check([("head", stored is not None and stored["seq"] == head.sequence
                      and stored["session"] == session and stored.get("latest") == target.ref)])
        assert stored is not None
        if previous is None:
            stored.pop("latest", None)
            stored.pop("latest_created", None)
        else:
            stored.update(latest=previous.ref, latest_created=previous.created)
        items.pop(store.ref_key(target.scope, target.resource, target.sequence), None)

    def clear_head(self, user_id: str, session: str, head: Head) -> None:
        self.faults.run("clear_head")
        stored = self._user(user_id).get(store.head_key(head.scope, head.resource))
        self._check([("head", stored is not None and stored["seq"] == head.sequence
                      and stored["session"] == session)])
        assert stored is not None
        stored["cleared"] = stored["seq"]
        stored.pop("latest", None)
        stored.pop("latest_created", None)

    def put_collection(self, user_id: str, session: str, collection: str) -> None:
        self.faults.run("put_collection")
        items = self._user(user_id)
        key = store.collection_key(collection)
        self._check([("meta", self._in_session(items.get(META), session)), ("collection", key not in items)])
        items[key] = {"session": session}

    # --- deletes ------------------------------------------------------------------------------------------

    def delete_meta(self, user_id: str) -> Meta | None:
        self.faults.run("delete_meta")
        return self._meta(self._user(user_id).pop(META, None))

    def delete_item(self, user_id: str, sort_key: str) -> None:
        self.faults.run("delete_item")
        self._user(user_id).pop(sort_key, None)

    def delete_items(self, user_id: str, sort_keys: Sequence[str]) -> None:
        self.faults.run("delete_items")
        for sort_key in sort_keys:
            self._user(user_id).pop(sort_key, None)

    # --- bodies -------------------------------------------------------------------------------------------

    def put_blob(self, key: str, sealed: bytes) -> None:
        self.faults.run("put_blob")
        self.blobs[key] = sealed

    def get_blob(self, key: str) -> bytes | None:
        self.faults.run("get_blob")
        return self.blobs.get(key)

    def delete_blobs(self, keys: Sequence[str]) -> None:
        self.faults.run("delete_blobs")
        for key in keys:
            self.blobs.pop(key, None)
