"""Browser uploads: the website's pages POST a package straight to the packages bucket with the presigned POST,
so the bucket carries the CORS rule ``resources.upload_cors_rules`` defines; the local runtime's provisioning
puts it there for the runtime's own origins, as the stack does for the site's (tests/infrastructure)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws

from marketplace.local.emulator import Emulator
from marketplace.local.provision import provision, site_origins
from marketplace.platform import aws
from marketplace.platform import resources as r

from .conftest import AWS_ENV

SITE = "http://127.0.0.1:8080"
SITE_ORIGINS = ["http://127.0.0.1:8080", "http://localhost:8080"]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    aws.reset_clients()
    yield
    aws.reset_clients()


def _cors_rules(bucket: str) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = boto3.client("s3").get_bucket_cors(Bucket=bucket)["CORSRules"]
    return rules


@pytest.mark.usefixtures("aws_env")
def test_provision_puts_the_upload_rule_on_the_packages_bucket_for_the_sites_origins() -> None:
    with mock_aws():
        deployment = provision("test", site_url=SITE + "/")
        assert _cors_rules(deployment.bucket_names[r.PACKAGES_BUCKET.id]) == [
            {
                "ID": "browser-uploads",
                "AllowedMethods": ["POST"],
                "AllowedOrigins": SITE_ORIGINS,
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 3000,
            }
        ]
        assert _cors_rules(deployment.bucket_names[r.PACKAGES_BUCKET.id]) == r.upload_cors_rules(SITE_ORIGINS)
        for lake in r.LAKE_BUCKETS:  # written by the delivery only: nothing for browsers
            with pytest.raises(ClientError, match="NoSuchCORSConfiguration"):
                _cors_rules(deployment.bucket_names[lake.id])


@pytest.mark.usefixtures("aws_env")
def test_without_a_site_no_bucket_answers_browsers() -> None:
    with mock_aws():
        deployment = provision("test")
        for name in deployment.bucket_names.values():
            with pytest.raises(ClientError, match="NoSuchCORSConfiguration"):
                _cors_rules(name)


@pytest.mark.parametrize(
    ("site_url", "expected"),
    [
        ("http://127.0.0.1:8080", ["http://127.0.0.1:8080", "http://localhost:8080"]),
        ("https://localhost:8443/", ["https://localhost:8443", "https://127.0.0.1:8443"]),
        ("http://0.0.0.0:9000", ["http://0.0.0.0:9000", "http://127.0.0.1:9000", "http://localhost:9000"]),
        ("http://[::1]:8080", ["http://[::1]:8080", "http://127.0.0.1:8080", "http://localhost:8080"]),
        ("http://localhost", ["http://localhost", "http://127.0.0.1"]),
        ("http://market.lan:8080", ["http://market.lan:8080"]),
    ],
)
def test_the_local_site_is_reached_by_its_own_origin_and_the_loopback_aliases(
    site_url: str, expected: list[str]
) -> None:
    assert site_origins(site_url) == expected


def test_the_rule_needs_an_origin_and_names_each_once() -> None:
    with pytest.raises(ValueError, match="at least one site origin"):
        r.upload_cors_rules([])
    [rule] = r.upload_cors_rules(["https://a.example/", "https://a.example", "https://b.example"])
    assert rule["AllowedOrigins"] == ["https://a.example", "https://b.example"]


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The local runtime's emulator on a free port, provisioned for the site at ``SITE``; yields the packages
    bucket's name."""
    server = Emulator(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    for name, value in {**AWS_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.get_host_and_port()[1]}"}.items():
        monkeypatch.setenv(name, value)
    aws.reset_clients()
    try:
        deployment = provision(f"cors{uuid.uuid4().hex[:8]}", site_url=SITE)  # the server keeps its state
        yield deployment.bucket_names[r.PACKAGES_BUCKET.id]
    finally:
        server.stop()
        aws.reset_clients()


def test_a_browser_on_the_site_may_send_the_presigned_post_and_another_site_may_not(emulator: str) -> None:
    """A page that follows the upload's progress makes the browser ask first (an upload listener makes the POST
    non-simple): the preflight is answered for the site's origins, refused for any other."""
    post = boto3.client("s3").generate_presigned_post(
        Bucket=emulator, Key=f"{r.PACKAGES_BUCKET.upload_prefix}probe", Conditions=[["content-length-range", 1, 10]]
    )
    for origin in SITE_ORIGINS:
        answer = requests.options(
            post["url"], headers={"Origin": origin, "Access-Control-Request-Method": "POST"}, timeout=10
        )
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == origin
        assert answer.headers["Access-Control-Allow-Methods"] == "POST"
        assert answer.headers["Access-Control-Expose-Headers"] == "ETag"
        assert answer.headers["Access-Control-Max-Age"] == "3000"
    refused = requests.options(
        post["url"], headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    # a preflight without an ok status fails in the browser, whatever the headers (moto's server adds its own
    # Access-Control-Allow-Origin to every answer, which is also why the POST below cannot tell origins apart)
    assert refused.status_code == 403
    sent = requests.post(post["url"], data=post["fields"], files={"file": ("x.vsix", b"PK")},
                         headers={"Origin": SITE}, timeout=10)
    assert sent.status_code == 204
