"""Characters no name, path or short text we accept may contain: control, format (bidi overrides,
zero-width), unassigned, private-use, surrogate and line/paragraph separator characters (Open VSX's rule,
against Trojan-Source-style spoofing)."""

from __future__ import annotations

import unicodedata

FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})


def first_forbidden(text: str) -> str | None:
    """The first forbidden character in ``text``, or ``None``."""
    return next((c for c in text if unicodedata.category(c) in FORBIDDEN_CATEGORIES), None)
