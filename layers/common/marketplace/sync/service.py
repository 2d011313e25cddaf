"""The Settings Sync store's operations for one user: what each endpoint of docs/protocols/settings-sync.md C3
means, over the sync table and bucket (``store``) and the per-user envelope encryption (``crypto``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from marketplace.platform.config import setting_int
from marketplace.platform.errors import BadRequest, NotFound, PreconditionFailed, ServiceUnavailable
from marketplace.sync import protocol
from marketplace.sync import store as sync_store
from marketplace.sync.crypto import Cipher, DataKeys, Undecryptable, associated_data
from marketplace.sync.protocol import ROOT, Head, Manifest
from marketplace.sync.store import Meta, Snapshot, StoredRef, TransactionFailed

log = logging.getLogger(__name__)

HISTORY_VAR = "SYNC_HISTORY"
INLINE_BYTES_VAR = "SYNC_INLINE_BYTES"
MAX_RESOURCES_VAR = "SYNC_MAX_RESOURCES"
MAX_COLLECTIONS_VAR = "SYNC_MAX_COLLECTIONS"
DEFAULT_HISTORY = 20
# Sealed bodies above this go to S3: well under DynamoDB's 400 KB item limit, and small items keep reads cheap.
DEFAULT_INLINE_BYTES = 128 * 1024
DEFAULT_MAX_RESOURCES = 64
DEFAULT_MAX_COLLECTIONS = 100  # VS Code refuses more than 20 profiles; each profile is one collection
WRITE_ATTEMPTS = 8
EXPIRED_GRACE_SECONDS = 60


@dataclass(frozen=True)
class Limits:
    history: int = DEFAULT_HISTORY
    inline_bytes: int = DEFAULT_INLINE_BYTES
    max_resources: int = DEFAULT_MAX_RESOURCES
    max_collections: int = DEFAULT_MAX_COLLECTIONS

    @classmethod
    def from_environment(cls) -> Limits:
        return cls(
            history=setting_int(HISTORY_VAR, DEFAULT_HISTORY),
            inline_bytes=setting_int(INLINE_BYTES_VAR, DEFAULT_INLINE_BYTES, minimum=1024),
            max_resources=setting_int(MAX_RESOURCES_VAR, DEFAULT_MAX_RESOURCES),
            max_collections=setting_int(MAX_COLLECTIONS_VAR, DEFAULT_MAX_COLLECTIONS),
        )


class TooManyResources(BadRequest):
    code = "too_many_resources"


class TooManyCollections(BadRequest):
    code = "too_many_collections"


@dataclass(frozen=True)
class Document:
    ref: str
    content: str


class SyncStorePort(Protocol):
    """What the service needs of the sync table and bucket: exactly the functions of ``sync.store`` (the
    default) it calls. Conditional writes raise ``TransactionFailed`` naming the items whose condition failed
    (``head``, ``ref``, ``meta``, ``collection``, or ``conflict`` for a transaction that met another)."""

    def snapshot(self, user_id: str, scope: str, resource: str | None, collection: str | None) -> Snapshot: ...

    def manifest_items(self, user_id: str) -> tuple[Meta | None, list[Head], list[str]]: ...

    def create_meta(self, user_id: str, session: str, wrapped_key: bytes) -> bool: ...

    def commit_write(self, user_id: str, session: str, scope: str, resource: str, *, previous_sequence: int,
                     head_exists: bool, ref: str, sequence: int, created: int, body: bytes | None,
                     blob: str | None, new_name: bool, max_names: int, collection: str | None) -> None: ...

    def get_ref(self, user_id: str, scope: str, resource: str, sequence: int) -> StoredRef | None: ...

    def get_refs(self, user_id: str, keys: Sequence[tuple[str, str, int]]) -> list[StoredRef]: ...

    def refs(self, user_id: str, scope: str, resource: str, low: int, high: int) -> list[StoredRef]: ...

    def expire_ref(self, user_id: str, scope: str, resource: str, sequence: int, expires_at: int) -> str | None: ...

    def delete_latest_ref(self, user_id: str, session: str, head: Head, target: StoredRef,
                          previous: StoredRef | None) -> None: ...

    def clear_head(self, user_id: str, session: str, head: Head) -> None: ...

    def put_collection(self, user_id: str, session: str, collection: str) -> None: ...

    def delete_meta(self, user_id: str) -> Meta | None: ...

    def delete_item(self, user_id: str, sort_key: str) -> None: ...

    def delete_items(self, user_id: str, sort_keys: Sequence[str]) -> None: ...

    def items_to_clean(self, user_id: str, session: str, prefixes: Sequence[str]) -> Iterable[tuple[str, str | None]]:
        ...

    def ref_key(self, scope: str, resource: str, sequence: int) -> str: ...

    def collection_key(self, collection: str) -> str: ...

    def blob_key(self, user_id: str, scope: str, resource: str, ref: str) -> str: ...

    def put_blob(self, key: str, sealed: bytes) -> None: ...

    def get_blob(self, key: str) -> bytes | None: ...

    def delete_blobs(self, keys: Sequence[str]) -> None: ...


class SyncService:
    """``keys``: the per-user data keys (``KmsDataKeys`` deployed); ``store``: the sync table and bucket
    (``sync.store`` unless a test gives an in-memory one)."""

    def __init__(self, keys: DataKeys, limits: Limits | None = None, *, store: SyncStorePort = sync_store) -> None:
        self.keys = keys
        self.limits = limits or Limits.from_environment()
        self.store = store

    # --- reading ------------------------------------------------------------------------------------------

    def manifest(self, user_id: str) -> Manifest | None:
        """``None`` when the user has nothing stored (the client then sees 204)."""
        meta, heads, collections = self.store.manifest_items(user_id)
        if meta is None:
            return None
        return protocol.build_manifest(meta.session, heads, collections)

    def read_latest(self, user_id: str, scope: str, resource: str) -> Document | None:
        snap = self.store.snapshot(user_id, scope, resource, _collection(scope))
        if snap.meta is None or snap.head is None or snap.head.latest is None or not _scope_ok(scope, snap):
            return None
        sequence = protocol.ref_sequence(snap.head.latest)
        stored = self.store.get_ref(user_id, scope, resource, sequence)
        if stored is None or stored.session != snap.meta.session:
            return None
        cipher = self.keys.unwrap(user_id, snap.meta.wrapped_key)
        return Document(stored.ref, self._open(user_id, cipher, stored))

    def read_ref(self, user_id: str, scope: str, resource: str, ref: str) -> str:
        sequence = protocol.ref_sequence(ref)
        snap = self.store.snapshot(user_id, scope, resource, _collection(scope))
        stored = None
        if snap.meta is not None and snap.head is not None and _scope_ok(scope, snap) and (
            snap.head.oldest_kept(self.limits.history) <= sequence <= snap.head.sequence
        ):
            stored = self.store.get_ref(user_id, scope, resource, sequence)
        if stored is None or snap.meta is None or stored.ref != ref or stored.session != snap.meta.session:
            raise NotFound(f"No ref {ref} of {resource}")
        cipher = self.keys.unwrap(user_id, snap.meta.wrapped_key)
        return self._open(user_id, cipher, stored)

    def list_refs(self, user_id: str, scope: str, resource: str) -> list[tuple[str, int]]:
        """``(ref, created seconds)`` of the kept history, newest first."""
        snap = self.store.snapshot(user_id, scope, resource, _collection(scope))
        if snap.meta is None or snap.head is None or not _scope_ok(scope, snap):
            return []
        found = self.store.refs(user_id, scope, resource, snap.head.oldest_kept(self.limits.history),
                                snap.head.sequence)
        return [(r.ref, r.created) for r in found if r.session == snap.meta.session]

    def latest_data(self, user_id: str) -> dict[str, object]:
        """Every resource's latest content (``GET /v1/download/latest``)."""
        meta, heads, collections = self.store.manifest_items(user_id)
        if meta is None:
            return protocol.latest_data({}, {})
        wanted = [h for h in heads if h.latest is not None and (h.scope == ROOT or h.scope in collections)]
        stored = self.store.get_refs(user_id, [(h.scope, h.resource, protocol.ref_sequence(h.latest or ""))
                                               for h in wanted])
        by_key = {(s.scope, s.resource): s for s in stored if s.session == meta.session}
        cipher = self.keys.unwrap(user_id, meta.wrapped_key) if by_key else None
        root: dict[str, tuple[str, str]] = {}
        per_collection: dict[str, dict[str, tuple[str, str]]] = {c: {} for c in collections}
        for head in wanted:
            found = by_key.get((head.scope, head.resource))
            if found is None or found.ref != head.latest or cipher is None:
                continue
            document = (found.ref, self._open(user_id, cipher, found))
            (root if head.scope == ROOT else per_collection[head.scope])[head.resource] = document
        return protocol.latest_data(root, per_collection)

    # --- writing ------------------------------------------------------------------------------------------

    def write(self, user_id: str, scope: str, resource: str, content: str, if_match: str | None) -> str:
        """Store a new ref and return it. With ``If-Match`` the write happens only if the resource's current
        ref (``0`` when it has none) matches; the check and the write are one conditional transaction."""
        plaintext = content.encode("utf-8")
        for _ in range(WRITE_ATTEMPTS):
            snap = self.store.snapshot(user_id, scope, resource, _collection(scope))
            if scope != ROOT and not snap.collection_exists:
                raise NotFound(f"No collection {scope}: create it with POST /v1/collection")
            current = snap.head.latest if snap.head is not None and snap.head.latest else protocol.NO_REF
            if if_match is not None and not protocol.matches(if_match, current):
                # decided before anything is created: a refused write leaves a user without data without a session
                raise PreconditionFailed(
                    f"{resource} has changed: its current ref is {current}", headers={"ETag": current}
                )
            meta = snap.meta
            if meta is None:
                new_session = protocol.new_session()
                key = self.keys.create(user_id)
                if not self.store.create_meta(user_id, new_session, key.wrapped):
                    self.keys.forget(user_id)
                    continue  # another request created the user's data first: read it again
                meta = Meta(new_session, key.wrapped, frozenset())
            cipher = self.keys.unwrap(user_id, meta.wrapped_key)
            sequence = snap.head_sequence + 1
            ref = protocol.make_ref(sequence)
            sealed = cipher.seal(plaintext, associated_data(user_id, scope, resource, ref))
            blob = None
            if len(sealed) > self.limits.inline_bytes:
                blob = self.store.blob_key(user_id, scope, resource, ref)
                self.store.put_blob(blob, sealed)
            try:
                self.store.commit_write(
                    user_id, meta.session, scope, resource,
                    previous_sequence=snap.head_sequence, head_exists=snap.head_sequence > 0,
                    ref=ref, sequence=sequence, created=int(time.time()),
                    body=None if blob else sealed, blob=blob,
                    new_name=resource not in meta.names, max_names=self.limits.max_resources,
                    collection=_collection(scope),
                )
            except TransactionFailed as failure:
                if blob:
                    self.store.delete_blobs([blob])
                if "meta" in failure.reasons and "head" not in failure.reasons:
                    latest = self.store.snapshot(user_id, scope, None, None).meta
                    if latest is not None and latest.session == meta.session and resource not in latest.names:
                        raise TooManyResources(
                            f"At most {self.limits.max_resources} different resources can be stored per user"
                        ) from failure
                if "collection" in failure.reasons:
                    raise NotFound(f"No collection {scope}: create it with POST /v1/collection") from failure
                continue  # another writer moved the head (or a reset moved the session): decide again
            self._expire_beyond_history(user_id, scope, resource, sequence)
            return ref
        raise ServiceUnavailable(f"{resource} is changing too quickly to write; try again")

    def _expire_beyond_history(self, user_id: str, scope: str, resource: str, sequence: int) -> None:
        """Refs outside the kept window are never served again; give them to TTL and drop their S3 bodies.
        Best effort: reads bound the window themselves, so a failure here only delays the clean-up."""
        old = sequence - self.limits.history
        if old < 1:
            return
        try:
            blob = self.store.expire_ref(user_id, scope, resource, old, int(time.time()) + EXPIRED_GRACE_SECONDS)
            if blob:
                self.store.delete_blobs([blob])
        except Exception:
            log.warning("could not expire an old ref", exc_info=True)

    def delete_ref(self, user_id: str, scope: str, resource: str, ref: str) -> None:
        sequence = protocol.ref_sequence(ref)
        for _ in range(WRITE_ATTEMPTS):
            snap = self.store.snapshot(user_id, scope, resource, _collection(scope))
            if snap.meta is None or snap.head is None or not _scope_ok(scope, snap):
                raise NotFound(f"No ref {ref} of {resource}")
            stored = self.store.get_ref(user_id, scope, resource, sequence)
            if stored is None or stored.ref != ref or stored.session != snap.meta.session or (
                sequence < snap.head.oldest_kept(self.limits.history)
            ):
                raise NotFound(f"No ref {ref} of {resource}")
            if snap.head.latest != ref:
                self.store.delete_items(user_id, [self.store.ref_key(scope, resource, sequence)])
            else:
                previous = next(
                    (r for r in self.store.refs(user_id, scope, resource,
                                                snap.head.oldest_kept(self.limits.history), sequence - 1)
                     if r.session == snap.meta.session),
                    None,
                )
                try:
                    self.store.delete_latest_ref(user_id, snap.meta.session, snap.head, stored, previous)
                except TransactionFailed:
                    continue
            if stored.blob:
                self.store.delete_blobs([stored.blob])
            return
        raise ServiceUnavailable(f"{resource} is changing too quickly to delete; try again")

    def delete_resource(self, user_id: str, scope: str, resource: str) -> None:
        """Delete every ref of one resource. The head stays as a marker, so a later ref never reuses a
        sequence (and so never an S3 key or a cached ref) of a deleted one."""
        for _ in range(WRITE_ATTEMPTS):
            snap = self.store.snapshot(user_id, scope, resource, _collection(scope))
            if snap.meta is None or snap.head is None or not _scope_ok(scope, snap):
                return
            try:
                self.store.clear_head(user_id, snap.meta.session, snap.head)
            except TransactionFailed:
                continue
            self._drop_refs(user_id, snap.meta.session, [f"R#{scope}#{resource}#"])
            return
        raise ServiceUnavailable(f"{resource} is changing too quickly to delete; try again")

    def reset(self, user_id: str) -> None:
        """Delete everything the user stored (``DELETE /v1/resource``): the session ends and the user's data
        key is destroyed first, then the items and bodies are removed."""
        meta = self.store.delete_meta(user_id)
        self.keys.forget(user_id)
        if meta is not None:
            self._drop_refs(user_id, meta.session, ["C#", "H#", "R#"])

    # --- collections --------------------------------------------------------------------------------------

    def create_collection(self, user_id: str) -> str:
        for _ in range(WRITE_ATTEMPTS):
            meta, _, collections = self.store.manifest_items(user_id)
            if meta is None:
                key = self.keys.create(user_id)
                if not self.store.create_meta(user_id, protocol.new_session(), key.wrapped):
                    self.keys.forget(user_id)
                continue
            if len(collections) >= self.limits.max_collections:
                raise TooManyCollections(f"At most {self.limits.max_collections} collections can be stored per user")
            collection = protocol.new_collection_id()
            try:
                self.store.put_collection(user_id, meta.session, collection)
            except TransactionFailed:
                continue
            return collection
        raise ServiceUnavailable("The collections are changing too quickly; try again")

    def list_collections(self, user_id: str) -> list[str]:
        _, _, collections = self.store.manifest_items(user_id)
        return sorted(collections)

    def delete_collection(self, user_id: str, collection: str) -> None:
        meta, _, collections = self.store.manifest_items(user_id)
        if meta is None or collection not in collections:
            return
        self.store.delete_item(user_id, self.store.collection_key(collection))
        self._drop_refs(user_id, meta.session, [f"H#{collection}#", f"R#{collection}#"])

    def delete_collections(self, user_id: str) -> None:
        meta, _, collections = self.store.manifest_items(user_id)
        if meta is None:
            return
        self.store.delete_items(user_id, [self.store.collection_key(c) for c in collections])
        for collection in collections:
            self._drop_refs(user_id, meta.session, [f"H#{collection}#", f"R#{collection}#"])

    # --- helpers ------------------------------------------------------------------------------------------

    def _drop_refs(self, user_id: str, session: str, prefixes: list[str]) -> None:
        found = list(self.store.items_to_clean(user_id, session, prefixes))
        blobs = [blob for _, blob in found if blob]
        if blobs:
            self.store.delete_blobs(blobs)
        self.store.delete_items(user_id, [sk for sk, _ in found])

    def _open(self, user_id: str, cipher: Cipher, stored: StoredRef) -> str:
        sealed = stored.body if stored.body is not None else self.store.get_blob(stored.blob or "")
        if sealed is None:
            raise ServiceUnavailable(f"The body of {stored.resource} ref {stored.ref} is missing from storage")
        aad = associated_data(user_id, stored.scope, stored.resource, stored.ref)
        try:
            return cipher.open(sealed, aad).decode("utf-8")
        except Undecryptable as error:
            log.error("a stored sync body does not decrypt", extra={"resource": stored.resource})
            raise ServiceUnavailable(f"The stored {stored.resource} ref {stored.ref} cannot be decrypted") from error


def _collection(scope: str) -> str | None:
    return None if scope == ROOT else scope


def _scope_ok(scope: str, snap: Snapshot) -> bool:
    return scope == ROOT or snap.collection_exists

