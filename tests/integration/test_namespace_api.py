"""Owners manage their namespace through the publishing API: its details (display name, description, website)
and its members; contributors read them; bad input changes nothing; every change is in the audit log."""

from __future__ import annotations

import pytest

from marketplace.publishing import service, store
from tests.integration.publishing_api import call


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
