"""What a review may say, as plain Python: the rating, the title and comment texts, the version named, and the
reviewer's public name. Nothing in this module touches AWS.

Limits (Open VSX's own, so whatever its clients send fits): a rating is a JSON integer from 1 to 5; a title
at most 255 characters, one line; a comment at most 2,048 characters, where line breaks (``\\n``, ``\\r\\n``
becomes ``\\n``) and tabs are allowed. Lengths are counted in Unicode code points after NFC normalisation,
which is also the form stored. Both texts are trimmed; an empty one is the same as none.

Refused anywhere in a title or comment, each with a message naming the character and its position
(``platform.text``'s ``INVISIBLE_CATEGORIES`` and ``describe``): control characters (C0, DEL, C1; the comment
keeps ``\\n`` and ``\\t``), bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C:
Trojan-Source-style reordering), zero-width characters (U+200B-U+200D, U+2060, U+FEFF), every other invisible
format character (Unicode category Cf, e.g. soft hyphen and the tag characters that can smuggle hidden text),
line and paragraph separators (U+2028, U+2029) and unpaired surrogates (which no store can hold).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marketplace.platform import body
from marketplace.platform.errors import BadRequest, MarketplaceError, PayloadTooLarge, UnsupportedMediaType
from marketplace.platform.text import INVISIBLE_CATEGORIES, describe, first_forbidden, is_forbidden

MIN_RATING, MAX_RATING = 1, 5
MAX_TITLE = 255
MAX_COMMENT = 2048
MAX_DISPLAY_NAME = 64
MAX_VERSION = 64
MAX_BODY_BYTES = 64 * 1024
MULTILINE_ALLOWED = "\n\t"  # the control characters a comment may hold

# A version as catalog ids spell it (semver with pre-release and build parts); anything else cannot exist.
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]*")


class ReviewError(MarketplaceError):
    """An error with Open VSX's body (``{"error": <message>}``, which ``ovsx`` and the web UI show) and the
    marketplace's ``message`` key carrying the same text."""

    def body(self) -> dict[str, object]:
        return {"error": self.message, "message": self.message}


class InvalidReview(ReviewError, BadRequest):
    pass


class ReviewTooLarge(ReviewError, PayloadTooLarge):
    pass


class UnsupportedReviewEncoding(ReviewError, UnsupportedMediaType):
    pass


WHAT = "The review body"


@dataclass(frozen=True)
class ReviewInput:
    rating: int
    title: str | None
    comment: str | None
    version: str | None  # as named by the reviewer; ``None``: the extension's latest


def _review_error(error: MarketplaceError) -> ReviewError:
    """The platform decoder's error in Open VSX's shape, with the same status."""
    kind = {413: ReviewTooLarge, 415: UnsupportedReviewEncoding}.get(error.status, InvalidReview)
    return kind(error.message)


def read_body(event: Mapping[str, Any]) -> bytes:
    """The POST body's bytes (the platform decoder: base64, no Content-Encoding, at most ``MAX_BODY_BYTES``)."""
    try:
        return body.raw_body(event, max_bytes=MAX_BODY_BYTES, what=WHAT)
    except MarketplaceError as error:
        raise _review_error(error) from None


def parse_body(raw: bytes | None) -> ReviewInput:
    """The review a POST body asks for; every fault is an ``InvalidReview`` naming the field."""
    if raw is None or not raw.strip():
        raise InvalidReview("No JSON input.")
    if len(raw) > MAX_BODY_BYTES:
        raise ReviewTooLarge(f"{WHAT} is larger than {MAX_BODY_BYTES} bytes")
    try:
        document = body.parse_json(raw, expect=None, what=WHAT)
    except MarketplaceError as error:
        raise _review_error(error) from None
    if not isinstance(document, Mapping):
        raise InvalidReview(f"{WHAT} must be a JSON object: {{\"rating\": 1-5, \"title\", \"comment\", \"version\"}}")
    return review_input(document)


def review_input(document: Mapping[str, Any]) -> ReviewInput:
    return ReviewInput(
        rating=rating(document.get("rating")),
        title=clean_text(document.get("title"), "title", MAX_TITLE, multiline=False),
        comment=clean_text(document.get("comment"), "comment", MAX_COMMENT, multiline=True),
        version=version(document.get("version")),
    )


def rating(value: object) -> int:
    # bool is an int in Python, and 4.0 is not an integer in the protocol
    if isinstance(value, bool) or not isinstance(value, int):
        shown = "missing" if value is None else f"{json.dumps(value)[:20]}"
        raise InvalidReview(f"The rating must be an integer from {MIN_RATING} to {MAX_RATING} (got {shown})")
    if not MIN_RATING <= value <= MAX_RATING:
        raise InvalidReview(f"The rating must be an integer from {MIN_RATING} to {MAX_RATING} (got {value})")
    return value


def clean_text(value: object, field: str, limit: int, *, multiline: bool) -> str | None:
    """The text as stored (NFC, trimmed), ``None`` for none; refused characters and lengths are errors."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidReview(f"The {field} must be a string")
    if multiline:
        value = value.replace("\r\n", "\n")
    refused = first_forbidden(value, INVISIBLE_CATEGORIES, allow=MULTILINE_ALLOWED if multiline else "")
    if refused is not None:
        raise InvalidReview(f"The {field} contains {describe(refused)} at character {value.index(refused) + 1}; "
                            "remove it")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        return None
    if len(text) > limit:
        raise InvalidReview(f"The {field} is {len(text)} characters long; at most {limit} are allowed")
    return text


def version(value: object) -> str | None:
    """The version the reviewer names (checked against the catalog later), ``None`` when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidReview("The version must be a string such as \"1.2.3\"")
    if len(value) > MAX_VERSION or not _VERSION.fullmatch(value):
        raise InvalidReview(f"The version {value[:MAX_VERSION]!r} is not a version of this extension")
    return value


def display_name(name: str | None, user_id: str) -> str:
    """The reviewer's public name: the identity's display name without refused characters, trimmed to
    ``MAX_DISPLAY_NAME``, or ``user-<first 8 of the user id>`` when nothing usable is left."""
    if name:
        kept = "".join(c for c in unicodedata.normalize("NFC", name) if not is_forbidden(c, INVISIBLE_CATEGORIES))
        kept = " ".join(kept.split())[:MAX_DISPLAY_NAME]
        if kept:
            return kept
    return f"user-{user_id[:8]}"
