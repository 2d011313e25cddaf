"""Namespace (publisher) names: the grammar every client accepts, and the names reserved for the
vendors whose identity a hostile publisher would most like to borrow."""

from __future__ import annotations

import fnmatch
import re

MAX_LENGTH = 128
GRAMMAR = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Case-insensitive patterns; an operator may still create one of these with an explicit override.
RESERVED = (
    "microsoft", "ms-*", "msft*", "vscode", "vscode-*", "visualstudio*", "github", "github-*", "azure", "azure-*",
    "redhat", "eclipse", "eclipse-*", "openvsx", "open-vsx", "marketplace", "admin", "root", "system", "official",
)


class InvalidName(ValueError):
    pass


def validate(name: str) -> str:
    """The namespace name, or ``InvalidName`` saying what is allowed."""
    if not (0 < len(name) <= MAX_LENGTH and GRAMMAR.match(name)):
        raise InvalidName(
            f"namespace {name!r} must be lower-case letters, digits and hyphens, starting with a letter or digit, "
            f"at most {MAX_LENGTH} characters"
        )
    return name


def reserved(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), pattern) for pattern in RESERVED)
