"""The operator's blocklist: packages (the SHA-256 of a whole .vsix), files inside packages (the SHA-256 of one
file) and extension ids the ingest refuses (``publishing.store.BlockItem``; ``marketplace scan ...`` keeps it).

A block is retroactive: blocking an extension id, or the hash of a package or a file that is already published,
marks the extensions concerned malicious (``catalog.store.set_malicious``, the same operation as ``marketplace
extension block``), so editors that installed them are told to remove them. Removing a block (``unblock``) only
lets new uploads through again: an extension it marked stays blocked until the operator lifts that block.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from marketplace.catalog import reader as catalog_reader
from marketplace.catalog import store as catalog
from marketplace.catalog.ids import EXTENSION_ID
from marketplace.platform.errors import BadRequest, NotFound
from marketplace.publishing import audit, objects, service, uploads
from marketplace.publishing import store as publishing_store
from marketplace.publishing.scanning import REJECT, WARN, Finding, Subject, iter_entry
from marketplace.publishing.store import BLOCK_KINDS, BlockItem

PACKAGE, FILE, EXTENSION = BLOCK_KINDS
MAX_HASHED_BYTES = 64 * 1024 * 1024  # larger files are not hashed (a warning says so)
PACKAGE_ASSET = "Microsoft.VisualStudio.Services.VSIXPackage"  # the published package's key under its asset base
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LABELS = {PACKAGE: "the package", FILE: "this file", EXTENSION: "the extension id"}


class BlocklistStore(Protocol):
    def get_block(self, kind: str, value: str) -> BlockItem | None: ...

    def blocks(self, kind: str) -> list[BlockItem]: ...


def blocked_message(kind: str, reason: str) -> str:
    """What the publisher reads: the kind of block and the operator's reason, nothing more (not the hash)."""
    return f"{_LABELS[kind]} is on this marketplace's blocklist: {reason}"


class BlocklistScanner:
    """Refuses a package whose SHA-256, any of whose files' SHA-256, or whose extension id is blocked. Files are
    hashed only while file blocks exist (one Query of their partition per package)."""

    name = "blocklist"

    def __init__(self, store: BlocklistStore = publishing_store) -> None:
        self.store = store

    def scan(self, subject: Subject) -> list[Finding]:
        findings: list[Finding] = []
        for kind, value in ((PACKAGE, subject.sha256), (EXTENSION, subject.package.id)):
            found = self.store.get_block(kind, value)
            if found is not None:
                findings.append(Finding(f"blocklist.{kind}", blocked_message(kind, found.reason), severity=REJECT))
        file_blocks = {item.value: item for item in self.store.blocks(FILE)}
        if file_blocks:
            for entry in subject.archive.files:
                if entry.size > MAX_HASHED_BYTES:
                    findings.append(Finding("blocklist.unchecked", "larger than 64 MiB: not compared with the "
                                            "blocklist of files", file=entry.name, severity=WARN))
                    continue
                digest = hashlib.sha256()
                for chunk in iter_entry(subject.archive, entry, MAX_HASHED_BYTES):
                    digest.update(chunk)
                item = file_blocks.get(digest.hexdigest())
                if item is not None:
                    findings.append(Finding("blocklist.file", blocked_message(FILE, item.reason), file=entry.name,
                                            severity=REJECT))
        return findings


# --- the operator's actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Marked:
    """A published version a new block matched; its extension is now blocked (malicious)."""

    extension_id: str
    version: str
    target_platform: str
    file: str | None = None  # the matching file, for a file block


@dataclass(frozen=True)
class Blocked:
    item: BlockItem
    marked: tuple[Marked, ...]  # what the block matched among published versions
    checked: int = 0  # published packages read again (a file block)


def value_of(kind: str, value: str) -> str:
    """The block's value as stored: a lower-case hex SHA-256, or a lower-case extension id (``BadRequest``)."""
    if kind not in BLOCK_KINDS:
        raise BadRequest(f"the kind of a block is one of {', '.join(BLOCK_KINDS)}, not {kind!r}")
    normal = value.strip().lower()
    if kind == EXTENSION:
        if not EXTENSION_ID.fullmatch(normal):
            raise BadRequest(f"{value!r} is not an extension id (publisher.name)")
    elif not _SHA256.fullmatch(normal):
        raise BadRequest(f"{value!r} is not a SHA-256 (64 hexadecimal digits)")
    return normal


def block(kind: str, value: str, reason: str, now: datetime,
          progress: Callable[[str], None] = lambda _line: None) -> Blocked:
    """Add a block (replacing one with the same value) and mark what it matches among published versions."""
    value = value_of(kind, value)
    if not reason.strip():
        raise BadRequest("a block needs a reason (the publisher is shown it)")
    item = publishing_store.block_item(kind, value, reason.strip(), audit.current().user, now)
    publishing_store.put_block(item)
    checked = 0
    marked: list[Marked] = []
    if kind == EXTENSION:
        if catalog.get_extension(value) is not None:
            marked.append(Marked(value, "", ""))  # every version
    elif kind == PACKAGE:
        marked += [Marked(v.extension_id, v.version, v.target_platform)
                   for v in catalog_reader.versions_with_sha256(value)]
    else:
        for found_file in _published_files_matching({value}, progress):
            checked += 1
            if found_file is not None:
                marked.append(found_file)
    for extension_id in dict.fromkeys(m.extension_id for m in marked):
        catalog.set_malicious(extension_id, True, item.reason, now)
        service.record(extension_id.partition(".")[0], "extension.block", extension_id,
                       {"blocklist": kind, "value": value, "reason": item.reason}, at=now)
    if kind == EXTENSION and not marked:
        service.record(value.partition(".")[0], "scan.block", value, {"blocklist": kind, "reason": item.reason},
                       at=now)
    return Blocked(item, tuple(marked), checked)


def _published_files_matching(hashes: set[str], progress: Callable[[str], None]) -> Iterator[Marked | None]:
    """For each published version, its package read again from the bucket: a ``Marked`` naming the first file
    whose SHA-256 is one of ``hashes``, else ``None`` (one item per version, so the caller can count)."""
    versions = list(catalog_reader.published_versions())
    progress(f"reading {len(versions)} published package(s) again to hash their files")
    done: set[str] = set()
    for number, version in enumerate(versions, start=1):
        if version.extension_id in done:
            yield None
            continue
        downloaded = objects.download(f"{version.asset_base}/{PACKAGE_ASSET}", uploads.max_upload_bytes())
        try:
            name = next(iter(matching_files(downloaded.path, hashes)), None)
        finally:
            downloaded.path.unlink(missing_ok=True)
        if number % 50 == 0 or number == len(versions):
            progress(f"{number}/{len(versions)} packages checked")
        if name is None:
            yield None
        else:
            done.add(version.extension_id)
            progress(f"{version.extension_id} {version.version} ({version.target_platform}): {name} matches")
            yield Marked(version.extension_id, version.version, version.target_platform, name)


def matching_files(path: Path, hashes: Iterable[str]) -> Iterator[str]:
    """The names of the files of the (published, so validated) package at ``path`` whose SHA-256 is among
    ``hashes``; files over ``MAX_HASHED_BYTES`` are skipped, as the ingest skips them."""
    wanted = set(hashes)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir() or info.file_size > MAX_HASHED_BYTES:
                continue
            digest = hashlib.sha256()
            with archive.open(info) as handle:
                while chunk := handle.read(objects.CHUNK):
                    digest.update(chunk)
            if digest.hexdigest() in wanted:
                yield info.filename


def unblock(kind: str, value: str, now: datetime) -> BlockItem:
    """Remove a block: new uploads it refused are accepted again. Extensions it marked malicious stay blocked
    (``marketplace extension block ID --off`` lifts that)."""
    value = value_of(kind, value)
    found = publishing_store.get_block(kind, value)
    if found is None or not publishing_store.remove_block(kind, value):
        raise NotFound(f"no {kind} block for {value}")
    if kind == EXTENSION:
        service.record(value.partition(".")[0], "scan.unblock", value, {"blocklist": kind}, at=now)
    return found


def entries() -> list[BlockItem]:
    """Every block, kind by kind, oldest first within a kind."""
    return [item for kind in BLOCK_KINDS for item in sorted(publishing_store.blocks(kind), key=lambda b: b.created_at)]
