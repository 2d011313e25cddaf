"""The platform's request-body decoder: API Gateway's body/isBase64Encoded, Content-Encoding, UTF-8 and JSON,
each fault a short 4xx error (never a RecursionError, a ValueError or a traceback)."""

from __future__ import annotations

import base64
import gzip
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.platform import body
from marketplace.platform.errors import BadRequest, MarketplaceError, PayloadTooLarge, UnsupportedMediaType


def event(raw: str | bytes | None, *, b64: bool = False, headers: dict[str, str] | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {"headers": headers or {}, "isBase64Encoded": b64 or isinstance(raw, bytes)}
    if isinstance(raw, bytes):
        made["body"] = base64.b64encode(raw).decode()
    elif raw is not None:
        made["body"] = raw
    return made


def refused(error: type[MarketplaceError], call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    message = caught.value.message
    assert len(message) < 300, message
    return message


# ------------------------------------------------------------------------------------------- raw bodies


def test_plain_and_base64_bodies_are_the_same_bytes():
    assert body.raw_body(event('{"a": "é"}'), max_bytes=100) == '{"a": "é"}'.encode()
    assert body.raw_body(event('{"a": "é"}'.encode()), max_bytes=100) == '{"a": "é"}'.encode()
    assert body.raw_body(event(None), max_bytes=100) == b""
    assert body.raw_body({"body": None, "isBase64Encoded": True}, max_bytes=100) == b""


def test_bad_base64_is_a_400():
    assert "base64" in refused(BadRequest, body.raw_body, event("not base64!", b64=True), max_bytes=100)
    assert "base64" in refused(BadRequest, body.raw_body, event("QUJ", b64=True), max_bytes=100)


def test_sizes_are_checked_before_and_after_decoding():
    assert "larger than 10 bytes" in refused(PayloadTooLarge, body.raw_body, event("x" * 11), max_bytes=10)
    assert "larger than 10 bytes" in refused(PayloadTooLarge, body.raw_body, event(b"x" * 11), max_bytes=10)
    assert "larger than 10 bytes" in refused(PayloadTooLarge, body.raw_body, event("é" * 6), max_bytes=10)
    assert body.raw_body(event(b"x" * 10), max_bytes=10) == b"x" * 10
    huge = event("A" * 1_000_000, b64=True)  # refused on its length, never decoded
    refused(PayloadTooLarge, body.raw_body, huge, max_bytes=10)


def test_lone_surrogates_in_a_plain_body_are_not_utf8():
    assert "UTF-8" in refused(BadRequest, body.text_body, event("a\ud800b"), max_bytes=100)


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate", "x-custom", "gzip, gzip", "compress"])
def test_undeclared_content_encodings_are_415(encoding):
    message = refused(UnsupportedMediaType, body.raw_body, event("{}", headers={"Content-Encoding": encoding}),
                      max_bytes=100)
    assert "Content-Encoding" in message


@pytest.mark.parametrize("encoding", ["", "identity", " Identity "])
def test_identity_is_no_encoding(encoding):
    assert body.raw_body(event("{}", headers={"content-encoding": encoding}), max_bytes=100) == b"{}"


def test_a_long_or_odd_content_encoding_is_not_echoed():
    message = refused(UnsupportedMediaType, body.raw_body,
                      event("{}", headers={"content-encoding": "x\r\n" + "y" * 5000}), max_bytes=100)
    assert "\r" not in message and "\n" not in message and "y" * 100 not in message


def test_gzip_where_accepted_is_decompressed_with_a_cap():
    packed = gzip.compress(b"hello " * 10)
    got = body.raw_body(event(packed, headers={"content-encoding": "gzip"}), max_bytes=100, encodings=body.GZIP)
    assert got == b"hello " * 10
    bomb = gzip.compress(b"\0" * 50_000_000)  # about 50 KB on the wire
    message = refused(PayloadTooLarge, body.raw_body, event(bomb, headers={"content-encoding": "gzip"}),
                      max_bytes=100_000, encodings=body.GZIP)
    assert "decompressed" in message
    for broken in (b"not gzip at all", packed[:-6], packed + b"trailing junk"):
        refused(BadRequest, body.raw_body, event(broken, headers={"content-encoding": "gzip"}), max_bytes=1000,
                encodings=body.GZIP)
    two_members = gzip.compress(b"one ") + gzip.compress(b"two")
    assert body.raw_body(event(two_members, headers={"content-encoding": "gzip"}), max_bytes=100,
                         encodings=body.GZIP) == b"one two"


def test_text_bodies_must_be_utf8():
    assert body.text_body(event("héllo".encode()), max_bytes=100) == "héllo"
    assert "not UTF-8 (byte 2)" in refused(BadRequest, body.text_body, event(b"ab\xff"), max_bytes=100)


# ------------------------------------------------------------------------------------------ JSON bodies


def test_json_bodies_parse():
    assert body.json_body(event('{"a": [1, 2.5, null, true, "x"]}')) == {"a": [1, 2.5, None, True, "x"]}
    assert body.json_body(event(b"[1]"), expect=list) == [1]
    assert body.json_body(event("7"), expect=None) == 7


def test_an_empty_body_is_none_when_optional_and_a_400_when_required():
    for empty in (None, "", "  \n"):
        assert body.json_body(event(empty), required=False) is None
        assert "empty" in refused(BadRequest, body.json_body, event(empty))


@pytest.mark.parametrize(("raw", "fragment"), [
    ("{", "not valid JSON"),
    ("{'a': 1}", "not valid JSON"),
    ('{"a": 1} x', "not valid JSON"),
    ("NaN", "NaN"),
    ('{"a": -Infinity}', "Infinity"),
    ('{"a": 1e999}', "out of range"),
    ('{"n": ' + "9" * 5000 + "}", "digits"),
    ('{"n": -' + "9" * 5000 + "}", "digits"),
    ("[" * 100_000 + "]" * 100_000, "deeper than 64"),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "deeper than 64"),
    ("[" * 100_000, "not valid JSON"),
    ("\ufeff{}", "not valid JSON"),
])
def test_malformed_or_absurd_json_is_a_short_400(raw, fragment):
    message = refused(BadRequest, body.json_body, event(raw), expect=None)
    assert fragment in message and "not valid JSON" in message


def test_bad_utf8_in_json_is_a_400_naming_the_byte():
    message = refused(BadRequest, body.json_body, event(b'{"a": "\xff\xfe"}'))
    assert "not valid JSON" in message and "not UTF-8" in message and "byte 7" in message


def test_json_errors_never_echo_the_input():
    secret = "s3cr3t" * 1000
    message = refused(BadRequest, body.json_body, event('{"a": "' + secret + '" oops}'))
    assert "s3cr3t" not in message


@pytest.mark.parametrize(("raw", "expect", "fragment"), [
    ("[]", dict, "must be a JSON object, not an array"),
    ("null", dict, "must be a JSON object, not null"),
    ('"x"', dict, "must be a JSON object, not a string"),
    ("1.5", dict, "must be a JSON object, not a number"),
    ("true", dict, "must be a JSON object, not a boolean"),
    ("{}", list, "must be a JSON array, not an object"),
])
def test_the_top_level_type_is_checked(raw, expect, fragment):
    assert fragment in refused(BadRequest, body.json_body, event(raw), expect=expect)


def test_depth_and_digit_limits_are_exact():
    assert body.parse_json("[" * 64 + "]" * 64, expect=None, max_depth=64) is not None
    refused(BadRequest, body.parse_json, "[" * 65 + "]" * 65, expect=None, max_depth=64)
    brackets_in_strings = json.dumps({"a": "[" * 10_000 + "{" * 10_000})
    assert body.parse_json(brackets_in_strings, max_depth=2) == {"a": "[" * 10_000 + "{" * 10_000}
    escaped = json.dumps({"a": '\\"[[[[', "b": [["x"]]})
    assert body.parse_json(escaped, max_depth=3)["b"] == [["x"]]
    refused(BadRequest, body.parse_json, escaped, max_depth=2)
    assert body.parse_json("9" * body.MAX_INT_DIGITS, expect=None) == int("9" * body.MAX_INT_DIGITS)
    refused(BadRequest, body.parse_json, "9" * (body.MAX_INT_DIGITS + 1), expect=None)


def test_a_json_body_has_a_size_cap():
    assert "larger than" in refused(PayloadTooLarge, body.json_body, event("[" + "1," * 100 + "1]"), max_bytes=100,
                                    expect=list)


# ------------------------------------------------------------------------------------------- properties


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans(), st.booleans())
def test_any_json_value_within_the_limits_round_trips(value, ascii_only, b64):
    text = json.dumps(value, ensure_ascii=ascii_only)
    raw = event(text.encode() if b64 else text)
    depth = _depth(value)
    if depth > 8:
        refused(BadRequest, body.json_body, raw, expect=None, max_depth=8)
        return
    parsed = body.json_body(raw, expect=None, max_depth=8)
    assert json.dumps(parsed, sort_keys=True) == json.dumps(value, sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_never_escapes_as_anything_but_a_4xx(text):
    try:
        body.json_body(event(text), expect=None)
    except MarketplaceError as error:
        assert 400 <= error.status < 500 and len(error.message) < 300


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["", "gzip", "br"]))
def test_arbitrary_bytes_never_escape_as_anything_but_a_4xx(data, encoding):
    try:
        value = body.json_body(event(data, headers={"content-encoding": encoding}), expect=None,
                               encodings=body.GZIP)
    except MarketplaceError as error:
        assert 400 <= error.status < 500 and len(error.message) < 300
    else:
        assert value is None or not isinstance(value, float) or math.isfinite(value)
