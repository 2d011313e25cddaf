"""The one case-insensitive header lookup (platform.headers) and its users."""

from __future__ import annotations

import base64
import gzip

from marketplace.gallery.downloads import download_event
from marketplace.platform.body import GZIP, raw_body
from marketplace.platform.headers import lowered_headers, request_header


def test_request_header_finds_any_case_and_prefers_the_exact_name():
    assert request_header({"Content-Encoding": "gzip"}, "content-encoding") == "gzip"
    assert request_header({"content-encoding": "br"}, "Content-Encoding") == "br"
    assert request_header({"X-A": "1", "x-a": "2"}, "x-a") == "2"
    assert request_header({}, "x") is None
    assert request_header(None, "x") is None


def test_lowered_headers_keys_every_header_in_lower_case():
    assert lowered_headers({"Host": "h", "X-Forwarded-Host": "f"}) == {"host": "h", "x-forwarded-host": "f"}
    assert lowered_headers(None) == {}


def test_download_event_names_the_client_whatever_the_header_case():
    event = download_event("a.b", "1.0.0", None, "install", {"X-MARKET-CLIENT-ID": "VSCode 1.100.3"})
    assert event.client == "VSCode 1.100.3"
    event = download_event("a.b", "1.0.0", None, "install", {"USER-AGENT": "ovsx"})
    assert event.client == "ovsx"


def test_the_body_decoder_reads_content_encoding_in_any_case():
    body = base64.b64encode(gzip.compress(b"hello")).decode()
    event = {"headers": {"CONTENT-ENCODING": "gzip"}, "body": body, "isBase64Encoded": True}
    assert raw_body(event, max_bytes=100, encodings=GZIP) == b"hello"
