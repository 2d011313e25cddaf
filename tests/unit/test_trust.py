"""The origin secret decides which headers an HTTP function believes (marketplace.platform.trust)."""

from __future__ import annotations

import hmac
import json

import pytest

from marketplace.platform import trust
from marketplace.platform.errors import Forbidden

SECRET = "s3cr3t-value-from-secrets-manager"
VIEWER = "198.51.100.20"
CLOUDFRONT = "130.176.0.1"


def _event(headers: dict[str, str], source_ip: str = CLOUDFRONT) -> dict[str, object]:
    return {"headers": headers, "requestContext": {"http": {"sourceIp": source_ip}}}


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(trust.ORIGIN_SECRET_VAR, SECRET)
    return SECRET


@pytest.fixture
def no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(trust.ORIGIN_SECRET_VAR, raising=False)


def test_without_a_secret_nothing_is_checked(no_secret: None) -> None:
    trust.verify_origin({})
    trust.verify_origin({trust.ORIGIN_HEADER: "anything"})
    assert trust.origin_denial(_event({})) is None
    assert not trust.origin_verified({trust.ORIGIN_HEADER: ""})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {trust.ORIGIN_HEADER: ""},
        {trust.ORIGIN_HEADER: "wrong"},
        {trust.ORIGIN_HEADER: SECRET[:-1]},
        {trust.ORIGIN_HEADER: SECRET + "x"},
        {"x-origin-verify-2": SECRET},
        {trust.ORIGIN_HEADER: "ünïcödé"},
    ],
    ids=["missing", "empty", "wrong", "prefix", "longer", "other-header", "non-ascii"],
)
def test_with_a_secret_a_missing_or_wrong_header_is_refused(secret: str, headers: dict[str, str]) -> None:
    with pytest.raises(trust.OriginNotVerified) as raised:
        trust.verify_origin(headers)
    assert isinstance(raised.value, Forbidden)
    assert raised.value.status == 403
    assert raised.value.body()["error"] == "origin_not_verified"
    denial = trust.origin_denial(_event(headers))
    assert denial is not None
    assert denial["statusCode"] == 403
    assert denial["headers"]["Content-Type"] == "application/json"
    body = json.loads(denial["body"])
    assert body["error"] == "origin_not_verified"
    assert body["message"]
    assert SECRET not in denial["body"]


def test_with_a_secret_the_matching_header_passes_in_any_case(secret: str) -> None:
    trust.verify_origin({trust.ORIGIN_HEADER: secret})
    trust.verify_origin({"X-Origin-Verify": secret})
    assert trust.origin_denial(_event({trust.ORIGIN_HEADER: secret})) is None


def test_the_comparison_is_constant_time(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert trust.origin_verified({trust.ORIGIN_HEADER: "guess"}) is False
    assert calls == [(b"guess", secret.encode())]


# ------------------------------------------------------------------------------------------ client address


def test_forged_viewer_headers_without_a_secret_are_ignored(no_secret: None) -> None:
    forged = {"cloudfront-viewer-address": "203.0.113.7:1234", "x-forwarded-for": "203.0.113.8", "x-amz-cf-id": "a"}
    assert trust.client_address(_event(forged, source_ip=VIEWER)) == VIEWER


def test_forged_viewer_headers_with_a_wrong_secret_are_ignored(secret: str) -> None:
    forged = {trust.ORIGIN_HEADER: "wrong", "cloudfront-viewer-address": "203.0.113.7:1234",
              "x-forwarded-for": "203.0.113.8"}
    assert trust.client_address(_event(forged, source_ip=VIEWER)) == VIEWER


def test_a_new_forged_address_per_request_does_not_change_the_client(secret: str) -> None:
    forged = [{"cloudfront-viewer-address": f"203.0.113.{n}:1", "x-forwarded-for": f"192.0.2.{n}"} for n in range(5)]
    addresses = {trust.client_address(_event(headers, source_ip=VIEWER)) for headers in forged}
    assert addresses == {VIEWER}


def test_verified_requests_use_cloudfronts_viewer_address(secret: str) -> None:
    headers = {trust.ORIGIN_HEADER: secret, "cloudfront-viewer-address": f"{VIEWER}:53412"}
    assert trust.client_address(_event(headers)) == VIEWER
    v6 = {trust.ORIGIN_HEADER: secret, "CloudFront-Viewer-Address": "2001:db8::7:443"}
    assert trust.client_address(_event(v6)) == "2001:db8::7"


def test_verified_requests_never_read_x_forwarded_for(secret: str) -> None:
    headers = {trust.ORIGIN_HEADER: secret, "x-forwarded-for": f"203.0.113.9, {VIEWER}", "x-amz-cf-id": "abc"}
    assert trust.client_address(_event(headers)) == CLOUDFRONT


@pytest.mark.parametrize("value", ["not-an-address:1", "", ":", "999.1.1.1:80", "<script>:1"])
def test_a_malformed_viewer_address_falls_back_to_the_source(secret: str, value: str) -> None:
    headers = {trust.ORIGIN_HEADER: secret, "cloudfront-viewer-address": value}
    assert trust.client_address(_event(headers)) == CLOUDFRONT


def test_no_address_at_all_is_unknown(no_secret: None) -> None:
    assert trust.client_address({"headers": {}}) == trust.UNKNOWN_ADDRESS
    assert trust.client_address({"headers": None, "requestContext": {"http": {"sourceIp": "nonsense"}}}) == "unknown"


# ------------------------------------------------------------------------------------------ public base URL


def test_forwarded_host_is_ignored_without_a_secret(no_secret: None) -> None:
    headers = {"x-forwarded-host": "evil.example", "x-forwarded-proto": "http", "host": "d111.cloudfront.net"}
    assert trust.public_base_url(headers) == "https://d111.cloudfront.net"


def test_forwarded_host_is_ignored_with_a_wrong_secret(secret: str) -> None:
    headers = {trust.ORIGIN_HEADER: "nope", "x-forwarded-host": "evil.example", "host": "abc.execute-api.example"}
    assert trust.public_base_url(headers) == "https://abc.execute-api.example"


def test_verified_requests_use_the_forwarded_host_and_proto(secret: str) -> None:
    cdn = {trust.ORIGIN_HEADER: secret, "x-forwarded-host": "d111.cloudfront.net", "host": "abc.execute-api.example"}
    assert trust.public_base_url(cdn) == "https://d111.cloudfront.net"
    local = {trust.ORIGIN_HEADER: secret, "x-forwarded-host": "127.0.0.1:8080", "x-forwarded-proto": "https"}
    assert trust.public_base_url(local) == "https://127.0.0.1:8080"
    assert trust.public_base_url({**local, "x-forwarded-proto": "http"}) == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "forged",
    [
        "evil.example/path",
        "evil.example?x=1",
        "user@evil.example",
        "evil.example:99999",
        "evil example",
        "evil.example\r\nSet-Cookie: a=b",
        "-evil.example",
        "evil.example:80:80",
        "",
    ],
)
def test_a_malformed_forwarded_host_falls_back_to_the_host_header(secret: str, forged: str) -> None:
    headers = {trust.ORIGIN_HEADER: secret, "x-forwarded-host": forged, "host": "market.example.org"}
    assert trust.public_base_url(headers) == "https://market.example.org"


def test_a_malformed_host_header_falls_back_to_localhost(no_secret: None) -> None:
    assert trust.public_base_url({"host": "evil.example/x"}) == "http://localhost"
    assert trust.public_base_url({}) == "http://localhost"


def test_only_http_and_https_are_schemes(secret: str) -> None:
    headers = {trust.ORIGIN_HEADER: secret, "x-forwarded-host": "market.example.org", "x-forwarded-proto": "javascript"}
    assert trust.public_base_url(headers) == "https://market.example.org"


def test_loopback_hosts_default_to_http(no_secret: None) -> None:
    assert trust.public_base_url({"Host": "127.0.0.1:8080"}) == "http://127.0.0.1:8080"
    assert trust.public_base_url({"host": "localhost:8080"}) == "http://localhost:8080"
    assert trust.public_base_url({"host": "[::1]:8080"}) == "http://[::1]:8080"
    assert trust.public_base_url({"host": "Market.Example.ORG"}) == "https://market.example.org"
    # an unverified X-Forwarded-Proto is the caller's word
    assert trust.public_base_url({"host": "x.example", "x-forwarded-proto": "http"}) == "https://x.example"


def test_repeated_headers_use_their_first_value(secret: str) -> None:
    headers = {trust.ORIGIN_HEADER: secret, "x-forwarded-host": "a.example, b.example",
               "x-forwarded-proto": "http, https"}
    assert trust.public_base_url(headers) == "http://a.example"


def test_the_header_name_can_be_overridden_as_the_local_runtime_allows(secret: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(trust.ORIGIN_HEADER_VAR, "X-Custom-Verify")
    trust.verify_origin({"x-custom-verify": secret})
    with pytest.raises(trust.OriginNotVerified):
        trust.verify_origin({trust.ORIGIN_HEADER: secret})


def test_cloudfronts_own_proto_header_wins_over_x_forwarded_proto(secret: str) -> None:
    headers = {trust.ORIGIN_HEADER: secret, "x-forwarded-host": "market.example.org", "x-forwarded-proto": "http",
               "cloudfront-forwarded-proto": "https"}
    assert trust.public_base_url(headers) == "https://market.example.org"
    assert trust.public_base_url({**headers, trust.ORIGIN_HEADER: "forged"}) == "http://localhost"
