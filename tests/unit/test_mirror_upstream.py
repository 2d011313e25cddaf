"""The upstream client's politeness and care, with a fake clock and a fake opener: no test sleeps or touches the
network (marketplace.mirror.upstream)."""

from __future__ import annotations

import email.message
import io
import json
import threading
import urllib.error
from typing import Any

import pytest

from marketplace.mirror.upstream import (
    Refused,
    RetryPolicy,
    TokenBucket,
    Upstream,
    UpstreamError,
    UpstreamNotFound,
    normalize_base,
    retry_after_seconds,
)
from marketplace.platform.retry import Backoff
from tests.fakes.clock import Clock

BASE = "https://upstream.example"


# ---------------------------------------------------------------------------------------------- the bucket


def test_the_bucket_spaces_requests_at_the_rate():
    clock = Clock()
    bucket = TokenBucket(4, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits == [0.0, 0.25, 0.25, 0.25, 0.25]  # the first is free, then one every quarter second
    assert clock.now == pytest.approx(1.0)


def test_the_bucket_refills_while_idle_up_to_its_burst():
    clock = Clock()
    bucket = TokenBucket(2, burst=3, clock=clock, sleep=clock.sleep)
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire() == pytest.approx(0.5)
    clock.now += 100  # idle for long: no more than the burst is saved up
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire() == pytest.approx(0.5)


def test_a_zero_rate_is_no_limit_and_bad_settings_are_refused():
    clock = Clock()
    bucket = TokenBucket(0, clock=clock, sleep=clock.sleep)
    assert all(bucket.acquire() == 0 for _ in range(100)) and clock.sleeps == []
    with pytest.raises(ValueError):
        TokenBucket(-1)
    with pytest.raises(ValueError):
        TokenBucket(1, burst=0.5)


def test_threads_queue_up_for_their_tokens():
    clock = Clock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.sleeps.append(seconds)

    bucket = TokenBucket(10, clock=clock, sleep=sleep)
    threads = [threading.Thread(target=bucket.acquire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # the clock did not move: each reservation waits one interval longer than the one before it
    assert sorted(clock.sleeps) == pytest.approx([0.1 * n for n in range(1, 8)])


# ---------------------------------------------------------------------------------------- retry policy


def policy(attempts: int = 4, max_retry_after: float = 120.0) -> RetryPolicy:
    return RetryPolicy(Backoff(attempts, 0.5, 8.0, jitter=False), max_retry_after)


def test_the_retry_policy_backs_off_and_honours_retry_after():
    retry = policy()
    assert [retry.wait(n, None) for n in range(4)] == [0.5, 1.0, 2.0, None]
    assert retry.wait(0, 10.0) == 10.0  # the upstream asked for longer than the backoff
    assert retry.wait(2, 1.0) == 2.0  # and for less: the backoff stands
    assert retry.wait(0, 121.0) is None  # longer than we are willing to wait: give up now


def test_retry_after_is_seconds_or_an_http_date():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(" 0 ") == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("-3") is None


# --------------------------------------------------------------------------------------------- requests


class FakeResponse:
    def __init__(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.stream = io.BytesIO(body)
        self.headers = email.message.Message()
        for name, value in (headers if headers is not None else {"Content-Length": str(len(body))}).items():
            self.headers[name] = value

    def read(self, amount: int = -1) -> bytes:
        return self.stream.read(amount)

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *_: Any) -> None:
        return None


class FakeOpener:
    """Answers requests from a script: a ``FakeResponse``, an HTTP status (with headers), or an exception."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.urls: list[str] = []

    def open(self, request: Any, timeout: float) -> Any:
        self.urls.append(request.full_url)
        assert timeout == 5 and request.headers["User-agent"].startswith("marketplace-mirror/")
        step = self.script.pop(0)
        if isinstance(step, tuple):
            status, headers = step
            message = email.message.Message()
            for name, value in headers.items():
                message[name] = value
            raise urllib.error.HTTPError(request.full_url, status, "error", message, io.BytesIO(b"{}"))
        if isinstance(step, BaseException):
            raise step
        return step


def upstream(*script: Any, attempts: int = 4, max_json_bytes: int = 1024) -> tuple[Upstream, FakeOpener, Clock]:
    clock = Clock()
    client = Upstream(BASE, rate=2, timeout=5, retry=policy(attempts), max_json_bytes=max_json_bytes,
                      bucket=TokenBucket(2, clock=clock, sleep=clock.sleep), sleep=clock.sleep)
    opener = FakeOpener(*script)
    client._opener = opener  # type: ignore[assignment]
    return client, opener, clock


def ok(value: Any) -> FakeResponse:
    return FakeResponse(json.dumps(value).encode())


def test_429_then_200_waits_what_the_upstream_asked():
    client, opener, clock = upstream((429, {"Retry-After": "3"}), ok({"version": "1.0.0"}))
    assert client.extension("acme", "hello") == {"version": "1.0.0"}
    assert opener.urls == [f"{BASE}/api/acme/hello"] * 2
    assert 3.0 in clock.sleeps and client.requests == 2


def test_5xx_and_network_errors_are_retried_a_bounded_number_of_times():
    client, opener, clock = upstream((502, {}), ConnectionResetError("reset"), TimeoutError("slow"), (503, {}))
    with pytest.raises(UpstreamError) as raised:
        client.get_json(f"{BASE}/api/acme/hello")
    assert raised.value.message == f"HTTP 503 from {BASE}/api/acme/hello (after 4 attempts)"
    assert raised.value.upstream_status == 503 and len(opener.urls) == 4
    assert [s for s in clock.sleeps if s >= 0.5] == [0.5, 1.0, 2.0]  # the backoff (the bucket's waits aside)


def test_a_too_long_retry_after_gives_up_at_once():
    client, opener, _ = upstream((429, {"Retry-After": "3600"}), ok({}))
    with pytest.raises(UpstreamError, match=r"HTTP 429 .*\(after 1 attempt\)$"):
        client.get_json(f"{BASE}/api/x/y")
    assert len(opener.urls) == 1


def test_other_client_errors_and_404_are_not_retried():
    client, opener, _ = upstream((404, {}))
    with pytest.raises(UpstreamNotFound):
        client.extension("acme", "gone")
    client, opener, _ = upstream((403, {}))
    with pytest.raises(UpstreamError, match="HTTP 403"):
        client.extension("acme", "secret")
    assert len(opener.urls) == 1


def test_json_answers_are_size_capped_and_must_be_json():
    client, _, _ = upstream(FakeResponse(b"x" * 2000))
    with pytest.raises(Refused, match="is 2000 bytes; at most 1024 are read"):
        client.get_json(f"{BASE}/api/a/b")
    client, _, _ = upstream(FakeResponse(b"[" * 2000, headers={}))  # no Content-Length: counted while read
    with pytest.raises(Refused, match="larger than the 1024 bytes read"):
        client.get_json(f"{BASE}/api/a/b")
    client, _, _ = upstream(FakeResponse(b"<html>"))
    with pytest.raises(Refused, match="did not answer JSON"):
        client.get_json(f"{BASE}/api/a/b")


def test_a_short_answer_is_retried():
    client, opener, _ = upstream(FakeResponse(b'{"a"', headers={"Content-Length": "10"}), ok({"a": 1}))
    assert client.get_json(f"{BASE}/api/a/b") == {"a": 1} and len(opener.urls) == 2


def test_urls_from_answers_must_be_on_the_upstreams_origin():
    client, _, _ = upstream()
    assert client.check_url(f"{BASE}/api/a/b/file/x.vsix") == f"{BASE}/api/a/b/file/x.vsix"
    assert client.check_url("https://UPSTREAM.example:443/x")
    for url in ("http://upstream.example/x", "https://upstream.example:8443/x", "https://evil.example/x",
                "file:///etc/passwd", "ftp://upstream.example/x", 42):
        with pytest.raises(Refused, match="outside"):
            client.check_url(url)  # type: ignore[arg-type]


def test_downloads_stream_to_a_file_with_their_digest_and_a_size_cap(tmp_path):
    import hashlib

    body = b"PK" + b"z" * 5000
    client, _, _ = upstream(FakeResponse(body))
    found = client.download(f"{BASE}/f.vsix", max_bytes=10_000, directory=tmp_path)
    assert found.path.read_bytes() == body and found.size == len(body)
    assert found.sha256 == hashlib.sha256(body).hexdigest() and client.bytes_received == len(body)
    client, _, _ = upstream(FakeResponse(body))
    with pytest.raises(Refused, match="the package is 5002 bytes; this marketplace accepts at most 100"):
        client.download(f"{BASE}/f.vsix", max_bytes=100, directory=tmp_path)
    client, _, _ = upstream(FakeResponse(body, headers={}))
    with pytest.raises(Refused, match="larger than the 100 bytes"):
        client.download(f"{BASE}/f.vsix", max_bytes=100, directory=tmp_path)
    cut = {"Content-Length": "9000"}
    client, opener, _ = upstream(FakeResponse(body, cut), FakeResponse(body, cut), FakeResponse(body, cut),
                                 FakeResponse(body, cut))
    with pytest.raises(Refused, match="truncated download: 5002 of 9000 bytes arrived"):
        client.download(f"{BASE}/f.vsix", max_bytes=10_000, directory=tmp_path)
    assert len(opener.urls) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [found.path.name]  # failed downloads leave nothing


@pytest.mark.parametrize(("given", "base"), [
    ("https://open-vsx.org", "https://open-vsx.org"),
    ("https://open-vsx.org/", "https://open-vsx.org"),
    ("https://open-vsx.org/api", "https://open-vsx.org"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ("https://host.example/registry/api/", "https://host.example/registry"),
])
def test_base_urls(given, base):
    assert normalize_base(given) == base


@pytest.mark.parametrize("given", ["ftp://x.example", "open-vsx.org", "https://user:pw@x.example",
                                   "https://x.example/?a=1", "https://"])
def test_bad_base_urls(given):
    with pytest.raises(ValueError):
        normalize_base(given)


def test_paths_are_quoted_and_search_pages_until_the_total():
    client, opener, _ = upstream(
        ok({"offset": 0, "totalSize": 3, "extensions": [{"namespace": "a", "name": "b"}] * 2}),
        ok({"offset": 2, "totalSize": 3, "extensions": [{"namespace": "c", "name": "d"}]}))
    assert [e["name"] for e in client.search_all(page_size=2)] == ["b", "b", "d"]
    assert opener.urls == [f"{BASE}/api/-/search?size=2&offset=0&sortBy=timestamp&sortOrder=asc",
                           f"{BASE}/api/-/search?size=2&offset=2&sortBy=timestamp&sortOrder=asc"]
    assert client.api("a/b", "c d") == f"{BASE}/api/a%2Fb/c%20d"
