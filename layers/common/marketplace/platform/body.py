"""The one request-body decoder every HTTP route uses: from API Gateway's payload 2.0 ``body`` and
``isBase64Encoded`` to bytes, text or a JSON value, every fault a short 4xx error (``BadRequest``,
``PayloadTooLarge``, ``UnsupportedMediaType``) instead of a 500. The rules and why: docs/http-bodies.md.

- ``raw_body``: the bytes the client sent. A base64 body must be strict base64; its size is checked on the
  encoded length before anything is decoded. ``Content-Encoding`` must be absent, ``identity``, or one the route
  names in ``encodings`` (only ``gzip`` exists), decompressed up to ``max_bytes`` and no further.
- ``text_body``: the same bytes as strict UTF-8.
- ``json_body`` / ``parse_json``: UTF-8 JSON (RFC 8259) with limits Python's ``json`` lacks: nesting depth
  (counted before parsing, so no RecursionError), integer digits (Python refuses more than 4,300 with a
  ValueError), no ``NaN``/``Infinity`` and no float out of range, and the top-level type the route expects.

Messages name what is wrong and never echo the input beyond a short, printable excerpt.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from marketplace.platform.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from marketplace.platform.headers import request_header

GZIP = frozenset({"gzip"})
IDENTITY: frozenset[str] = frozenset()
GATEWAY_MAX_BYTES = 10 * 1024 * 1024  # API Gateway HTTP APIs refuse larger payloads before we see them
DEFAULT_MAX_JSON_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_INT_DIGITS = 100  # far above any count, size or id we take; far below int()'s 4,300-digit limit
BODY = "The request body"

_KINDS: dict[type[Any], str] = {dict: "object", list: "array"}
_TYPE_NAMES: dict[type[Any], str] = {dict: "an object", list: "an array", str: "a string", int: "a number",
                                     float: "a number", bool: "a boolean", type(None): "null"}


class _Refused(ValueError):
    """Raised from inside ``json.loads`` by the number hooks; becomes a ``BadRequest``."""


def _shown(value: str, limit: int = 32) -> str:
    """A short, printable excerpt of client text for an error message."""
    cut = value[:limit]
    return ascii(cut) if len(value) <= limit else ascii(cut)[:-1] + "...'"


def _codings(event: Mapping[str, Any], accepted: frozenset[str]) -> list[str]:
    """The content codings to undo, in the order they were applied; 415 for any the route does not take."""
    declared = [c.strip().lower() for c in (request_header(event.get("headers"), "content-encoding") or "").split(",")]
    codings = [c for c in declared if c not in ("", "identity")]
    for coding in codings:
        if coding not in accepted:
            takes = ", ".join(sorted({"identity", *accepted}))
            raise UnsupportedMediaType(f"Content-Encoding {_shown(coding)} is not accepted here (this route takes "
                                       f"{takes})")
    if len(codings) > 1:
        raise UnsupportedMediaType("Send the body with one Content-Encoding at most")
    return codings


def _gunzip(data: bytes, max_bytes: int, what: str) -> bytes:
    """Every gzip member of ``data``, never inflating past ``max_bytes`` (a small body can be a zip bomb)."""
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing only
        try:
            chunk = inflater.decompress(rest, max_bytes - size + 1)
        except zlib.error:
            raise BadRequest(f"{what} is not valid gzip") from None
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"{what} is larger than {max_bytes} bytes decompressed")
        if not inflater.eof:
            raise BadRequest(f"{what} is not valid gzip: it ends in the middle of a stream")
        out.append(chunk)
        rest = inflater.unused_data
    return b"".join(out)


def raw_body(event: Mapping[str, Any], *, max_bytes: int, encodings: frozenset[str] = IDENTITY,
             what: str = BODY) -> bytes:
    """The body's bytes, base64 and the accepted ``Content-Encoding`` undone, at most ``max_bytes`` of them."""
    codings = _codings(event, encodings)
    raw = event.get("body")
    if raw is None or raw == "":
        return b""
    text = str(raw)
    too_large = PayloadTooLarge(f"{what} is larger than {max_bytes} bytes")
    if event.get("isBase64Encoded"):
        if len(text) > (max_bytes + 2) // 3 * 4:  # checked before decoding anything
            raise too_large
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"{what} is not valid base64") from None
    else:
        if len(text) > max_bytes:  # characters: never more than the bytes they encode to
            raise too_large
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as error:  # lone surrogates: no client can have sent them as UTF-8
            raise BadRequest(f"{what} is not UTF-8 (character {error.start})") from None
    if len(data) > max_bytes:
        raise too_large
    if codings:
        data = _gunzip(data, max_bytes, what)
    return data


def decode_utf8(data: bytes, what: str = BODY) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"{what} is not UTF-8 (byte {error.start})") from None


def text_body(event: Mapping[str, Any], *, max_bytes: int, encodings: frozenset[str] = IDENTITY,
              what: str = BODY) -> str:
    """The body as text: strict UTF-8."""
    return decode_utf8(raw_body(event, max_bytes=max_bytes, encodings=encodings, what=what), what)


def nesting_depth(value: Any) -> int:
    """How deep arrays and objects nest in a parsed JSON value (a scalar is 0), without recursion.

    The depth is measured on the parsed value rather than on the text: the C parser itself stops absurd
    nesting with a ``RecursionError`` at the interpreter's recursion limit (about 1,000 levels), and walking
    the containers of a parsed body costs a fraction of scanning its text for brackets outside strings
    (bench/telemetry.py: the text scan halved the telemetry ingest's throughput)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if type(item) is dict else item if type(item) is list else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children if type(child) is dict or type(child) is list)
    return deepest


def _int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"a number has {digits} digits; at most {MAX_INT_DIGITS} are accepted")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {_shown(text, 24)} is out of range")
    return value


def _constant(name: str) -> float:
    raise _Refused(f"{name} is not a JSON number")


def parse_json(data: bytes | str, *, expect: type[Any] | None = dict, max_depth: int = MAX_DEPTH,
               what: str = BODY, constants: bool = False) -> Any:
    """``data`` as one JSON value of type ``expect`` (``None``: any), within the decoder's limits.

    ``constants`` lets ``NaN`` and ``Infinity`` through as floats, for a caller that rejects them itself with a
    finer answer (telemetry rejects the one event that carries them, not the batch)."""
    invalid = f"{what} is not valid JSON"
    text = decode_utf8(data, f"{invalid}: it") if isinstance(data, bytes) else data
    too_deep = BadRequest(f"{invalid}: it nests arrays and objects deeper than {max_depth} levels")
    try:
        if constants:
            value = json.loads(text, parse_int=_int)
        else:
            value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _Refused as error:
        raise BadRequest(f"{invalid}: {error}") from None
    except json.JSONDecodeError as error:
        raise BadRequest(f"{invalid}: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:  # the C parser's own guard against absurd nesting
        raise too_deep from None
    except ValueError:  # defence in depth: the hooks above should leave none of these
        raise BadRequest(invalid) from None
    if max_depth and (text.count("[") + text.count("{")) > max_depth and nesting_depth(value) > max_depth:
        raise too_deep
    if expect is not None and type(value) is not expect:
        raise BadRequest(f"{what} must be a JSON {_KINDS.get(expect, 'value')}, not {_TYPE_NAMES[type(value)]}")
    return value


def json_body(event: Mapping[str, Any], *, required: bool = True, expect: type[Any] | None = dict,
              max_bytes: int = DEFAULT_MAX_JSON_BYTES, max_depth: int = MAX_DEPTH,
              encodings: frozenset[str] = IDENTITY, what: str = BODY) -> Any:
    """The body as JSON (see ``parse_json``); an empty body is ``None`` unless ``required`` (then a 400)."""
    data = raw_body(event, max_bytes=max_bytes, encodings=encodings, what=what)
    if not data.strip():
        if required:
            raise BadRequest(f"{what} is empty: send a JSON {_KINDS.get(expect, 'value') if expect else 'value'}")
        return None
    return parse_json(data, expect=expect, max_depth=max_depth, what=what)


FORM = "application/x-www-form-urlencoded"
DEFAULT_MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200


def form_body(event: Mapping[str, Any], *, max_bytes: int = DEFAULT_MAX_FORM_BYTES,
              what: str = "The form") -> dict[str, list[str]]:
    """An HTML form's fields (``application/x-www-form-urlencoded``, UTF-8), each name with its values in order
    (a group of checkboxes sends one name several times). 415 for another content type, 400 for a body that is
    not a form or has more than ``MAX_FORM_FIELDS`` fields."""
    from urllib.parse import parse_qsl  # here: only the website's forms use it

    content_type = (request_header(event.get("headers"), "content-type") or "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise UnsupportedMediaType(f"{what} must be sent as {FORM}")
    text = decode_utf8(raw_body(event, max_bytes=max_bytes, what=what), what)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), encoding="utf-8",
                          errors="strict", max_num_fields=MAX_FORM_FIELDS)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"{what} is not a well-formed form ({FORM})") from error
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


MULTIPART = "multipart/form-data"
MAX_BOUNDARY = 70  # RFC 2046


class Part(NamedTuple):
    """One part of a ``multipart/form-data`` body: a field (``filename`` None) or a file. (A named tuple: every
    function imports this module, and a dataclass costs more cold start.)"""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    def text(self, what: str = "The form") -> str:
        return decode_utf8(self.data, f"{what}'s {self.name!r} field")


def media_type(event: Mapping[str, Any]) -> str:
    """The request's ``Content-Type`` without its parameters, lower case (empty when there is none)."""
    return (request_header(event.get("headers"), "content-type") or "").split(";")[0].strip().lower()


def multipart_form(event: Mapping[str, Any], *, max_bytes: int,
                   what: str = "The form") -> dict[str, list[Part]]:
    """An HTML form sent as ``multipart/form-data`` (a form with a file input), each name with its parts in
    order. 415 for another content type; 400 for a body that does not follow its boundary (a defect the
    standard library's parser notes is a refusal, not a guess), a part that is not a named form field, a nested
    multipart part, or more than ``MAX_FORM_FIELDS`` parts."""
    from email import policy  # here: only the forms with a file use it
    from email.message import Message
    from email.parser import BytesParser

    header = request_header(event.get("headers"), "content-type") or ""
    if media_type(event) != MULTIPART:
        raise UnsupportedMediaType(f"{what} must be sent as {MULTIPART}")
    malformed = BadRequest(f"{what} is not a well-formed {MULTIPART} body")
    if not header.isprintable() or not header.isascii():
        raise malformed
    data = raw_body(event, max_bytes=max_bytes, what=what)
    try:
        message = BytesParser(policy=policy.HTTP).parsebytes(f"Content-Type: {header}\r\n\r\n".encode() + data)
        boundary = message.get_boundary()
        if not boundary or len(boundary) > MAX_BOUNDARY:
            raise BadRequest(f"{what}'s Content-Type names no valid boundary ({MULTIPART}; boundary=...)")
        parts = message.get_payload() if message.is_multipart() else None
        if message.defects or not isinstance(parts, list) or len(parts) > MAX_FORM_FIELDS:
            raise malformed
        fields: dict[str, list[Part]] = {}
        for part in parts:
            if not isinstance(part, Message):
                raise malformed
            name = part.get_param("name", header="content-disposition")
            encoding = (part.get("content-transfer-encoding") or "binary").strip().lower()
            if (part.defects or part.is_multipart() or part.get_content_disposition() != "form-data"
                    or not isinstance(name, str) or not name or encoding not in ("binary", "8bit", "7bit")):
                raise malformed
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                raise malformed
            filename = part.get_filename()
            (name + (filename or "")).encode()  # names that are not UTF-8 (lone surrogates) are refused
            declared = part.get("content-type")
            fields.setdefault(name, []).append(Part(name, filename, part.get_content_type() if declared else None,
                                                    payload))
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError):  # what the parser may still raise
        raise malformed from None
    return fields
