"""Repository signatures: every published version is signed with the marketplace's Ed25519 key.

The private key is generated once, wrapped by the KMS signing key (``kms:Encrypt`` with an encryption
context naming its purpose and id) and stored in the publishing table; only the ingest function may
unwrap it. The public key is published as ``assets/-/signing/<key-id>.pem`` behind the CDN.

A version's signature archive (``Marketplace.RepositorySignature``, a zip) holds:

- ``.signature.manifest``: JSON ``{"version": 1, "keyId", "package": {"publisher", "name", "version",
  "targetPlatform", "size", "sha256"}}``, the SHA-256 being the hex digest of the whole ``.vsix``;
- ``.signature.sig``: the base64 Ed25519 signature of the manifest's exact bytes.

To verify: check the signature over ``.signature.manifest`` with the public key named by ``keyId``, then
that the ``.vsix``'s size and SHA-256 equal the manifest's. The whole-file digest covers every entry.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.resources import PACKAGES_BUCKET, SIGNING_KEY
from marketplace.publishing import objects, store, tokens

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# ``cryptography`` is imported where a key is used, not at module load: only a package that passes every
# check is signed, so the ingest's cold start (bench/) does not pay for it when it rejects.

ASSET = "Marketplace.RepositorySignature"
VSIX_SIGNATURE_ALIAS = "Microsoft.VisualStudio.Services.VsixSignature"
MANIFEST = ".signature.manifest"
SIGNATURE = ".signature.sig"
PURPOSE = "marketplace-repository-signing"
PUBLIC_KEY_PREFIX = f"{PACKAGES_BUCKET.public_prefix}-/signing/"


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey
    public_pem: bytes


_cached: SigningKey | None = None
_lock = threading.Lock()


def public_key_key(key_id: str) -> str:
    return f"{PUBLIC_KEY_PREFIX}{key_id}.pem"


def _context(key_id: str) -> dict[str, str]:
    return {"purpose": PURPOSE, "keyId": key_id}


def _public_pem(private: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_id(public_pem: bytes) -> str:
    return hashlib.sha256(public_pem).hexdigest()[:16]


def _unwrap(item: store.SigningKeyItem) -> SigningKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = aws.client("kms").decrypt(CiphertextBlob=base64.b64decode(item.wrapped), KeyId=location(SIGNING_KEY),
                                    EncryptionContext=_context(item.key_id))["Plaintext"]
    private = Ed25519PrivateKey.from_private_bytes(raw)
    public_pem = _public_pem(private)
    if _key_id(public_pem) != item.key_id:
        raise RuntimeError("the stored signing key does not match its id")
    return SigningKey(item.key_id, private, public_pem)


def _create() -> SigningKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    public_pem = _public_pem(private)
    key_id = _key_id(public_pem)
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    wrapped = aws.client("kms").encrypt(KeyId=location(SIGNING_KEY), Plaintext=raw,
                                        EncryptionContext=_context(key_id))["CiphertextBlob"]
    if not store.create_signing_key(key_id, base64.b64encode(wrapped).decode(), public_pem.decode(),
                                    tokens.utcnow()):
        return _load_existing()  # another ingest created one first: everyone signs with that one
    objects.put_asset(public_key_key(key_id), public_pem, "application/x-pem-file")
    return SigningKey(key_id, private, public_pem)


def _load_existing() -> SigningKey:
    item = store.get_signing_key()
    if item is None:
        raise RuntimeError("the signing key vanished")
    return _unwrap(item)


def signing_key() -> SigningKey:
    """The repository key: unwrapped once per process, created on first use."""
    global _cached
    with _lock:
        item = store.get_signing_key()
        if _cached is None or item is None or _cached.key_id != item.key_id:
            _cached = _unwrap(item) if item is not None else _create()
        return _cached


def manifest(publisher: str, name: str, version: str, target_platform: str, size: int, sha256: str,
             key_id: str) -> bytes:
    body = {"version": 1, "keyId": key_id, "package": {
        "publisher": publisher, "name": name, "version": version, "targetPlatform": target_platform,
        "size": size, "sha256": sha256}}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def signature_archive(key: SigningKey, publisher: str, name: str, version: str, target_platform: str, size: int,
                      sha256: str) -> bytes:
    body = manifest(publisher, name, version, target_platform, size, sha256, key.key_id)
    signature = base64.b64encode(key.private.sign(body))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, body)
        archive.writestr(SIGNATURE, signature)
    return out.getvalue()


def verify(archive: bytes, package: bytes, public_pem: bytes) -> dict[str, Any]:
    """Check a signature archive against a package and a public key; the manifest, or ``ValueError``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        body, signature = opened.read(MANIFEST), base64.b64decode(opened.read(SIGNATURE))
    public = serialization.load_pem_public_key(public_pem)
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    try:
        public.verify(signature, body)
    except InvalidSignature as error:
        raise ValueError("the signature does not match the manifest") from error
    claimed = json.loads(body)
    if claimed["package"]["size"] != len(package) or claimed["package"]["sha256"] != hashlib.sha256(
            package).hexdigest():
        raise ValueError("the package is not the one that was signed")
    return dict(claimed)
