"""Open VSX's user API (``/user...``) on the publish API, with a personal access token instead of Open VSX's
session: the user, their tokens, their namespaces, members, roles and details, in Open VSX's shapes; every
answer within what the calling token covers, refusals as Open VSX's ``{"error": ...}`` changing nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from functions.publish_api import handler
from marketplace.catalog import store as catalog
from marketplace.catalog.store import NewVersion
from marketplace.publishing import routes, service, store
from tests.integration.events import context, http_event

HOST = "reg.example.test"
BASE = f"https://{HOST}"


def _call(method: str, path: str, token: str | None = None, params: dict[str, str] | None = None,
          body: object | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    sent = {"host": HOST, "user-agent": "openvsx-webui/1.0", "content-type": "application/json", **(headers or {})}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    route = "ANY /user" if path == "/user" else "ANY /user/{proxy+}"
    event = http_event(method, path, route, sent, json.dumps(body) if body is not None else None)
    if params:
        event["rawQueryString"], event["queryStringParameters"] = urlencode(params), dict(params)
    result = handler.lambda_handler(event, context("publish_api"))
    return result["statusCode"], json.loads(result["body"]), result.get("headers", {})


def _refused(answer: dict[str, Any]) -> str:
    """Open VSX's error shape: ``error`` carries the message (and nothing claims success)."""
    assert isinstance(answer.get("error"), str) and answer["error"] and "success" not in answer, answer
    return str(answer["error"])


@pytest.fixture(autouse=True)
def fresh_limit():
    routes._creation_limit.cache_clear()
    yield
    routes._creation_limit.cache_clear()


@pytest.fixture
def owner(deployment) -> str:
    """alice's token for acme, which she owns."""
    return service.create_publisher("acme", "alice")[1]


def _publish(namespace: str, name: str) -> None:
    catalog.record_version(NewVersion(
        publisher=namespace, name=name, version="1.0.0", target_platform="universal", pre_release=False,
        engine="^1.80.0", sha256="0" * 64, size=1, asset_base=f"assets/{namespace}/{name}/1.0.0/universal/u",
        assets={}, upload_id=f"u-{name}", published_by="alice", published_at=datetime.now(UTC)))


# --------------------------------------------------------------------------------------------- the user


def test_the_user_is_the_token_s_and_no_credential_is_not_logged_in(owner):
    status, user, headers = _call("GET", "/user", owner)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert user == {"loginName": "alice", "provider": "marketplace", "tokensUrl": f"{BASE}/user/tokens",
                    "createTokenUrl": f"{BASE}/user/token/create"}
    assert _call("GET", "/user", params={"token": owner})[1]["loginName"] == "alice"  # ovsx's ?token=
    assert _call("GET", "/user")[:2] == (200, {"error": "Not logged in."})
    status, refused, _ = _call("GET", "/user", "mkp_not-a-token")
    assert status == 401 and _refused(refused)
    assert _call("GET", "/user/csrf")[:2] == (200, {"error": "Token is not available."})
    status, missing, _ = _call("GET", "/user/extensions", owner)  # a call of Open VSX's not answered here
    assert status == 404 and missing["message"]
    for method, path in [("GET", "/user/tokens"), ("POST", "/user/token/create"), ("GET", "/user/namespaces"),
                         ("GET", "/user/namespace/acme/members"), ("POST", "/user/namespace/acme/role")]:
        status, refused, _ = _call(method, path)
        assert status == 401 and "token" in _refused(refused), (method, path)


# ------------------------------------------------------------------------------------------- tokens


def test_tokens_are_created_listed_and_deleted(owner):
    status, created, headers = _call("POST", "/user/token/create", owner, {"description": "CI job"})
    assert status == 201 and headers["Cache-Control"] == "no-store", created
    assert created["value"].startswith("mkp_") and created["description"] == "CI job"
    assert created["namespaces"] == ["acme"] and created["notified"] is False
    assert created["deleteTokenUrl"] == f"{BASE}/user/token/delete/{created['id']}"
    assert created["createdTimestamp"].endswith("Z") and created["expiresTimestamp"] > created["createdTimestamp"]
    assert service.authenticate(created["value"]).namespaces == {"acme"}

    status, listed, _ = _call("GET", "/user/tokens", owner)
    assert status == 200 and [t["id"] for t in listed] == [owner.split("_")[1], created["id"]]
    assert created["value"] not in json.dumps(listed) and all("value" not in t for t in listed)
    assert "accessedTimestamp" in listed[0]  # the calling token was just used

    status, deleted, _ = _call("POST", f"/user/token/delete/{created['id']}", owner)
    assert (status, deleted) == (200, {"success": "Deactivated access token for user alice."})
    assert _call("GET", "/user", created["value"])[0] == 401
    assert [t["id"] for t in _call("GET", "/user/tokens", owner)[1]] == [owner.split("_")[1]]
    status, again, _ = _call("POST", f"/user/token/delete/{created['id']}", owner)
    assert status == 404 and _refused(again) == "Token does not exist."
    assert [e.action for e in service.audit_log("acme")].count("token.revoke") == 1


def test_another_user_s_token_does_not_exist(owner):
    _, carols = service.create_publisher("carolspace", "carol")
    status, refused, _ = _call("POST", f"/user/token/delete/{carols.split('_')[1]}", owner)
    assert status == 404 and _refused(refused) == "Token does not exist."
    assert _call("POST", "/user/token/delete/nosuchtoken", owner)[0] == 404
    assert service.authenticate(carols).user == "carol"  # untouched
    assert carols.split("_")[1] not in json.dumps(_call("GET", "/user/tokens", owner)[1])


def test_a_new_token_is_never_wider_than_the_calling_one(owner):
    service.create_namespace_for(service.authenticate(owner), "other")
    wide = service.create_token("alice", ["acme", "other"])
    assert _call("POST", "/user/token/create", wide)[1]["namespaces"] == ["acme", "other"]
    assert _call("POST", "/user/token/create", wide, {"namespaces": "other"})[1]["namespaces"] == ["other"]
    before = [t.token_id for t in service.list_tokens("alice")]
    status, refused, _ = _call("POST", "/user/token/create", owner, {"namespaces": "acme,other"})
    assert status == 400 and "does not cover other" in _refused(refused)
    status, refused, _ = _call("POST", "/user/token/create", owner, {"description": "x" * 256})
    assert status == 400 and _refused(refused) == "The description must not be longer than 255 characters."
    assert _call("POST", "/user/token/create", owner, {"namespaces": ","})[0] == 400
    assert [t.token_id for t in service.list_tokens("alice")] == before


# --------------------------------------------------------------------------------------- namespaces


def test_the_namespaces_are_those_the_token_covers(owner):
    service.create_namespace_for(service.authenticate(owner), "other")
    service.add_member("acme", "bob", "contributor")
    _publish("acme", "hello")
    both = service.create_token("alice", ["acme", "other"])
    status, found, _ = _call("GET", "/user/namespaces", both)
    assert status == 200 and [n["name"] for n in found] == ["acme", "other"]
    assert found[0] == {"name": "acme", "extensions": {"hello": f"{BASE}/api/acme/hello"}, "verified": False,
                        "membersUrl": f"{BASE}/user/namespace/acme/members",
                        "roleUrl": f"{BASE}/user/namespace/acme/role",
                        "detailsUrl": f"{BASE}/user/namespace/acme/details"}
    assert found[1]["extensions"] == {}
    assert [n["name"] for n in _call("GET", "/user/namespaces", owner)[1]] == ["acme"]  # the token's only
    bobs = service.create_token("bob", ["acme"])
    status, contributor, _ = _call("GET", "/user/namespaces", bobs)
    assert status == 200 and contributor == [{"name": "acme", "extensions": {"hello": f"{BASE}/api/acme/hello"},
                                              "verified": False}]  # no links to manage it


def test_members_are_shown_to_owners_only(owner):
    service.add_member("acme", "bob", "contributor")
    status, members, _ = _call("GET", "/user/namespace/acme/members", owner)
    assert status == 200 and members == {"namespaceMemberships": [
        {"namespace": "acme", "role": "owner", "user": {"loginName": "alice", "provider": "marketplace"}},
        {"namespace": "acme", "role": "contributor", "user": {"loginName": "bob", "provider": "marketplace"}}]}
    status, refused, _ = _call("GET", "/user/namespace/acme/members", service.create_token("bob", ["acme"]))
    assert status == 403 and "only an owner" in _refused(refused)
    _, carols = service.create_publisher("carolspace", "carol")
    assert _call("GET", "/user/namespace/acme/members", carols)[0] == 403  # another user's namespace
    assert _call("GET", "/user/namespace/nope/members", owner)[0] == 403


def _roles() -> dict[str, str]:
    return {m.user: m.role for m in store.members("acme")}


def _role(token: str, user: str, role: str, **more: str) -> tuple[int, dict[str, Any]]:
    status, answer, _ = _call("POST", "/user/namespace/acme/role", token, {"user": user, "role": role, **more})
    return status, answer


def test_an_owner_adds_changes_and_removes_members(owner):
    assert _role(owner, "bob", "contributor") == (200, {"success": "Added bob as contributor of acme."})
    assert _role(owner, "bob", "owner", provider="marketplace") == (
        200, {"success": "Changed role of bob in acme to owner."})
    assert _roles() == {"alice": "owner", "bob": "owner"}
    assert _role(owner, "alice", "contributor")[0] == 200  # bob still owns it
    assert _role(service.create_token("bob", ["acme"]), "alice", "remove") == (
        200, {"success": "Removed alice from namespace acme."})
    assert _roles() == {"bob": "owner"}
    actions = [(e.action, e.target, json.loads(e.details or "{}")) for e in service.audit_log("acme")]
    assert ("member.role", "bob", {"from": "contributor", "role": "owner"}) in actions
    assert ("member.role", "alice", {"from": "owner", "role": "contributor"}) in actions
    assert [a for a, _, _ in actions].count("member.add") == 1
    assert [a for a, _, _ in actions].count("member.remove") == 1


@pytest.mark.parametrize(("params", "says"), [
    ({"user": "bob", "role": "admin"}, "Invalid role: admin"),
    ({"user": "bob", "role": "owner", "provider": "github"}, "User not found: github/bob"),
    ({"role": "owner"}, "'user' and 'role' are required"),
    ({"user": "bob"}, "'user' and 'role' are required"),
    ({"user": "carol", "role": "contributor"}, "already has the role contributor"),
    ({"user": "dave", "role": "remove"}, "not a member"),
    ({"user": "alice", "role": "remove"}, "last owner"),
    ({"user": "alice", "role": "contributor"}, "last owner"),
    ({"user": "bad user", "role": "owner"}, "without spaces"),
])
def test_bad_role_requests_change_nothing(owner, params, says):
    service.add_member("acme", "carol", "contributor")
    before = _roles()
    status, answer, _ = _call("POST", "/user/namespace/acme/role", owner, params)
    assert status == 400 and says in _refused(answer)
    assert _roles() == before


def test_only_owners_of_the_namespace_change_roles(owner):
    service.add_member("acme", "carol", "contributor")
    contributor = service.create_token("carol", ["acme"])
    _, strangers = service.create_publisher("evespace", "eve")
    for token, user, role in [(contributor, "carol", "owner"), (contributor, "alice", "remove"),
                              (contributor, "mallory", "contributor"), (strangers, "eve", "owner")]:
        status, answer = _role(token, user, role)
        assert status == 400 and _refused(answer), (user, role)
    assert _roles() == {"alice": "owner", "carol": "contributor"}


# ------------------------------------------------------------------------------------------ details


def _details(**fields: object) -> dict[str, object]:
    """What Open VSX's web UI sends: the whole NamespaceDetailsJson, with what it does not edit."""
    return {"name": "acme", "displayName": None, "description": None, "website": None, "supportLink": "",
            "socialLinks": {"github": "", "linkedin": None}, "logo": None, "extensions": [], "verified": False,
            **fields}


def _shown() -> tuple[str | None, str | None, str | None]:
    namespace = store.get_namespace("acme")
    assert namespace is not None
    return namespace.display_name, namespace.description, namespace.website


def test_an_owner_replaces_the_details(owner):
    status, answer, _ = _call("POST", "/user/namespace/acme/details", owner,
                              body=_details(displayName="ACME Tools", description="Tools.",
                                            website="https://acme.example", logo=f"{BASE}/logo.png"))
    assert (status, answer) == (200, {"success": "Updated details for namespace acme"})
    assert _shown() == ("ACME Tools", "Tools.", "https://acme.example")
    status, _, _ = _call("POST", "/user/namespace/acme/details", owner, body={"displayName": "ACME", "website": ""})
    assert status == 200 and _shown() == ("ACME", None, None)  # what is not sent is removed, as in Open VSX
    assert [e.action for e in service.audit_log("acme")].count("namespace.details") == 2


@pytest.mark.parametrize("body", [
    _details(name="other", displayName="x"), _details(displayName="x" * 101), _details(displayName=5),
    _details(website="http://acme.example"), _details(description="a\u202eb"), _details(supportLink="https://s"),
    _details(socialLinks={"github": "https://github.com/acme"}), _details(logoBytes="iVBORw0KGgo="), [],
])
def test_bad_details_change_nothing(owner, body):
    service.update_namespace_details(service.authenticate(owner), "acme", {"displayName": "Before"})
    before = store.get_namespace("acme")
    status, answer, _ = _call("POST", "/user/namespace/acme/details", owner, body=body)
    assert status == 400 and _refused(answer)
    after = store.get_namespace("acme")
    assert before is not None and after is not None and before.attribute_values == after.attribute_values


def test_only_an_owner_changes_the_details_of_a_namespace_that_exists(owner):
    service.add_member("acme", "carol", "contributor")
    _, strangers = service.create_publisher("evespace", "eve")
    for token in (service.create_token("carol", ["acme"]), strangers):
        status, answer, _ = _call("POST", "/user/namespace/acme/details", token, body=_details(displayName="Mine"))
        assert status == 400 and _refused(answer)
    status, answer, _ = _call("POST", "/user/namespace/nope/details", owner, body=_details(name="nope"))
    assert status == 404 and _refused(answer) == "Namespace not found: nope"
    status, answer, _ = _call("POST", f"/user/namespace/{'x' * 3000}/details", owner, body={"displayName": "x"})
    assert status == 404 and _refused(answer).startswith("Namespace not found: ")
    namespace = store.get_namespace("acme")
    assert namespace is not None and namespace.display_name is None
