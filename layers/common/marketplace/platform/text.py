"""Characters no name, path or short text we accept may contain: control, format (bidi overrides,
zero-width), unassigned, private-use, surrogate and line/paragraph separator characters (Open VSX's rule,
against Trojan-Source-style spoofing).

Free text a person writes (a review) takes the narrower ``INVISIBLE_CATEGORIES``: unassigned code points
(an emoji newer than this Python's Unicode tables) and private-use characters are visible there, and
harmless. ``describe`` names a refused character for an error message."""

from __future__ import annotations

import unicodedata

FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})
INVISIBLE_CATEGORIES = FORBIDDEN_CATEGORIES - {"Cn", "Co"}

# Named in messages: the bidirectional controls (Trojan-Source-style reordering) and the zero-width characters.
BIDI_CONTROLS = frozenset({*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)),
                           "\u200e", "\u200f", "\u061c"})
ZERO_WIDTH = frozenset({"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"})

_KINDS = {"Cc": "a control character", "Cs": "an unpaired surrogate", "Zl": "a line or paragraph separator",
          "Zp": "a line or paragraph separator", "Cf": "an invisible formatting character",
          "Cn": "an unassigned code point", "Co": "a private-use character"}


def is_forbidden(char: str, categories: frozenset[str] = FORBIDDEN_CATEGORIES) -> bool:
    return unicodedata.category(char) in categories


def first_forbidden(text: str, categories: frozenset[str] = FORBIDDEN_CATEGORIES, *, allow: str = "") -> str | None:
    """The first character of ``text`` in ``categories`` and not in ``allow``, or ``None``."""
    return next((c for c in text if unicodedata.category(c) in categories and c not in allow), None)


def describe(char: str) -> str:
    """What ``char`` is, for a message: ``a zero-width character (U+200B)``."""
    if char in BIDI_CONTROLS:
        kind = "a bidirectional control character"
    elif char in ZERO_WIDTH:
        kind = "a zero-width character"
    else:
        kind = _KINDS.get(unicodedata.category(char), "a character")
    return f"{kind} (U+{ord(char):04X})"
