"""Namespace (publisher) names: the grammar every client accepts, and the names reserved for the
vendors whose identity a hostile publisher would most like to borrow."""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata

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


# Characters and pairs that read alike in the fonts editors and browsers show publisher names in.
_ALIKE_CHARACTERS = str.maketrans({"0": "o", "1": "l", "i": "l", "5": "s", "-": None})
_ALIKE_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))


def skeleton(name: str) -> str:
    """What ``name`` looks like to a hurried reader: two names with the same skeleton (``micro-soft``,
    ``rnicrosoft``, ``m1crosoft``, ``microsoft`` with a Cyrillic o (U+043E), and ``microsoft``) are one too many; the
    second is refused."""
    text = fold_confusables(name).lower().translate(_ALIKE_CHARACTERS)
    for pair, alike in _ALIKE_PAIRS:
        text = text.replace(pair, alike)
    return text


def fold_confusables(text: str) -> str:
    """``text`` in NFKC, case-folded, with each non-ASCII character that reads like an ASCII letter or digit
    replaced by it (Unicode's confusables, as the ``confusable_homoglyphs`` package ships them): Cyrillic a
    (U+0430) is ``a``, fullwidth m (U+FF4D) is ``m``. ASCII text is returned as it is, without loading the table."""
    if text.isascii():
        return text
    return "".join(_ascii_alike(c) for c in unicodedata.normalize("NFKC", text).casefold())


@functools.cache
def _ascii_alike(character: str) -> str:
    if character.isascii():
        return character
    from confusable_homoglyphs import confusables  # loads a 900 KB table: only for names that need it

    glyphs = [str(g["c"]).lower() for g in confusables.confusables_data.get(character, ())]
    ascii_glyphs = sorted((g for g in glyphs if g.isascii() and g.isalnum()), key=lambda g: (len(g), g.isdigit(), g))
    return ascii_glyphs[0] if ascii_glyphs else character


POLICY_VAR = "NAMESPACE_CREATION"


class Policy:
    """Who may create a namespace for themselves (``ovsx create-namespace``, and the website's publisher area):
    ``anyone`` holding a token (the default), ``operators`` only (through ``marketplace publisher create``), or
    ``domains:example.com,example.org``: users whose id is an e-mail address at one of those domains."""

    def __init__(self, text: str | None) -> None:
        value = (text or "anyone").strip()
        mode, _, listed = value.partition(":")
        self.mode = mode
        self.domains = frozenset(d.strip().lower().lstrip("@") for d in listed.split(",") if d.strip().lstrip("@"))
        if value not in ("anyone", "operators") and not (mode == "domains" and self.domains):
            raise ValueError(f"{POLICY_VAR} must be anyone, operators or domains:<domain>[,<domain>...], "
                             f"not {value!r}")

    def refusal(self, user: str) -> str | None:
        """Why ``user`` may not create a namespace, or ``None`` when they may."""
        if self.mode == "operators":
            return ("this marketplace's operator creates namespaces; ask them (marketplace publisher create), "
                    "then publish with the token they give you")
        if self.mode == "domains":
            domain = user.rpartition("@")[2].lower() if "@" in user else ""
            if domain not in self.domains:
                return (f"namespaces may be created by users with an e-mail address at "
                        f"{', '.join(sorted(self.domains))}; ask this marketplace's operator")
        return None
