"""Owners manage their namespace through the publishing API: its details (display name, description, website,
logo) and its members; contributors read them; bad input changes nothing; every change is in the audit log."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.resources import PACKAGES_BUCKET
from marketplace.publishing import service, store
from tests.integration.publishing_api import call
from tests.unit.test_logos import jpeg, png, webp_lossless


@pytest.fixture
def owner(deployment) -> str:
    return service.create_publisher("acme", "alice")[1]


def test_an_owner_edits_the_details_and_a_contributor_reads_them(owner):
    status, details = call("PUT", "/api/publish/namespaces/acme", owner,
                            {"displayName": "ACME Tools", "description": "Tools.\nFor everyone.",
                             "website": "https://acme.example"})
    assert status == 200, details
    assert (details["displayName"], details["website"]) == ("ACME Tools", "https://acme.example")
    service.add_member("acme", "bob", "contributor")
    contributor = service.create_token("bob", ["acme"])
    status, seen = call("GET", "/api/publish/namespaces/acme", contributor)
    assert status == 200 and seen["description"] == "Tools.\nFor everyone."
    assert {(m["user"], m["role"]) for m in seen["members"]} == {("alice", "owner"), ("bob", "contributor")}
    assert call("PUT", "/api/publish/namespaces/acme", contributor, {"displayName": "mine"})[0] == 403
    status, cleared = call("PUT", "/api/publish/namespaces/acme", owner, {"website": None})
    assert status == 200 and cleared["website"] is None and cleared["displayName"] == "ACME Tools"
    assert [e.action for e in service.audit_log("acme")].count("namespace.details") == 2


@pytest.mark.parametrize("body", [{}, [], {"name": "x"}, {"displayName": ""}, {"displayName": "x" * 101},
                                  {"displayName": "a\u202eb"}, {"website": "http://acme.example"},
                                  {"website": "javascript:alert(1)"}, {"description": 5}])
def test_bad_details_change_nothing(owner, body):
    before = store.get_namespace("acme")
    status, answer = call("PUT", "/api/publish/namespaces/acme", owner, body)
    assert status == 400 and answer["message"]
    after = store.get_namespace("acme")
    assert before is not None and after is not None and before.attribute_values == after.attribute_values


def test_owners_add_and_remove_members_but_never_the_last_owner(owner):
    status, added = call("POST", "/api/publish/namespaces/acme/members", owner, {"user": "bob", "role": "owner"})
    assert status == 201 and {"user": "bob", "role": "owner"} in added["members"]
    assert call("POST", "/api/publish/namespaces/acme/members", owner, {"user": "bob"})[0] == 409
    assert call("POST", "/api/publish/namespaces/acme/members", owner, {"user": "eve", "role": "admin"})[0] == 400
    assert call("DELETE", "/api/publish/namespaces/acme/members/bob", owner)[0] == 200
    status, refused = call("DELETE", "/api/publish/namespaces/acme/members/alice", owner)
    assert status == 409 and "last owner" in refused["message"]
    service.add_member("acme", "carol", "contributor")
    contributor = service.create_token("carol", ["acme"])
    assert call("POST", "/api/publish/namespaces/acme/members", contributor, {"user": "mallory"})[0] == 403
    assert call("DELETE", "/api/publish/namespaces/acme/members/alice", contributor)[0] == 403
    actions = [e.action for e in service.audit_log("acme")]
    assert actions.count("member.add") == 2 and actions.count("member.remove") == 1


# --- the logo ------------------------------------------------------------------------------------------------------


def _send_logo(token: str, data: bytes, content_type: str = "image/png", method: str = "PUT") -> tuple[int, Any]:
    """The image as the raw body, base64 in the event as API Gateway passes a binary body on."""
    import base64

    from functions.publish_api import handler
    from tests.integration.events import context, http_event
    from tests.integration.publishing_api import ROUTE

    headers = {"authorization": f"Bearer {token}", "content-type": content_type, "user-agent": "curl/8.5"}
    event = http_event(method, "/api/publish/namespaces/acme/logo", ROUTE, headers,
                       base64.b64encode(data).decode() if data else None)
    event["isBase64Encoded"] = bool(data)
    result = handler.lambda_handler(event, context("publish_api"))
    return result["statusCode"], json.loads(result["body"])


def _logo_objects() -> dict[str, dict[str, Any]]:
    """The objects under the logo prefix: key → content type, cache control and bytes."""
    s3, bucket = aws.client("s3"), location(PACKAGES_BUCKET)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=PACKAGES_BUCKET.namespace_logo_prefix).get("Contents", [])
    found = {}
    for entry in listed:
        stored = s3.get_object(Bucket=bucket, Key=entry["Key"])
        found[entry["Key"]] = {"type": stored["ContentType"], "cache": stored.get("CacheControl"),
                               "data": stored["Body"].read()}
    return found


def test_an_owner_sets_replaces_and_removes_the_logo(owner):
    status, details = _send_logo(owner, png(64, 64))
    assert status == 200, details
    first = details["logo"]
    assert first.startswith("/assets/-/namespaces/acme/logo-") and first.endswith(".png")
    assert must_logo() == first.lstrip("/")
    assert _logo_objects() == {first.lstrip("/"): {"type": "image/png", "cache": "public, max-age=31536000, immutable",
                                                   "data": png(64, 64)}}
    assert call("GET", "/api/publish/namespaces/acme", owner)[1]["logo"] == first
    status, details = _send_logo(owner, jpeg(120, 80), "image/jpeg")
    second = details["logo"]
    assert status == 200 and second.endswith(".jpg") and second != first
    assert set(_logo_objects()) == {second.lstrip("/")}  # the old one is gone
    assert _send_logo(owner, jpeg(120, 80), "image/jpeg") == (200, details)  # the same image: nothing changes
    status, details = _send_logo(owner, b"", method="DELETE")
    assert status == 200 and details["logo"] is None and store_logo() is None and _logo_objects() == {}
    assert _send_logo(owner, b"", method="DELETE")[0] == 200  # already none
    entries = [e.as_json() for e in service.audit_log("acme") if e.action == "namespace.logo"]
    assert [e["details"] for e in reversed(entries)] == [
        {"sha256": hashlib.sha256(png(64, 64)).hexdigest(), "bytes": len(png(64, 64))},
        {"sha256": hashlib.sha256(jpeg(120, 80)).hexdigest(), "bytes": len(jpeg(120, 80))},
        {"removed": True}]
    assert {(e["actor"], e["client"]) for e in entries} == {("alice", "curl/8.5")}


def test_contributors_and_other_users_may_not_set_the_logo(owner):
    _send_logo(owner, png())
    before = (store_logo(), _logo_objects())
    service.add_member("acme", "bob", "contributor")
    contributor = service.create_token("bob", ["acme"])
    _, stranger = service.create_publisher("evespace", "eve")
    for token in (contributor, stranger):
        assert _send_logo(token, png(32, 32))[0] == 403
        assert _send_logo(token, b"", method="DELETE")[0] == 403
    assert (store_logo(), _logo_objects()) == before


@pytest.mark.parametrize(("data", "content_type", "expected"), [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/png", 400),
    (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml", 415),
    (b"GIF89a" + b"\0" * 30, "image/gif", 415),
    (b"GIF89a" + b"\0" * 30, "image/png", 400),
    (b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>", "image/png", 400),
    (png(20000, 20000), "image/png", 400),
    (png(8, 8), "image/png", 400),
    (png()[:30], "image/png", 400),
    (b"\0" * (256 * 1024 + 1), "image/png", 413),
    (b"", "image/png", 400),
])
def test_bad_logos_change_nothing(owner, data, content_type, expected):
    _send_logo(owner, webp_lossless())
    before = (store_logo(), _logo_objects(), len(service.audit_log("acme")))
    status, answer = _send_logo(owner, data, content_type)
    assert status == expected and answer["message"]
    if expected != 415:
        assert "PNG, JPEG or WebP" in answer["message"]
    assert (store_logo(), _logo_objects(), len(service.audit_log("acme"))) == before


def store_logo() -> str | None:
    namespace = store.get_namespace("acme")
    assert namespace is not None
    return namespace.logo


def must_logo() -> str:
    logo = store_logo()
    assert logo is not None
    return logo
