"""Envelope encryption of sync bodies: AES-256-GCM under a per-user data key that KMS generates and wraps.

Each body is sealed with the user, collection, resource and ref as associated data, so a ciphertext copied
to another user, resource or ref fails to open. The wrapped key lives in the user's ``META`` item; deleting
that item destroys the only copy of the key (crypto-shredding). Unwrapped keys are cached in memory for a
short while, so KMS sees about one call per user per cache window, not one per request.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from marketplace.platform import aws
from marketplace.platform.config import location, setting_int
from marketplace.platform.resources import SYNC_KEY

FORMAT = b"\x01"  # version byte of a sealed body: 1 = AES-256-GCM, 12-byte nonce, 16-byte tag
NONCE_BYTES = 12
OVERHEAD = len(FORMAT) + NONCE_BYTES + 16
KEY_CACHE_SECONDS_VAR = "SYNC_KEY_CACHE_SECONDS"
DEFAULT_KEY_CACHE_SECONDS = 300
KEY_CACHE_ENTRIES = 10_000


class Undecryptable(Exception):
    """A stored body that does not open with the given key and context: tampered, moved or shredded."""


def associated_data(user_id: str, scope: str, resource: str, ref: str) -> bytes:
    return f"marketplace-sync/1\n{user_id}\n{scope}\n{resource}\n{ref}".encode()


class Cipher(Protocol):
    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, sealed: bytes, aad: bytes) -> bytes: ...


class AesGcmCipher:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < OVERHEAD or sealed[:1] != FORMAT:
            raise Undecryptable("not a sealed sync body")
        nonce = sealed[1 : 1 + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[1 + NONCE_BYTES :], aad)
        except InvalidTag as error:
            raise Undecryptable("the body does not open under this key and context") from error


class PlainCipher:
    """No encryption: only for the benchmark's baseline (the same handler with encryption switched off)."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return plaintext

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        return sealed


@dataclass(frozen=True)
class NewKey:
    cipher: Cipher
    wrapped: bytes


class DataKeys(Protocol):
    def create(self, user_id: str) -> NewKey: ...

    def unwrap(self, user_id: str, wrapped: bytes) -> Cipher: ...

    def forget(self, user_id: str) -> None: ...


class KmsDataKeys:
    """Per-user data keys from KMS (``GenerateDataKey``/``Decrypt`` with the user as encryption context)."""

    def __init__(self, cache_seconds: int | None = None) -> None:
        self._ttl = cache_seconds if cache_seconds is not None else setting_int(
            KEY_CACHE_SECONDS_VAR, DEFAULT_KEY_CACHE_SECONDS, minimum=0
        )
        self._cache: OrderedDict[str, tuple[bytes, Cipher, float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _context(user_id: str) -> dict[str, str]:
        return {"purpose": "marketplace-sync", "user": user_id}

    def create(self, user_id: str) -> NewKey:
        answer: dict[str, Any] = aws.client("kms").generate_data_key(
            KeyId=location(SYNC_KEY), KeySpec="AES_256", EncryptionContext=self._context(user_id)
        )
        cipher = AesGcmCipher(answer["Plaintext"])
        self._remember(user_id, answer["CiphertextBlob"], cipher)
        return NewKey(cipher, answer["CiphertextBlob"])

    def unwrap(self, user_id: str, wrapped: bytes) -> Cipher:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(user_id)
            if cached is not None and cached[0] == wrapped and cached[2] > now:
                self._cache.move_to_end(user_id)
                return cached[1]
        try:
            answer: dict[str, Any] = aws.client("kms").decrypt(
                CiphertextBlob=wrapped, KeyId=location(SYNC_KEY), EncryptionContext=self._context(user_id)
            )
        except aws.client("kms").exceptions.InvalidCiphertextException as error:
            raise Undecryptable("the user's data key does not unwrap") from error
        cipher = AesGcmCipher(answer["Plaintext"])
        self._remember(user_id, wrapped, cipher)
        return cipher

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._cache.pop(user_id, None)

    def _remember(self, user_id: str, wrapped: bytes, cipher: Cipher) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            self._cache[user_id] = (wrapped, cipher, time.monotonic() + self._ttl)
            self._cache.move_to_end(user_id)
            while len(self._cache) > KEY_CACHE_ENTRIES:
                self._cache.popitem(last=False)


class PlainDataKeys:
    """The benchmark's baseline: the same flow with no KMS and no encryption."""

    def create(self, user_id: str) -> NewKey:
        return NewKey(PlainCipher(), b"plain")

    def unwrap(self, user_id: str, wrapped: bytes) -> Cipher:
        return PlainCipher()

    def forget(self, user_id: str) -> None:
        return None
