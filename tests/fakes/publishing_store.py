"""An in-memory ``PublishingStorePort``: the publishing table as a dict of items in DynamoDB's JSON form,
keyed by ``(pk, sk)``, holding the adapter's (``publishing.store``) model classes. Reads return fresh copies,
as a read of the table would; conditional writes fail as the adapter's do (``AlreadyExists`` for a
transaction meeting an existing item, ``False`` for a second revocation). Faults are scripted with
``faults`` (see ``tests.fakes.faults``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from pynamodb.exceptions import TransactWriteError, UpdateError

from marketplace.publishing.audit import RETENTION
from marketplace.publishing.store import (
    TOKEN_RECORD_GRACE,
    AlreadyExists,
    AuditItem,
    BlockItem,
    Changed,
    MemberItem,
    NameClaimItem,
    NamespaceItem,
    PublishingItem,
    SessionItem,
    SigninItem,
    TokenItem,
    audit_suffix,
)
from tests.fakes.faults import Faults

M = TypeVar("M", bound=PublishingItem)


def condition_failed(operation: str) -> ClientError:
    """The botocore error DynamoDB answers a failed condition with (what pynamodb's errors carry as cause)."""
    return ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request "
                                  "failed"}}, operation)


@dataclass
class FakePublishingStore:
    table: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)

    # --- items, built as the adapter builds them (not yet written) -------------------------------------

    @staticmethod
    def namespace_item(name: str, user: str, now: datetime, reserved_override: bool, *,
                       mirrored_from: str | None = None) -> NamespaceItem:
        return NamespaceItem(NamespaceItem.key(name), NamespaceItem.SK, name=name, created_by=user, created_at=now,
                             reserved_override=reserved_override, mirrored_from=mirrored_from)

    @staticmethod
    def member_item(namespace: str, user: str, role: str, now: datetime) -> MemberItem:
        return MemberItem(NamespaceItem.key(namespace), MemberItem.sort_key(user), namespace=namespace, user=user,
                          role=role, added_at=now, gsi1pk=f"USER#{user}", gsi1sk=f"NS#{namespace}")

    @staticmethod
    def audit_item(namespace: str, now: datetime, actor: str, client: str, action: str, target: str,
                   details: dict[str, Any] | None = None, entry_id: str | None = None) -> AuditItem:
        return AuditItem(AuditItem.key(namespace), f"AT#{now.isoformat()}#{entry_id or audit_suffix()}",
                         namespace=namespace, at=now, actor=actor, client=client, action=action, target=target,
                         details=json.dumps(details, sort_keys=True, default=str) if details else None,
                         expires_at=now + RETENTION)

    def audit_entries(self, namespace: str, limit: int = 100) -> list[AuditItem]:
        self.faults.run("audit_entries")
        pk = AuditItem.key(namespace)
        keys = sorted((k for k in self.table if k[0] == pk and k[1].startswith("AT#")), reverse=True)[:limit]
        return [entry for k in keys if (entry := self._read(AuditItem, *k)) is not None]

    @staticmethod
    def name_claim_item(namespace: str, skeleton: str) -> NameClaimItem:
        return NameClaimItem(NameClaimItem.key(skeleton), NameClaimItem.SK, namespace=namespace)

    def get_name_claim(self, skeleton: str) -> NameClaimItem | None:
        self.faults.run("get_name_claim")
        return self._read(NameClaimItem, NameClaimItem.key(skeleton), NameClaimItem.SK)

    @staticmethod
    def token_item(token_id: str, user: str, secret_hash: str, namespaces: set[str], now: datetime,
                   expires: datetime, description: str | None) -> TokenItem:
        return TokenItem(TokenItem.key(token_id), TokenItem.SK, token_id=token_id, user=user, secret_hash=secret_hash,
                         namespaces=namespaces, description=description, created_at=now, expires=expires,
                         expires_at=expires + TOKEN_RECORD_GRACE, gsi1pk=f"USER#{user}",
                         gsi1sk=f"TOKEN#{now.isoformat()}")

    # --- the table ---------------------------------------------------------------------------------------

    def _read(self, model: type[M], pk: str, sk: str) -> M | None:
        raw = self.table.get((pk, sk))
        return model.from_raw_data(dict(raw)) if raw is not None else None

    def _write(self, item: PublishingItem) -> None:
        self.table[(str(item.pk), str(item.sk))] = item.serialize()

    def create_together(self, *items: PublishingItem) -> None:
        self.faults.run("create_together")
        keys = [(str(item.pk), str(item.sk)) for item in items]
        existing = [key for key in keys if key in self.table]
        if existing:
            raise AlreadyExists(f"Transaction cancelled: {existing} exist")
        for item in items:
            self._write(item)

    def get_namespace(self, name: str) -> NamespaceItem | None:
        self.faults.run("get_namespace")
        return self._read(NamespaceItem, NamespaceItem.key(name), NamespaceItem.SK)

    def members(self, namespace: str) -> list[MemberItem]:
        self.faults.run("members")
        pk = NamespaceItem.key(namespace)
        return [m for (p, sk) in sorted(self.table) if p == pk and sk.startswith("MEMBER#")
                if (m := self._read(MemberItem, p, sk)) is not None]

    def remove_member(self, member: MemberItem, other_owner: MemberItem | None, *also: PublishingItem) -> None:
        self.faults.run("remove_member")
        self._check_member_change(member, other_owner, also)
        del self.table[(str(member.pk), str(member.sk))]
        for item in also:
            self._write(item)

    def set_member_role(self, member: MemberItem, role: str, other_owner: MemberItem | None,
                        *also: PublishingItem) -> None:
        self.faults.run("set_member_role")
        stored = self._check_member_change(member, other_owner, also)
        stored.role = role
        self._write(stored)
        for item in also:
            self._write(item)

    def _check_member_change(self, member: MemberItem, other_owner: MemberItem | None,
                             also: tuple[PublishingItem, ...]) -> MemberItem:
        """The adapter's conditions on a member change: the member still has the role it was read with, the
        other owner still is one, the new items are new; the stored member, else ``Changed``."""
        stored = self._read(MemberItem, str(member.pk), str(member.sk))
        other = self._read(MemberItem, str(other_owner.pk), str(other_owner.sk)) if other_owner else None
        if stored is None or stored.role != member.role or (other_owner is not None and
                                                             (other is None or other.role != "owner")):
            raise Changed("Transaction cancelled: a condition failed")
        if any((str(item.pk), str(item.sk)) in self.table for item in also):
            raise Changed("Transaction cancelled: an item exists")
        return stored

    def all_tokens(self) -> Iterator[TokenItem]:
        self.faults.run("all_tokens")
        for pk, sk in sorted(self.table):
            if sk == TokenItem.SK and (token := self._read(TokenItem, pk, sk)) is not None:
                yield token

    def get_member(self, namespace: str, user: str) -> MemberItem | None:
        self.faults.run("get_member")
        return self._read(MemberItem, NamespaceItem.key(namespace), MemberItem.sort_key(user))

    def set_namespace_details(self, namespace: NamespaceItem, details: dict[str, str | None],
                              *also: PublishingItem) -> None:
        self.faults.run("set_namespace_details")
        stored = self._read(NamespaceItem, str(namespace.pk), NamespaceItem.SK)
        if stored is None or any((str(i.pk), str(i.sk)) in self.table for i in also):
            raise TransactWriteError("Failed to write transaction items", cause=condition_failed("TransactWriteItems"))
        for name, value in details.items():
            setattr(stored, name, value)
        self._write(stored)
        for item in also:
            self._write(item)

    def set_namespace_verified(self, namespace: NamespaceItem, verified: bool) -> None:
        self.faults.run("set_namespace_verified")
        stored = self._read(NamespaceItem, str(namespace.pk), NamespaceItem.SK)
        if stored is None:
            raise UpdateError("Failed to update item", cause=condition_failed("UpdateItem"))
        stored.verified = namespace.verified = verified
        self._write(stored)

    def set_namespace_mirroring(self, namespace: NamespaceItem, mirrored_from: str | None, local_publishing: bool,
                                *also: PublishingItem) -> None:
        self.faults.run("set_namespace_mirroring")
        stored = self._read(NamespaceItem, str(namespace.pk), NamespaceItem.SK)
        if stored is None or any((str(i.pk), str(i.sk)) in self.table for i in also):
            raise TransactWriteError("Failed to write transaction items", cause=condition_failed("TransactWriteItems"))
        stored.mirrored_from, stored.local_publishing = mirrored_from, local_publishing
        self._write(stored)
        for item in also:
            self._write(item)

    def get_token(self, token_id: str) -> TokenItem | None:
        self.faults.run("get_token")
        return self._read(TokenItem, TokenItem.key(token_id), TokenItem.SK)

    def namespaces(self) -> Iterator[NamespaceItem]:
        self.faults.run("namespaces")
        for pk, sk in sorted(self.table):
            if sk == NamespaceItem.SK:
                found = self._read(NamespaceItem, pk, sk)
                if found is not None:
                    yield found

    def tokens_of(self, user: str) -> Iterator[TokenItem]:
        self.faults.run("tokens_of")
        found = sorted((raw["gsi1sk"]["S"], pk) for (pk, sk), raw in self.table.items()
                       if sk == TokenItem.SK and raw.get("gsi1pk", {}).get("S") == f"USER#{user}")
        for _, pk in found:
            token = self._read(TokenItem, pk, TokenItem.SK)
            if token is not None:
                yield token

    def memberships_of_user(self, user: str) -> list[str]:
        self.faults.run("memberships_of_user")
        return [raw["gsi1sk"]["S"].removeprefix("NS#") for (pk, sk), raw in sorted(self.table.items())
                if sk.startswith("MEMBER#") and raw.get("gsi1pk", {}).get("S") == f"USER#{user}"]

    # --- website sessions and sign-ins ----------------------------------------------------------------------

    @staticmethod
    def session_item(digest: str, *, user: str, display_name: str | None, provider: str, csrf: str,
                     now: datetime, expires: datetime) -> SessionItem:
        return SessionItem(SessionItem.key(digest), SessionItem.SK, user=user, display_name=display_name,
                           provider=provider, csrf=csrf, created_at=now, expires=expires, expires_at=expires)

    def get_session(self, digest: str) -> SessionItem | None:
        self.faults.run("get_session")
        return self._read(SessionItem, SessionItem.key(digest), SessionItem.SK)

    def delete_session(self, digest: str) -> None:
        self.faults.run("delete_session")
        self.table.pop((SessionItem.key(digest), SessionItem.SK), None)

    @staticmethod
    def signin_item(digest: str, *, provider: str, verifier: str, nonce: str, next_path: str, now: datetime,
                    expires: datetime) -> SigninItem:
        return SigninItem(SigninItem.key(digest), SigninItem.SK, provider=provider, verifier=verifier, nonce=nonce,
                          next_path=next_path, created_at=now, expires_at=expires)

    def take_signin(self, digest: str) -> SigninItem | None:
        self.faults.run("take_signin")
        raw = self.table.pop((SigninItem.key(digest), SigninItem.SK), None)
        return SigninItem.from_raw_data(dict(raw)) if raw is not None else None

    def revoke_token(self, token: TokenItem, now: datetime) -> bool:
        self.faults.run("revoke_token")
        stored = self._read(TokenItem, str(token.pk), TokenItem.SK)
        if stored is None or stored.revoked_at is not None:
            return False
        stored.revoked_at = token.revoked_at = now
        self._write(stored)
        return True

    def touch_token(self, token: TokenItem, now: datetime, every: timedelta = timedelta(minutes=1)) -> None:
        self.faults.run("touch_token")
        if token.last_used_at is not None and now - token.last_used_at < every:
            return
        stored = self._read(TokenItem, str(token.pk), TokenItem.SK)
        if stored is None or (stored.last_used_at is not None and stored.last_used_at >= now - every):
            return  # the adapter's condition failed: another request recorded a use just now
        stored.last_used_at = token.last_used_at = now
        self._write(stored)

    # --- the publish-time blocklist ---------------------------------------------------------------------

    @staticmethod
    def block_item(kind: str, value: str, reason: str, created_by: str, now: datetime) -> BlockItem:
        return BlockItem(BlockItem.key(kind), value, kind=kind, value=value, reason=reason, created_by=created_by,
                         created_at=now)

    def put_block(self, item: BlockItem) -> None:
        self.faults.run("put_block")
        self._write(item)

    def get_block(self, kind: str, value: str) -> BlockItem | None:
        self.faults.run("get_block")
        return self._read(BlockItem, BlockItem.key(kind), value)

    def blocks(self, kind: str) -> list[BlockItem]:
        self.faults.run("blocks")
        pk = BlockItem.key(kind)
        return [b for (p, sk) in sorted(self.table) if p == pk if (b := self._read(BlockItem, p, sk)) is not None]

    def remove_block(self, kind: str, value: str) -> bool:
        self.faults.run("remove_block")
        return self.table.pop((BlockItem.key(kind), value), None) is not None
