"""Packages an operator brings (``marketplace import`` of files, the mirror's downloads, a bundle's entries)
published through the very same ingest a publisher's upload goes through: nothing here validates a package in
its stead or writes the catalog. The operator's tools hold the publishing table's write access, so they write
the upload record themselves, naming the operator's principal (``service.OPERATOR_PREFIX`` + the client) rather
than a token; the ingest then checks the package as always, and its audit entry says actor ``operator`` from
client ``marketplace import`` (or ``marketplace mirror``).

For one package (``import_package``): read its identity (``peek``, a bounded read of its two manifests); a
version already in the catalog is reported ``present`` and nothing is uploaded, so a second run costs a read per
package; the namespace must exist (or be created, ``ensure_namespace``, when asked to); then the upload record,
the bytes under the uploads prefix, and the ingest's verdict, word for word.

For many (``import_all``): files, directories (every ``*.vsix`` below them) and globs, each file once, on a
bounded thread pool; one package's failure never stops the others.
"""

from __future__ import annotations

import glob
import hashlib
import io
import os
import secrets
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from marketplace.catalog import store as catalog
from marketplace.platform.errors import BadRequest, Conflict, MarketplaceError
from marketplace.publishing import audit, objects, service, store, tokens, uploads
from marketplace.publishing.manifest import MANIFEST_MAX_BYTES, UNIVERSAL, check_version, parse_package_json
from marketplace.publishing.manifest.fields import identifier
from marketplace.publishing.manifest.vsixmanifest import parse_vsixmanifest
from marketplace.publishing.vsix import MANIFEST_NAME, PACKAGE_JSON_NAME, Rejected

IMPORT_CLIENT = "marketplace import"
MIRROR_CLIENT = "marketplace mirror"
STATUSES = ("published", "present", "rejected")
MAX_JOBS = 16
DEFAULT_TIMEOUT = 300.0
POLL_FIRST, POLL_MAX = 0.1, 1.0  # seconds between reads of the upload record: growing, never more than this
_GLOB = frozenset("*?[")
_ALREADY_PUBLISHED = "is already published."  # the ingest's wording (``ingest.already_published``)

Progress = Callable[[int, int], None]  # (packages done, packages in all), after each one and once at the start
Wait = Callable[[str], None]  # given an upload id, returns once its verdict is in (or it gave up)


@dataclass(frozen=True)
class PackageId:
    publisher: str  # as the package.json writes it (vsce allows mixed case)
    name: str
    version: str
    target_platform: str  # ``universal`` when the vsixmanifest names none

    @property
    def namespace(self) -> str:
        return self.publisher.lower()

    @property
    def extension_id(self) -> str:
        return f"{self.namespace}.{self.name.lower()}"


@dataclass(frozen=True)
class Outcome:
    source: str  # the file path, URL or bundle entry it came from (for reports)
    status: str  # "published" | "present" | "rejected"
    extension_id: str | None = None  # publisher.name, lower-case, when known
    version: str | None = None
    target_platform: str | None = None
    reason: str | None = None  # why rejected (the ingest's reason, word for word), or a note

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# --- one package ----------------------------------------------------------------------------------------


def _manifest_entry(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise Rejected("manifest.missing", f"the package has no {name}") from None
    if info.file_size > MANIFEST_MAX_BYTES:
        raise Rejected("manifest.too_large", f"{name} is {info.file_size} bytes; at most {MANIFEST_MAX_BYTES} "
                                             "are allowed")
    with archive.open(info) as handle:
        data = handle.read(MANIFEST_MAX_BYTES + 1)  # never more, whatever the headers claim
    if len(data) > MANIFEST_MAX_BYTES:
        raise Rejected("manifest.too_large", f"{name} is larger than the {MANIFEST_MAX_BYTES} bytes allowed")
    return data


def peek(data: bytes) -> PackageId:
    """The package's identity from its ``extension/package.json`` (publisher, name, version) and
    ``extension.vsixmanifest`` (target platform), read with the ingest's own parsers and at most a manifest's
    size of each; ``BadRequest`` saying why when they cannot be read. Only the identity is checked here: the
    ingest validates everything (a package ``peek`` reads may still be refused there)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            package_json = _manifest_entry(archive, PACKAGE_JSON_NAME)
            vsixmanifest = _manifest_entry(archive, MANIFEST_NAME)
        fields = parse_package_json(package_json)
        publisher = identifier(fields.get("publisher"), "publisher", "manifest.publisher")
        name = identifier(fields.get("name"), "name", "manifest.name")
        version = check_version(fields.get("version"))
        target = parse_vsixmanifest(vsixmanifest).target_platform or UNIVERSAL
    except Rejected as rejected:
        raise BadRequest(rejected.reason) from None
    except Exception as error:  # a hostile archive: any parser error is "cannot be read", never a crash
        detail = str(error)[:200] or type(error).__name__
        raise BadRequest(f"the file is not a readable .vsix package ({detail})") from None
    return PackageId(publisher, name, version, target)


def is_present(package: PackageId) -> bool:
    """That exact version and target is in the catalog (and not unpublished)."""
    found = catalog.get_version(package.extension_id, package.version, package.target_platform)
    return found is not None and found.unpublished_at is None


def ensure_namespace(name: str, *, owner: str | None, mirrored_from: str | None,
                     client: str = IMPORT_CLIENT) -> None:
    """Create the namespace when it is missing (an operator action, audited as ``client``): with ``owner`` as
    its owner, marked mirrored from ``mirrored_from``. A reserved name is created only for a mirror (the operator
    chose the upstream and lists what it mirrors); ``marketplace import`` leaves reserved names to
    ``marketplace publisher create --allow-reserved``. Errors are ``MarketplaceError``s (a look-alike name is a
    ``Conflict``); one created meanwhile by another thread or run counts as created."""
    if store.get_namespace(name) is not None:
        return
    with audit.acting(audit.Actor(audit.OPERATOR, client)):
        try:
            service.create_namespace_as_operator(name, owner=owner, mirrored_from=mirrored_from,
                                                 allow_reserved=mirrored_from is not None)
        except Conflict:
            if store.get_namespace(name) is None:
                raise


def _file_name(source: str, package: PackageId) -> str:
    name = Path(source).name
    if name.lower().endswith(".vsix") and len(name) <= 255 and name.isprintable() and "\\" not in name:
        return name
    return f"{package.extension_id}-{package.version}.vsix"


def _poll(upload_id: str, timeout_seconds: float) -> None:
    """Read the upload record until the ingest settled it, with a growing pause, for at most
    ``timeout_seconds``."""
    deadline, pause = time.monotonic() + timeout_seconds, POLL_FIRST
    while True:
        record = store.find_upload(upload_id)
        remaining = deadline - time.monotonic()
        if (record is not None and record.status not in store.OPEN_STATES) or remaining <= 0:
            return
        time.sleep(min(pause, remaining))
        pause = min(pause * 1.5, POLL_MAX)


def import_package(data: bytes, *, source: str, create_namespaces: bool = False, owner: str | None = None,
                   mirrored_from: str | None = None, client: str = IMPORT_CLIENT,
                   timeout_seconds: float = DEFAULT_TIMEOUT, wait: Wait | None = None) -> Outcome:
    """Publish one package through the ingest as the operator; the outcome says what became of it.

    A namespace that does not exist is created when ``create_namespaces`` or ``mirrored_from`` is given, else
    the package is rejected (saying to pass ``--create-namespaces``). ``wait`` is called with the upload id once
    the bytes are stored and returns when the ingest is done (default: read the record until it is settled, at
    most ``timeout_seconds``); a record still open then is reported rejected, as it may yet be published.
    Errors of the storage itself (AWS unreachable) raise."""
    try:
        package = peek(data)
    except BadRequest as error:
        return Outcome(source, "rejected", reason=error.message)

    def outcome(status: str, reason: str | None = None) -> Outcome:
        return Outcome(source, status, package.extension_id, package.version, package.target_platform, reason)

    limit = uploads.max_upload_bytes()
    if len(data) > limit:
        return outcome("rejected", f"the package is {len(data)} bytes; this marketplace accepts at most {limit} "
                                   "bytes")
    sha256 = hashlib.sha256(data).hexdigest()
    existing = catalog.get_version(package.extension_id, package.version, package.target_platform)
    if existing is not None:
        if existing.unpublished_at is not None:
            return outcome("rejected", f"{package.extension_id} {package.version} ({package.target_platform}) was "
                                       "unpublished here; a withdrawn version number cannot be published again")
        if existing.sha256 != sha256:
            return outcome("present", f"this version is published here with other contents (sha256 "
                                      f"{str(existing.sha256)[:12]}..., the file's {sha256[:12]}...)")
        return outcome("present")
    try:
        if store.get_namespace(package.namespace) is None:
            if not (create_namespaces or mirrored_from):
                return outcome("rejected", f"namespace {package.namespace!r} does not exist; pass "
                                           "--create-namespaces (with --owner) to create it, or create it with "
                                           "`marketplace publisher create`")
            ensure_namespace(package.namespace, owner=owner, mirrored_from=mirrored_from, client=client)
    except MarketplaceError as error:
        return outcome("rejected", error.message)
    upload_id = secrets.token_hex(16)
    store.new_upload(upload_id, user=audit.OPERATOR, token_id=service.OPERATOR_PREFIX + client,
                     file_name=_file_name(source, package), size=len(data), sha256=sha256, now=tokens.utcnow(),
                     client=client)
    objects.put_upload(uploads.object_key(upload_id), data, uploads.CONTENT_TYPE)
    (wait or (lambda upload: _poll(upload, timeout_seconds)))(upload_id)
    record = store.find_upload(upload_id)
    if record is None or record.status in store.OPEN_STATES:
        return outcome("rejected", f"no verdict within {timeout_seconds:g} s: the ingest may still publish it; "
                                   "run the import again")
    if record.status == "published":
        return outcome("published")
    reason = record.reason or "the ingest rejected the package"
    if reason.endswith(_ALREADY_PUBLISHED) and is_present(package):  # another run was first: same end state
        return outcome("present", "published meanwhile by another import")
    return outcome("rejected", reason)


# --- many packages --------------------------------------------------------------------------------------


def expand(paths: Iterable[str | Path]) -> tuple[list[Path], list[Outcome]]:
    """The files ``paths`` name: a file as it is, a directory's ``*.vsix`` files at any depth (by name; links to
    directories are not followed), a glob's matches (``**`` too). Each file once (by resolved path), in the
    order named. A path or glob that names nothing is an ``Outcome`` "rejected" saying so."""
    found: list[Path] = []
    missing: list[Outcome] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            resolved = path.absolute()
        if resolved not in seen:
            seen.add(resolved)
            found.append(path)

    for entry in paths:
        text = str(entry)
        path = Path(text)
        if path.is_dir():
            for root, directories, files in os.walk(path):
                directories.sort()
                for name in sorted(files):
                    candidate = Path(root) / name
                    if name.lower().endswith(".vsix") and not candidate.is_dir():  # a broken link: reported
                        add(candidate)
        elif os.path.lexists(path):
            add(path)
        elif _GLOB & set(text):
            matches = sorted(glob.glob(text, recursive=True))  # noqa: PTH207 - absolute patterns too
            files_matched = [Path(m) for m in matches if Path(m).is_file()]
            for match in matches:
                if Path(match).is_dir():
                    files_matched += expand([match])[0]
            if not files_matched:
                missing.append(Outcome(text, "rejected", reason="no file matches this pattern"))
            for match_path in files_matched:
                add(match_path)
        else:
            try:
                path.stat()
                reason = "cannot read: not a file"
            except OSError as error:
                reason = f"cannot read: {error.strerror or error}"
            missing.append(Outcome(text, "rejected", reason=reason))
    return found, missing


def _import_file(path: Path, options: dict[str, Any]) -> Outcome:
    source = str(path)
    try:
        size = path.stat().st_size
        limit = uploads.max_upload_bytes()
        if size > limit:  # refused before it is read, as the presigned upload would refuse it
            return Outcome(source, "rejected", reason=f"the package is {size} bytes; this marketplace accepts at "
                                                      f"most {limit} bytes")
        data = path.read_bytes()
    except OSError as error:
        return Outcome(source, "rejected", reason=f"cannot read: {error.strerror or error}")
    try:
        return import_package(data, source=source, **options)
    except MarketplaceError as error:
        return Outcome(source, "rejected", reason=error.message)
    except Exception as error:  # the storage failed for this one: report it, go on with the others
        return Outcome(source, "rejected", reason=f"{type(error).__name__}: {str(error)[:300]}")


def import_all(paths: Iterable[str | Path], *, jobs: int = 4, progress: Progress | None = None,
               **options: Any) -> list[Outcome]:
    """``import_package`` for every file ``paths`` name (``expand``), ``jobs`` (1 to ``MAX_JOBS``) at a time;
    ``options`` are ``import_package``'s. The outcomes are in the order of the files (paths naming nothing
    first); a file that cannot be read is "rejected" with the OS's error, and nothing stops the others."""
    if not 1 <= jobs <= MAX_JOBS:
        raise ValueError(f"jobs must be from 1 to {MAX_JOBS}")
    files, outcomes = expand(paths)
    total, done, lock = len(files) + len(outcomes), len(outcomes), threading.Lock()
    if progress is not None:
        progress(done, total)

    def one(path: Path) -> Outcome:
        nonlocal done
        result = _import_file(path, options)
        if progress is not None:
            with lock:
                done += 1
                progress(done, total)
        return result

    if files:
        with ThreadPoolExecutor(max_workers=min(jobs, len(files)), thread_name_prefix="import") as pool:
            outcomes += list(pool.map(one, files))
    return outcomes


# --- reports --------------------------------------------------------------------------------------------


def _cell(value: str | None) -> str:
    """Text safe to print on a terminal (a file name or a reason may hold anything)."""
    return "".join(c if c.isprintable() else "?" for c in (value or "-"))


def summary_table(outcomes: Sequence[Outcome]) -> str:
    """One line per outcome under a header: status, extension, version, target, source, reason."""
    header = ("status", "extension", "version", "target", "source", "reason")
    rows = [header] + [(o.status, _cell(o.extension_id), _cell(o.version), _cell(o.target_platform),
                        _cell(o.source), _cell(o.reason) if o.reason else "") for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)),
                                row[-1]]).rstrip() for row in rows)


def counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """How many outcomes have each status (every status, zero included)."""
    return {status: sum(1 for o in outcomes if o.status == status) for status in STATUSES}


def counts_line(outcomes: Sequence[Outcome]) -> str:
    found = counts(outcomes)
    return f"{found['published']} published, {found['present']} already present, {found['rejected']} rejected"


def bar(done: int, total: int, width: int = 30) -> str:
    """``[=====>    ] 12/40``."""
    filled = width if total <= 0 else min(width, width * done // total)
    body = "=" * width if filled >= width else "=" * filled + ">"
    return f"[{body.ljust(width)}] {done}/{total}"


def progress_bar(stream: TextIO | None = None) -> Progress:
    """A ``Progress`` drawing ``bar`` over itself on ``stream`` (standard error), ending the line when done."""
    out = stream or sys.stderr

    def show(done: int, total: int) -> None:
        out.write("\r" + bar(done, total))
        if done >= total:
            out.write("\n")
        out.flush()

    return show
