"""Inspect an uploaded VSIX (a zip archive) without extracting it and without trusting its headers.

``inspect_archive`` reads the central directory with its own strict parser, checks every record against
the limits and the path rules *before inflating anything*, cross-checks the result with Python's
``zipfile`` (so that no later reader sees a different archive), then makes ONE sequential pass over the
file: every local header is compared with its central record, every entry is inflated in chunks through
a counting reader that stops as soon as the output exceeds the declared size, and the CRC is checked.
The same pass hashes the file (SHA-256) and keeps in memory only the entries the caller asks for.

Every problem raises ``Rejected(code, reason)``: ``code`` is a stable dotted machine code, ``reason`` one
sentence a publisher can act on, naming the entry. No other exception escapes for any input bytes.

Policy decisions (deliberately stricter than the zip format, never stricter than what vsce/yazl writes):

* The file must start with a local file header (``PK\\x03\\x04``) and be laid out exactly as packagers
  write it: entries back to back from offset 0, then the central directory, then its end record and an
  optional short comment. Prepended data, gaps, hidden bytes and overlapping entries are rejected.
* ZIP64 is rejected: no package within the size and entry limits needs it (vsce only writes it past
  4 GiB or 65,535 entries), and its conditional fields are a classic source of parser disagreement.
* Extra fields: only the extended timestamp (0x5455), Info-ZIP Unix UID/GID (0x7875) and NTFS times
  (0x000a) are accepted; any other id (including the Info-ZIP Unicode path 0x7075, which makes readers
  disagree on names) is rejected. vsce/yazl writes none. (Open VSX rejects every extra field.)
* Entries may only be ``extension.vsixmanifest``, ``[Content_Types].xml`` or under ``extension/``.
  ``extension.signature.p7s`` and other root files are rejected: signatures are produced by the
  marketplace, never uploaded inside the package.
* Names must be UTF-8 when flagged so, and plain ASCII otherwise (code page 437 is ambiguous).
* Nested archives (``.vsix``, ``.zip``, ``.jar`` ...) are ordinary files: never opened, never recursed into.
"""

from __future__ import annotations

import hashlib
import itertools
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from marketplace.platform.text import first_forbidden, is_forbidden

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

MANIFEST_NAME = "extension.vsixmanifest"
CONTENT_TYPES_NAME = "[Content_Types].xml"
PACKAGE_JSON_NAME = "extension/package.json"
EXTENSION_DIR = "extension/"
ROOT_FILES = frozenset({MANIFEST_NAME, CONTENT_TYPES_NAME})

MAX_PATH_BYTES = 1024
MAX_SEGMENT_BYTES = 255

WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in "123456789¹²³"}
)

STORED, DEFLATED = 0, 8
_METHOD_NAMES = {1: "shrink", 6: "implode", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 95: "xz", 98: "ppmd",
                 99: "AES encryption"}
_ENCRYPTION_FLAGS = 0x0001 | 0x0040 | 0x2000  # traditional, strong, encrypted central directory
_ALLOWED_FLAGS = 0x0002 | 0x0004 | 0x0008 | 0x0800  # deflate options, data descriptor, UTF-8 names
_FLAG_DESCRIPTOR = 0x0008
_FLAG_UTF8 = 0x0800
_ZIP64_EXTRA = 0x0001
_ALLOWED_EXTRAS = frozenset({0x5455, 0x7875, 0x000A})

_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")  # 46 bytes
_EOCD = struct.Struct("<4sHHHHIIH")  # 22 bytes
_DESCRIPTOR = struct.Struct("<III")
_LOCAL_SIG, _CENTRAL_SIG, _EOCD_SIG = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
_ZIP64_LOCATOR_SIG, _ZIP64_EOCD_SIG, _DESCRIPTOR_SIG = b"PK\x06\x07", b"PK\x06\x06", b"PK\x07\x08"
_MAX_EXTRA_BYTES = 1024

Keep = Callable[[str], int | None]
"""Which entries to hold in memory: the size cap for an entry name, or None for "don't keep"."""


class Rejected(ValueError):
    """The package is refused. ``code`` is a stable machine code, ``reason`` one actionable sentence."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"Rejected({self.code!r}, {self.reason!r})"

    def __reduce__(self) -> tuple[type[Rejected], tuple[str, str]]:
        return (Rejected, (self.code, self.reason))


@dataclass(frozen=True)
class Limits:
    """Bounds applied before (and while) inflating anything. The defaults suit a public marketplace."""

    max_archive_bytes: int = GiB
    max_entries: int = 10_000
    max_entry_bytes: int = 256 * MiB
    max_total_bytes: int = GiB
    max_ratio: int = 100  # uncompressed : compressed, per entry and overall
    ratio_floor_bytes: int = MiB  # entries (and packages) expanding to less are not ratio-checked
    max_comment_bytes: int = 1 * KiB
    max_manifest_bytes: int = MiB  # extension.vsixmanifest and extension/package.json are always kept
    max_kept_bytes: int = 32 * MiB  # budget for entries kept at the caller's request; beyond it they're skipped
    chunk_bytes: int = MiB


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    size: int  # uncompressed bytes, verified
    compressed_size: int
    crc: int
    method: int
    header_offset: int
    data_offset: int
    is_dir: bool


@dataclass(frozen=True)
class Archive:
    path: Path
    file_size: int
    sha256: str  # hex digest of the whole file, computed in the same pass
    entries: tuple[Entry, ...]  # central-directory order; directories included (is_dir)
    kept: Mapping[str, bytes]
    total_uncompressed: int
    total_compressed: int
    _by_name: Mapping[str, Entry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {entry.name: entry for entry in self.entries})

    def get(self, name: str) -> Entry | None:
        return self._by_name.get(name)

    @property
    def files(self) -> tuple[Entry, ...]:
        return tuple(entry for entry in self.entries if not entry.is_dir)


@dataclass(slots=True)
class _Record:
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int
    is_dir: bool
    data_offset: int = -1


def show(text: str, limit: int = 120) -> str:
    """``text`` quoted for a message: invisible and control characters escaped, long text shortened."""
    shown = "".join(
        f"\\u{ord(c):04x}" if is_forbidden(c) else c for c in text[:limit]
    )
    return f'"{shown}{"..." if len(text) > limit else ""}"'


def _size(n: int) -> str:
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    if n >= KiB:
        return f"{n / KiB:.1f} KiB"
    return f"{n} bytes"


# ----------------------------------------------------------------------------------------------- paths


def check_path(name: str, *, what: str = "entry") -> None:
    """Apply the path rules to one archive name (directories end in ``/``); ``Rejected`` on the first problem."""
    label = f"{what} {show(name)}"
    if not name:
        raise Rejected("path.empty_segment", f"the package has an {what} with an empty name")
    if name.startswith(("/", "\\")) or (len(name) >= 2 and name[1] == ":" and name[0].isascii() and name[0].isalpha()):
        raise Rejected("path.absolute", f"{label} is an absolute path; names must be relative, like extension/x.js")
    if "\\" in name:
        raise Rejected("path.backslash", f"{label} contains a backslash; use / as the only path separator")
    char = first_forbidden(name)
    if char is not None:
        raise Rejected("path.characters", f"{label} contains the invisible or control character "
                                          f"U+{ord(char):04X}; rename the file")
    if len(name.encode()) > MAX_PATH_BYTES:
        raise Rejected("path.too_long", f"{label} is longer than {MAX_PATH_BYTES} bytes")
    segments = (name[:-1] if name.endswith("/") else name).split("/")
    for segment in segments:
        if not segment:
            raise Rejected("path.empty_segment", f"{label} contains an empty path segment (//)")
        if segment in (".", ".."):
            raise Rejected("path.traversal", f"{label} contains a {segment!r} segment; paths must not step outside "
                                             f"their folder")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise Rejected("path.too_long", f"{label} has a segment longer than {MAX_SEGMENT_BYTES} bytes")
        if ":" in segment:
            raise Rejected("path.windows_unsafe", f"{label} contains ':', which Windows reads as a drive or stream")
        if segment[-1] in ". ":
            raise Rejected("path.windows_unsafe", f"{label} has a segment ending in a dot or space, which Windows "
                                                  f"silently drops")
        if segment.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_RESERVED:
            raise Rejected("path.reserved_name", f"{label} uses the reserved Windows device name "
                                                 f"{show(segment.split('.', 1)[0])}; rename it")
    if name not in ROOT_FILES and not name.startswith(EXTENSION_DIR):
        raise Rejected("path.outside_extension", f"{label} is outside extension/; only {MANIFEST_NAME}, "
                                                 f"{CONTENT_TYPES_NAME} and files under extension/ are allowed")


def fold(name: str) -> str:
    """The form under which two names collide on a case-insensitive, normalizing file system."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


def _check_collisions(records: list[_Record]) -> None:
    seen: dict[str, str] = {}
    folded: dict[str, str] = {}
    for record in records:
        if record.name in seen:
            raise Rejected("path.duplicate", f"entry {show(record.name)} appears more than once in the package")
        seen[record.name] = record.name
        key = fold(record.name.rstrip("/"))
        if key in folded:
            other = folded[key]
            how = ("are the same text in different Unicode normalization forms"
                   if unicodedata.normalize("NFC", other) == unicodedata.normalize("NFC", record.name)
                   else "differ only in letter case or Unicode normalization")
            raise Rejected("path.collision", f"entries {show(other)} and {show(record.name)} {how}; rename one")
        folded[key] = record.name
    directories: dict[str, str] = {}
    for record in records:
        parts = record.name.rstrip("/").split("/")
        for depth in range(1, len(parts)):
            directories.setdefault(fold("/".join(parts[:depth])), record.name)
    for record in records:
        if not record.is_dir and (key := fold(record.name)) in directories:
            raise Rejected("path.collision", f"entry {show(record.name)} is a file but {show(directories[key])} "
                                             f"uses it as a folder")


# ------------------------------------------------------------------------------------ central directory


def _extra_ids(extra: bytes, label: str) -> list[int]:
    ids: list[int] = []
    pos = 0
    while pos < len(extra):
        if pos + 4 > len(extra):
            raise Rejected("archive.extra_field", f"{label} has a malformed extra field")
        header_id, length = struct.unpack_from("<HH", extra, pos)
        pos += 4 + length
        if pos > len(extra):
            raise Rejected("archive.extra_field", f"{label} has a malformed extra field")
        ids.append(header_id)
    return ids


def _check_extra(extra: bytes, label: str) -> None:
    if len(extra) > _MAX_EXTRA_BYTES:
        raise Rejected("archive.extra_field", f"{label} carries {len(extra)} bytes of extra fields")
    for header_id in _extra_ids(extra, label):
        if header_id == _ZIP64_EXTRA:
            raise Rejected("archive.zip64", f"{label} uses ZIP64 fields, which no package within the size limits "
                                            f"needs; repackage it with vsce")
        if header_id not in _ALLOWED_EXTRAS:
            raise Rejected("archive.extra_field", f"{label} carries an unexpected zip extra field "
                                                  f"(id 0x{header_id:04x}); repackage it with vsce")


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & _FLAG_UTF8:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected("path.encoding", f"entry name {raw[:120]!r} is marked as UTF-8 but is not valid UTF-8"
                           ) from None
    if not raw.isascii():
        raise Rejected("path.encoding", f"entry name {raw[:120]!r} has non-ASCII bytes but is not marked as UTF-8; "
                                        f"repackage it with vsce")
    return raw.decode("ascii")


def _find_end_record(f: BinaryIO, file_size: int, limits: Limits) -> tuple[int, int, int, int]:
    """(end record offset, entry count, central directory size, central directory offset)."""
    tail_len = min(file_size, _EOCD.size + 0xFFFF)
    f.seek(file_size - tail_len)
    tail = f.read(tail_len)
    pos = tail.rfind(_EOCD_SIG)
    while pos >= 0:
        if pos + _EOCD.size <= len(tail):
            comment_len = struct.unpack_from("<H", tail, pos + 20)[0]
            if pos + _EOCD.size + comment_len == len(tail):
                break
        pos = tail.rfind(_EOCD_SIG, 0, pos)
    else:
        raise Rejected("archive.invalid", "the package is not a valid zip archive: its central directory cannot be "
                                          "found (truncated or corrupt upload?)")
    _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset, comment_len = _EOCD.unpack_from(tail, pos)
    eocd_offset = file_size - tail_len + pos
    comment = tail[pos + _EOCD.size:]
    if comment_len > limits.max_comment_bytes:
        raise Rejected("archive.comment", f"the archive comment is {comment_len} bytes; at most "
                                          f"{limits.max_comment_bytes} are allowed")
    if any(sig in comment for sig in (_EOCD_SIG, _ZIP64_EOCD_SIG, _ZIP64_LOCATOR_SIG, _CENTRAL_SIG, _LOCAL_SIG)):
        raise Rejected("archive.comment", "the archive comment contains zip record signatures")
    locator_at = eocd_offset - 20
    if locator_at >= 0:
        f.seek(locator_at)
        if f.read(4) == _ZIP64_LOCATOR_SIG:
            raise Rejected("archive.zip64", "the package uses a ZIP64 end record, which no package within the size "
                                            "limits needs; repackage it with vsce")
    if 0xFFFF in (disk, cd_disk, disk_entries, entries) or 0xFFFFFFFF in (cd_size, cd_offset):
        raise Rejected("archive.zip64", "the package's end record holds ZIP64 placeholders; repackage it with vsce")
    if disk or cd_disk or disk_entries != entries:
        raise Rejected("archive.invalid", "the package is a split or spanned zip archive, which is not supported")
    return eocd_offset, entries, cd_size, cd_offset


def _read_central_directory(f: BinaryIO, file_size: int, limits: Limits) -> tuple[list[_Record], bytes, int, int]:
    eocd_offset, count, cd_size, cd_offset = _find_end_record(f, file_size, limits)
    if count == 0:
        raise Rejected("archive.invalid", "the package is an empty zip archive")
    if count > limits.max_entries:
        raise Rejected("archive.too_many_entries", f"the package has {count} entries; at most {limits.max_entries} "
                                                   f"are allowed")
    if cd_offset + cd_size != eocd_offset:
        raise Rejected("archive.layout", "the central directory does not end where its end record begins (data was "
                                         "prepended, appended or hidden in the archive)")
    if cd_size < count * _CENTRAL.size or cd_size > count * (_CENTRAL.size + MAX_PATH_BYTES + _MAX_EXTRA_BYTES):
        raise Rejected("archive.invalid", "the package is not a valid zip archive: its central directory size is "
                                          "inconsistent with its entry count")
    f.seek(cd_offset)
    cd = f.read(cd_size)
    if len(cd) != cd_size:
        raise Rejected("archive.invalid", "the package is not a valid zip archive: its central directory is truncated")
    records: list[_Record] = []
    pos = 0
    for index in range(count):
        if pos + _CENTRAL.size > len(cd) or cd[pos:pos + 4] != _CENTRAL_SIG:
            raise Rejected("archive.invalid", f"the package is not a valid zip archive: central directory record "
                                              f"{index + 1} is missing or corrupt")
        (_, _made_by, _needed, flags, method, _time, _date, crc, csize, usize, name_len, extra_len, comment_len,
         disk, _internal, external, offset) = _CENTRAL.unpack_from(cd, pos)
        start = pos + _CENTRAL.size
        pos = start + name_len + extra_len + comment_len
        if pos > len(cd):
            raise Rejected("archive.invalid", f"the package is not a valid zip archive: central directory record "
                                              f"{index + 1} runs past the directory's end")
        raw_name = cd[start:start + name_len]
        extra = cd[start + name_len:start + name_len + extra_len]
        if len(raw_name) > MAX_PATH_BYTES:
            raise Rejected("path.too_long", f"entry name {raw_name[:120]!r}... is longer than {MAX_PATH_BYTES} bytes")
        name = _decode_name(raw_name, flags)
        records.append(_check_record(name, raw_name, flags, method, crc, csize, usize, extra, comment_len, disk,
                                     external, offset, limits))
    if pos != len(cd):
        raise Rejected("archive.layout", "the central directory holds bytes that belong to no record")
    return records, cd, cd_offset, eocd_offset


def _check_record(name: str, raw_name: bytes, flags: int, method: int, crc: int, csize: int, usize: int, extra: bytes,
                  comment_len: int, disk: int, external: int, offset: int, limits: Limits) -> _Record:
    label = f"entry {show(name)}"
    if flags & _ENCRYPTION_FLAGS:
        raise Rejected("archive.encrypted", f"{label} is encrypted; packages must not be password-protected")
    if flags & ~_ALLOWED_FLAGS & 0xFFFF:
        raise Rejected("archive.flags", f"{label} uses zip features (flags 0x{flags:04x}) that packagers don't write;"
                                        f" repackage it with vsce")
    if method not in (STORED, DEFLATED):
        kind = _METHOD_NAMES.get(method, f"method {method}")
        raise Rejected("archive.compression", f"{label} is compressed with {kind}; only stored and deflate entries "
                                              f"are supported")
    if 0xFFFFFFFF in (csize, usize, offset) or disk == 0xFFFF:
        raise Rejected("archive.zip64", f"{label} uses ZIP64 placeholders; repackage it with vsce")
    if disk:
        raise Rejected("archive.invalid", f"{label} lives on another disk of a split archive")
    _check_extra(extra, label)
    if comment_len:
        raise Rejected("archive.comment", f"{label} carries a file comment; packages must not")
    check_path(name)
    is_dir = name.endswith("/")
    file_type = stat.S_IFMT(external >> 16)
    if file_type == stat.S_IFLNK:
        raise Rejected("archive.symlink", f"{label} is a symbolic link; packages may only hold regular files")
    if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise Rejected("archive.special_file", f"{label} is a device, pipe or socket; packages may only hold regular "
                                               f"files")
    if not is_dir and (file_type == stat.S_IFDIR or external & 0x10):
        raise Rejected("archive.special_file", f"{label} is marked as a directory but its name does not end in /")
    if is_dir and file_type == stat.S_IFREG:
        raise Rejected("archive.special_file", f"{label} ends in / but is marked as a regular file")
    if is_dir and usize:
        raise Rejected("archive.directory_data", f"{label} is a directory but holds {usize} bytes of data")
    if usize > limits.max_entry_bytes:
        raise Rejected("archive.entry_too_large", f"{label} is {_size(usize)}; a single file may be at most "
                                                  f"{_size(limits.max_entry_bytes)}")
    if method == STORED and csize != usize:
        raise Rejected("archive.size_mismatch", f"{label} is stored uncompressed but declares {csize} compressed and "
                                                f"{usize} uncompressed bytes")
    if usize > limits.ratio_floor_bytes and usize > limits.max_ratio * csize:
        raise Rejected("archive.ratio", f"{label} expands from {_size(csize)} to {_size(usize)}, more than "
                                        f"{limits.max_ratio}:1 (zip bomb?)")
    return _Record(name, raw_name, flags, method, crc, csize, usize, offset, is_dir)


def _check_layout(records: list[_Record], cd_offset: int) -> list[_Record]:
    """Records in file order, with overlaps (several records sharing data) rejected before inflating."""
    ordered = sorted(records, key=lambda r: r.header_offset)
    if ordered[0].header_offset != 0:
        raise Rejected("archive.layout", "the first entry does not start at the beginning of the file (prepended "
                                         "data?)")
    for current, successor in itertools.pairwise(ordered):
        if successor.header_offset == current.header_offset:
            raise Rejected("archive.overlap", f"entries {show(current.name)} and {show(successor.name)} point at the "
                                              f"same data (overlapping entries, a zip bomb technique)")
    followers: list[_Record | None] = [*ordered[1:], None]
    for current, following in zip(ordered, followers, strict=True):
        end = current.header_offset + _LOCAL.size + len(current.raw_name) + current.compressed_size
        limit = following.header_offset if following else cd_offset
        if end > limit:
            other = f"entry {show(following.name)}" if following else "the central directory"
            raise Rejected("archive.overlap", f"entry {show(current.name)} overlaps {other} (overlapping entries, a "
                                              f"zip bomb technique)")
    return ordered


def _cross_check(path: Path, records: list[_Record]) -> None:
    """Python's zipfile must see exactly the archive we validated (no parser differential)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error, KeyError,
            IndexError, NotImplementedError, RuntimeError) as error:
        raise Rejected("archive.invalid", "the package is not a valid zip archive") from error
    ours = [(r.name, r.header_offset, r.compressed_size, r.size, r.crc, r.method) for r in records]
    theirs = [(i.filename, i.header_offset, i.compress_size, i.file_size, i.CRC, i.compress_type) for i in infos]
    if ours != theirs:
        raise Rejected("archive.ambiguous", "zip readers disagree about this package's contents; repackage it with "
                                            "vsce")


# ------------------------------------------------------------------------------------------- the pass


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


class _NoHash:
    def update(self, data: bytes, /) -> None:
        pass


class _Reader:
    """Sequential reads that feed the SHA-256 of the whole file."""

    def __init__(self, f: BinaryIO, hasher: _Hasher) -> None:
        self.f = f
        self.hasher = hasher

    def exactly(self, n: int, label: str) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise Rejected("archive.corrupt", f"{label} is cut short (truncated upload?)")
        self.hasher.update(data)
        return data


def _check_local_header(reader: _Reader, record: _Record) -> int:
    """Verify the local header against the central record; returns the header's length."""
    label = f"entry {show(record.name)}"
    header = reader.f.read(_LOCAL.size)
    if len(header) != _LOCAL.size or header[:4] != _LOCAL_SIG:
        raise Rejected("archive.header_mismatch", f"{label} has no local file header where the central directory "
                                                  f"points")
    reader.hasher.update(header)
    _, _needed, flags, method, _time, _date, crc, csize, usize, name_len, extra_len = _LOCAL.unpack(header)
    raw_name = reader.exactly(name_len, label)
    extra = reader.exactly(extra_len, label)
    if raw_name != record.raw_name:
        raise Rejected("archive.header_mismatch", f"{label} is named {raw_name[:120]!r} in its local header; the two "
                                                  f"headers must agree")
    if flags != record.flags or method != record.method:
        raise Rejected("archive.header_mismatch", f"{label} has different flags or compression in its local and "
                                                  f"central headers")
    declared = (crc, csize, usize)
    expected = (record.crc, record.compressed_size, record.size)
    if flags & _FLAG_DESCRIPTOR:
        consistent = all(value in (0, want) for value, want in zip(declared, expected, strict=True))
    else:
        consistent = declared == expected
    if not consistent:
        raise Rejected("archive.header_mismatch", f"{label} declares different sizes or CRC in its local and central "
                                                  f"headers")
    _check_extra(extra, label)
    return _LOCAL.size + len(raw_name) + len(extra)


def _inflate(reader: _Reader, record: _Record, chunk: int) -> Iterator[bytes]:
    """Yield one entry's bytes through a counting reader; the declared size and CRC must hold exactly.

    Output beyond the declared size is refused as soon as it appears, so a lying header never inflates
    more than one chunk past its claim. The size and CRC verdict comes when the generator is exhausted.
    """
    label = f"entry {show(record.name)}"
    declared = record.size
    remaining = record.compressed_size
    produced = 0
    crc = 0
    read = reader.f.read
    update = reader.hasher.update
    if record.method == STORED:
        while remaining:
            data = read(min(chunk, remaining))
            if not data:
                raise Rejected("archive.corrupt", f"{label} is cut short (truncated upload?)")
            remaining -= len(data)
            update(data)
            crc = zlib.crc32(data, crc)
            produced += len(data)
            yield data
    else:
        inflater = zlib.decompressobj(-15)
        out_chunk = 4 * chunk
        tail = b""
        while remaining:
            data = read(min(chunk, remaining))
            if not data:
                raise Rejected("archive.corrupt", f"{label} is cut short (truncated upload?)")
            remaining -= len(data)
            update(data)
            tail = data
            while True:
                limit = min(out_chunk, declared - produced + 1)
                try:
                    out = inflater.decompress(tail, limit)
                except zlib.error:
                    raise Rejected("archive.corrupt", f"{label} holds corrupt compressed data") from None
                produced += len(out)
                if produced > declared:
                    raise Rejected("archive.size_mismatch", f"{label} expands to more than the {declared} bytes its "
                                                            f"header declares (lying header)")
                if out:
                    crc = zlib.crc32(out, crc)
                    yield out
                tail = inflater.unconsumed_tail
                if inflater.eof or (not tail and len(out) < limit):
                    break
            if inflater.eof:
                break
        if not inflater.eof:
            raise Rejected("archive.corrupt", f"{label}'s compressed data ends before its end marker")
        if remaining or tail or inflater.unused_data:
            raise Rejected("archive.corrupt", f"{label} hides data after the end of its compressed stream")
    if produced != declared:
        raise Rejected("archive.size_mismatch", f"{label} expands to {produced} bytes but its header declares "
                                                f"{declared} (lying header)")
    if crc != record.crc:
        raise Rejected("archive.crc", f"{label} fails its CRC check (corrupt or tampered upload)")


def _check_descriptor(reader: _Reader, record: _Record) -> int:
    """Verify a data descriptor after the data; returns its length (16 with signature, 12 without)."""
    f = reader.f
    start = f.tell()
    data = f.read(16)
    expected = (record.crc, record.compressed_size, record.size)
    if len(data) == 16 and data[:4] == _DESCRIPTOR_SIG and _DESCRIPTOR.unpack_from(data, 4) == expected:
        reader.hasher.update(data)
        return 16
    if len(data) >= 12 and _DESCRIPTOR.unpack_from(data, 0) == expected:
        f.seek(start + 12)
        reader.hasher.update(data[:12])
        return 12
    raise Rejected("archive.header_mismatch", f"entry {show(record.name)}'s data descriptor disagrees with the "
                                              f"central directory")


def _keep_cap(record: _Record, keep: Keep | None, limits: Limits) -> int | None:
    if record.is_dir:
        return None
    if record.name in (MANIFEST_NAME, PACKAGE_JSON_NAME):
        return limits.max_manifest_bytes
    if keep is None:
        return None
    cap: int | None = keep(record.name)
    return cap


def inspect_archive(path: Path, limits: Limits = Limits(), keep: Keep | None = None) -> Archive:
    """Validate the VSIX at ``path`` in one streaming pass; ``Rejected`` on the first problem.

    ``keep(name)`` returns a byte cap for entries whose bytes the caller wants (or None). A wanted entry is
    held in ``Archive.kept`` when its size is within its cap and within ``limits.max_kept_bytes`` overall;
    otherwise it is verified like any other entry but not kept (read it later with ``read_entry``).
    ``extension.vsixmanifest`` and ``extension/package.json`` are always kept up to
    ``limits.max_manifest_bytes`` each, outside the budget.
    """
    with path.open("rb") as f:
        file_size = f.seek(0, 2)
        try:
            return _inspect(path, f, file_size, limits, keep)
        except Rejected:
            raise
        except (zipfile.BadZipFile, zlib.error, struct.error, EOFError, ValueError, IndexError, KeyError,
                OverflowError, UnicodeError, NotImplementedError, RuntimeError) as error:  # pragma: no cover
            raise Rejected("archive.invalid", "the package is not a valid zip archive") from error


def _inspect(path: Path, f: BinaryIO, file_size: int, limits: Limits, keep: Keep | None) -> Archive:
    if file_size > limits.max_archive_bytes:
        raise Rejected("archive.too_large", f"the package is {_size(file_size)}; at most "
                                            f"{_size(limits.max_archive_bytes)} is allowed")
    f.seek(0)
    if f.read(4) != _LOCAL_SIG:
        raise Rejected("archive.not_zip", "the package does not start with a zip file header (PK\\x03\\x04); upload "
                                          "the .vsix file that vsce produced, unmodified")
    records, cd, cd_offset, eocd_offset = _read_central_directory(f, file_size, limits)
    total = sum(r.size for r in records)
    total_compressed = sum(r.compressed_size for r in records)
    if total > limits.max_total_bytes:
        raise Rejected("archive.too_large", f"the package expands to {_size(total)}; at most "
                                            f"{_size(limits.max_total_bytes)} is allowed")
    if total > limits.ratio_floor_bytes and total > limits.max_ratio * total_compressed:
        raise Rejected("archive.ratio", f"the package expands from {_size(total_compressed)} to {_size(total)}, more "
                                        f"than {limits.max_ratio}:1 (zip bomb?)")
    _check_collisions(records)
    ordered = _check_layout(records, cd_offset)
    _cross_check(path, records)

    hasher = hashlib.sha256()
    reader = _Reader(f, hasher)
    kept: dict[str, bytes] = {}
    budget = limits.max_kept_bytes
    position = 0
    f.seek(0)
    for record in ordered:
        label = f"entry {show(record.name)}"
        if record.header_offset != position:
            code = "archive.overlap" if record.header_offset < position else "archive.layout"
            raise Rejected(code, f"{label} does not start where the previous entry ends (hidden or overlapping data)")
        header_len = _check_local_header(reader, record)
        record.data_offset = position + header_len
        cap = _keep_cap(record, keep, limits)
        always = record.name in (MANIFEST_NAME, PACKAGE_JSON_NAME)
        wanted = cap is not None and record.size <= cap and (always or record.size <= budget)
        sink: list[bytes] | None = [] if wanted else None
        for data in _inflate(reader, record, limits.chunk_bytes):
            if sink is not None:
                sink.append(data)
        position = record.data_offset + record.compressed_size
        if record.flags & _FLAG_DESCRIPTOR:
            position += _check_descriptor(reader, record)
        if sink is not None:
            kept[record.name] = b"".join(sink)
            if not always:
                budget -= record.size
    if position != cd_offset:
        raise Rejected("archive.layout", "there are bytes between the last entry and the central directory (hidden "
                                         "data)")
    hasher.update(cd)
    f.seek(eocd_offset)
    hasher.update(f.read(file_size - eocd_offset))
    entries = tuple(Entry(r.name, r.size, r.compressed_size, r.crc, r.method, r.header_offset, r.data_offset,
                          r.is_dir) for r in records)
    return Archive(path, file_size, hasher.hexdigest(), entries, kept, total, total_compressed)


def iter_entry(archive: Archive, entry: Entry, chunk_bytes: int = MiB) -> Iterator[bytes]:
    """Stream one entry of an inspected archive again (e.g. to copy web resources), in bounded chunks.

    The size and CRC are verified again; if the file changed since ``inspect_archive``, the iterator
    raises ``Rejected`` (at the latest after its last chunk).
    """
    record = _Record(entry.name, b"", 0, entry.method, entry.crc, entry.compressed_size, entry.size,
                     entry.header_offset, entry.is_dir, entry.data_offset)
    with archive.path.open("rb") as f:
        f.seek(entry.data_offset)
        yield from _inflate(_Reader(f, _NoHash()), record, chunk_bytes)


def read_entry(archive: Archive, name: str, max_bytes: int) -> bytes:
    """One entry's verified bytes: from ``archive.kept`` when held, else read again from the file."""
    if name in archive.kept:
        return archive.kept[name]
    entry = archive.get(name)
    if entry is None or entry.is_dir:
        raise KeyError(name)
    if entry.size > max_bytes:
        raise Rejected("archive.entry_too_large", f"entry {show(name)} is {_size(entry.size)}; at most "
                                                  f"{_size(max_bytes)} is allowed")
    return b"".join(iter_entry(archive, entry))
