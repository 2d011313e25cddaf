"""Publish-time scanning: every scanner looks at a validated package and returns findings; the ingest acts on
the verdict (``REJECT`` refuses the upload, ``QUARANTINE`` holds the version back, ``WARN`` publishes and keeps
the findings on the upload record).

A finding's message is shown to the publisher word for word: it never carries a secret or more than its
first 4 characters. Scanners are listed in ``scanners()``, sorted by name; each one is a class with a
``name`` and a ``scan(subject)`` method.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Protocol

from marketplace.platform import config
from marketplace.publishing import manifest, service, vsix

REJECT, QUARANTINE, WARN = "reject", "quarantine", "warn"
PUBLISH = "publish"
SEVERITIES = (REJECT, QUARANTINE, WARN)
QUARANTINE_SCORE_SETTING = "SCAN_QUARANTINE_SCORE"
DEFAULT_QUARANTINE_SCORE = 10
WARN_RULES_SETTING = "SCAN_WARN_RULES"
MAX_REASON_FINDINGS = 20  # a reason lists this many findings, then says how many more there are


@dataclass(frozen=True)
class Finding:
    rule: str  # dotted: "secret.aws-access-key", "blocklist.package", "name.lookalike", "external.x"
    message: str  # one sentence for the publisher; NEVER the secret or more than 4 characters of it
    file: str | None = None  # the entry name inside the package
    line: int | None = None
    severity: str = REJECT  # REJECT | QUARANTINE | WARN
    score: int = 0  # points toward quarantine (update-diff signals)

    def describe(self) -> str:
        """``secret.aws-access-key in extension/.env line 3: an AWS access key id``."""
        where = ""
        if self.file is not None:
            where = f" in {self.file}"
            if self.line is not None:
                where += f" line {self.line}"
        return f"{self.rule}{where}: {self.message}"


@dataclass(frozen=True)
class Subject:
    """What a scanner sees: the validated archive (``archive.path`` is the .vsix on local disk), its metadata."""

    archive: vsix.Archive
    package: manifest.PackageInfo
    sha256: str
    principal: service.Principal
    upload_id: str


class Scanner(Protocol):
    name: str

    def scan(self, subject: Subject) -> list[Finding]: ...


def quarantine_threshold() -> int:
    """The score at which the sum of findings' scores quarantines a version (``SCAN_QUARANTINE_SCORE``)."""
    return config.setting_int(QUARANTINE_SCORE_SETTING, DEFAULT_QUARANTINE_SCORE)


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]

    @property
    def action(self) -> str:
        """``REJECT`` if any finding rejects; else ``QUARANTINE`` if any quarantines or the scores add up to the
        threshold; else ``PUBLISH``."""
        if any(f.severity == REJECT for f in self.findings):
            return REJECT
        if any(f.severity == QUARANTINE for f in self.findings):
            return QUARANTINE
        score = sum(f.score for f in self.findings)
        if score and score >= quarantine_threshold():
            return QUARANTINE
        return PUBLISH

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == WARN)

    def reason(self) -> str:
        """The rejection/quarantine text: a header line, then one ``- `` line per finding that matters."""
        action = self.action
        if action == REJECT:
            header = "the package was refused by the publish-time scan:"
            shown = [f for f in self.findings if f.severity == REJECT]
        elif action == QUARANTINE:
            header = "the version is held for review by the publish-time scan:"
            shown = [f for f in self.findings if f.severity != WARN or f.score]
        else:
            header = "the publish-time scan found:"
            shown = list(self.findings)
        lines = [header, *(f"- {f.describe()}" for f in shown[:MAX_REASON_FINDINGS])]
        if len(shown) > MAX_REASON_FINDINGS:
            lines.append(f"- and {len(shown) - MAX_REASON_FINDINGS} more")
        return "\n".join(lines)


def scanners() -> list[Scanner]:
    """The configured scanners, in order (sorted by name; each scanner adds itself with one line)."""
    from marketplace.publishing.scanning import blocklist, external, names, secrets, updates

    found: list[Scanner] = [
        blocklist.BlocklistScanner(),
        external.ExternalScanner(),
        names.NamesScanner(),
        secrets.SecretScanner(),
        updates.UpdateScanner(),
    ]
    return found


def _configured() -> list[Scanner]:
    return scanners()


def scan(subject: Subject, scanners: Sequence[Scanner] | None = None) -> Verdict:
    """Run every scanner over ``subject`` and collect the findings, in scanner order. A refusing finding whose
    rule the operator lists in ``SCAN_WARN_RULES`` (names or globs: ``secret.jwt``, ``secret.*``) only warns."""
    chosen = _configured() if scanners is None else scanners
    warn = warn_rules()
    findings: list[Finding] = []
    for scanner in chosen:
        for finding in scanner.scan(subject):
            if finding.severity == REJECT and any(fnmatchcase(finding.rule, pattern) for pattern in warn):
                finding = replace(finding, severity=WARN)
            findings.append(finding)
    return Verdict(tuple(findings))


def warn_rules() -> list[str]:
    """The rules (names or globs) that the operator set to warn instead of refusing (``SCAN_WARN_RULES``)."""
    return config.setting_list(WARN_RULES_SETTING)


def iter_entry(archive: vsix.Archive, entry: vsix.Entry, max_bytes: int, chunk_bytes: int = vsix.MiB
               ) -> Iterator[bytes]:
    """One file's bytes streamed from ``archive.path`` in chunks, stopping after ``max_bytes``."""
    if entry.name in archive.kept:
        data = archive.kept[entry.name]
        for start in range(0, min(len(data), max_bytes), chunk_bytes):
            yield data[start:min(start + chunk_bytes, max_bytes)]
        return
    remaining = max_bytes
    for chunk in vsix.iter_entry(archive, entry, chunk_bytes):  # left unfinished, the reader is closed with it
        if len(chunk) >= remaining:
            yield chunk[:remaining]
            return
        remaining -= len(chunk)
        yield chunk


def read_entry(archive: vsix.Archive, entry: vsix.Entry, max_bytes: int) -> bytes:
    """One file's bytes, streamed from ``archive.path``, at most ``max_bytes`` (the rest is not read)."""
    return b"".join(iter_entry(archive, entry, max_bytes))
