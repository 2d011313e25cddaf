"""What a review may say (marketplace.reviews.validation), how a change moves the rating totals, and the
Open VSX JSON shapes; plain Python, no AWS."""

from __future__ import annotations

import json
import unicodedata

import pytest

from marketplace.platform.text import BIDI_CONTROLS, ZERO_WIDTH
from marketplace.reviews import protocol
from marketplace.reviews.store import CatalogEntry, StoredReview, rating_delta
from marketplace.reviews.validation import (
    MAX_COMMENT,
    MAX_TITLE,
    InvalidReview,
    ReviewTooLarge,
    clean_text,
    display_name,
    parse_body,
    rating,
)


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_a_full_review_is_parsed_and_normalised() -> None:
    decomposed = "Cafe\u0301"  # e + combining acute
    parsed = parse_body(_body(rating=4, title=f"  {decomposed} ", comment="line one\r\nline two\twith tab\n",
                              version="1.2.3"))
    assert parsed.rating == 4
    assert parsed.title == "Café" and parsed.title == unicodedata.normalize("NFC", parsed.title)
    assert parsed.comment == "line one\nline two\twith tab"
    assert parsed.version == "1.2.3"


def test_optional_fields_may_be_absent_empty_or_blank() -> None:
    parsed = parse_body(_body(rating=5))
    assert (parsed.title, parsed.comment, parsed.version) == (None, None, None)
    blank = parse_body(_body(rating=1, title="   ", comment="\n\n", version=""))
    assert (blank.title, blank.comment, blank.version) == (None, None, None)
    # fields Open VSX clients may echo back are ignored
    assert parse_body(_body(rating=3, user={"loginName": "x"}, timestamp="2020-01-01T00:00:00Z")).rating == 3


@pytest.mark.parametrize("value", [0, 6, -1, 4.0, 4.5, "4", True, None, [4], {"v": 4}])
def test_ratings_outside_1_to_5_integers_are_refused(value: object) -> None:
    with pytest.raises(InvalidReview, match="rating must be an integer from 1 to 5"):
        rating(value)


@pytest.mark.parametrize("good", [1, 2, 3, 4, 5])
def test_each_rating_1_to_5_is_accepted(good: int) -> None:
    assert rating(good) == good


@pytest.mark.parametrize(("raw", "fragment"), [
    (None, "No JSON input."),
    (b"", "No JSON input."),
    (b"   ", "No JSON input."),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'"text"', "must be a JSON object"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"title": "x"}', "rating must be an integer"),
    (b'{"rating": 3, "title": 7}', "title must be a string"),
    (b'{"rating": 3, "comment": ["x"]}', "comment must be a string"),
    (b'{"rating": 3, "version": 1.2}', "version must be a string"),
    (b'{"rating": 3, "version": "1.0.0#universal"}', "is not a version"),
    (b'{"rating": 3, "version": "../1.0.0"}', "is not a version"),
    (b'{"rating": 3, "comment": "\\ud800"}', "unpaired surrogate"),
])
def test_malformed_bodies_are_refused_with_a_clear_message(raw: bytes | None, fragment: str) -> None:
    with pytest.raises(InvalidReview) as caught:
        parse_body(raw)
    assert fragment in caught.value.message
    assert caught.value.status == 400
    assert caught.value.body() == {"error": caught.value.message, "message": caught.value.message}


def test_an_oversized_body_is_413() -> None:
    with pytest.raises(ReviewTooLarge) as caught:
        parse_body(_body(rating=3, comment="x" * (70 * 1024)))
    assert caught.value.status == 413


def test_length_limits_count_code_points_after_nfc() -> None:
    assert clean_text("t" * MAX_TITLE, "title", MAX_TITLE, multiline=False) == "t" * MAX_TITLE
    with pytest.raises(InvalidReview, match=f"title is {MAX_TITLE + 1} characters long; at most {MAX_TITLE}"):
        clean_text("t" * (MAX_TITLE + 1), "title", MAX_TITLE, multiline=False)
    assert clean_text("é" * MAX_COMMENT, "comment", MAX_COMMENT, multiline=True) == "é" * MAX_COMMENT
    # 2,048 decomposed é (4,096 code points) are 2,048 after NFC: accepted
    assert len(clean_text("e\u0301" * MAX_COMMENT, "comment", MAX_COMMENT, multiline=True) or "") == MAX_COMMENT
    with pytest.raises(InvalidReview, match="comment is 2049 characters long; at most 2048"):
        clean_text("c" * (MAX_COMMENT + 1), "comment", MAX_COMMENT, multiline=True)
    # emoji (astral code points, variation selectors) are fine
    assert clean_text("Great 👍🏽 ❤️", "comment", MAX_COMMENT, multiline=True) == "Great 👍🏽 ❤️"


CONTROL = ["\x00", "\x07", "\x1b", "\r", "\x7f", "\x85", "\x9f"]
BIDI = sorted(BIDI_CONTROLS)
ZERO = sorted(ZERO_WIDTH)
OTHER_FORMAT = ["\u00ad", "\U000e0041", "\u2061"]  # soft hyphen, a tag character, an invisible operator
SEPARATORS = ["\u2028", "\u2029"]


def test_the_refused_sets_are_the_documented_ones() -> None:
    assert {f"U+{ord(c):04X}" for c in BIDI} == {"U+202A", "U+202B", "U+202C", "U+202D", "U+202E", "U+2066",
                                                  "U+2067", "U+2068", "U+2069", "U+200E", "U+200F", "U+061C"}
    assert {f"U+{ord(c):04X}" for c in ZERO} == {"U+200B", "U+200C", "U+200D", "U+2060", "U+FEFF"}


@pytest.mark.parametrize(("chars", "kind"), [
    (CONTROL, "a control character"),
    (BIDI, "a bidirectional control character"),
    (ZERO, "a zero-width character"),
    (OTHER_FORMAT, "an invisible formatting character"),
    (SEPARATORS, "a line or paragraph separator"),
])
@pytest.mark.parametrize("field", ["title", "comment"])
def test_each_refused_character_class_is_refused_in_title_and_comment(chars: list[str], kind: str,
                                                                      field: str) -> None:
    for char in chars:
        text = f"ok{char}rest"
        with pytest.raises(InvalidReview) as caught:
            parse_body(json.dumps({"rating": 3, field: text}).encode())
        message = caught.value.message
        assert message == f"The {field} contains {kind} (U+{ord(char):04X}) at character 3; remove it", message


def test_newline_and_tab_only_in_the_comment() -> None:
    assert clean_text("a\nb\tc", "comment", MAX_COMMENT, multiline=True) == "a\nb\tc"
    for char in ("\n", "\t"):
        with pytest.raises(InvalidReview, match="control character"):
            clean_text(f"a{char}b", "title", MAX_TITLE, multiline=False)
    with pytest.raises(InvalidReview, match=r"U\+000D"):  # a lone carriage return (CRLF becomes LF)
        clean_text("a\rb", "comment", MAX_COMMENT, multiline=True)


def test_display_names_are_cleaned_or_fall_back() -> None:
    user_id = "ab12cd34" + "0" * 56
    assert display_name("alice", user_id) == "alice"
    assert display_name("  Ali\u202ece \u200b Smith ", user_id) == "Alice Smith"
    assert display_name("x" * 200, user_id) == "x" * 64
    assert display_name(None, user_id) == "user-ab12cd34"
    assert display_name("\u202e\u200b", user_id) == "user-ab12cd34"


def _review(rating: int, hidden: bool = False) -> StoredReview:
    return StoredReview("acme.hello", "u" * 64, "alice", "tests", rating, None, None, "1.0.0",
                        "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", hidden=hidden, token="t")


@pytest.mark.parametrize(("before", "after", "delta"), [
    (None, _review(4), (4, 1)),  # added
    (_review(4), _review(2), (-2, 0)),  # replaced
    (_review(3), _review(3), (0, 0)),  # replaced by the same rating
    (_review(5), None, (-5, -1)),  # deleted
    (_review(5), _review(5, hidden=True), (-5, -1)),  # hidden
    (_review(5, hidden=True), _review(5), (5, 1)),  # shown again
    (_review(5, hidden=True), _review(1, hidden=True), (0, 0)),  # a hidden review replaced stays out
    (_review(5, hidden=True), None, (0, 0)),  # a hidden review deleted
])
def test_the_rating_totals_move_by_the_counted_difference(before: StoredReview | None, after: StoredReview | None,
                                                          delta: tuple[int, int]) -> None:
    assert rating_delta(before, after) == delta


def test_review_list_json_has_open_vsx_shape() -> None:
    entry = CatalogEntry("acme.hello", "Acme", "Hello", "1.0.0", None, True)
    titled = StoredReview("acme.hello", "a" * 64, "alice", "github", 5, "Nice", "Works.", "1.0.0",
                          "2026-01-01T00:00:00.000Z", "2026-01-02T03:04:05.678Z", token="t")
    bare = StoredReview("acme.hello", "b" * 64, "user-bbbbbbbb", "tests", 2, None, None, "0.9.0",
                        "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", token="t")
    body = protocol.review_list_json("https://mp.example/", entry, [titled, bare])
    assert body == {
        "postUrl": "https://mp.example/api/Acme/Hello/review",
        "deleteUrl": "https://mp.example/api/Acme/Hello/review/delete",
        "reviews": [
            {"user": {"loginName": "alice", "provider": "github"}, "timestamp": "2026-01-02T03:04:05.678Z",
             "rating": 5, "version": "1.0.0", "title": "Nice", "comment": "Works."},
            {"user": {"loginName": "user-bbbbbbbb", "provider": "tests"}, "timestamp": "2026-01-01T00:00:00.000Z",
             "rating": 2, "version": "0.9.0"},
        ],
    }
    assert "a" * 64 not in json.dumps(body)  # the user id is not public
    assert protocol.added(entry, False) == {"success": "Added review for Acme.Hello"}
    assert protocol.added(entry, True) == {"success": "Updated review for Acme.Hello"}
    assert protocol.deleted(entry) == {"success": "Deleted review for Acme.Hello"}
