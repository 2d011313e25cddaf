"""The update-diff scanner: a new version of an existing extension is compared with the version it follows,
and what changed for the worse adds points (``Finding.score``); the verdict quarantines the version when the
points reach ``SCAN_QUARANTINE_SCORE`` (an owner confirms it, and with ``SCAN_REQUIRE_OPERATOR_APPROVAL`` an
operator approves it too: ``publishing.lifecycle``).

The previous version is the newest published (not withdrawn, not quarantined) version below the new one of
the same target platform (else of the universal build, else of any build). Its package is read from the
packages bucket with ranged GETs: the central directory, ``extension/package.json``, the entry point and the
first bytes of the few files that changed, never the whole package. The first version of an extension is not
diffed, nor what the operator's own tools (import, mirror) publish.

Signals and their points (each a ``WARN`` finding with a score, so an update below the threshold publishes
with them as warnings):

| signal                                                                   | points          |
|--------------------------------------------------------------------------|-----------------|
| new native binaries or WebAssembly (by name or by magic number)          | 10              |
| ``activationEvents`` gains ``*``                                         | 6               |
| ``activationEvents`` gains ``onStartupFinished``                         | 3               |
| new network hosts in the entry point                                     | 2 each, at most 6 |
| new ``child_process``, ``eval(`` or ``new Function(`` in the entry point | 4               |
| the entry point becomes heavily obfuscated (``obfuscation``)             | 6               |
| the ``repository`` URL changed                                           | 4               |
| published with a token never used for this extension before            | 3               |
"""

from __future__ import annotations

import json
import logging
import math
import posixpath
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import IO, Any

from botocore.exceptions import ClientError

from marketplace.catalog.semver import Version
from marketplace.publishing import manifest, service, vsix
from marketplace.publishing.scanning import WARN, Finding, Subject, read_entry

logger = logging.getLogger(__name__)

PACKAGE_ASSET = "Microsoft.VisualStudio.Services.VSIXPackage"
PACKAGE_JSON = "extension/package.json"

# --- points (the threshold itself is ``scanning.quarantine_threshold()``, 10 by default) ---------------------
BINARY_POINTS = 10  # native code can do anything the user can, unreviewable: alone enough to quarantine
ACTIVATE_ALWAYS_POINTS = 6  # "*": the extension runs in every window from the start
STARTUP_POINTS = 3  # onStartupFinished: runs in every window, a moment later
HOST_POINTS = 2  # per new host the entry point talks to
MAX_HOST_POINTS = 6  # hosts alone never quarantine
CODE_EXECUTION_POINTS = 4  # child_process / eval( / new Function( appearing in the entry point
OBFUSCATION_POINTS = 6
REPOSITORY_POINTS = 4  # the source moved: a transferred or hijacked extension
NEW_TOKEN_POINTS = 3  # a credential never seen publishing this extension

# --- obfuscation, calibrated on real bundles (VS Code's built-in extensions' esbuild/webpack output, npm
# packages' *.min.js: tests/scan_corpus.py keeps representative cases) --------------------------------------
# Minified bundles reach 5.71 bits per character (markdown-language-features' dist/extension.js); base64 or
# packed payloads sit at 5.9-6.0 and above. 5.5, the first guess, flagged ordinary bundles.
ENTROPY_BITS_PER_CHAR = 5.9
MIN_AVERAGE_LINE = 1000  # and few line breaks: one long line of payload, not a source file with data in it
# Share of characters inside \xHH / \uHHHH escapes: markdown-it.min.js (Unicode tables) has 35%; obfuscators
# that escape every string literal and property name go beyond half.
ESCAPE_SHARE = 0.40
# Share of characters in javascript-obfuscator's _0x1a2b3c identifiers; no bundle in the corpus has any.
HEX_IDENTIFIER_SHARE = 0.10

MAX_ENTRY_POINT_BYTES = 16 * vsix.MiB  # the part of the entry point that is measured and searched
MAX_MANIFEST_BYTES = vsix.MiB
MAGIC_BYTES = 4
MAX_NAMED = 5  # files or hosts named in one finding's message
MAX_PREVIOUS_UPLOADS = 20  # upload records read to learn which tokens published the extension before

BINARY_SUFFIXES = (".node", ".dll", ".so", ".dylib", ".exe", ".wasm")
_MAGIC = (b"\x7fELF", b"MZ", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
          b"\xca\xfe\xba\xbe", b"\x00asm")  # ELF, PE, Mach-O (32/64, both byte orders, universal), WebAssembly
_SHARED_OBJECT = re.compile(r"\.so(\.\d+)*$")
_HOST = re.compile(rb"https?://([A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+)")
# hosts every bundle names without talking to them (XML and JSON schema namespaces)
IGNORED_HOSTS = frozenset({"www.w3.org", "json-schema.org", "schemas.microsoft.com", "schemas.openxmlformats.org",
                           "localhost", "127.0.0.1", "example.com", "www.example.com"})
CODE_EXECUTION = (b"child_process", b"eval(", b"new Function(")
_ESCAPE = re.compile(rb"\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}")
_HEX_IDENTIFIER = re.compile(rb"\b_0x[0-9a-f]{4,6}\b")


@dataclass(frozen=True)
class Previous:
    """What the scan compares with: the previous version's package, and who published the extension before
    (``publish_identity`` of each, ``None`` when no upload record is left to say)."""

    package: bytes | IO[bytes]
    publishers: frozenset[str] | None = None


PreviousLoader = Callable[[Subject], Previous | None]


def publish_identity(token_id: str | None, user: str | None) -> str:
    """Who published, for the new-token signal: the token id, or for a website session (a new id at each
    sign-in) its user."""
    if token_id and token_id.startswith(service.SESSION_PREFIX):
        return f"user:{user or ''}"
    return token_id or ""


def _choose(candidates: Iterable[Any], version: str, target_platform: str) -> Any | None:
    """The version the new one follows (module docstring)."""
    new = Version(version)
    visible = [v for v in candidates if v.unpublished_at is None and not getattr(v, "quarantined", False)
               and v.version != version]
    for same in ([v for v in visible if v.target_platform == target_platform],
                 [v for v in visible if v.target_platform == manifest.UNIVERSAL], visible):
        older = [v for v in same if Version(v.version) < new]
        chosen = older or same
        if chosen:
            return max(chosen, key=lambda v: Version(v.version))
    return None


def stored_previous(subject: Subject) -> Previous | None:
    """The previous version from the catalog and the packages bucket (``None`` for a first version)."""
    from marketplace.catalog import store as catalog
    from marketplace.publishing import objects, store

    every = catalog.versions(subject.package.id)
    chosen = _choose(every, subject.package.version, subject.package.target_platform)
    if chosen is None:
        return None
    published = sorted((v for v in every if v.unpublished_at is None and not v.quarantined),
                       key=lambda v: v.published_at, reverse=True)[:MAX_PREVIOUS_UPLOADS]
    identities = set()
    for version in published:
        record = store.find_upload(version.upload_id)
        if record is not None:
            identities.add(publish_identity(record.token_id, record.user))
    return Previous(objects.open_ranged(f"{chosen.asset_base}/{PACKAGE_ASSET}", int(chosen.size)),
                    frozenset(identities) if identities else None)


def is_binary_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith(BINARY_SUFFIXES) or bool(_SHARED_OBJECT.search(lowered))


def is_binary_magic(head: bytes) -> bool:
    return head.startswith(_MAGIC)


@dataclass(frozen=True)
class Measures:
    entropy: float  # Shannon entropy, bits per byte
    average_line: float
    escape_share: float
    hex_identifier_share: float

    @property
    def obfuscated(self) -> bool:
        return ((self.entropy > ENTROPY_BITS_PER_CHAR and self.average_line > MIN_AVERAGE_LINE)
                or self.escape_share > ESCAPE_SHARE or self.hex_identifier_share > HEX_IDENTIFIER_SHARE)


def measure(text: bytes) -> Measures:
    """What the obfuscation signal looks at in a script."""
    if not text:
        return Measures(0.0, 0.0, 0.0, 0.0)
    size = len(text)
    entropy = -sum(n / size * math.log2(n / size) for n in Counter(text).values())
    escaped = sum(len(m) for m in _ESCAPE.findall(text))
    hex_ids = sum(len(m) for m in _HEX_IDENTIFIER.findall(text))
    return Measures(entropy, size / (text.count(b"\n") + 1), escaped / size, hex_ids / size)


def hosts(text: bytes) -> set[str]:
    return {m.group(1).decode("ascii").lower().rstrip(".") for m in _HOST.finditer(text)} - IGNORED_HOSTS


def _activation(package_json: Mapping[str, Any]) -> set[str]:
    events = package_json.get("activationEvents")
    return {e for e in events if isinstance(e, str)} if isinstance(events, list) else set()


def _entry_point(package_json: Mapping[str, Any]) -> str | None:
    """The entry name of the extension's main script (``main``, else ``browser``)."""
    for field in ("main", "browser"):
        value = package_json.get(field)
        if isinstance(value, str) and value.strip():
            path = posixpath.normpath(posixpath.join("extension", value.strip()))
            return path if path.startswith("extension/") else None
    return None


def _repository(package_json: Mapping[str, Any]) -> str | None:
    value = package_json.get("repository")
    if isinstance(value, Mapping):
        value = value.get("url")
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().lower().removeprefix("git+").rstrip("/").removesuffix(".git")
    return re.sub(r"^(https?|ssh|git)://(git@)?", "", text).replace("git@github.com:", "github.com/")


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMED])
    return shown + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


class _Old:
    """The previous package, read lazily (every read of a stored one is a ranged GET)."""

    def __init__(self, package: bytes | IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(BytesIO(package) if isinstance(package, bytes) else package)
        self.infos = {info.filename: info for info in self.zip.infolist() if not info.is_dir()}

    def read(self, name: str, limit: int) -> bytes:
        info = self.infos.get(name)
        if info is None:
            return b""
        with self.zip.open(info) as handle:
            return handle.read(limit)


class UpdateScanner:
    name = "updates"

    def __init__(self, previous: PreviousLoader | None = None) -> None:
        self.previous = previous or stored_previous

    def scan(self, subject: Subject) -> list[Finding]:
        if subject.principal.operator:
            return []  # the operator's import and mirror bring versions the operator chose
        found = self.previous(subject)
        if found is None:
            return []
        try:
            old = _Old(found.package)
            return self._compare(subject, old, found)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, ClientError) as error:
            # never block a publish on the past
            logger.warning("update diff of %s skipped: the previous package could not be read (%s)",
                           subject.package.id, type(error).__name__)
            return []

    def _compare(self, subject: Subject, old: _Old, found: Previous) -> list[Finding]:
        package = subject.package
        try:
            old_json: Mapping[str, Any] = json.loads(old.read(PACKAGE_JSON, MAX_MANIFEST_BYTES) or b"{}")
        except ValueError:
            old_json = {}
        if not isinstance(old_json, Mapping):
            old_json = {}
        findings = self._binaries(subject, old)
        findings += self._activation(package.package_json, old_json)
        findings += self._entry_point(subject, old, old_json)
        was, now = _repository(old_json), _repository(package.package_json)
        if was is not None and was != now:
            findings.append(Finding("update.repository", f"the repository URL changed from {was} to "
                                    f"{now or 'none'}", severity=WARN, score=REPOSITORY_POINTS))
        identity = publish_identity(subject.principal.token_id, subject.principal.user)
        if found.publishers is not None and identity not in found.publishers:
            findings.append(Finding("update.new-token", "published with an access token that never published "
                                    "this extension before", severity=WARN, score=NEW_TOKEN_POINTS))
        return findings

    def _binaries(self, subject: Subject, old: _Old) -> list[Finding]:
        added: list[str] = []
        with zipfile.ZipFile(subject.archive.path) as new:
            for entry in subject.archive.files:
                before = old.infos.get(entry.name)
                if before is not None and entry.crc == before.CRC and before.file_size == entry.size:
                    continue  # the same file as before
                if not is_binary_name(entry.name):
                    with new.open(entry.name) as handle:
                        if not is_binary_magic(handle.read(MAGIC_BYTES)):
                            continue
                if before is None or not (is_binary_name(entry.name)
                                          or is_binary_magic(old.read(entry.name, MAGIC_BYTES))):
                    added.append(entry.name)
        if not added:
            return []
        return [Finding("update.native-binary", f"adds native code or WebAssembly: {_names(added)}", file=added[0],
                        severity=WARN, score=BINARY_POINTS)]

    @staticmethod
    def _activation(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Finding]:
        gained = _activation(new) - _activation(old)
        findings = []
        if "*" in gained:
            findings.append(Finding("update.activation", 'activationEvents now has "*": it runs in every window '
                                    "from the start", severity=WARN, score=ACTIVATE_ALWAYS_POINTS))
        if "onStartupFinished" in gained:
            findings.append(Finding("update.activation", "activationEvents now has onStartupFinished: it runs in "
                                    "every window", severity=WARN, score=STARTUP_POINTS))
        return findings

    @staticmethod
    def _entry_point(subject: Subject, old: _Old, old_json: Mapping[str, Any]) -> list[Finding]:
        name = _entry_point(subject.package.package_json)
        entry = subject.archive.get(name) if name else None
        if entry is None and name and not name.endswith(".js"):
            name += ".js"
            entry = subject.archive.get(name)
        if name is None or entry is None or entry.is_dir:
            return []
        old_name = _entry_point(old_json)
        if old_name is not None and old_name not in old.infos and old_name + ".js" in old.infos:
            old_name += ".js"
        before = old.infos.get(old_name) if old_name else None
        if before is not None and entry.crc == before.CRC and before.file_size == entry.size:
            return []
        text = read_entry(subject.archive, entry, MAX_ENTRY_POINT_BYTES)
        previous = old.read(old_name, MAX_ENTRY_POINT_BYTES) if old_name else b""
        findings: list[Finding] = []
        new_hosts = sorted(hosts(text) - hosts(previous))
        if new_hosts:
            findings.append(Finding("update.network", f"the entry point names new hosts: {_names(new_hosts)}",
                                    file=name, severity=WARN,
                                    score=min(MAX_HOST_POINTS, HOST_POINTS * len(new_hosts))))
        gained = [p.decode() for p in CODE_EXECUTION if p in text and p not in previous]
        if gained:
            findings.append(Finding("update.code-execution", f"the entry point now uses {', '.join(gained)}",
                                    file=name, severity=WARN, score=CODE_EXECUTION_POINTS))
        if measure(text).obfuscated and not measure(previous).obfuscated:
            findings.append(Finding("update.obfuscation", "the entry point is now heavily obfuscated", file=name,
                                    severity=WARN, score=OBFUSCATION_POINTS))
        return findings
