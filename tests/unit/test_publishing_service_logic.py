"""Publishing's conflict paths against the in-memory store (``tests.fakes.publishing_store``): a namespace,
member or token written together with others is all or nothing, a race to create a namespace has one winner,
revocation and the last-use record happen once. The adapter is tested against moto in
``tests/integration/test_publishing_service.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pynamodb.exceptions import TransactWriteError

from marketplace.platform.errors import ConfigurationError, Conflict, Forbidden, NotFound, Unauthorized
from marketplace.publishing import audit, tokens
from marketplace.publishing.service import Principal, Publishing
from marketplace.publishing.store import MemberItem, NamespaceItem, TokenItem
from tests.fakes.publishing_store import FakePublishingStore


@pytest.fixture
def fake() -> FakePublishingStore:
    return FakePublishingStore()


@pytest.fixture
def publishing(fake: FakePublishingStore) -> Publishing:
    return Publishing(fake)


def kinds(fake: FakePublishingStore) -> list[str]:
    return sorted(f"{pk.split('#')[0]}:{sk.split('#')[0]}" for pk, sk in fake.table)


def test_a_publisher_is_its_namespace_owner_and_token_written_together(publishing: Publishing,
                                                                         fake: FakePublishingStore) -> None:
    namespace, token = publishing.create_publisher("acme", "alice")
    assert isinstance(namespace, NamespaceItem) and kinds(fake) == ["AUDIT:AT", "AUDIT:AT", "LOOKALIKE:NAME_CLAIM",
                                                        "NS:MEMBER", "NS:NAMESPACE", "TOKEN:TOKEN"]
    principal = publishing.authenticate(token)
    assert principal.user == "alice" and principal.namespaces == {"acme"}
    assert publishing.authorize(principal, "acme").name == "acme"


def test_a_taken_namespace_is_a_conflict_and_writes_nothing(publishing: Publishing,
                                                            fake: FakePublishingStore) -> None:
    publishing.create_publisher("acme", "alice")
    before = dict(fake.table)
    with pytest.raises(Conflict, match="namespace 'acme' already exists"):
        publishing.create_publisher("acme", "mallory")
    assert fake.table == before and publishing.list_tokens("mallory") == []


def test_a_race_for_a_namespace_has_one_winner(publishing: Publishing, fake: FakePublishingStore) -> None:
    """Both requests found the name free; the winner's transaction commits first, the loser's is refused
    whole: no member and no token of the loser's remain."""
    fake.faults.before("create_together", lambda: publishing.create_publisher("acme", "winner"))
    with pytest.raises(Conflict, match="already exists"):
        publishing.create_publisher("acme", "loser")
    namespace = fake.get_namespace("acme")
    assert namespace is not None and namespace.created_by == "winner"
    assert fake.get_member("acme", "loser") is None and publishing.list_tokens("loser") == []


def test_a_token_creating_a_taken_namespace_keeps_its_scope(publishing: Publishing,
                                                            fake: FakePublishingStore) -> None:
    _, token = publishing.create_publisher("alices", "alice")
    principal = publishing.authenticate(token)
    fake.faults.before("create_together", lambda: publishing.create_publisher("shared", "bob"))
    with pytest.raises(Conflict):
        publishing.create_namespace_for(principal, "shared")
    stored = fake.get_token(principal.token_id)
    assert stored is not None and stored.namespaces == {"alices"}


def test_creating_a_namespace_never_widens_the_token_that_asked(publishing: Publishing,
                                                                fake: FakePublishingStore) -> None:
    """A token for one namespace used to become good for every namespace its holder created with it."""
    publishing.create_publisher("acme", "alice")
    publishing.add_member("acme", "bob", "contributor")
    token = publishing.create_token("bob", ["acme"])
    principal = publishing.authenticate(token)
    publishing.create_namespace_for(principal, "bobs")
    assert publishing.authenticate(token).namespaces == {"acme"}
    with pytest.raises(Forbidden):
        publishing.authorize(publishing.authenticate(token), "bobs")
    member = fake.get_member("bobs", "bob")
    assert member is not None and member.role == "owner"  # the namespace is its creator's
    assert publishing.authenticate(publishing.create_token("bob", ["bobs"])).namespaces == {"bobs"}


@pytest.mark.parametrize("lookalike", ["micro-soft", "rnicrosoft", "m1crosoft", "microsoft-", "mlcrosoft", "micros0ft"])
def test_a_name_that_reads_like_an_existing_namespace_is_refused_and_writes_nothing(
        publishing: Publishing, fake: FakePublishingStore, lookalike: str) -> None:
    publishing.create_publisher("microsoft", "ops", allow_reserved=True)
    _, token = publishing.create_publisher("mallorys", "mallory")
    principal = publishing.authenticate(token)
    before = dict(fake.table)
    with pytest.raises(Conflict, match="reads like the existing namespace 'microsoft'"):
        publishing.create_namespace_for(principal, lookalike)
    with pytest.raises(Conflict, match="reads like the existing namespace 'microsoft'"):
        publishing.create_publisher(lookalike, "mallory")
    assert fake.table == before


def test_a_look_alike_that_wins_a_race_still_leaves_only_one(publishing: Publishing,
                                                              fake: FakePublishingStore) -> None:
    _, token = publishing.create_publisher("alices", "alice")
    principal = publishing.authenticate(token)
    fake.faults.before("create_together", lambda: publishing.create_publisher("acme-tools", "bob"))
    with pytest.raises(Conflict, match="reads like the existing namespace 'acme-tools'"):
        publishing.create_namespace_for(principal, "acmetools")
    assert fake.get_namespace("acmetools") is None


def test_namespaces_older_than_claims_get_theirs_once_oldest_first(publishing: Publishing,
                                                                    fake: FakePublishingStore) -> None:
    def forget_claims() -> None:  # as a registry made before claims existed
        for key in [k for k in fake.table if k[1] == "NAME_CLAIM"]:
            del fake.table[key]

    publishing.create_publisher("acme-tools", "alice")
    forget_claims()
    publishing.create_publisher("acmetools", "bob")  # both exist: they look alike
    publishing.create_publisher("zeta", "carol")
    forget_claims()
    assert publishing.claim_existing_names() == (["acme-tools", "zeta"], [("acmetools", "acme-tools")])
    assert publishing.claim_existing_names() == ([], [("acmetools", "acme-tools")])  # again: nothing new
    _, token = publishing.create_publisher("mallorys", "mallory")
    with pytest.raises(Conflict, match="reads like the existing namespace 'acme-tools'"):
        publishing.create_namespace_for(publishing.authenticate(token), "acme-t00ls")


@pytest.mark.parametrize(("policy", "user", "allowed"), [
    (None, "bob", True),
    ("anyone", "bob", True),
    ("operators", "bob", False),
    ("domains:example.com, corp.example", "bob@example.com", True),
    ("domains:example.com, corp.example", "bob@CORP.example", True),
    ("domains:example.com", "bob@evil.example.com", False),
    ("domains:example.com", "bob", False),
    ("domains:example.com", "example.com", False),
])
def test_the_operators_policy_decides_who_creates_namespaces(publishing: Publishing, fake: FakePublishingStore,
                                                             monkeypatch: pytest.MonkeyPatch, policy: str | None,
                                                             user: str, allowed: bool) -> None:
    if policy is not None:
        monkeypatch.setenv("NAMESPACE_CREATION", policy)
    publishing.create_publisher("acme", user)
    principal = publishing.authenticate(publishing.create_token(user, ["acme"]))
    if allowed:
        publishing.create_namespace_for(principal, "newspace")
        member = fake.get_member("newspace", user)
        assert member is not None and member.role == "owner"
    else:
        before = dict(fake.table)
        with pytest.raises(Forbidden, match="you may not create namespace 'newspace'"):
            publishing.create_namespace_for(principal, "newspace")
        assert fake.table == before


@pytest.mark.parametrize("policy", ["nobody", "domains:", "domains: ,", "Anyone"])
def test_a_malformed_policy_is_the_operators_error_named(publishing: Publishing, monkeypatch: pytest.MonkeyPatch,
                                                         policy: str) -> None:
    monkeypatch.setenv("NAMESPACE_CREATION", policy)
    _, token = publishing.create_publisher("acme", "alice")
    with pytest.raises(ConfigurationError, match="NAMESPACE_CREATION must be"):
        publishing.create_namespace_for(publishing.authenticate(token), "newspace")


def test_adding_a_member_twice_is_a_conflict(publishing: Publishing, fake: FakePublishingStore) -> None:
    publishing.create_publisher("acme", "alice")
    publishing.add_member("acme", "bob", "contributor")
    with pytest.raises(Conflict, match="'bob' is already a member of 'acme'"):
        publishing.add_member("acme", "bob", "owner")
    member = fake.get_member("acme", "bob")
    assert isinstance(member, MemberItem) and member.role == "contributor"
    with pytest.raises(NotFound):
        publishing.add_member("nowhere", "bob", "owner")


def test_a_store_failure_that_is_not_a_conflict_is_not_reported_as_one(publishing: Publishing,
                                                                       fake: FakePublishingStore) -> None:
    fake.faults.fail("create_together", lambda: TransactWriteError("throttled"))
    with pytest.raises(TransactWriteError):
        publishing.create_publisher("acme", "alice")
    assert fake.table == {}


def test_a_member_removed_after_the_token_was_made_is_refused(publishing: Publishing,
                                                               fake: FakePublishingStore) -> None:
    publishing.create_publisher("acme", "alice")
    publishing.add_member("acme", "bob", "contributor")
    principal = publishing.authenticate(publishing.create_token("bob", ["acme"]))
    del fake.table[(NamespaceItem.key("acme"), MemberItem.sort_key("bob"))]
    with pytest.raises(Forbidden, match="no longer a member"):
        publishing.authorize(principal, "acme")
    with pytest.raises(Forbidden, match="may not publish to namespace 'other'"):
        publishing.authorize(Principal("bob", principal.token_id, frozenset({"acme"})), "other")


def test_revoking_twice_keeps_the_first_revocation(publishing: Publishing, fake: FakePublishingStore) -> None:
    _, token = publishing.create_publisher("acme", "alice")
    token_id = publishing.authenticate(token).token_id
    first = publishing.revoke_token(token_id)
    again = publishing.revoke_token(token_id)
    assert first.state == "revoked" and again.revoked_at == first.revoked_at
    with pytest.raises(Unauthorized, match="was revoked"):
        publishing.authenticate(token)
    with pytest.raises(NotFound):
        publishing.revoke_token("nosuchtoken")


def test_a_revocation_racing_another_reports_the_one_that_won(publishing: Publishing,
                                                              fake: FakePublishingStore) -> None:
    _, token = publishing.create_publisher("acme", "alice")
    token_id = publishing.authenticate(token).token_id
    won: list[object] = []
    fake.faults.before("revoke_token", lambda: won.append(publishing.revoke_token(token_id).revoked_at))
    view = publishing.revoke_token(token_id)
    assert view.revoked_at == won[0]


def test_the_last_use_is_written_at_most_once_a_minute(publishing: Publishing, fake: FakePublishingStore) -> None:
    _, token = publishing.create_publisher("acme", "alice")
    token_id = publishing.authenticate(token).token_id
    used = fake.get_token(token_id)
    assert used is not None and used.last_used_at is not None
    writes = dict(fake.table)
    publishing.authenticate(token)
    assert fake.table == writes  # within the minute: nothing written


def test_expired_and_forged_tokens_are_refused(publishing: Publishing, fake: FakePublishingStore) -> None:
    _, token = publishing.create_publisher("acme", "alice", token_days=1)
    token_id, secret = tokens.parse(token)  # type: ignore[misc]
    with pytest.raises(Unauthorized, match="not valid"):
        publishing.authenticate(f"{tokens.PREFIX}_{token_id}_{'x' * len(secret)}")
    stored = fake.get_token(token_id)
    assert isinstance(stored, TokenItem)
    stored.expires = stored.created_at - timedelta(seconds=1)
    fake.table[(TokenItem.key(token_id), TokenItem.SK)] = stored.serialize()
    with pytest.raises(Unauthorized, match="expired"):
        publishing.authenticate(token)
    with pytest.raises(Unauthorized, match="expired"):
        publishing.principal_of(token_id)


def test_a_member_is_removed_but_never_the_last_owner(publishing: Publishing, fake: FakePublishingStore) -> None:
    publishing.create_publisher("acme", "alice")
    publishing.add_member("acme", "bob", "contributor")
    publishing.remove_member("acme", "bob")
    assert fake.get_member("acme", "bob") is None
    before = dict(fake.table)
    with pytest.raises(Conflict, match="'alice' is the last owner of 'acme'; add another owner first"):
        publishing.remove_member("acme", "alice")
    assert fake.table == before
    with pytest.raises(NotFound):
        publishing.remove_member("acme", "bob")
    publishing.add_member("acme", "carol", "owner")
    publishing.remove_member("acme", "alice")
    assert [(m.user, m.role) for m in fake.members("acme")] == [("carol", "owner")]


def test_two_owners_removing_each_other_at_once_leave_one(publishing: Publishing, fake: FakePublishingStore) -> None:
    publishing.create_publisher("acme", "alice")
    publishing.add_member("acme", "bob", "owner")
    # bob's removal of alice lands between alice's read of the owners and her write
    fake.faults.before("remove_member", lambda: publishing.remove_member("acme", "alice"), times=1)
    with pytest.raises(Conflict, match="last owner"):
        publishing.remove_member("acme", "bob")
    assert [(m.user, m.role) for m in fake.members("acme")] == [("bob", "owner")]


def test_the_operator_lists_every_publisher_and_token_never_a_value(publishing: Publishing,
                                                                    fake: FakePublishingStore) -> None:
    _, first = publishing.create_publisher("zeta", "alice")
    _, second = publishing.create_publisher("acme", "bob")
    publishing.add_member("acme", "carol", "contributor")
    listed = publishing.list_namespaces()
    assert [(n.name, [(m.user, m.role) for m in members]) for n, members in listed] == [
        ("acme", [("bob", "owner"), ("carol", "contributor")]), ("zeta", [("alice", "owner")])]
    tokens_listed = publishing.list_all_tokens()
    assert {(t.user, t.namespaces) for t in tokens_listed} == {("alice", ("zeta",)), ("bob", ("acme",))}
    assert not any(secret in repr(tokens_listed) for secret in (first, second))



def test_every_change_to_a_namespace_is_in_its_audit_log_with_who_and_from_where(
        publishing: Publishing, fake: FakePublishingStore) -> None:
    with audit.acting(audit.Actor(audit.OPERATOR, "marketplace CLI")):
        _, token = publishing.create_publisher("acme", "alice")
        publishing.add_member("acme", "bob", "contributor")
        bobs = publishing.create_token("bob", ["acme"])
    principal = publishing.authenticate(token)
    with audit.acting(audit.Actor("alice", "ovsx/1.1.1")):
        publishing.create_namespace_for(principal, "alices")
        publishing.remove_member("acme", "bob")
        publishing.revoke_token(publishing.authenticate(bobs).token_id)
    entries = [(e.actor, e.client, e.action) for e in reversed(publishing.audit_log("acme"))]
    assert entries == [
        ("operator", "marketplace CLI", "namespace.create"), ("operator", "marketplace CLI", "token.create"),
        ("operator", "marketplace CLI", "member.add"), ("operator", "marketplace CLI", "token.create"),
        ("alice", "ovsx/1.1.1", "member.remove"), ("alice", "ovsx/1.1.1", "token.revoke")]
    assert [(e.actor, e.action, e.target) for e in publishing.audit_log("alices")] == [
        ("alice", "namespace.create", "alices")]
    stored = repr(sorted(fake.table.items()))
    assert token not in stored and bobs not in stored  # never a token's value
    assert token.split("_")[2] not in stored  # nor its secret


def test_only_an_owner_whose_token_covers_it_reads_the_log(publishing: Publishing) -> None:
    _, token = publishing.create_publisher("acme", "alice")
    publishing.create_publisher("other", "carol")
    publishing.add_member("acme", "bob", "contributor")
    owner = publishing.authenticate(token)
    assert [e.action for e in publishing.audit_log_for(owner, "acme")][-1] == "namespace.create"
    with pytest.raises(Forbidden, match="only an owner"):
        publishing.audit_log_for(publishing.authenticate(publishing.create_token("bob", ["acme"])), "acme")
    with pytest.raises(Forbidden):
        publishing.audit_log_for(owner, "other")


def test_a_change_recorded_again_is_one_entry(publishing: Publishing, fake: FakePublishingStore) -> None:
    publishing.create_publisher("acme", "alice")
    moment = tokens.utcnow()
    for _ in range(2):  # a redelivered ingest message
        publishing.record("acme", "extension.publish", "acme.x", {"version": "1.0.0"}, at=moment, entry_id="u1")
    assert [e.action for e in publishing.audit_log("acme")].count("extension.publish") == 1
