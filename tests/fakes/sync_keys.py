"""In-memory ``DataKeys`` for the sync service: real AES-256-GCM under random per-user keys, "wrapped" as an
opaque name only this object can unwrap (as only KMS can unwrap a real one)."""

from __future__ import annotations

import os
from collections import Counter

from marketplace.sync.crypto import AesGcmCipher, Cipher, NewKey, Undecryptable


class FakeDataKeys:
    def __init__(self) -> None:
        self._keys: dict[bytes, tuple[str, bytes]] = {}  # wrapped -> (user, raw key)
        self.calls: Counter[str] = Counter()

    def create(self, user_id: str) -> NewKey:
        self.calls["create"] += 1
        raw, wrapped = os.urandom(32), b"wrapped:" + os.urandom(16)
        self._keys[wrapped] = (user_id, raw)
        return NewKey(AesGcmCipher(raw), wrapped)

    def unwrap(self, user_id: str, wrapped: bytes) -> Cipher:
        self.calls["unwrap"] += 1
        owner, raw = self._keys.get(wrapped, ("", b""))
        if owner != user_id:  # KMS refuses another user's encryption context the same way
            raise Undecryptable("the user's data key does not unwrap")
        return AesGcmCipher(raw)

    def forget(self, user_id: str) -> None:
        self.calls["forget"] += 1
