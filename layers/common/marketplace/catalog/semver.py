"""SemVer 2.0.0 parsing and precedence (PEP 440's ``packaging.version`` orders pre-releases differently)."""

from __future__ import annotations

import re
from functools import total_ordering

PATTERN = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@total_ordering
class Version:
    """A SemVer version ordered by precedence; build metadata is kept but does not order."""

    __slots__ = ("build", "core", "prerelease", "text")

    def __init__(self, text: str) -> None:
        found = PATTERN.match(text)
        if not found or len(text) > 64:
            raise ValueError(f"{text!r} is not a SemVer version (major.minor.patch[-pre][+build])")
        self.text = text
        self.core = (int(found.group(1)), int(found.group(2)), int(found.group(3)))
        self.prerelease: tuple[str, ...] = tuple(found.group(4).split(".")) if found.group(4) else ()
        self.build = found.group(5) or ""

    def _key(self) -> tuple[tuple[int, int, int], int, tuple[tuple[int, int, str], ...]]:
        # a release sorts after its pre-releases; numeric identifiers sort before alphanumeric ones
        parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return self.core, 0 if self.prerelease else 1, parts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def is_valid(text: str) -> bool:
    return bool(PATTERN.match(text)) and len(text) <= 64
