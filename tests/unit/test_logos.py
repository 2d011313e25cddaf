"""Namespace logos (``publishing.logos``): PNG, JPEG and WebP recognised by their signature and the size their
header gives; anything else, a broken or hostile header, a size out of bounds or too many bytes is refused with a
message saying what is accepted, and never with another exception. Also the ``multipart/form-data`` parser the
website's logo form is read with (``platform.body.multipart_form``)."""

from __future__ import annotations

import base64
import contextlib
import random
import struct
import zlib
from typing import Any

import pytest

from marketplace.platform import body
from marketplace.platform.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from marketplace.publishing import logos

# --- images, built byte by byte ----------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 64, height: int = 48, *, colour: int = 2, depth: int = 8, before_end: bytes = b"") -> bytes:
    """A PNG with a valid chunk structure (its pixels are a token IDAT: only the header is read)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + before_end + _chunk(b"IEND", b""))


def jpeg(width: int = 64, height: int = 48, *, frame: int = 0xC0, fill: bytes = b"") -> bytes:
    """A JPEG's headers as an encoder writes them (JFIF, a quantisation table, the frame, a scan, the end)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\0" + bytes(range(1, 65))
    components = b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sof = fill + b"\xff" + bytes([frame]) + struct.pack(">HBHHB", 17, 8, height, width, 3) + components
    sos = b"\xff\xda" + struct.pack(">H", 12) + b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00" + b"\x12\x34" * 8
    return b"\xff\xd8" + app0 + dqt + sof + sos + b"\xff\xd9"


def _riff(*chunks: bytes) -> bytes:
    payload = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def _webp_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")


def webp_lossless(width: int = 64, height: int = 48) -> bytes:
    bits = (width - 1) | (height - 1) << 14
    return _riff(_webp_chunk(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\x00\x00\x00"))


def webp_extended(width: int = 64, height: int = 48) -> bytes:
    canvas = struct.pack("<B3xHBHB", 0x10, (width - 1) & 0xFFFF, (width - 1) >> 16, (height - 1) & 0xFFFF,
                         (height - 1) >> 16)
    # the canvas's size is the image's: the chunks after it are not read for it
    return _riff(_webp_chunk(b"VP8X", canvas), _webp_chunk(b"ALPH", b"\0\0\0"), webp_lossless()[12:])


# 40x30 pictures as Chromium's encoders write them (canvas.toDataURL), the ICC profile left out.
WEBP_LOSSY = base64.b64decode(
    "UklGRqQAAABXRUJQVlA4IJgAAABwBQCdASooAB4APl0kjUWjoiEdXmQAOAXEtABWF/Q8d/GCeAK//3TP+QZCADJNwKP6u57AAP70iIf7tJcw"
    "M1X/3sF3YLuwX+w/+YUmh5zbg79rkTgX//lzF/1kDQA/1tJdp05tP+w/6FW/7NuH6nMFyW+MuDTT0KWqhCBEbv90dEBr8CBEDINP3dANuJ/b"
    "lsAPfMz6rfwAAA==")
WEBP_LOSSLESS = base64.b64decode(
    "UklGRjYAAABXRUJQVlA4TCkAAAAvJ0AHEBcwCoMsJEjo/t/r/AfwAyJtm5mcyek8Po7o/yhUBcAXU1W9QgA=")

VALID = {
    "png": (png(), "png", "image/png", "png", 64, 48),
    "png-grey-16": (png(16, 1024, colour=0, depth=16), "png", "image/png", "png", 16, 1024),
    "png-palette": (png(1024, 16, colour=3, depth=4, before_end=_chunk(b"tEXt", b"Title\0ACME")), "png",
                    "image/png", "png", 1024, 16),
    "jpeg-baseline": (jpeg(), "jpeg", "image/jpeg", "jpg", 64, 48),
    "jpeg-progressive": (jpeg(300, 200, frame=0xC2), "jpeg", "image/jpeg", "jpg", 300, 200),
    "jpeg-fill-bytes": (jpeg(32, 32, fill=b"\xff\xff"), "jpeg", "image/jpeg", "jpg", 32, 32),
    "webp-lossy": (WEBP_LOSSY, "webp", "image/webp", "webp", 40, 30),
    "webp-lossless": (WEBP_LOSSLESS, "webp", "image/webp", "webp", 40, 30),
    "webp-lossless-built": (webp_lossless(1024, 1024), "webp", "image/webp", "webp", 1024, 1024),
    "webp-extended": (webp_extended(100, 17), "webp", "image/webp", "webp", 100, 17),
}


def refused(data: bytes) -> str:
    """The refusal's message; any other exception (or none) fails the test."""
    with pytest.raises((BadRequest, PayloadTooLarge)) as caught:
        logos.validate(data)
    message = str(caught.value.message)
    assert logos.ACCEPTED in message
    return message


# --- what is accepted --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VALID)
def test_png_jpeg_and_webp_are_accepted_with_the_size_their_header_gives(name: str) -> None:
    data, kind, content_type, extension, width, height = VALID[name]
    assert logos.validate(data) == logos.Logo(kind, content_type, extension, width, height)


def test_the_key_is_public_and_named_by_the_content() -> None:
    data = png()
    logo = logos.validate(data)
    key = logos.object_key("acme", data, logo)
    assert key.startswith("assets/-/namespaces/acme/logo-") and key.endswith(".png")
    assert key.startswith(logos.PREFIX) and logos.PREFIX.startswith("assets/")
    assert len(key.rsplit("logo-", 1)[1]) == len("0123456789abcdef.png")
    assert logos.object_key("acme", png(65, 48), logos.validate(png(65, 48))) != key
    assert logos.public_path(key) == "/" + key and logos.public_path(None) is None


# --- what is refused ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "said"), [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
    (b'\xef\xbb\xbf<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    (b"<!doctype html><html><script>alert(1)</script></html>", "HTML"),
    (b"GIF89a\x40\x00\x30\x00" + b"\0" * 20, "GIF"),
    (b"BM" + b"\0" * 60, "BMP"),
    (b"\0\0\0\x1cftypavif" + b"\0" * 40, "AVIF"),
    (b"%PDF-1.7\n", "not a PNG, JPEG or WebP"),
    (b"\x89PNG", "not a PNG, JPEG or WebP"),
])
def test_other_formats_are_refused_by_name(data: bytes, said: str) -> None:
    assert said in refused(data)


@pytest.mark.parametrize(("data", "said"), [
    (b"\x89PNG\r\n\x1a\n" + b"<script>alert(1)</script>" * 4, "not a valid PNG"),  # the magic, then anything
    (png() + b"<html><script>alert(1)</script></html>", "follows its IEND"),  # a polyglot: markup after the image
    (png()[:-4] + b"\0\0\0\0", "CRC"),
    (b"\x89PNG\r\n\x1a\n" + _chunk(b"IDAT", b"x") + _chunk(b"IEND", b""), "IHDR"),
    (png(colour=2, depth=4), "IHDR chunk is not valid"),
    (png(colour=7), "IHDR chunk is not valid"),
    (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 48, 8, 2, 0, 0, 0)) + _chunk(b"IEND", b""),
     "no image data"),
    (png(before_end=_chunk(b"IHDR", struct.pack(">IIBBBBB", 9, 9, 8, 2, 0, 0, 0))), "second IHDR"),
    (b"\xff\xd8\xff\xda\x00\x0c" + b"\0" * 40, "before a frame header"),
    (b"\xff\xd8\xff\xe0\x00\x01" + b"\0" * 40, "length is not valid"),
    (b"\xff\xd8\xff\xc0\x00\x05\x08\x00\x40", "too short"),
    (jpeg().replace(b"\xff\xc0\x00\x11", b"\xff\xc0\x00\x14"), "frame header (SOF) is not valid"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\0" + b"\0" * 9 + b"<html>" * 8, "marker is missing"),
    (webp_lossless() + b"<html></html>", "RIFF size"),
    (_riff(_webp_chunk(b"VP8L", b"\x2f\0\0")), "too short"),
    (_riff(_webp_chunk(b"VP8L", b"\x2e" + b"\0" * 8)), "VP8L chunk is not valid"),
    (_riff(_webp_chunk(b"VP8L", b"\x2f" + struct.pack("<I", 63 | 47 << 14 | 1 << 29) + b"\0\0\0")),
     "VP8L chunk is not valid"),
    (_riff(_webp_chunk(b"VP8 ", b"\x01\0\0\x9d\x01\x2a\x40\0\x30\0")), "key frame"),
    (_riff(_webp_chunk(b"VP8X", b"\x10" + b"\0" * 9)), "no image data"),
    (_riff(_webp_chunk(b"ICCP", b"\0" * 4)), "first chunk"),
    (_riff(), "no image chunk"),
    (b"RIFF" + struct.pack("<I", 20) + b"WEBPVP8L" + struct.pack("<I", 9999) + b"\0" * 8, "past the end"),
])
def test_broken_and_polyglot_headers_are_refused(data: bytes, said: str) -> None:
    assert said in refused(data)


@pytest.mark.parametrize("build", [png, jpeg, webp_lossless, webp_extended])
@pytest.mark.parametrize(("width", "height"), [(0, 0), (15, 64), (64, 15), (1025, 64), (64, 1025), (20000, 20000)])
def test_sizes_out_of_bounds_are_refused(build: Any, width: int, height: int) -> None:
    if build in (webp_lossless, webp_extended) and 0 in (width, height):
        return  # WebP stores the size minus one: it has no 0x0
    if build is webp_lossless and max(width, height) > 16384:
        return  # its 14 bits stop at 16384
    assert f"{width}x{height} pixels" in refused(build(width, height))


def test_webp_sizes_past_the_limit_its_header_can_hold_are_refused() -> None:
    assert "16384x16384 pixels" in refused(webp_lossless(16384, 16384))
    assert "16777216x16777216 pixels" in refused(webp_extended(1 << 24, 1 << 24))


def test_empty_and_oversize_logos_are_refused() -> None:
    assert "empty" in refused(b"")
    big = png(before_end=_chunk(b"zTXt", b"\0" * logos.MAX_BYTES))
    with pytest.raises(PayloadTooLarge) as caught:
        logos.validate(big)
    assert logos.ACCEPTED in caught.value.message and str(len(big)) in caught.value.message
    at_the_limit = png(before_end=_chunk(b"tEXt", b"\0" * (logos.MAX_BYTES - len(png()) - 12)))
    assert len(at_the_limit) == logos.MAX_BYTES and logos.validate(at_the_limit).kind == "png"


@pytest.mark.parametrize("name", VALID)
def test_every_truncated_header_is_refused(name: str) -> None:
    data = VALID[name][0]
    # a JPEG is read as far as its frame header (just before its scan here): what follows may be cut
    header_end = data.index(b"\xff\xda") if data.startswith(b"\xff\xd8") else len(data)
    for cut in range(header_end):
        refused(data[:cut])


@pytest.mark.parametrize("name", VALID)
def test_mutated_headers_are_refused_or_read_never_an_exception(name: str) -> None:
    data = VALID[name][0]
    rng = random.Random(f"logos-{name}")
    for _ in range(400):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(min(len(mutated), 64)) if rng.random() < 0.8 else rng.randrange(len(mutated))
            action = rng.random()
            if action < 0.5:
                mutated[at] = rng.randrange(256)
            elif action < 0.7:
                mutated[at:at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\0\0\0\0", b"\x7f\xff\xff\xff", b"\xff\xd8"])
            elif action < 0.85:
                del mutated[at:at + rng.randint(1, 8)]
            else:
                mutated[at:at] = rng.randbytes(rng.randint(1, 8))
        try:
            logo = logos.validate(bytes(mutated))
        except (BadRequest, PayloadTooLarge) as error:
            assert logos.ACCEPTED in error.message
        else:
            assert logos.MIN_SIDE <= logo.width <= logos.MAX_SIDE and logos.MIN_SIDE <= logo.height <= logos.MAX_SIDE


def test_random_bytes_behind_each_signature_are_refused_or_read_never_an_exception() -> None:
    rng = random.Random("signatures")
    for _ in range(2000):
        head = rng.choice([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF" + rng.randbytes(4) + b"WEBP", b""])
        data = head + rng.randbytes(rng.randint(0, 64))
        try:
            logos.validate(data)
        except (BadRequest, PayloadTooLarge) as error:
            assert logos.ACCEPTED in error.message


# --- the multipart form a logo is uploaded in -----------------------------------------------------------------------

BOUNDARY = "----WebKitFormBoundaryq9Xe1Ui0lQx2kZ8d"


def form(*parts: tuple[str, str | None, str | None, bytes], boundary: str = BOUNDARY) -> bytes:
    out = b""
    for name, filename, content_type, data in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += disposition.encode() + b"\r\n"
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def event(data: bytes, content_type: str = f"multipart/form-data; boundary={BOUNDARY}", *,
          base64_body: bool = True) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode() if base64_body else data.decode("latin-1")
    return {"headers": {"content-type": content_type}, "body": encoded, "isBase64Encoded": base64_body}


def test_a_browsers_multipart_form_is_read_part_by_part() -> None:
    image = png() + b"\r\n--" + BOUNDARY[:10].encode() + b"\r\n\r\n\n\r"  # bytes that look like a boundary
    parsed = body.multipart_form(event(form(("csrf", None, None, b"token-1"),
                                            ("logo", "l\u00e9.png", "image/png", image),
                                            ("csrf", None, None, b"token-2"))), max_bytes=1 << 20)
    assert [p.text() for p in parsed["csrf"]] == ["token-1", "token-2"]
    (logo,) = parsed["logo"]
    assert logo == body.Part("logo", "l\u00e9.png", "image/png", image)
    assert parsed["csrf"][0].filename is None and parsed["csrf"][0].content_type is None


def test_a_form_sent_as_text_is_read_too() -> None:
    parsed = body.multipart_form(event(form(("a", None, None, b"1")), base64_body=False), max_bytes=1024)
    assert parsed["a"][0].data == b"1"


@pytest.mark.parametrize(("data", "content_type"), [
    (form(("a", None, None, b"1")), "multipart/form-data"),  # no boundary
    (form(("a", None, None, b"1")), "multipart/form-data; boundary=" + "x" * 71),
    (form(("a", None, None, b"1")), "multipart/form-data; boundary=other"),
    (form(("a", None, None, b"1"))[:-4], None),  # no closing boundary
    (b"garbage", None),
    (b"", None),
    (f"--{BOUNDARY}\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\n1\r\n--{BOUNDARY}--\r\n".encode(), None),
    (f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\n1\r\n--{BOUNDARY}--\r\n".encode(), None),
    (f"--{BOUNDARY}\r\n\r\n1\r\n--{BOUNDARY}--\r\n".encode(), None),
    (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\nbroken\r\n\r\n1\r\n--{BOUNDARY}--\r\n".encode(),
     None),
    (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMQ==\r\n"
     f"--{BOUNDARY}--\r\n".encode(), None),
    (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n"
     f"--in\r\n\r\nx\r\n--in--\r\n--{BOUNDARY}--\r\n".encode(), None),
    (form(*[(f"f{i}", None, None, b"") for i in range(body.MAX_FORM_FIELDS + 1)]), None),
])
def test_malformed_multipart_bodies_are_a_400(data: bytes, content_type: str | None) -> None:
    with pytest.raises(BadRequest):
        body.multipart_form(event(data, content_type or f"multipart/form-data; boundary={BOUNDARY}"), max_bytes=1 << 20)


def test_deeply_nested_parts_are_a_400_not_a_crash() -> None:
    nested = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(1500))
    with pytest.raises(BadRequest):
        body.multipart_form(event(nested, "multipart/form-data; boundary=b0"), max_bytes=1 << 20)


def test_other_content_types_are_a_415_and_large_bodies_a_413() -> None:
    with pytest.raises(UnsupportedMediaType):
        body.multipart_form(event(b"a=1", "application/x-www-form-urlencoded"), max_bytes=1024)
    with pytest.raises(UnsupportedMediaType):
        body.multipart_form({"headers": {}, "body": ""}, max_bytes=1024)
    with pytest.raises(PayloadTooLarge):
        body.multipart_form(event(form(("logo", "x.png", "image/png", b"\0" * 2048))), max_bytes=1024)
    with pytest.raises(BadRequest):
        body.multipart_form(event(form(("a", None, None, b"1")), "multipart/form-data; boundary=\"a\r\nb\""),
                            max_bytes=1024)
    with pytest.raises(BadRequest):
        body.Part("a", None, None, b"\xff").text()


def test_mutated_multipart_bodies_are_read_or_refused_never_an_exception() -> None:
    original = form(("csrf", None, None, b"token"), ("logo", "a.png", "image/png", png()))
    rng = random.Random("multipart")
    for _ in range(500):
        mutated = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(mutated))
            if rng.random() < 0.6:
                mutated[at] = rng.choice([13, 10, 45, 34, 59, 58, rng.randrange(256)])
            else:
                del mutated[at:at + rng.randint(1, 6)]
        with contextlib.suppress(BadRequest):
            body.multipart_form(event(bytes(mutated)), max_bytes=1 << 20)
