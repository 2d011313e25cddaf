"""The forbidden-character rule every name, path and text check shares (marketplace.platform.text)."""

from __future__ import annotations

import pytest

from marketplace.platform.text import (
    BIDI_CONTROLS,
    FORBIDDEN_CATEGORIES,
    INVISIBLE_CATEGORIES,
    ZERO_WIDTH,
    describe,
    first_forbidden,
    is_forbidden,
)


def test_the_first_forbidden_character_is_found() -> None:
    assert first_forbidden("plain text, émoji 🎉") is None
    assert first_forbidden("a\u202eb\u200b") == "\u202e"
    assert first_forbidden("tab\there") == "\t"
    assert first_forbidden("tab\there", allow="\t") is None


def test_free_text_allows_unassigned_and_private_use_characters() -> None:
    private_use, unassigned = "\ue000", "\U000e0080"
    assert is_forbidden(private_use) and is_forbidden(unassigned)
    assert not is_forbidden(private_use, INVISIBLE_CATEGORIES) and not is_forbidden(unassigned, INVISIBLE_CATEGORIES)
    assert INVISIBLE_CATEGORIES < FORBIDDEN_CATEGORIES


@pytest.mark.parametrize("char", sorted(BIDI_CONTROLS | ZERO_WIDTH))
def test_bidi_and_zero_width_characters_are_invisible_formatting(char: str) -> None:
    assert is_forbidden(char, INVISIBLE_CATEGORIES)


@pytest.mark.parametrize(("char", "described"), [
    ("\u202e", "a bidirectional control character (U+202E)"),
    ("\u200b", "a zero-width character (U+200B)"),
    ("\x07", "a control character (U+0007)"),
    ("\ud800", "an unpaired surrogate (U+D800)"),
    ("\u2028", "a line or paragraph separator (U+2028)"),
    ("\u00ad", "an invisible formatting character (U+00AD)"),
    ("\ue000", "a private-use character (U+E000)"),
])
def test_a_refused_character_is_named(char: str, described: str) -> None:
    assert describe(char) == described
