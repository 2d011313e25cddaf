"""The mirror's allow-list and deny-list files, and the editor policy an allow-list implies.

Allow-list: one entry a line, ``#`` starts a comment, blank lines are ignored. An entry is an extension id
(``publisher.name``) or a publisher (the whole namespace), then options separated by whitespace:

- ``version=RANGE``: an npm-style range (``^1.2.0``, ``~1.4``, ``1.4.2``, ``">=1.0.0 <2.0.0"``: quote a range
  that holds spaces); default: any version;
- ``platforms=linux-x64,win32-x64,universal``: the target platforms to mirror; default: all;
- ``prerelease=yes|no``: whether pre-release versions count; default ``no``;
- ``latest=N``: only the newest N matching versions; default 1; ``latest=all`` mirrors every matching version.

Deny-list: one id or namespace a line (same comments); the deny-list wins over the allow-list and over the
dependency closure. Ids and namespaces are case-insensitive, as the registry's are. Every error names the file,
the line and the problem (``ListError``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Ranges are npm's: extension authors write them in package.json (``engines``, dependencies) and VS Code reads
# them with npm's own semver. ``node-semver`` is a line-by-line port of npm's node-semver, still released, so
# ``^0.2.3``, ``1.x``, hyphen ranges and ``||`` mean exactly what they mean there; ``semantic-version``'s NpmSpec
# re-implements the grammar and has not had a release for years.
import nodesemver

from marketplace.catalog.ids import ID_PART, TARGET_PLATFORMS, UNIVERSAL
from marketplace.catalog.semver import Version, is_valid
from marketplace.platform.errors import BadRequest

OPTIONS = ("version", "platforms", "prerelease", "latest")
MAX_RANGE = 200
MAX_LINE = 2000
MAX_LIST_BYTES = 4 * 1024 * 1024
POLICY_SETTING = "extensions.allowed"


class ListError(BadRequest):
    """An allow-list or deny-list that cannot be read; the message names the file, the line and the problem."""


def _fail(source: str, line: int, problem: str) -> ListError:
    return ListError(f"{source}:{line}: {problem}" if line else f"{source}: {problem}")


@dataclass(frozen=True)
class AllowEntry:
    """One allow-list line: an extension (``name`` set) or a whole namespace (``name`` is ``None``)."""

    namespace: str  # lower-case
    name: str | None = None  # lower-case; ``None``: every extension of the namespace
    version: str | None = None  # the range as written; ``None``: any version
    platforms: frozenset[str] | None = None  # ``None``: every target platform
    prerelease: bool = False
    latest: int | None = 1  # ``None``: every matching version (``latest=all``)
    line: int = 0

    @property
    def key(self) -> str:
        """The extension id, or the namespace for a namespace entry."""
        return self.namespace if self.name is None else f"{self.namespace}.{self.name}"

    def admits_platform(self, target_platform: str) -> bool:
        return self.platforms is None or target_platform in self.platforms

    def admits_number(self, version: str) -> bool:
        """Whether a version number passes the range and the pre-release rule for numbers (``1.0.0-beta``)."""
        if not is_valid(version):
            return False
        if Version(version).prerelease and not self.prerelease:
            return False
        if self.version is None:
            return True
        return bool(nodesemver.satisfies(version, self.version, loose=False, include_prerelease=self.prerelease))

    def admits(self, version: str, pre_release: bool) -> bool:
        """Whether a version (with the upstream's pre-release flag) is one this entry wants."""
        return (self.prerelease or not pre_release) and self.admits_number(version)

    @property
    def exact_version(self) -> str | None:
        """The one version the range names, when it names exactly one (``1.4.2`` or ``=1.4.2``)."""
        if self.version is None:
            return None
        text = self.version.strip().removeprefix("=").strip()
        return text if is_valid(text) else None

    def describe(self) -> str:
        parts = [self.key]
        if self.version is not None:
            parts.append(f'version="{self.version}"' if " " in self.version else f"version={self.version}")
        if self.platforms is not None:
            parts.append("platforms=" + ",".join(sorted(self.platforms)))
        if self.prerelease:
            parts.append("prerelease=yes")
        if self.latest != 1:
            parts.append(f"latest={'all' if self.latest is None else self.latest}")
        return " ".join(parts)


@dataclass(frozen=True)
class AllowList:
    entries: tuple[AllowEntry, ...]
    source: str = "allow-list"
    text: str = ""  # the file as read (a bundle carries it)
    _by_key: Mapping[str, AllowEntry] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._by_key:
            object.__setattr__(self, "_by_key", {entry.key: entry for entry in self.entries})

    def rule_for(self, extension_id: str) -> AllowEntry | None:
        """The entry that covers an extension: its own line first, else its namespace's."""
        extension_id = extension_id.lower()
        namespace = extension_id.partition(".")[0]
        return self._by_key.get(extension_id) or self._by_key.get(namespace)

    @property
    def extensions(self) -> list[AllowEntry]:
        return [e for e in self.entries if e.name is not None]

    @property
    def namespaces(self) -> list[AllowEntry]:
        return [e for e in self.entries if e.name is None]


@dataclass(frozen=True)
class DenyList:
    ids: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    source: str = "deny-list"

    def denies(self, extension_id: str) -> bool:
        extension_id = extension_id.lower()
        return extension_id in self.ids or extension_id.partition(".")[0] in self.namespaces

    def __bool__(self) -> bool:
        return bool(self.ids or self.namespaces)


# ------------------------------------------------------------------------------------------------- parsing


def _key(word: str, source: str, number: int) -> tuple[str, str | None]:
    parts = word.split(".")
    if len(parts) > 2 or not all(parts) or not all(ID_PART.fullmatch(p) for p in parts) or len(word) > 257:
        raise _fail(source, number, f"{word!r} is neither an extension id (publisher.name) nor a publisher")
    return parts[0].lower(), (parts[1].lower() if len(parts) == 2 else None)


def _words(line: str, source: str, number: int) -> list[str]:
    if len(line) > MAX_LINE:
        raise _fail(source, number, f"the line is longer than {MAX_LINE} characters")
    if any(not c.isprintable() and c != "\t" for c in line):
        raise _fail(source, number, "the line holds a control character")
    try:
        return shlex.split(line, comments=True, posix=True)
    except ValueError as error:  # an unclosed quote
        raise _fail(source, number, f"cannot split the line into words ({error})") from None


def _range(value: str, source: str, number: int) -> str:
    if not value.strip():
        raise _fail(source, number, "version= needs a range, e.g. version=^1.2.0")
    if len(value) > MAX_RANGE:
        raise _fail(source, number, f"the version range is longer than {MAX_RANGE} characters")
    try:
        nodesemver.make_range(value, False)
    except (ValueError, TypeError) as error:
        raise _fail(source, number, f"version={value!r} is not an npm-style version range ({error})") from None
    return value.strip()


def _platforms(value: str, source: str, number: int) -> frozenset[str]:
    names = [p.strip() for p in value.split(",")]
    if not value.strip() or not all(names):
        raise _fail(source, number, "platforms= needs a comma-separated list, e.g. platforms=linux-x64,universal")
    unknown = sorted(p for p in names if p not in TARGET_PLATFORMS)
    if unknown:
        raise _fail(source, number, f"unknown target platform {unknown[0]!r} (one of: "
                                    f"{', '.join(sorted(TARGET_PLATFORMS))})")
    return frozenset(names)


def _latest(value: str, source: str, number: int) -> int | None:
    if value == "all":
        return None
    if not (value.isascii() and value.isdigit()) or int(value) < 1 or len(value) > 6:
        raise _fail(source, number, f"latest={value!r} must be a whole number from 1, or 'all'")
    return int(value)


def _prerelease(value: str, source: str, number: int) -> bool:
    if value not in ("yes", "no"):
        raise _fail(source, number, f"prerelease={value!r} must be 'yes' or 'no'")
    return value == "yes"


def parse_allow(text: str, source: str = "allow-list") -> AllowList:
    entries: list[AllowEntry] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = _words(line, source, number)
        if not words:
            continue
        namespace, name = _key(words[0], source, number)
        options: dict[str, str] = {}
        for word in words[1:]:
            option, equals, value = word.partition("=")
            if not equals:
                raise _fail(source, number, f"{word!r} is not an option (version=, platforms=, prerelease=, "
                                            "latest=)")
            if option not in OPTIONS:
                raise _fail(source, number, f"unknown option {option!r} (one of: {', '.join(OPTIONS)})")
            if option in options:
                raise _fail(source, number, f"option {option!r} is given twice")
            options[option] = value
        entry = AllowEntry(
            namespace, name,
            version=_range(options["version"], source, number) if "version" in options else None,
            platforms=_platforms(options["platforms"], source, number) if "platforms" in options else None,
            prerelease=_prerelease(options["prerelease"], source, number) if "prerelease" in options else False,
            latest=_latest(options["latest"], source, number) if "latest" in options else 1,
            line=number)
        if entry.key in seen:
            raise _fail(source, number, f"{entry.key} is already listed on line {seen[entry.key]}")
        seen[entry.key] = number
        entries.append(entry)
    return AllowList(tuple(entries), source, text)


def parse_deny(text: str, source: str = "deny-list") -> DenyList:
    ids: set[str] = set()
    namespaces: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        words = _words(line, source, number)
        if not words:
            continue
        if len(words) > 1:
            raise _fail(source, number, f"a deny-list line names one extension or publisher, not {words[1]!r} too "
                                        "(a deny-list takes no options)")
        namespace, name = _key(words[0], source, number)
        (namespaces.add(namespace) if name is None else ids.add(f"{namespace}.{name}"))
    return DenyList(frozenset(ids), frozenset(namespaces), source)


def _read(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_LIST_BYTES + 1)
    except OSError as error:
        raise _fail(str(path), 0, f"cannot read: {error.strerror or error}") from None
    if len(data) > MAX_LIST_BYTES:
        raise _fail(str(path), 0, f"larger than {MAX_LIST_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise _fail(str(path), line, "not UTF-8 text") from None


def read_allow(path: Path) -> AllowList:
    return parse_allow(_read(path), str(path))


def read_deny(path: Path) -> DenyList:
    return parse_deny(_read(path), str(path))


# -------------------------------------------------------------------------------------------------- policy


def _value(entry: AllowEntry) -> Any:
    exact = entry.exact_version if entry.name is not None else None
    if exact is not None:
        if entry.platforms is None:
            return [exact]
        return [exact if p == UNIVERSAL else f"{exact}@{p}" for p in sorted(entry.platforms)]
    return True if entry.prerelease else "stable"


def policy_snippet(allow: AllowList, deny: DenyList | None = None, added: Iterable[str] = ()) -> dict[str, Any]:
    """VS Code's ``extensions.allowed`` setting for what the allow-list mirrors, as a settings.json snippet
    (``{"extensions.allowed": {...}}``; docs/import-and-mirror.md, "Mirror", tells the mapping):

    - an extension or publisher with ``prerelease=no`` (the default): ``"stable"``; with ``prerelease=yes``:
      ``true``;
    - an extension whose range names one exact version: ``["1.4.2"]``, or one ``"1.4.2@<platform>"`` per listed
      platform (``universal`` is written without a platform) when ``platforms=`` restricts it;
    - other ranges, ``latest=`` and a publisher's ``platforms=`` have no equivalent in the setting: the value is
      the extension's or publisher's ``"stable"``/``true``, and the registry holds only what was mirrored;
    - ``added``: the extensions the dependency closure brought in (``"stable"``, unless listed);
    - the deny-list's ids and publishers: ``false`` (an extension's own value wins over its publisher's).
    """
    allowed: dict[str, Any] = {entry.key: _value(entry) for entry in allow.entries}
    for extension_id in sorted(set(added)):
        allowed.setdefault(extension_id.lower(), "stable")
    if deny is not None:
        for key in sorted(deny.namespaces | deny.ids):
            allowed[key] = False
    return {POLICY_SETTING: allowed}
