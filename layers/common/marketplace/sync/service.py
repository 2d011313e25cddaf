"""The Settings Sync store's operations for one user: what each endpoint of part C means, over the sync
table and bucket (``store``) and the per-user envelope encryption (``crypto``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from marketplace.platform.config import setting_int
from marketplace.platform.errors import BadRequest, NotFound, PreconditionFailed, ServiceUnavailable
from marketplace.sync import protocol, store
from marketplace.sync.crypto import Cipher, DataKeys, Undecryptable, associated_data
from marketplace.sync.protocol import ROOT, Manifest

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


class SyncService:
    def __init__(self, keys: DataKeys, limits: Limits | None = None) -> None:
        self.keys = keys
        self.limits = limits or Limits.from_environment()

    # --- reading ------------------------------------------------------------------------------------------

    def manifest(self, user_id: str) -> Manifest | None:
        """``None`` when the user has nothing stored (the client then sees 204)."""
        meta, heads, collections = store.manifest_items(user_id)
        if meta is None:
            return None
        return protocol.build_manifest(meta.session, heads, collections)

    def read_latest(self, user_id: str, scope: str, resource: str) -> Document | None:
        snap = store.snapshot(user_id, scope, resource, _collection(scope))
        if snap.meta is None or snap.head is None or snap.head.latest is None or not _scope_ok(scope, snap):
            return None
        sequence = protocol.ref_sequence(snap.head.latest)
        stored = store.get_ref(user_id, scope, resource, sequence)
        if stored is None or stored.session != snap.meta.session:
            return None
        cipher = self.keys.unwrap(user_id, snap.meta.wrapped_key)
        return Document(stored.ref, self._open(user_id, cipher, stored))

    def read_ref(self, user_id: str, scope: str, resource: str, ref: str) -> str:
        sequence = protocol.ref_sequence(ref)
        snap = store.snapshot(user_id, scope, resource, _collection(scope))
        stored = None
        if snap.meta is not None and snap.head is not None and _scope_ok(scope, snap) and (
            snap.head.oldest_kept(self.limits.history) <= sequence <= snap.head.sequence
        ):
            stored = store.get_ref(user_id, scope, resource, sequence)
        if stored is None or snap.meta is None or stored.ref != ref or stored.session != snap.meta.session:
            raise NotFound(f"No ref {ref} of {resource}")
        cipher = self.keys.unwrap(user_id, snap.meta.wrapped_key)
        return self._open(user_id, cipher, stored)

    def list_refs(self, user_id: str, scope: str, resource: str) -> list[tuple[str, int]]:
        """``(ref, created seconds)`` of the kept history, newest first."""
        snap = store.snapshot(user_id, scope, resource, _collection(scope))
        if snap.meta is None or snap.head is None or not _scope_ok(scope, snap):
            return []
        found = store.refs(user_id, scope, resource, snap.head.oldest_kept(self.limits.history), snap.head.sequence)
        return [(r.ref, r.created) for r in found if r.session == snap.meta.session]

    def latest_data(self, user_id: str) -> dict[str, object]:
        """Every resource's latest content (``GET /v1/download/latest``)."""
        meta, heads, collections = store.manifest_items(user_id)
        if meta is None:
            return protocol.latest_data({}, {})
        wanted = [h for h in heads if h.latest is not None and (h.scope == ROOT or h.scope in collections)]
        stored = store.get_refs(user_id, [(h.scope, h.resource, protocol.ref_sequence(h.latest or ""))
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
            snap = store.snapshot(user_id, scope, resource, _collection(scope))
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
                if not store.create_meta(user_id, new_session, key.wrapped):
                    self.keys.forget(user_id)
                    continue  # another request created the user's data first: read it again
                meta = store.Meta(new_session, key.wrapped, frozenset())
            cipher = self.keys.unwrap(user_id, meta.wrapped_key)
            sequence = snap.head_sequence + 1
            ref = protocol.make_ref(sequence)
            sealed = cipher.seal(plaintext, associated_data(user_id, scope, resource, ref))
            blob = None
            if len(sealed) > self.limits.inline_bytes:
                blob = store.blob_key(user_id, scope, resource, ref)
                store.put_blob(blob, sealed)
            try:
                store.commit_write(
                    user_id, meta.session, scope, resource,
                    previous_sequence=snap.head_sequence, head_exists=snap.head_sequence > 0,
                    ref=ref, sequence=sequence, created=int(time.time()),
                    body=None if blob else sealed, blob=blob,
                    new_name=resource not in meta.names, max_names=self.limits.max_resources,
                    collection=_collection(scope),
                )
            except store.TransactionFailed as failure:
                if blob:
                    store.delete_blobs([blob])
                if "meta" in failure.reasons and "head" not in failure.reasons:
                    latest = store.snapshot(user_id, scope, None, None).meta
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
            blob = store.expire_ref(user_id, scope, resource, old, int(time.time()) + EXPIRED_GRACE_SECONDS)
            if blob:
                store.delete_blobs([blob])
        except Exception:
            log.warning("could not expire an old ref", exc_info=True)

    def delete_ref(self, user_id: str, scope: str, resource: str, ref: str) -> None:
        sequence = protocol.ref_sequence(ref)
        for _ in range(WRITE_ATTEMPTS):
            snap = store.snapshot(user_id, scope, resource, _collection(scope))
            if snap.meta is None or snap.head is None or not _scope_ok(scope, snap):
                raise NotFound(f"No ref {ref} of {resource}")
            stored = store.get_ref(user_id, scope, resource, sequence)
            if stored is None or stored.ref != ref or stored.session != snap.meta.session or (
                sequence < snap.head.oldest_kept(self.limits.history)
            ):
                raise NotFound(f"No ref {ref} of {resource}")
            if snap.head.latest != ref:
                store.delete_items(user_id, [store.ref_key(scope, resource, sequence)])
            else:
                previous = next(
                    (r for r in store.refs(user_id, scope, resource, snap.head.oldest_kept(self.limits.history),
                                           sequence - 1)
                     if r.session == snap.meta.session),
                    None,
                )
                try:
                    store.delete_latest_ref(user_id, snap.meta.session, snap.head, stored, previous)
                except store.TransactionFailed:
                    continue
            if stored.blob:
                store.delete_blobs([stored.blob])
            return
        raise ServiceUnavailable(f"{resource} is changing too quickly to delete; try again")

    def delete_resource(self, user_id: str, scope: str, resource: str) -> None:
        """Delete every ref of one resource. The head stays as a marker, so a later ref never reuses a
        sequence (and so never an S3 key or a cached ref) of a deleted one."""
        for _ in range(WRITE_ATTEMPTS):
            snap = store.snapshot(user_id, scope, resource, _collection(scope))
            if snap.meta is None or snap.head is None or not _scope_ok(scope, snap):
                return
            try:
                store.clear_head(user_id, snap.meta.session, snap.head)
            except store.TransactionFailed:
                continue
            self._drop_refs(user_id, snap.meta.session, [f"R#{scope}#{resource}#"])
            return
        raise ServiceUnavailable(f"{resource} is changing too quickly to delete; try again")

    def reset(self, user_id: str) -> None:
        """Delete everything the user stored (``DELETE /v1/resource``): the session ends and the user's data
        key is destroyed first, then the items and bodies are removed."""
        meta = store.delete_meta(user_id)
        self.keys.forget(user_id)
        if meta is not None:
            self._drop_refs(user_id, meta.session, ["C#", "H#", "R#"])

    # --- collections --------------------------------------------------------------------------------------

    def create_collection(self, user_id: str) -> str:
        for _ in range(WRITE_ATTEMPTS):
            meta, _, collections = store.manifest_items(user_id)
            if meta is None:
                key = self.keys.create(user_id)
                if not store.create_meta(user_id, protocol.new_session(), key.wrapped):
                    self.keys.forget(user_id)
                continue
            if len(collections) >= self.limits.max_collections:
                raise TooManyCollections(f"At most {self.limits.max_collections} collections can be stored per user")
            collection = protocol.new_collection_id()
            try:
                store.put_collection(user_id, meta.session, collection)
            except store.TransactionFailed:
                continue
            return collection
        raise ServiceUnavailable("The collections are changing too quickly; try again")

    def list_collections(self, user_id: str) -> list[str]:
        _, _, collections = store.manifest_items(user_id)
        return sorted(collections)

    def delete_collection(self, user_id: str, collection: str) -> None:
        meta, _, collections = store.manifest_items(user_id)
        if meta is None or collection not in collections:
            return
        store.delete_item(user_id, store.collection_key(collection))
        self._drop_refs(user_id, meta.session, [f"H#{collection}#", f"R#{collection}#"])

    def delete_collections(self, user_id: str) -> None:
        meta, _, collections = store.manifest_items(user_id)
        if meta is None:
            return
        store.delete_items(user_id, [store.collection_key(c) for c in collections])
        for collection in collections:
            self._drop_refs(user_id, meta.session, [f"H#{collection}#", f"R#{collection}#"])

    # --- helpers ------------------------------------------------------------------------------------------

    @staticmethod
    def _drop_refs(user_id: str, session: str, prefixes: list[str]) -> None:
        found = list(store.items_to_clean(user_id, session, prefixes))
        blobs = [blob for _, blob in found if blob]
        if blobs:
            store.delete_blobs(blobs)
        store.delete_items(user_id, [sk for sk, _ in found])

    @staticmethod
    def _open(user_id: str, cipher: Cipher, stored: store.StoredRef) -> str:
        sealed = stored.body if stored.body is not None else store.get_blob(stored.blob or "")
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


def _scope_ok(scope: str, snap: store.Snapshot) -> bool:
    return scope == ROOT or snap.collection_exists

