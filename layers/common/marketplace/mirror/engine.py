"""The mirror: what to take from an upstream registry (``plan``) and taking it (``run``).

``plan`` reads metadata only: for each wanted extension (the allow-list's, or everything the upstream's search
lists) one ``GET /api/{ns}/{ext}``, more only when an older version is wanted or the newest does not qualify;
then the closure of the chosen versions' ``dependencies`` and ``bundledExtensions`` (extension packs),
followed transitively, each member added with its newest version unless the allow-list lists it. The
deny-list wins everywhere: a denied closure member is reported missing and never fetched.

``run`` takes each planned build that is not here yet (``present``: nothing is downloaded for it), reads its
metadata, downloads it (streamed, size-capped), checks its SHA-256 against the upstream's ``files.sha256``
document and the signature where the upstream publishes one and a public key, checks the package is the
extension and version it was listed as, and hands the bytes to a ``Sink``: by default the importer, so the
package goes through the very same ingest as any upload (all or nothing: nothing partial is ever published,
and a run after an interrupted one simply continues). Statistics and reviews are never read from the upstream
nor written here.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from marketplace.catalog.ids import EXTENSION_ID, TARGET_PLATFORMS, UNIVERSAL
from marketplace.catalog.semver import Version, is_valid
from marketplace.mirror.lists import AllowEntry, AllowList, DenyList
from marketplace.mirror.upstream import Refused, Upstream, UpstreamError, UpstreamNotFound
from marketplace.platform.errors import MarketplaceError

if TYPE_CHECKING:
    from marketplace.publishing import importer

ALIASES = frozenset({"latest", "pre-release"})
MAX_JOBS = 16
MAX_KEY_BYTES = 64 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")

# A version's signature, as the report shows it.
VERIFIED = "verified"
UNSIGNED = "unsigned"
NO_KEY = "not checked: the upstream publishes no public key"
OTHER_FORMAT = "not checked: not this marketplace's signature format"

STATUSES = ("published", "present", "rejected", "failed", "planned")
# The upstream's statistics: never handed on, not even inside the metadata a sink is given.
STATISTICS = frozenset({"downloadCount", "averageRating", "reviewCount"})

Progress = Callable[[int, int], None]  # (versions done, versions in all), as ``importer.Progress``


# ------------------------------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Build:
    """One (version, target platform) of an extension the plan chose."""

    namespace: str  # as the upstream writes it
    name: str
    version: str
    target_platform: str
    pre_release: bool = False
    added_for: str | None = None  # the extension whose closure brought it in
    metadata: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)  # this build's, if read

    @property
    def extension_id(self) -> str:
        return f"{self.namespace}.{self.name}".lower()


@dataclass(frozen=True)
class UpstreamVersion:
    """A build as the upstream describes it, verified: what a ``Sink`` is given with the bytes."""

    publisher: str  # the namespace, as the upstream writes it
    name: str
    version: str
    target_platform: str
    pre_release: bool
    sha256: str
    download_url: str
    metadata: Mapping[str, Any] = field(repr=False)  # the upstream's ExtensionJson of this build
    signature: str = UNSIGNED  # VERIFIED, UNSIGNED or why it was not checked

    @property
    def extension_id(self) -> str:
        return f"{self.publisher}.{self.name}".lower()


@dataclass(frozen=True)
class Missing:
    """An extension the plan could not take: not on the upstream, denied, no version matching, or failed."""

    extension_id: str
    reason: str
    added_for: str | None = None
    failed: bool = False  # the upstream failed (counts against the run), rather than having nothing to give


@dataclass
class Plan:
    upstream: str
    builds: list[Build]
    wanted: list[str]  # every extension the plan covers, in order (closure members included)
    added: dict[str, str]  # closure member -> the extension that needs it
    denied: list[str]  # allow-listed (or listed upstream) ids and namespaces the deny-list took out
    missing: list[Missing]
    requests: int = 0  # upstream requests the plan made
    client: Upstream | None = field(default=None, repr=False, compare=False)

    def summary(self) -> str:
        extensions = len({b.extension_id for b in self.builds})
        parts = [f"{len(self.builds)} version{'s' * (len(self.builds) != 1)} of {extensions} extension"
                 f"{'s' * (extensions != 1)} from {self.upstream}"]
        if self.added:
            parts.append(f"{len(self.added)} added by the dependency closure")
        if self.denied:
            parts.append(f"{len(self.denied)} denied")
        if self.missing:
            parts.append(f"{len(self.missing)} missing")
        return f"Plan: {', '.join(parts)} ({self.requests} metadata requests)."

    def as_json(self) -> dict[str, Any]:
        return {"upstream": self.upstream, "requests": self.requests, "wanted": self.wanted, "added": self.added,
                "denied": self.denied, "missing": [asdict(m) for m in self.missing],
                "builds": [{"extension": b.extension_id, "version": b.version, "targetPlatform": b.target_platform,
                            "preRelease": b.pre_release, "addedFor": b.added_for} for b in self.builds]}


@dataclass(frozen=True)
class Line:
    """The outcome of one version."""

    extension_id: str
    version: str
    target_platform: str
    status: str  # one of STATUSES
    reason: str | None = None
    signature: str | None = None
    added_for: str | None = None
    bytes: int = 0
    source: str | None = None


@dataclass
class Report:
    upstream: str
    lines: list[Line]
    added: dict[str, str]
    denied: list[str]
    missing: list[Missing]
    dry_run: bool = False
    bytes_transferred: int = 0  # package bytes downloaded
    requests: int = 0  # every upstream request of the plan and the run
    seconds: float = 0.0

    @property
    def totals(self) -> dict[str, int]:
        found = {status: sum(1 for line in self.lines if line.status == status) for status in STATUSES}
        found["unsigned"] = sum(1 for line in self.lines if line.signature == UNSIGNED)
        found["missing"] = len(self.missing)
        found["denied"] = len(self.denied)
        return found

    @property
    def ok(self) -> bool:
        """Nothing rejected and nothing failed (a missing dependency or a denied one is not a failure)."""
        return not any(line.status in ("rejected", "failed") for line in self.lines) and not any(
            m.failed for m in self.missing)

    def as_json(self) -> dict[str, Any]:
        return {"upstream": self.upstream, "dryRun": self.dry_run, "ok": self.ok, "totals": self.totals,
                "bytesTransferred": self.bytes_transferred, "requests": self.requests,
                "seconds": round(self.seconds, 3), "added": self.added, "denied": self.denied,
                "missing": [asdict(m) for m in self.missing], "versions": [asdict(line) for line in self.lines]}

    def counts_line(self) -> str:
        t = self.totals
        head = (f"{t['planned']} to fetch, {t['present']} already present" if self.dry_run else
                f"{t['published']} published, {t['present']} already present (skipped), {t['rejected']} rejected, "
                f"{t['failed']} failed")
        return (f"{head}; {t['unsigned']} unsigned, {t['missing']} missing, {t['denied']} denied; "
                f"{self.bytes_transferred / 1048576:.1f} MiB in {self.requests} requests, {self.seconds:.1f} s")

    def table(self) -> str:
        header = ("status", "extension", "version", "target", "signature", "reason")
        rows = [header] + [(line.status, _cell(line.extension_id), _cell(line.version), _cell(line.target_platform),
                            _cell(line.signature), _cell(_note(line))) for line in self.lines]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        text = ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()
                for row in rows]
        for member, needed_by in self.added.items():
            text.append(f"added {member} for {needed_by}")
        for denied in self.denied:
            text.append(f"denied {denied}")
        for missing in self.missing:
            text.append(f"{'failed' if missing.failed else 'missing'} {missing.extension_id}: {_cell(missing.reason)}")
        text.append(self.counts_line())
        return "\n".join(text)


def _cell(value: str | None) -> str:
    return "".join(c if c.isprintable() else "?" for c in (value or "-"))[:500]


def _note(line: Line) -> str:
    parts = [p for p in (line.reason, f"added for {line.added_for}" if line.added_for else None) if p]
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------------- sinks


class Sink(Protocol):
    """Where verified packages go. A sink may also define ``is_present(build) -> bool``: what it already holds
    is then skipped without a download."""

    def accept(self, data: bytes, version: UpstreamVersion) -> importer.Outcome: ...

    def close(self) -> None: ...


class ImportSink:
    """The default sink: the local registry's importer, through its ingest, into namespaces it creates and marks
    as mirrored from the upstream."""

    def __init__(self, upstream: str, *, timeout_seconds: float = 300.0,
                 wait: Callable[[str], None] | None = None) -> None:
        self.upstream = upstream
        self.timeout_seconds = timeout_seconds
        self.wait = wait  # ``importer.import_package``'s hook (tests hand the upload to the ingest themselves)

    def is_present(self, build: Build) -> bool:
        from marketplace.publishing import importer

        return importer.is_present(importer.PackageId(build.namespace, build.name, build.version,
                                                      build.target_platform))

    def accept(self, data: bytes, version: UpstreamVersion) -> importer.Outcome:
        from marketplace.publishing import importer

        return importer.import_package(data, source=version.download_url, mirrored_from=self.upstream,
                                       create_namespaces=True, client=importer.MIRROR_CLIENT,
                                       timeout_seconds=self.timeout_seconds, wait=self.wait)

    def close(self) -> None:
        return None


# ---------------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _Want:
    namespace: str
    name: str
    rule: AllowEntry | None  # ``None``: the newest version, every platform (no allow-list)
    added_for: str | None = None

    @property
    def extension_id(self) -> str:
        return f"{self.namespace}.{self.name}".lower()


@dataclass
class _Resolved:
    builds: list[Build] = field(default_factory=list)
    closure: list[tuple[str, str]] = field(default_factory=list)  # (namespace, name) of dependencies and packs
    missing: Missing | None = None


def _references(metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for key in ("dependencies", "bundledExtensions"):
        for reference in metadata.get(key) or ():
            if not isinstance(reference, dict):
                continue
            namespace, name = reference.get("namespace"), reference.get("extension")
            if isinstance(namespace, str) and isinstance(name, str) and EXTENSION_ID.fullmatch(f"{namespace}.{name}"):
                found.append((namespace, name))
    return found


def _platforms(metadata: Mapping[str, Any], top: Mapping[str, Any], version: str) -> list[str]:
    """The target platforms the upstream has of ``version``: its ``downloads`` map, else
    ``allTargetPlatformVersions``, else the build the metadata describes."""
    downloads = metadata.get("downloads")
    if isinstance(downloads, dict) and downloads:
        names = [str(p) for p in downloads]
    else:
        names = []
        for entry in top.get("allTargetPlatformVersions") or ():
            if isinstance(entry, dict) and entry.get("version") == version:
                names = [str(p) for p in entry.get("targetPlatforms") or ()]
        names = names or [str(metadata.get("targetPlatform") or UNIVERSAL)]
    universal_first = sorted(set(names), key=lambda p: (p != UNIVERSAL, p))
    return [p for p in universal_first if p in TARGET_PLATFORMS]


class _Planner:
    def __init__(self, upstream: Upstream, allow: AllowList | None, deny: DenyList, jobs: int) -> None:
        self.upstream, self.allow, self.deny, self.jobs = upstream, allow, deny, jobs
        self.builds: list[Build] = []
        self.wanted: list[str] = []
        self.added: dict[str, str] = {}
        self.denied: list[str] = []
        self.missing: list[Missing] = []
        self.seen: set[str] = set()

    def seeds(self) -> list[_Want]:
        found: list[_Want] = []
        if self.allow is None:
            for entry in self.upstream.search_all():
                namespace, name = entry.get("namespace"), entry.get("name")
                if isinstance(namespace, str) and isinstance(name, str):
                    found.append(_Want(namespace, name, None))
            return found
        for rule in self.allow.entries:
            if rule.name is not None:
                found.append(_Want(rule.namespace, rule.name, rule))
                continue
            if self.deny.denies(rule.namespace):
                self.denied.append(rule.namespace)
                continue
            try:
                names = self.upstream.namespace(rule.namespace).get("extensions") or {}
            except UpstreamNotFound:
                self.missing.append(Missing(rule.namespace, "no such namespace on the upstream"))
                continue
            except UpstreamError as error:
                self.missing.append(Missing(rule.namespace, error.message, failed=True))
                continue
            for name in sorted(str(n) for n in names):
                extension_id = f"{rule.namespace}.{name}".lower()
                if EXTENSION_ID.fullmatch(extension_id):
                    found.append(_Want(rule.namespace, name, self.allow.rule_for(extension_id) or rule))
        return found

    def closure_rule(self, namespace: str, name: str, needed_by: _Want) -> AllowEntry | None:
        """A closure member's rule: its own allow-list line (or its namespace's), else its newest version on the
        platforms (and with the pre-release choice) of the extension that needs it."""
        if self.allow is None:
            return None
        listed = self.allow.rule_for(f"{namespace}.{name}")
        if listed is not None:
            return listed
        parent = needed_by.rule
        return AllowEntry(namespace.lower(), name.lower(), platforms=parent.platforms if parent else None,
                          prerelease=parent.prerelease if parent else False, latest=1)

    def run(self) -> None:
        frontier = self.seeds()
        while frontier:
            level: list[_Want] = []
            for want in frontier:
                if want.extension_id in self.seen:
                    continue
                self.seen.add(want.extension_id)
                if self.deny.denies(want.extension_id):
                    if want.added_for is not None:
                        self.missing.append(Missing(want.extension_id, "on the deny-list", want.added_for))
                    else:
                        self.denied.append(want.extension_id)
                    continue
                level.append(want)
                self.wanted.append(want.extension_id)
                if want.added_for is not None:
                    self.added[want.extension_id] = want.added_for
            if self.jobs > 1 and len(level) > 1:
                with ThreadPoolExecutor(max_workers=min(self.jobs, len(level)), thread_name_prefix="plan") as pool:
                    resolved = list(pool.map(self.resolve, level))
            else:
                resolved = [self.resolve(want) for want in level]
            frontier = []
            for want, result in zip(level, resolved, strict=True):
                self.builds += result.builds
                if result.missing is not None:
                    self.missing.append(result.missing)
                for namespace, name in result.closure:
                    frontier.append(_Want(namespace, name, self.closure_rule(namespace, name, want),
                                          want.extension_id))

    def resolve(self, want: _Want) -> _Resolved:
        try:
            return self._resolve(want)
        except UpstreamNotFound:
            return _Resolved(missing=Missing(want.extension_id, "not found on the upstream", want.added_for))
        except UpstreamError as error:
            return _Resolved(missing=Missing(want.extension_id, error.message, want.added_for, failed=True))

    def _candidates(self, top: Mapping[str, Any], rule: AllowEntry) -> list[str]:
        listed = top.get("allVersions")
        if rule.latest is None or not isinstance(listed, dict):
            url = top.get("allVersionsUrl")
            numbers = self.upstream.versions(self.upstream.check_url(url)) if isinstance(url, str) else []
        else:
            numbers = [str(n) for n in listed]
        numbers.append(str(top["version"]))
        valid = {n for n in numbers if n not in ALIASES and is_valid(n) and rule.admits_number(n)}
        return sorted(valid, key=Version, reverse=True)

    def _resolve(self, want: _Want) -> _Resolved:
        top = self.upstream.extension(want.namespace, want.name)
        namespace = str(top.get("namespace") or want.namespace)
        name = str(top.get("name") or want.name)
        if f"{namespace}.{name}".lower() != want.extension_id:
            raise Refused(f"asked for {want.extension_id}, the upstream answered {namespace}.{name}")
        chosen: list[tuple[Mapping[str, Any], list[str]]] = []
        rule = want.rule
        if rule is None:
            chosen.append((top, _platforms(top, top, str(top["version"]))))
        else:
            for number in self._candidates(top, rule):
                metadata = top if number == top["version"] else self._version(namespace, name, number)
                if metadata is None or not rule.admits(number, bool(metadata.get("preRelease"))):
                    continue
                platforms = [p for p in _platforms(metadata, top, number) if rule.admits_platform(p)]
                if platforms:
                    chosen.append((metadata, platforms))
                if rule.latest is not None and len(chosen) >= rule.latest:
                    break
        if not chosen:
            what = rule.describe() if rule is not None else want.extension_id
            return _Resolved(missing=Missing(want.extension_id, f"no upstream version matches {what}",
                                             want.added_for))
        result = _Resolved()
        for metadata, platforms in chosen:
            number = str(metadata["version"])
            for platform in platforms:
                exact = metadata.get("targetPlatform", UNIVERSAL) == platform
                result.builds.append(Build(namespace, name, number, platform, bool(metadata.get("preRelease")),
                                           want.added_for, metadata if exact else None))
            result.closure += _references(metadata)
        return result

    def _version(self, namespace: str, name: str, number: str) -> Mapping[str, Any] | None:
        try:
            return self.upstream.extension(namespace, name, version=number)
        except UpstreamNotFound:
            return None


def plan(upstream: Upstream, allow: AllowList | None, deny: DenyList | None = None, *, jobs: int = 4) -> Plan:
    """What to mirror (reads metadata only; see the module's docstring). ``allow`` ``None``: everything the
    upstream's search lists, the newest version of each."""
    before = upstream.requests
    planner = _Planner(upstream, allow, deny or DenyList(), max(1, min(jobs, MAX_JOBS)))
    planner.run()
    return Plan(upstream.base_url, planner.builds, planner.wanted, planner.added, planner.denied, planner.missing,
                upstream.requests - before, upstream)


# ----------------------------------------------------------------------------------------------------- run


def without_statistics(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metadata.items() if key not in STATISTICS}


def parse_sha256(document: bytes) -> str:
    """The digest an upstream's ``.sha256`` file holds (the hex digest, possibly followed by a file name)."""
    words = document.decode("ascii", errors="replace").split()
    value = words[0].lower() if words else ""
    if not _SHA256.fullmatch(value):
        raise Refused("the upstream's SHA-256 document holds no SHA-256")
    return value


def _ours(manifest: object) -> bool:
    return (isinstance(manifest, dict) and manifest.get("version") == 1 and isinstance(manifest.get("keyId"), str)
            and isinstance(manifest.get("package"), dict) and "sha256" in manifest["package"])


def verify_signature(archive: bytes, package: bytes, public_pem: bytes) -> str:
    """``VERIFIED`` when the archive is this marketplace's signature format and verifies against the package and
    the key; ``OTHER_FORMAT`` for another registry's format (an Open VSX signature); ``Refused`` when it does
    not verify or cannot be read."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            manifest = json.loads(opened.read(".signature.manifest")[:MAX_KEY_BYTES * 16])
    except Exception:
        raise Refused("the upstream's signature archive cannot be read") from None
    if not _ours(manifest):
        return OTHER_FORMAT
    from marketplace.publishing import signing

    try:
        signing.verify(archive, package, public_pem)
    except Exception as error:
        raise Refused(f"the signature does not verify: {str(error)[:200] or type(error).__name__}") from None
    return VERIFIED


class _Runner:
    def __init__(self, plan: Plan, sink: Sink, max_bytes: int) -> None:
        if plan.client is None:
            raise ValueError("the plan has no upstream client (make it with plan())")
        self.plan, self.sink, self.upstream, self.max_bytes = plan, sink, plan.client, max_bytes
        self.keys: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.transferred = 0

    def key(self, url: str) -> bytes:
        with self.lock:
            known = self.keys.get(url)
        if known is None:
            known = self.upstream.get_bytes(url, MAX_KEY_BYTES)
            with self.lock:
                self.keys[url] = known
        return known

    def signature(self, files: Mapping[str, Any], data: bytes) -> str:
        signature_url, key_url = files.get("signature"), files.get("publicKey")
        if not isinstance(signature_url, str) or not signature_url:
            return UNSIGNED
        if not isinstance(key_url, str) or not key_url:
            return NO_KEY
        archive = self.upstream.get_bytes(signature_url)
        return verify_signature(archive, data, self.key(key_url))

    def line(self, build: Build, status: str, reason: str | None = None, **more: Any) -> Line:
        return Line(build.extension_id, build.version, build.target_platform, status, reason,
                    added_for=build.added_for, **more)

    def fetch(self, build: Build) -> Line:
        signature: str | None = None
        size = 0
        try:
            metadata = build.metadata or self.upstream.extension(build.namespace, build.name,
                                                                 target_platform=build.target_platform,
                                                                 version=build.version)
            named = (f"{metadata.get('namespace')}.{metadata.get('name')}".lower(), metadata.get("version"),
                     metadata.get("targetPlatform") or UNIVERSAL)
            if named != (build.extension_id, build.version, build.target_platform):
                raise Refused(f"the upstream's metadata describes {named[0]} {named[1]} ({named[2]})")
            listed = metadata.get("files")
            files: Mapping[str, Any] = listed if isinstance(listed, dict) else {}
            download_url, sha_url = files.get("download"), files.get("sha256")
            if not isinstance(download_url, str) or not download_url:
                raise Refused("the upstream names no download for it")
            if not isinstance(sha_url, str) or not sha_url:
                raise Refused("the upstream publishes no SHA-256 for it, so the download could not be checked")
            expected = parse_sha256(self.upstream.get_bytes(sha_url, 4096))
            downloaded = self.upstream.download(download_url, max_bytes=self.max_bytes)
            try:
                size = downloaded.size
                with self.lock:
                    self.transferred += size
                if downloaded.sha256 != expected:
                    raise Refused(f"SHA-256 mismatch: the upstream's document says {expected}, the download is "
                                  f"{downloaded.sha256}")
                data = downloaded.path.read_bytes()
            finally:
                downloaded.path.unlink(missing_ok=True)
            self.check_identity(data, build)
            signature = self.signature(files, data)
            version = UpstreamVersion(str(metadata.get("namespace")), str(metadata.get("name")), build.version,
                                      build.target_platform, bool(metadata.get("preRelease")), expected,
                                      download_url, without_statistics(metadata), signature)
            outcome = self.sink.accept(data, version)
            return self.line(build, outcome.status, outcome.reason, signature=signature, bytes=size,
                             source=outcome.source)
        except UpstreamNotFound as error:
            return self.line(build, "failed", f"gone from the upstream ({error.url or error.message})",
                             signature=signature, bytes=size)
        except Refused as error:
            return self.line(build, "rejected", error.message, signature=signature, bytes=size)
        except UpstreamError as error:
            return self.line(build, "failed", error.message, signature=signature, bytes=size)
        except MarketplaceError as error:
            return self.line(build, "rejected", error.message, signature=signature, bytes=size)
        except Exception as error:  # the local storage failed for this one: report it, go on with the others
            return self.line(build, "failed", f"{type(error).__name__}: {str(error)[:300]}", signature=signature,
                             bytes=size)

    @staticmethod
    def check_identity(data: bytes, build: Build) -> None:
        """The package must be what the upstream listed: another extension's bytes under an allowed name would
        publish something nobody allowed."""
        from marketplace.publishing import importer

        found = importer.peek(data)
        if (found.extension_id, found.version, found.target_platform) != (build.extension_id, build.version,
                                                                          build.target_platform):
            raise Refused(f"the package is {found.extension_id} {found.version} ({found.target_platform}), not what "
                          "the upstream listed")


def run(plan: Plan, sink: Sink, *, jobs: int = 4, dry_run: bool = False, progress: Progress | None = None,
        present: Callable[[Build], bool] | None = None, max_bytes: int | None = None) -> Report:
    """Fetch what the plan lists and is not present (``present``, else the sink's ``is_present``, else
    nothing is), ``jobs`` at a time; one version's failure never stops the others. The sink is closed at the
    end (a dry run downloads nothing and closes nothing: the caller discards its sink)."""
    started = time.monotonic()
    client = plan.client
    requests_before = client.requests if client is not None else 0
    if max_bytes is None:
        from marketplace.publishing import uploads

        max_bytes = uploads.max_upload_bytes()
    check = present or getattr(sink, "is_present", None)
    lines: list[Line] = []
    todo: list[Build] = []
    for build in plan.builds:
        if check is not None and check(build):
            lines.append(Line(build.extension_id, build.version, build.target_platform, "present",
                              "already here: not downloaded", added_for=build.added_for))
        else:
            todo.append(build)
    total, done = len(plan.builds), len(lines)
    if progress is not None:
        progress(done, total)
    if dry_run:
        lines += [Line(b.extension_id, b.version, b.target_platform, "planned", "would be fetched",
                       added_for=b.added_for) for b in todo]
        transferred = 0
    else:
        runner = _Runner(plan, sink, max_bytes)
        count_lock = threading.Lock()

        def one(build: Build) -> Line:
            nonlocal done
            result = runner.fetch(build)
            if progress is not None:
                with count_lock:
                    done += 1
                    progress(done, total)
            return result

        if todo:
            workers = max(1, min(jobs, MAX_JOBS, len(todo)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mirror") as pool:
                lines += list(pool.map(one, todo))
        sink.close()
        transferred = runner.transferred
    order = {(b.extension_id, b.version, b.target_platform): i for i, b in enumerate(plan.builds)}
    lines.sort(key=lambda line: order.get((line.extension_id, line.version, line.target_platform), 0))
    requests = plan.requests + ((client.requests - requests_before) if client is not None else 0)
    return Report(plan.upstream, lines, dict(plan.added), list(plan.denied), list(plan.missing), dry_run,
                  transferred, requests, time.monotonic() - started)
