"""Publishers, members and tokens against moto."""

from __future__ import annotations

from datetime import timedelta

import pytest

from marketplace.platform.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from marketplace.publishing import service, store, tokens


def test_a_new_publisher_gets_an_owner_and_a_working_token(deployment):
    namespace, token = service.create_publisher("somepub", "alice@example.com")
    assert namespace.name == "somepub"
    principal = service.authenticate(token)
    assert principal.user == "alice@example.com" and principal.namespaces == {"somepub"}
    service.authorize(principal, "somepub")
    member = store.get_member("somepub", "alice@example.com")
    assert member is not None and member.role == "owner"


def test_tokens_are_stored_only_as_hashes(deployment):
    _, token = service.create_publisher("hashpub", "bob")
    token_id, secret = tokens.parse(token)  # type: ignore[misc]
    item = store.get_token(token_id)
    assert item is not None
    stored = str(item.serialize())
    assert secret not in stored and token not in stored
    assert item.secret_hash == tokens.hash_secret(secret)
    assert all(secret not in str(view) for view in service.list_tokens("bob"))


@pytest.mark.parametrize("name", ["Some-Pub", "-pub", "pub_x", "", "a" * 129, "pub.x", "püb"])
def test_invalid_namespace_names(deployment, name):
    with pytest.raises(BadRequest, match="lower-case letters"):
        service.create_publisher(name, "alice")


@pytest.mark.parametrize("name", ["microsoft", "ms-python", "github", "vscode"])
def test_reserved_names_need_the_operator_override(deployment, name):
    with pytest.raises(Forbidden, match="reserved"):
        service.create_publisher(name, "mallory")
    namespace, _ = service.create_publisher(name, "operator", allow_reserved=True)
    assert namespace.reserved_override is True


def test_a_namespace_is_created_once(deployment):
    service.create_publisher("onlyonce", "alice")
    with pytest.raises(Conflict, match="already exists"):
        service.create_publisher("onlyonce", "mallory")
    assert store.get_member("onlyonce", "mallory") is None


def test_token_scope_and_membership(deployment):
    service.create_publisher("first", "alice")
    service.create_publisher("second", "bob")
    token = service.create_token("alice", ["first"], days=30)
    principal = service.authenticate(token)
    with pytest.raises(Forbidden, match="may not publish to namespace 'second'"):
        service.authorize(principal, "second")
    with pytest.raises(Forbidden, match="not a member"):
        service.create_token("alice", ["second"])
    with pytest.raises(NotFound):
        service.create_token("alice", ["nowhere"])
    service.add_member("second", "alice", "contributor")
    both = service.authenticate(service.create_token("alice", ["first", "second"]))
    service.authorize(both, "second")


@pytest.mark.parametrize("days", [0, 367])
def test_token_lifetime_is_bounded(deployment, days):
    service.create_publisher("lifetime", "alice")
    with pytest.raises(BadRequest, match="1 to 366 days"):
        service.create_token("alice", ["lifetime"], days=days)


def test_expired_revoked_and_forged_tokens_are_refused(deployment):
    _, token = service.create_publisher("refuse", "alice")
    token_id = tokens.parse(token)[0]  # type: ignore[index]

    forged = f"mkp_{token_id}_{'A' * 43}"
    with pytest.raises(Unauthorized, match="not valid"):
        service.authenticate(forged)
    for bad in (None, "", "Bearer x", token + "x"):
        with pytest.raises(Unauthorized):
            service.authenticate(bad)

    item = store.get_token(token_id)
    assert item is not None
    item.update(actions=[store.TokenItem.expires.set(tokens.utcnow() - timedelta(seconds=1))])
    with pytest.raises(Unauthorized, match="expired"):
        service.authenticate(token)

    second = service.create_token("alice", ["refuse"])
    service.authenticate(second)
    view = service.revoke_token(tokens.parse(second)[0])  # type: ignore[index]
    assert view.state == "revoked"
    with pytest.raises(Unauthorized, match="revoked"):
        service.authenticate(second)
    states = {v.token_id: v.state for v in service.list_tokens("alice")}
    assert sorted(states.values()) == ["expired", "revoked"]


def test_last_use_is_recorded(deployment):
    _, token = service.create_publisher("used", "alice")
    token_id = tokens.parse(token)[0]  # type: ignore[index]
    assert store.get_token(token_id).last_used_at is None  # type: ignore[union-attr]
    service.authenticate(token)
    first = store.get_token(token_id).last_used_at  # type: ignore[union-attr]
    assert first is not None
    service.authenticate(token)  # within a minute: no second write
    assert store.get_token(token_id).last_used_at == first  # type: ignore[union-attr]


def test_removed_members_lose_access_even_with_a_token(deployment):
    _, token = service.create_publisher("leaving", "alice")
    principal = service.authenticate(token)
    store.get_member("leaving", "alice").delete()  # type: ignore[union-attr]
    with pytest.raises(Forbidden, match="no longer a member"):
        service.authorize(principal, "leaving")


def test_look_alike_claims_live_in_the_table_and_are_back_filled_for_older_namespaces(deployment):
    service.create_publisher("acme-tools", "alice")
    with pytest.raises(Conflict, match="reads like the existing namespace 'acme-tools'"):
        service.create_publisher("acmetools", "bob")
    claim = store.get_name_claim("acmetools")
    assert claim is not None and claim.namespace == "acme-tools"
    claim.delete()  # as a namespace made before claims existed
    assert [n.name for n in store.namespaces()] == ["acme-tools"]
    assert service.claim_existing_names() == (["acme-tools"], [])
    with pytest.raises(Conflict, match="reads like"):
        service.create_publisher("acme-t00ls", "bob")


def test_members_are_removed_in_a_transaction_that_keeps_an_owner(deployment):
    service.create_publisher("acme", "alice")
    service.add_member("acme", "bob", "owner")
    alice, bob = store.get_member("acme", "alice"), store.get_member("acme", "bob")
    assert alice is not None and bob is not None
    store.remove_member(bob, other_owner=alice)
    with pytest.raises(store.Changed):  # alice's removal, checked against bob, who is gone
        store.remove_member(alice, other_owner=bob)
    assert [m.user for m in store.members("acme")] == ["alice"]
    with pytest.raises(Conflict, match="last owner"):
        service.remove_member("acme", "alice")


def test_the_operator_sees_every_token_without_its_value(deployment):
    _, token = service.create_publisher("acme", "alice")
    listed = service.list_all_tokens()
    assert [(t.user, t.namespaces) for t in listed] == [("alice", ("acme",))]
    assert token not in repr(listed)
