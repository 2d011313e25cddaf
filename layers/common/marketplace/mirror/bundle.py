"""Air-gapped bundles: one signed archive (``.mkpbundle``) carries mirrored packages to a registry that cannot
reach the upstream.

The archive is a POSIX (ustar, with pax headers only for long names) tar, uncompressed since packages are zips:

1. ``bundle/manifest.json``: canonical JSON (sorted keys, compact) ``{"format": 1, "created", "upstream",
   "keyId", "files": {NAME: {"sha256", "size"}}}``, NAME being ``packages/<publisher>.<name>-<version>@<target>.vsix``,
   ``metadata/<same>.json`` (the upstream's extension JSON for that version) or ``allow.txt``;
2. ``bundle/manifest.sig``: the base64 Ed25519 signature of the manifest's exact bytes;
3. the files, every one listed in the manifest.

The connected side writes it with :class:`BundleSink` (the mirror's sink) and the private key of
``marketplace bundle keygen``; the air-gapped side reads it with :func:`import_bundle` and the public key the
operator carried over. The archive is hostile input there: it is parsed here, header by header, never extracted
to paths it names, and a bundle is refused whole (nothing imported) when the signature, a name, a type, a size or
a hash is wrong.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from marketplace.mirror.engine import without_statistics
from marketplace.platform.errors import BadRequest, Conflict, MarketplaceError
from marketplace.publishing import importer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SUFFIX = ".mkpbundle"
FORMAT = 1
MANIFEST_MEMBER = "bundle/manifest.json"
SIGNATURE_MEMBER = "bundle/manifest.sig"
ALLOW_MEMBER = "allow.txt"
PRIVATE_KEY_FILE = "bundle-signing.key"
PUBLIC_KEY_FILE = "bundle-signing.pub"

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_SIGNATURE_BYTES = 1024
MAX_FILE_BYTES = 4 * 1024 * 1024 * 1024  # far above any package the ingest takes; the ingest decides
MAX_PAX_BYTES = 64 * 1024
MAX_NAME_LENGTH = 255
_CHUNK = 1024 * 1024
_BLOCK = 512

_PART = r"[A-Za-z0-9][A-Za-z0-9._@+~-]*"
_FILE_NAME = re.compile(rf"packages/{_PART}\.vsix|metadata/{_PART}\.json|allow\.txt")
_ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


class BundleError(BadRequest):
    """The bundle is refused whole: nothing in it was imported."""


class BundleVersion(Protocol):
    """What the sink needs of a mirrored version: the identity it names the files by, and the upstream's
    extension JSON for it (the mirror's ``UpstreamVersion`` has these)."""

    @property
    def publisher(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def target_platform(self) -> str: ...

    @property
    def metadata(self) -> Mapping[str, Any]: ...


# ------------------------------------------------------------------------------------------------------ keys


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the public key's DER (SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def generate_keys(directory: Path) -> str:
    """Write ``bundle-signing.key`` (PKCS8 PEM, mode 0600) and ``bundle-signing.pub`` (SubjectPublicKeyInfo
    PEM) into ``directory``; answer the key id. Refuses (Conflict) when either file exists."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise Conflict(f"{path} exists: keygen never overwrites a key (move it away first)")
    directory.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return key_id(private.public_key())


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    except FileExistsError:
        raise Conflict(f"{path} exists: keygen never overwrites a key (move it away first)") from None
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)  # whatever the umask
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise BadRequest(f"cannot read the signing key {path}: {error.strerror or error}") from None
    except (ValueError, TypeError):
        raise BadRequest(f"{path} is not an unencrypted PEM private key (marketplace bundle keygen writes one)"
                         ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadRequest(f"{path} is not an Ed25519 private key (marketplace bundle keygen writes one)")
    return key


def load_trusted_key(path: Path) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise BadRequest(f"cannot read the trusted key {path}: {error.strerror or error}") from None
    except (ValueError, TypeError):
        raise BadRequest(f"{path} is not a PEM public key (marketplace bundle keygen writes "
                         f"{PUBLIC_KEY_FILE})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadRequest(f"{path} is not an Ed25519 public key (marketplace bundle keygen writes {PUBLIC_KEY_FILE})")
    return key


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


# ---------------------------------------------------------------------------------------------- the writer

def member_stem(publisher: str, name: str, version: str, target_platform: str) -> str:
    """``<publisher>.<name>-<version>@<target>``; BadRequest when a part could not be a safe file name."""
    for part in (publisher, name, version, target_platform):
        if not _ID_PART.fullmatch(part):
            raise BadRequest(f"{part!r} cannot be part of a file name in a bundle")
    stem = f"{publisher}.{name}-{version}@{target_platform}"
    if len(f"packages/{stem}.vsix") > MAX_NAME_LENGTH:
        raise BadRequest(f"{stem} is too long to be named in a bundle")
    return stem


class BundleSink:
    """The mirror's sink for ``--to-bundle``: every accepted package, with its upstream metadata, goes to a
    temporary tar next to ``path``; :meth:`close` writes the bundle (manifest and signature first) to another
    temporary file and renames it onto ``path``. Until then nothing exists at ``path``, so an interrupted run
    never leaves a bundle that looks complete; :meth:`discard` (or leaving the ``with`` block on an exception)
    removes the temporary files, and a killed process leaves only ``.<name>.*.partial`` files behind.

    :meth:`accept` answers ``Outcome(status="published", reason="written to the bundle")``: the version went
    where this run sends versions, as a registry publish would ("present" when it already is in this bundle);
    the registry on the far side reports its own outcome when the bundle is imported."""

    def __init__(self, path: Path, *, signing_key: Path, allow_text: str | None, upstream: str) -> None:
        self.path = path
        self.upstream = upstream
        self._key = load_signing_key(signing_key)
        self._key_id = key_id(self._key.public_key())
        self._files: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._mtime = int(time.time())
        self._done = False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".files.partial")
        self._data_path = Path(name)
        self._data_file = os.fdopen(fd, "w+b")
        self._data = tarfile.open(  # noqa: SIM115 - closed by close() or discard()
            fileobj=self._data_file, mode="w", format=tarfile.PAX_FORMAT)
        if allow_text is not None:
            self._add(ALLOW_MEMBER, allow_text.encode("utf-8"))

    def __enter__(self) -> BundleSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()

    @property
    def key_id(self) -> str:
        return self._key_id

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime, info.type = size, 0o644, self._mtime, tarfile.REGTYPE
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def _add(self, name: str, data: bytes) -> None:
        self._data.addfile(self._info(name, len(data)), io.BytesIO(data))
        self._files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def accept(self, data: bytes, version: BundleVersion) -> importer.Outcome:
        extension_id = f"{version.publisher}.{version.name}".lower()
        source = f"{self.path}:{extension_id}@{version.version}"
        try:
            stem = member_stem(version.publisher, version.name, version.version, version.target_platform)
        except BadRequest as error:
            return importer.Outcome(source, "rejected", extension_id, version.version, version.target_platform,
                                    error.message)
        package, metadata = f"packages/{stem}.vsix", f"metadata/{stem}.json"
        with self._lock:
            if self._done:
                raise RuntimeError("the bundle is closed")
            if package in self._files:
                return importer.Outcome(f"{self.path}:{package}", "present", extension_id, version.version,
                                        version.target_platform, "already in the bundle")
            self._add(package, data)
            # never the upstream's statistics, not even in the bundle's record of its metadata
            self._add(metadata, canonical_json(without_statistics(version.metadata)))
        return importer.Outcome(f"{self.path}:{package}", "published", extension_id, version.version,
                                version.target_platform, "written to the bundle")

    def manifest(self) -> bytes:
        return canonical_json({
            "format": FORMAT,
            "created": datetime.fromtimestamp(self._mtime, UTC).isoformat().replace("+00:00", "Z"),
            "upstream": self.upstream,
            "keyId": self._key_id,
            "files": self._files,
        })

    def close(self) -> None:
        """Write the bundle: manifest, signature, then every file, to a temporary file renamed onto ``path``."""
        with self._lock:
            if self._done:
                return
            self._done = True
        final: Path | None = None
        try:
            self._data.close()
            manifest = self.manifest()
            signature = base64.b64encode(self._key.sign(manifest))
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".partial")
            final = Path(name)
            with os.fdopen(fd, "wb") as out:
                with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as bundle:
                    bundle.addfile(self._info(MANIFEST_MEMBER, len(manifest)), io.BytesIO(manifest))
                    bundle.addfile(self._info(SIGNATURE_MEMBER, len(signature)), io.BytesIO(signature))
                    self._data_file.seek(0)
                    with tarfile.open(fileobj=self._data_file, mode="r") as files:
                        for member in files:
                            bundle.addfile(member, files.extractfile(member))
                out.flush()
                os.fsync(out.fileno())
            final.chmod(0o644)
            final.replace(self.path)
            final = None
            _sync_directory(self.path.parent)
        finally:
            if final is not None:
                final.unlink(missing_ok=True)
            self._data_file.close()
            self._data_path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Give up: remove the temporary files; nothing is written at ``path``."""
        with self._lock:
            if self._done:
                return
            self._done = True
        with contextlib.suppress(Exception):
            self._data.close()
        self._data_file.close()
        self._data_path.unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable (where the platform can)."""
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


# ---------------------------------------------------------------------------------------------- the reader


@dataclass(frozen=True)
class _Member:
    name: str
    size: int


_TYPES = {b"1": "a hard link", b"2": "a symbolic link", b"3": "a character device", b"4": "a block device",
          b"5": "a directory", b"6": "a FIFO", b"7": "a contiguous file", b"S": "a sparse file",
          b"L": "a GNU long name", b"K": "a GNU long link name", b"g": "a global extended header",
          b"V": "a volume label", b"M": "a multi-volume continuation", b"D": "a GNU directory dump",
          b"X": "a Solaris extended header"}
# pax keys that only describe the member; anything else (links, sparse maps, charsets) is refused
_PAX_KEYS = frozenset({"path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"})


class _TarReader:
    """A strict, streaming reader of the tar this module writes: ustar headers of regular files, each optionally
    preceded by one bounded pax header. Every other kind of member, and every malformed field, is refused."""

    def __init__(self, stream: BinaryIO, bundle: str) -> None:
        self._stream = stream
        self._bundle = bundle
        self._left = 0  # data bytes of the current member not read yet
        self._padding = 0
        self._names: set[str] = set()

    def fail(self, message: str) -> BundleError:
        return BundleError(f"{self._bundle}: {message}; nothing was imported")

    def _exact(self, size: int) -> bytes:
        data = self._stream.read(size)
        if len(data) != size:
            raise self.fail("the archive is truncated")
        return data

    def _header(self) -> tuple[bytes, dict[str, str]] | None:
        """The next header block (None at the end-of-archive marker) and the pax records that precede it."""
        pax: dict[str, str] = {}
        while True:
            block = self._stream.read(_BLOCK)
            if len(block) != _BLOCK:
                raise self.fail("the archive is truncated (no end-of-archive marker)")
            if block == bytes(_BLOCK):
                if pax:
                    raise self.fail("an extended header is not followed by a member")
                return None
            self._check(block)
            kind = block[156:157]
            if kind != b"x":
                return block, pax
            if pax:
                raise self.fail("two extended headers in a row")
            size = self._number(block[124:136], "size")
            if size > MAX_PAX_BYTES:
                raise self.fail(f"an extended header of {size} bytes (at most {MAX_PAX_BYTES})")
            data = self._exact(size)
            self._zeros(-size % _BLOCK)
            pax = self._pax(data)

    def _check(self, block: bytes) -> None:
        """The checksum, written exactly as tar writes it (six octal digits, NUL, space: so that no byte of a
        header can change unnoticed), and the POSIX magic."""
        if block[148:156] != b"%06o\x00 " % (sum(block[:148]) + 8 * 0x20 + sum(block[156:])):
            raise self.fail("a header's checksum is wrong (damaged, or not a tar archive)")
        if block[257:265] != b"ustar\x0000":
            raise self.fail("not a POSIX (ustar) tar archive")

    def _number(self, field: bytes, what: str) -> int:
        if field[:1] and field[0] & 0x80:
            raise self.fail(f"a header's {what} is in base-256 (too large)")
        text = field.split(b"\x00", 1)[0].strip(b" ")
        if not text:
            return 0
        if not re.fullmatch(rb"[0-7]+", text):
            raise self.fail(f"a header's {what} is not an octal number")
        return int(text, 8)

    def _pax(self, data: bytes) -> dict[str, str]:
        records: dict[str, str] = {}
        position = 0
        while position < len(data):
            match = re.match(rb"([1-9][0-9]{0,6}) ", data[position:position + 9])
            if match is None:
                raise self.fail("a malformed extended header")
            length = int(match.group(1))
            record = data[position:position + length]
            if len(record) != length or not record.endswith(b"\n"):
                raise self.fail("a malformed extended header")
            key_value = record[match.end():-1]
            key, equals, value = key_value.partition(b"=")
            if not equals:
                raise self.fail("a malformed extended header")
            try:
                name, text = key.decode("ascii"), value.decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail("a malformed extended header") from None
            if name.startswith("GNU.sparse"):
                raise self.fail("a sparse file (bundles hold regular files only)")
            if name not in _PAX_KEYS:
                raise self.fail(f"an extended header with {name!r} (bundles hold regular files only)")
            if name in records:
                raise self.fail(f"an extended header with {name!r} twice")
            records[name] = text
            position += length
        return records

    def _name(self, raw: str) -> str:
        if (not raw or len(raw) > MAX_NAME_LENGTH or raw.startswith("/") or "\\" in raw
                or not all(" " < c <= "~" for c in raw)
                or any(part in ("", ".", "..") for part in raw.split("/"))):
            raise self.fail(f"the member name {raw!r} is not a safe relative path")
        return raw

    def next(self) -> _Member | None:
        """The next member's header (the previous member's data must have been read)."""
        if self._left or self._padding:
            raise RuntimeError("read the member's data first")
        found = self._header()
        if found is None:
            self._end()
            return None
        block, pax = found
        kind = block[156:157]
        if kind not in (b"0", b"\x00"):
            what = _TYPES.get(kind, f"a member of type {kind!r}")
            raise self.fail(f"{what} (bundles hold regular files only)")
        mode = self._number(block[100:108], "mode")
        if mode & ~0o100777:
            raise self.fail(f"a member with mode {mode:o} (setuid, setgid or sticky: refused)")
        if "path" in pax:
            raw = pax["path"]
        else:
            try:
                name = block[0:100].split(b"\x00", 1)[0].decode("ascii")
                prefix = block[345:500].split(b"\x00", 1)[0].decode("ascii")
            except UnicodeDecodeError:
                raise self.fail("a member name that is not ASCII") from None
            raw = f"{prefix}/{name}" if prefix else name
        name = self._name(raw)
        size = self._number(block[124:136], "size")
        if "size" in pax:
            if not re.fullmatch(r"[0-9]{1,20}", pax["size"]):
                raise self.fail("an extended header's size is not a number")
            size = int(pax["size"])
        if name in self._names:
            raise self.fail(f"the member {name!r} appears twice")
        self._names.add(name)
        self._left, self._padding = size, -size % _BLOCK
        return _Member(name, size)

    def chunks(self) -> Iterator[bytes]:
        """The current member's data, at most 1 MiB at a time."""
        while self._left:
            chunk = self._stream.read(min(self._left, _CHUNK))
            if not chunk:
                raise self.fail("the archive is truncated (a member is shorter than its header says)")
            self._left -= len(chunk)
            yield chunk
        if self._padding:
            self._zeros(self._padding)
            self._padding = 0

    def _zeros(self, size: int) -> None:
        """A member's padding to the next block: zeros, like every byte the manifest does not cover."""
        if self._exact(size).count(0) != size:
            raise self.fail("a member's padding is not zeros (damaged)")

    def read(self, limit: int, what: str) -> bytes:
        if self._left > limit:
            raise self.fail(f"{what} is {self._left} bytes (at most {limit})")
        return b"".join(self.chunks())

    def _end(self) -> None:
        """After the first zero block: a second one, then nothing but zeros (the record's padding)."""
        if self._stream.read(_BLOCK) != bytes(_BLOCK):
            raise self.fail("the archive is truncated or damaged at its end-of-archive marker")
        while chunk := self._stream.read(_CHUNK):
            if chunk.count(0) != len(chunk):
                raise self.fail("data after the end of the archive")


@dataclass(frozen=True)
class _Entry:
    sha256: str
    size: int


@dataclass(frozen=True)
class _Manifest:
    created: str
    upstream: str
    files: dict[str, _Entry]


def _verify(reader: _TarReader, trusted: Ed25519PublicKey, trusted_id: str, manifest: bytes,
            signature: bytes) -> None:
    from cryptography.exceptions import InvalidSignature

    try:
        raw = base64.b64decode(signature, validate=True)
        if len(raw) != 64 or base64.b64encode(raw) != signature:  # canonical: no byte may change unnoticed
            raise ValueError("an Ed25519 signature is 64 bytes, in canonical base64")
        trusted.verify(raw, manifest)
    except (ValueError, InvalidSignature):
        claimed = _claimed_key(manifest)
        by = f" (the manifest names key {claimed})" if claimed and claimed != trusted_id else ""
        raise reader.fail(f"the signature does not verify with the trusted key {trusted_id}{by}") from None


def _claimed_key(manifest: bytes) -> str | None:
    """The key id an unverified manifest names: only to say so in the refusal."""
    try:
        value = json.loads(manifest)
    except ValueError:
        return None
    claimed = value.get("keyId") if isinstance(value, dict) else None
    return claimed if isinstance(claimed, str) and _KEY_ID.fullmatch(claimed) else None


def _parse_manifest(reader: _TarReader, data: bytes, trusted_id: str) -> _Manifest:
    try:
        value = json.loads(data)
    except ValueError:
        raise reader.fail("the manifest is not JSON") from None
    if not isinstance(value, dict) or set(value) != {"format", "created", "upstream", "keyId", "files"}:
        raise reader.fail("the manifest must have exactly format, created, upstream, keyId and files")
    if type(value["format"]) is not int or value["format"] != FORMAT:
        raise reader.fail(f"unsupported bundle format {value['format']!r} (this marketplace reads {FORMAT})")
    upstream = value["upstream"]
    if (not isinstance(upstream, str) or not re.fullmatch(r"https?://[!-~]{1,2040}", upstream)):
        raise reader.fail("the manifest's upstream is not an http(s) URL")
    if not isinstance(value["created"], str) or len(value["created"]) > 64:
        raise reader.fail("the manifest's created is not a timestamp")
    if value["keyId"] != trusted_id:
        raise reader.fail(f"the manifest names key {value['keyId']!r}, not the trusted key {trusted_id}")
    files = value["files"]
    if not isinstance(files, dict):
        raise reader.fail("the manifest's files must be an object")
    entries: dict[str, _Entry] = {}
    for name, entry in files.items():
        if len(name) > MAX_NAME_LENGTH or not _FILE_NAME.fullmatch(name):
            raise reader.fail(f"the manifest lists {name!r}, not a name a bundle may hold")
        if (not isinstance(entry, dict) or set(entry) != {"sha256", "size"}
                or not isinstance(entry["sha256"], str) or not _SHA256.fullmatch(entry["sha256"])
                or type(entry["size"]) is not int or not 0 <= entry["size"] <= MAX_FILE_BYTES):
            raise reader.fail(f"the manifest's entry for {name!r} must be {{sha256: 64 hex digits, size: bytes}}")
        entries[name] = _Entry(entry["sha256"], entry["size"])
    return _Manifest(value["created"], upstream, entries)


@dataclass(frozen=True)
class VerifiedBundle:
    """What :func:`verify_bundle` found: the signed manifest's facts, and the allow-list the bundle carries."""

    path: Path
    key_id: str
    created: str
    upstream: str
    files: dict[str, int]  # name -> size, every file the manifest lists (and the archive holds, verified)
    allow_text: str | None
    copies: dict[str, Path]  # package name -> its private copy (import_bundle only)

    @property
    def packages(self) -> list[str]:
        return sorted(name for name in self.files if name.startswith("packages/"))


def verify_bundle(path: Path, *, trusted_key: Path) -> VerifiedBundle:
    """The first pass of :func:`import_bundle` alone: signature, names, types, sizes and hashes of everything,
    without importing (``marketplace bundle verify``). Raises :class:`BundleError` as the import would."""
    return _verify_file(path, trusted_key, None)


def _verify_file(path: Path, trusted_key: Path, private: Path | None) -> VerifiedBundle:
    trusted = load_trusted_key(trusted_key)
    try:
        stream = path.open("rb")
    except OSError as error:
        raise BundleError(f"cannot read the bundle {path}: {error.strerror or error}") from None
    with stream:
        return _verify_all(path, _TarReader(stream, str(path)), trusted, key_id(trusted), private)


def import_bundle(path: Path, *, trusted_key: Path, jobs: int = 4, progress: importer.Progress | None = None,
                  import_package: Callable[..., importer.Outcome] = importer.import_package,
                  ) -> list[importer.Outcome]:
    """Verify the whole bundle, then import its packages (the outcomes in the order of their names).

    First pass, before anything is imported: the signature over the manifest with ``trusted_key``, then every
    member (a regular file the manifest lists, once, of the listed size and SHA-256), the packages copied to a
    private temporary directory under names chosen here. Any fault raises :class:`BundleError`. Second pass:
    each package through ``import_package`` (the normal ingest) on ``jobs`` threads (1 to ``importer.MAX_JOBS``),
    namespaces created and marked as mirrored from the manifest's upstream; one package's failure never stops
    the others. ``progress`` is ``importer.Progress``: (done, total) once the bundle is verified and after each
    package."""
    if not 1 <= jobs <= importer.MAX_JOBS:
        raise ValueError(f"jobs must be from 1 to {importer.MAX_JOBS}")
    bundle = str(path)
    with tempfile.TemporaryDirectory(prefix="marketplace-bundle-") as private:
        verified = _verify_file(path, trusted_key, Path(private))
        packages = verified.copies
        done, total, lock = 0, len(packages), threading.Lock()
        if progress is not None:
            progress(done, total)

        def one(member: str) -> importer.Outcome:
            nonlocal done
            source = f"{bundle}:{member}"
            try:
                outcome = import_package(packages[member].read_bytes(), source=source, create_namespaces=True,
                                         mirrored_from=verified.upstream, client=importer.IMPORT_CLIENT)
            except MarketplaceError as error:
                outcome = importer.Outcome(source, "rejected", reason=error.message)
            except Exception as error:  # the storage failed for this one: report it, go on with the others
                outcome = importer.Outcome(source, "rejected", reason=f"{type(error).__name__}: {str(error)[:300]}")
            if progress is not None:
                with lock:
                    done += 1
                    progress(done, total)
            return outcome

        if not packages:
            return []
        with ThreadPoolExecutor(max_workers=min(jobs, total), thread_name_prefix="bundle-import") as pool:
            return list(pool.map(one, sorted(packages)))


def _verify_all(path: Path, reader: _TarReader, trusted: Ed25519PublicKey, trusted_id: str,
                private: Path | None) -> VerifiedBundle:
    first = reader.next()
    if first is None or first.name != MANIFEST_MEMBER:
        raise reader.fail(f"the first member must be {MANIFEST_MEMBER} (not a bundle)")
    manifest_bytes = reader.read(MAX_MANIFEST_BYTES, "the manifest")
    second = reader.next()
    if second is None or second.name != SIGNATURE_MEMBER:
        raise reader.fail(f"the second member must be {SIGNATURE_MEMBER}")
    signature = reader.read(MAX_SIGNATURE_BYTES, "the signature")
    _verify(reader, trusted, trusted_id, manifest_bytes, signature)
    manifest = _parse_manifest(reader, manifest_bytes, trusted_id)
    packages: dict[str, Path] = {}
    seen: set[str] = set()
    allow: bytes | None = None
    while (member := reader.next()) is not None:
        entry = manifest.files.get(member.name)
        if entry is None:
            raise reader.fail(f"the member {member.name!r} is not in the manifest")
        if member.size != entry.size:
            raise reader.fail(f"{member.name} is {member.size} bytes in the archive, {entry.size} in the manifest")
        seen.add(member.name)
        digest = hashlib.sha256()
        target = None
        if private is not None and member.name.startswith("packages/"):
            target = private / f"{len(packages):06d}.vsix"  # a name chosen here, in a directory only we read
        kept: list[bytes] | None = [] if member.name == ALLOW_MEMBER and member.size <= MAX_MANIFEST_BYTES else None
        with target.open("xb") if target else contextlib.nullcontext() as out:
            for chunk in reader.chunks():
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
                if kept is not None:
                    kept.append(chunk)
        if digest.hexdigest() != entry.sha256:
            raise reader.fail(f"{member.name} does not match its SHA-256 in the manifest (tampered or damaged)")
        if target is not None:
            packages[member.name] = target
        if kept is not None:
            allow = b"".join(kept)
    missing = sorted(set(manifest.files) - seen)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise reader.fail(f"the manifest lists {', '.join(missing[:3])}{more}, missing from the archive")
    return VerifiedBundle(path, trusted_id, manifest.created, manifest.upstream,
                          {name: entry.size for name, entry in manifest.files.items()},
                          None if allow is None else allow.decode("utf-8", "replace"), packages)
