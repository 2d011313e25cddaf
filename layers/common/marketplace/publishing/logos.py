"""Namespace logos: which images are taken, and where they are kept.

Only PNG, JPEG and WebP: formats a browser shows as pictures and nothing else (never SVG, which can carry
script, nor GIF or any markup). A logo is recognised by its signature and by a parse of the header that gives
its size, written here with ``struct`` and a bounds check before every read, so a truncated or hostile header is
refused with a ``BadRequest`` (or ``PayloadTooLarge``) saying what is accepted, never another exception. A PNG
is walked chunk by chunk (lengths and CRCs) to its ``IEND`` at the very end, and a WebP's RIFF chunks must fill
the file exactly, so no other content rides along after the image; a JPEG is read up to its frame header.

A logo is public: ``<namespace_logo_prefix><namespace>/logo-<first 16 hex of its SHA-256>.<extension>`` in the
packages bucket, served by the CDN at ``/`` + that key. The name changes with the content, so it is cached for a
year as immutable.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marketplace.platform.errors import BadRequest, PayloadTooLarge
from marketplace.platform.resources import PACKAGES_BUCKET

MAX_BYTES = 256 * 1024
MIN_SIDE = 16
MAX_SIDE = 1024
PREFIX = PACKAGES_BUCKET.namespace_logo_prefix
ACCEPTED = (f"a logo must be a PNG, JPEG or WebP image of at most {MAX_BYTES // 1024} KiB, {MIN_SIDE} to "
            f"{MAX_SIDE} pixels on each side")
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types and the bit depths each allows (PNG specification, IHDR)
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
# JPEG markers: start of frame (SOF0-3, 5-7, 9-11, 13-15: not DHT C4, JPG C8, DAC CC), and those without a length
_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9


@dataclass(frozen=True)
class Logo:
    kind: str  # png | jpeg | webp
    content_type: str
    extension: str
    width: int
    height: int


class _Malformed(Exception):
    """A header that does not parse; becomes a ``BadRequest`` naming the format."""


def _unpack(layout: str, data: bytes, offset: int) -> tuple[Any, ...]:
    """``struct.unpack_from`` with the bounds checked first (a short read is a malformed header)."""
    if offset < 0 or offset + struct.calcsize(layout) > len(data):
        raise _Malformed("it ends in the middle of its header")
    return struct.unpack_from(layout, data, offset)


def _png_size(data: bytes) -> tuple[int, int]:
    """The IHDR's width and height, after walking every chunk (lengths, CRCs) to an ``IEND`` that ends the file."""
    offset = len(_PNG_SIGNATURE)
    size: tuple[int, int] | None = None
    has_data = False
    while True:
        length, kind = _unpack(">I4s", data, offset)
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise _Malformed("a chunk header is not valid")
        body_start = offset + 8
        end = body_start + length
        (crc,) = _unpack(">I", data, end)
        if zlib.crc32(data[offset + 4:end]) != crc:
            raise _Malformed(f"the CRC of its {kind.decode('ascii')} chunk does not match")
        if size is None:
            if kind != b"IHDR" or length != 13:
                raise _Malformed("it does not start with an IHDR chunk")
            width, height, depth, colour, compression, filtering, interlace = _unpack(">IIBBBBB", data, body_start)
            if depth not in _PNG_DEPTHS.get(colour, set()) or compression or filtering or interlace > 1:
                raise _Malformed("its IHDR chunk is not valid")
            size = (width, height)
        elif kind == b"IHDR":
            raise _Malformed("it has a second IHDR chunk")
        has_data = has_data or kind == b"IDAT"
        offset = end + 4
        if kind == b"IEND":
            if offset != len(data):
                raise _Malformed("more data follows its IEND chunk")
            if not has_data:
                raise _Malformed("it has no image data (IDAT)")
            return size


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """The frame header's (SOFn) width and height, walking the marker segments before it."""
    offset = 2  # after SOI
    while True:
        (prefix,) = _unpack(">B", data, offset)
        if prefix != 0xFF:
            raise _Malformed("a marker is missing where a segment should start")
        while True:  # fill bytes: any number of 0xFF before the marker's code
            offset += 1
            (marker,) = _unpack(">B", data, offset)
            if marker != 0xFF:
                break
        offset += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0x00, 0xD8, _JPEG_SOS, _JPEG_EOI):
            raise _Malformed("its image data starts before a frame header (SOF) says how large it is")
        (length,) = _unpack(">H", data, offset)
        if length < 2:
            raise _Malformed("a segment's length is not valid")
        if marker in _JPEG_FRAMES:
            if length < 8 or offset + length > len(data):
                raise _Malformed("its frame header (SOF) is too short")
            _precision, height, width, components = _unpack(">BHHB", data, offset + 2)
            if components == 0 or length != 8 + 3 * components:
                raise _Malformed("its frame header (SOF) is not valid")
            return width, height
        offset += length


def _webp_size(data: bytes) -> tuple[int, int]:
    """The size its first chunk gives (VP8, VP8L or VP8X), after checking the RIFF chunks fill the file."""
    (riff_size,) = _unpack("<I", data, 4)
    if riff_size + 8 != len(data):
        raise _Malformed("its RIFF size is not the file's size")
    offset, chunks = 12, []
    while offset < len(data):
        kind, length = _unpack("<4sI", data, offset)
        chunks.append((kind, offset + 8, length))
        offset += 8 + length + (length & 1)
        if offset > len(data):
            raise _Malformed("a chunk runs past the end of the file")
    if not chunks:
        raise _Malformed("it has no image chunk")
    kind, start, length = chunks[0]
    if kind == b"VP8 ":
        if length < 10:
            raise _Malformed("its VP8 chunk is too short")
        frame, code = _unpack("<B2x3s", data, start)
        if frame & 1 or code != b"\x9d\x01\x2a":
            raise _Malformed("its VP8 chunk does not start with a key frame")
        width, height = _unpack("<HH", data, start + 6)
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L":
        if length < 5:
            raise _Malformed("its VP8L chunk is too short")
        signature, bits = _unpack("<BI", data, start)
        if signature != 0x2F or bits >> 29:
            raise _Malformed("its VP8L chunk is not valid")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":
        if length < 10:
            raise _Malformed("its VP8X chunk is too short")
        width_low, width_high, height_low, height_high = _unpack("<HBHB", data, start + 4)
        if not any(k in (b"VP8 ", b"VP8L", b"ANMF") for k, _, _ in chunks[1:]):
            raise _Malformed("it has no image data")
        return (width_low | width_high << 16) + 1, (height_low | height_high << 16) + 1
    raise _Malformed("its first chunk is not VP8, VP8L or VP8X")


_PARSERS: dict[str, Callable[[bytes], tuple[int, int]]] = {"png": _png_size, "jpeg": _jpeg_size, "webp": _webp_size}
_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}


def _kind(data: bytes) -> str | None:
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _what(data: bytes) -> str:
    """What a refused file looks like, for the message."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if head.startswith(b"<") or b"<svg" in head:
        return "markup (SVG, HTML or XML), which can carry script"
    if data.startswith(b"BM"):
        return "a BMP image"
    if data[4:8] == b"ftyp":
        return "an AVIF, HEIC or video file"
    return "not a PNG, JPEG or WebP image"


def validate(data: bytes) -> Logo:
    """The logo ``data`` is, or ``BadRequest``/``PayloadTooLarge`` saying why not and what is accepted."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"the logo is {len(data)} bytes: {ACCEPTED}")
    if not data:
        raise BadRequest(f"the logo is empty: {ACCEPTED}")
    kind = _kind(data)
    if kind is None:
        raise BadRequest(f"the logo is {_what(data)}: {ACCEPTED}")
    try:
        width, height = _PARSERS[kind](data)
    except _Malformed as error:
        raise BadRequest(f"the logo is not a valid {_NAMES[kind]} image ({error}): {ACCEPTED}") from None
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise BadRequest(f"the logo is {width}x{height} pixels: {ACCEPTED}")
    return Logo(kind, CONTENT_TYPES[kind], EXTENSIONS[kind], width, height)


def object_key(namespace: str, data: bytes, logo: Logo) -> str:
    """Where ``data`` is kept: named by its content, so a new logo is a new name."""
    return f"{PREFIX}{namespace}/logo-{hashlib.sha256(data).hexdigest()[:16]}.{logo.extension}"


def public_path(key: str | None) -> str | None:
    """The path the CDN serves ``key`` at on this site (``None`` for no logo)."""
    return f"/{key}" if key else None
