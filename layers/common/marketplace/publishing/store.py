"""Data access for the publishing table: namespaces, members, tokens and uploads (the only module that
touches them). One table, keys by prefix:

| item      | pk              | sk                | gsi1pk        | gsi1sk              |
|-----------|-----------------|-------------------|---------------|---------------------|
| namespace | ``NS#<name>``   | ``NAMESPACE``     |               |                     |
| name claim| ``LOOKALIKE#<skeleton>`` | ``NAME_CLAIM`` |       |                     |
| audit     | ``AUDIT#<name>`` | ``AT#<time>#<random>`` |        |                     |
| member    | ``NS#<name>``   | ``MEMBER#<user>`` | ``USER#<user>`` | ``NS#<name>``     |
| token     | ``TOKEN#<id>``  | ``TOKEN``         | ``USER#<user>`` | ``TOKEN#<created>`` |
| upload    | ``UPLOAD#<id>`` | ``UPLOAD``        | ``USER#<user>`` | ``UPLOAD#<created>``|
| session   | ``SESSION#<sha256 of id>`` | ``SESSION`` |        |                     |
| sign-in   | ``SIGNIN#<sha256 of state>`` | ``SIGNIN`` |       |                     |
| block     | ``BLOCK#<kind>`` | ``<value>``     |               |                     |

Sessions and sign-ins are keyed by the SHA-256 of their secret (the cookie's value, the OAuth ``state``), so the
table never holds what a browser presents.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from marketplace.platform.dynamo import bind, connection, get_or_none
from marketplace.platform.resources import PUBLISHING_TABLE
from marketplace.publishing.audit import RETENTION as AUDIT_RETENTION

OPEN_STATES = ("pending", "validating")
TOKEN_RECORD_GRACE = timedelta(days=30)  # an expired token's record stays this long to say "expired"
UPLOAD_RECORD_LIFETIME = timedelta(days=30)


class ByUser(GlobalSecondaryIndex["PublishingItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class PublishingItem(Model):
    class Meta:
        table_name = ""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_user = ByUser()


class NamespaceItem(PublishingItem):
    SK = "NAMESPACE"
    name = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    reserved_override = BooleanAttribute(default=False)
    verified = BooleanAttribute(default=False)  # vouched for by the operator (``marketplace publisher verify``)
    display_name = UnicodeAttribute(null=True)  # the details its owners edit
    description = UnicodeAttribute(null=True)
    website = UnicodeAttribute(null=True)
    logo = UnicodeAttribute(null=True)  # its logo's object key in the packages bucket (``publishing.logos``)
    mirrored_from = UnicodeAttribute(null=True)  # the upstream registry's URL when the mirror fills it
    local_publishing = BooleanAttribute(default=False)  # its members may publish into it although it is mirrored

    @staticmethod
    def key(name: str) -> str:
        return f"NS#{name}"


class NameClaimItem(PublishingItem):
    """One per namespace, keyed by its look-alike skeleton (``namespaces.skeleton``): created in the namespace's
    own transaction, so two names that read alike can never both exist."""

    SK = "NAME_CLAIM"
    namespace = UnicodeAttribute()

    @staticmethod
    def key(skeleton: str) -> str:
        return f"LOOKALIKE#{skeleton}"


class MemberItem(PublishingItem):
    namespace = UnicodeAttribute()
    user = UnicodeAttribute()
    role = UnicodeAttribute()  # owner | contributor
    added_at = UTCDateTimeAttribute()

    @staticmethod
    def sort_key(user: str) -> str:
        return f"MEMBER#{user}"


class TokenItem(PublishingItem):
    SK = "TOKEN"
    token_id = UnicodeAttribute()
    user = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    namespaces = UnicodeSetAttribute()
    description = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)
    last_used_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    @staticmethod
    def key(token_id: str) -> str:
        return f"TOKEN#{token_id}"


class UploadRecord(PublishingItem):
    SK = "UPLOAD"
    upload_id = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")
    reason = UnicodeAttribute(null=True)
    user = UnicodeAttribute(null=True)
    token_id = UnicodeAttribute(null=True)
    file_name = UnicodeAttribute(null=True)
    size = NumberAttribute(null=True)
    sha256 = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    extension_id = UnicodeAttribute(null=True)
    version = UnicodeAttribute(null=True)
    target_platform = UnicodeAttribute(null=True)
    client = UnicodeAttribute(null=True)  # what sent it (``publishing.audit.client_of``), for the audit log
    warnings = UnicodeAttribute(null=True)  # JSON list of the publish-time scan's findings that did not refuse
    expires_at = TTLAttribute(null=True)

    @staticmethod
    def key(upload_id: str) -> str:
        return f"UPLOAD#{upload_id}"

    def warning_list(self) -> list[str]:
        return [str(w) for w in json.loads(self.warnings)] if self.warnings else []


class SessionItem(PublishingItem):
    """A signed-in browser's session on the website (``publishing.sessions``)."""

    SK = "SESSION"
    user = UnicodeAttribute()
    display_name = UnicodeAttribute(null=True)
    provider = UnicodeAttribute()
    csrf = UnicodeAttribute()  # the token every state-changing form and call of this session must carry
    created_at = UTCDateTimeAttribute()
    expires = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)

    @staticmethod
    def key(digest: str) -> str:
        return f"SESSION#{digest}"


class SigninItem(PublishingItem):
    """A sign-in under way: what the callback needs to finish it (PKCE verifier, nonce), used once."""

    SK = "SIGNIN"
    provider = UnicodeAttribute()
    verifier = UnicodeAttribute()
    nonce = UnicodeAttribute()
    next_path = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)

    @staticmethod
    def key(digest: str) -> str:
        return f"SIGNIN#{digest}"


class SigningKeyItem(PublishingItem):
    PK, SK = "SIGNING", "KEY"
    key_id = UnicodeAttribute()
    wrapped = UnicodeAttribute()  # base64 KMS ciphertext of the raw Ed25519 private key
    public_pem = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class AlreadyExists(Exception):
    pass


M = TypeVar("M", bound=PublishingItem)


def _model(model: type[M]) -> type[M]:
    return bind(model, PUBLISHING_TABLE)


def _connection() -> Connection:
    return connection(PublishingItem, PUBLISHING_TABLE)


def _get(model: type[M], pk: str, sk: str) -> M | None:
    return get_or_none(model, PUBLISHING_TABLE, pk, sk)


# --- namespaces and members ---------------------------------------------------------------------------


def get_namespace(name: str) -> NamespaceItem | None:
    return _get(NamespaceItem, NamespaceItem.key(name), NamespaceItem.SK)


def get_member(namespace: str, user: str) -> MemberItem | None:
    return _get(MemberItem, NamespaceItem.key(namespace), MemberItem.sort_key(user))


def set_namespace_details(namespace: NamespaceItem, details: dict[str, str | None], *also: PublishingItem) -> None:
    """Set (or, for ``None``, remove) the namespace's details (display name, description, website, logo), with
    ``also``'s new items in the same transaction."""
    actions = [getattr(NamespaceItem, name).set(value) if value is not None else getattr(NamespaceItem, name).remove()
               for name, value in details.items()]
    with TransactWrite(connection=_connection()) as transaction:
        transaction.update(namespace, actions=actions, condition=NamespaceItem.pk.exists())
        for item in also:
            transaction.save(item, condition=type(item).pk.does_not_exist())


def set_namespace_verified(namespace: NamespaceItem, verified: bool) -> None:
    namespace.update(actions=[NamespaceItem.verified.set(verified)], condition=NamespaceItem.pk.exists())


def set_namespace_mirroring(namespace: NamespaceItem, mirrored_from: str | None, local_publishing: bool,
                            *also: PublishingItem) -> None:
    """Mark the namespace mirrored from an upstream (``None``: not mirrored) and whether its members may publish
    into it all the same, with ``also``'s new items (its audit entry) in the same transaction."""
    mirror = (NamespaceItem.mirrored_from.set(mirrored_from) if mirrored_from is not None
              else NamespaceItem.mirrored_from.remove())
    with TransactWrite(connection=_connection()) as transaction:
        transaction.update(namespace, actions=[mirror, NamespaceItem.local_publishing.set(local_publishing)],
                           condition=NamespaceItem.pk.exists())
        for item in also:
            transaction.save(item, condition=type(item).pk.does_not_exist())


def members(namespace: str) -> list[MemberItem]:
    model = _model(MemberItem)
    return list(model.query(NamespaceItem.key(namespace), MemberItem.sk.startswith("MEMBER#"), consistent_read=True))


class AuditItem(PublishingItem):
    """One entry of a namespace's audit log (``publishing.audit``), newest last in key order."""

    namespace = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    actor = UnicodeAttribute()
    client = UnicodeAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    details = UnicodeAttribute(null=True)  # JSON: what changed (never a token's value)
    expires_at = TTLAttribute(null=True)

    @staticmethod
    def key(namespace: str) -> str:
        return f"AUDIT#{namespace}"

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "actor": self.actor, "client": self.client, "action": self.action,
                "target": self.target, "details": json.loads(self.details) if self.details else {}}


_AUDIT_SEQUENCE = itertools.count()


def audit_suffix() -> str:
    """Entries written at the same moment by one process keep the order they were made in (key order)."""
    return f"{next(_AUDIT_SEQUENCE) % 1_000_000:06d}{secrets.token_hex(3)}"


def audit_item(namespace: str, now: datetime, actor: str, client: str, action: str, target: str,
               details: dict[str, Any] | None = None, entry_id: str | None = None) -> AuditItem:
    """``entry_id`` (with a ``now`` that is the change's own time) makes the entry's key the same each time it
    is written for that change, so a retried write finds it there instead of writing it twice."""
    return _model(AuditItem)(
        AuditItem.key(namespace), f"AT#{now.isoformat()}#{entry_id or audit_suffix()}", namespace=namespace,
        at=now,
        actor=actor, client=client, action=action, target=target,
        details=json.dumps(details, sort_keys=True, default=str) if details else None,
        expires_at=now + AUDIT_RETENTION)


def record(*entries: AuditItem) -> None:
    """Write audit entries on their own (the change they record was written by another table's owner)."""
    create_together(*entries)


def audit_entries(namespace: str, limit: int = 100) -> list[AuditItem]:
    """The namespace's newest ``limit`` entries, newest first."""
    model = _model(AuditItem)
    return list(model.query(AuditItem.key(namespace), AuditItem.sk.startswith("AT#"), scan_index_forward=False,
                            limit=limit, consistent_read=True))


class Changed(Exception):
    """The items a conditional write depended on changed since they were read: read again."""


def remove_member(member: MemberItem, other_owner: MemberItem | None, *also: PublishingItem) -> None:
    """Delete ``member``; with ``other_owner``, only while that owner is still one (in one transaction, so two
    owners removing each other cannot both succeed), writing the new items ``also`` in it. ``Changed`` when a
    condition failed."""
    _change_member(lambda transaction: transaction.delete(member, condition=MemberItem.role == member.role),
                   other_owner, also)


def set_member_role(member: MemberItem, role: str, other_owner: MemberItem | None, *also: PublishingItem) -> None:
    """Give ``member`` the role ``role`` while it still has the one it was read with; with ``other_owner`` (an
    owner stepping down), only while that owner is still one, in one transaction with the new items ``also``.
    ``Changed`` when a condition failed."""
    _change_member(lambda transaction: transaction.update(member, actions=[MemberItem.role.set(role)],
                                                          condition=MemberItem.role == member.role),
                   other_owner, also)


def _change_member(change: Callable[[TransactWrite], object], other_owner: MemberItem | None,
                   also: tuple[PublishingItem, ...]) -> None:
    """One transaction: ``change`` to a member, the new items ``also``, and (when a change takes an owner's
    role) the check that ``other_owner`` still is one; ``Changed`` when a condition failed."""
    try:
        with TransactWrite(connection=_connection()) as transaction:
            change(transaction)
            for item in also:
                transaction.save(item, condition=type(item).pk.does_not_exist())
            if other_owner is not None:
                transaction.condition_check(MemberItem, other_owner.pk, other_owner.sk,
                                            condition=MemberItem.role == "owner")
    except TransactWriteError as error:
        if error.cause_response_code == "TransactionCanceledException":
            raise Changed(str(error)) from error
        raise


def namespace_item(name: str, user: str, now: datetime, reserved_override: bool, *,
                   mirrored_from: str | None = None) -> NamespaceItem:
    return _model(NamespaceItem)(NamespaceItem.key(name), NamespaceItem.SK, name=name, created_by=user,
                                 created_at=now, reserved_override=reserved_override, mirrored_from=mirrored_from)


def name_claim_item(namespace: str, skeleton: str) -> NameClaimItem:
    return _model(NameClaimItem)(NameClaimItem.key(skeleton), NameClaimItem.SK, namespace=namespace)


def get_name_claim(skeleton: str) -> NameClaimItem | None:
    return _get(NameClaimItem, NameClaimItem.key(skeleton), NameClaimItem.SK)


def member_item(namespace: str, user: str, role: str, now: datetime) -> MemberItem:
    return _model(MemberItem)(NamespaceItem.key(namespace), MemberItem.sort_key(user), namespace=namespace, user=user,
                              role=role, added_at=now, gsi1pk=f"USER#{user}", gsi1sk=f"NS#{namespace}")


def token_item(token_id: str, user: str, secret_hash: str, namespaces: set[str], now: datetime, expires: datetime,
               description: str | None) -> TokenItem:
    return _model(TokenItem)(
        TokenItem.key(token_id), TokenItem.SK, token_id=token_id, user=user, secret_hash=secret_hash,
        namespaces=namespaces, description=description, created_at=now, expires=expires,
        expires_at=expires + TOKEN_RECORD_GRACE, gsi1pk=f"USER#{user}", gsi1sk=f"TOKEN#{now.isoformat()}")


def create_together(*items: PublishingItem) -> None:
    """Write new items in one transaction; ``AlreadyExists`` if any of them exists (nothing is written then)."""
    try:
        with TransactWrite(connection=_connection()) as transaction:
            for item in items:
                transaction.save(item, condition=type(item).pk.does_not_exist())
    except TransactWriteError as error:
        if error.cause_response_code == "TransactionCanceledException":
            raise AlreadyExists(str(error)) from error
        raise


# --- tokens ---------------------------------------------------------------------------------------------


def get_token(token_id: str) -> TokenItem | None:
    return _get(TokenItem, TokenItem.key(token_id), TokenItem.SK)


def all_tokens() -> Iterator[TokenItem]:
    """Every token record (a Scan: for the operator's ``token list --all``, never a request path)."""
    yield from _model(TokenItem).scan(TokenItem.sk == TokenItem.SK)


def namespaces() -> Iterator[NamespaceItem]:
    """Every namespace (a Scan: for operator commands, never a request path)."""
    yield from _model(NamespaceItem).scan(NamespaceItem.sk == NamespaceItem.SK)


def memberships_of_user(user: str) -> list[str]:
    """The namespaces ``user`` is a member of (the user index: a membership just made may take a moment)."""
    found = _model(MemberItem).by_user.query(f"USER#{user}", ByUser.gsi1sk.startswith("NS#"))
    return [str(item.gsi1sk).removeprefix("NS#") for item in found if str(item.sk).startswith("MEMBER#")]


def tokens_of(user: str) -> Iterator[TokenItem]:
    model = _model(TokenItem)
    for item in model.by_user.query(f"USER#{user}", ByUser.gsi1sk.startswith("TOKEN#")):
        token = get_token(str(item.pk).removeprefix("TOKEN#"))
        if token is not None:
            yield token


def revoke_token(token: TokenItem, now: datetime) -> bool:
    """Revoke once; ``False`` when it already was."""
    try:
        token.update(actions=[TokenItem.revoked_at.set(now)], condition=TokenItem.revoked_at.does_not_exist())
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def touch_token(token: TokenItem, now: datetime, every: timedelta = timedelta(minutes=1)) -> None:
    """Record the last use, at most once per ``every`` (a write per request would cost more than it tells)."""
    if token.last_used_at is not None and now - token.last_used_at < every:
        return
    try:
        token.update(
            actions=[TokenItem.last_used_at.set(now)],
            condition=TokenItem.last_used_at.does_not_exist() | (TokenItem.last_used_at < now - every),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


# --- uploads --------------------------------------------------------------------------------------------


def new_upload(upload_id: str, *, user: str, token_id: str, file_name: str, size: int, sha256: str,
               now: datetime, client: str | None = None) -> UploadRecord:
    record = _model(UploadRecord)(
        UploadRecord.key(upload_id), UploadRecord.SK, upload_id=upload_id, status="pending", user=user,
        token_id=token_id, file_name=file_name, size=size, sha256=sha256, created_at=now, updated_at=now, client=client,
        expires_at=now + UPLOAD_RECORD_LIFETIME, gsi1pk=f"USER#{user}", gsi1sk=f"UPLOAD#{now.isoformat()}")
    try:
        record.save(condition=UploadRecord.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise AlreadyExists(upload_id) from error
        raise
    return record


def find_upload(upload_id: str) -> UploadRecord | None:
    return _get(UploadRecord, UploadRecord.key(upload_id), UploadRecord.SK)


def settle_upload_progress(record: UploadRecord, status: str) -> None:
    """Note progress on an open upload (``validating``); a settled one is left as it is."""
    try:
        record.update(actions=[UploadRecord.status.set(status), UploadRecord.updated_at.set(datetime.now(UTC))],
                      condition=UploadRecord.status.is_in(*OPEN_STATES))
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def settle_upload(record: UploadRecord, status: str, reason: str | None = None, *,
                  warnings: Sequence[str] | None = None, **fields: Any) -> bool:
    """Move an open upload to ``status``; ``False`` when it was already settled (another delivery won).
    ``warnings`` are the scan's findings that did not refuse the package (kept as a JSON list)."""
    actions: list[Action] = [UploadRecord.status.set(status), UploadRecord.updated_at.set(datetime.now(UTC))]
    if reason is not None:
        actions.append(UploadRecord.reason.set(reason))
    if warnings:
        actions.append(UploadRecord.warnings.set(json.dumps(list(warnings))))
    for name, value in fields.items():
        actions.append(getattr(UploadRecord, name).set(value))
    try:
        record.update(actions=actions, condition=UploadRecord.status.is_in(*OPEN_STATES))
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


# --- website sessions and sign-ins ---------------------------------------------------------------------


def session_item(digest: str, *, user: str, display_name: str | None, provider: str, csrf: str, now: datetime,
                 expires: datetime) -> SessionItem:
    return _model(SessionItem)(SessionItem.key(digest), SessionItem.SK, user=user, display_name=display_name,
                               provider=provider, csrf=csrf, created_at=now, expires=expires, expires_at=expires)


def get_session(digest: str) -> SessionItem | None:
    return _get(SessionItem, SessionItem.key(digest), SessionItem.SK)


def delete_session(digest: str) -> None:
    _model(SessionItem)(SessionItem.key(digest), SessionItem.SK).delete()


def signin_item(digest: str, *, provider: str, verifier: str, nonce: str, next_path: str, now: datetime,
                expires: datetime) -> SigninItem:
    return _model(SigninItem)(SigninItem.key(digest), SigninItem.SK, provider=provider, verifier=verifier,
                              nonce=nonce, next_path=next_path, created_at=now, expires_at=expires)


def take_signin(digest: str) -> SigninItem | None:
    """The sign-in's item, deleted as it is read, so a callback can be used once; None when there is none (or
    another request took it first)."""
    found = _get(SigninItem, SigninItem.key(digest), SigninItem.SK)
    if found is None:
        return None
    try:
        found.delete(condition=SigninItem.nonce == found.nonce)
    except DeleteError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return found


# --- the repository signing key -------------------------------------------------------------------------


def get_signing_key() -> SigningKeyItem | None:
    return _get(SigningKeyItem, SigningKeyItem.PK, SigningKeyItem.SK)


def create_signing_key(key_id: str, wrapped: str, public_pem: str, now: datetime) -> bool:
    """Store the key unless one exists; ``False`` when another writer was first."""
    item = _model(SigningKeyItem)(SigningKeyItem.PK, SigningKeyItem.SK, key_id=key_id, wrapped=wrapped,
                                  public_pem=public_pem, created_at=now)
    try:
        item.save(condition=SigningKeyItem.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


# --- the publish-time blocklist ---------------------------------------------------------------------------

BLOCK_KINDS = ("package", "file", "extension")  # sha256 of a whole .vsix, of one file inside one, an extension id


class BlockItem(PublishingItem):
    """An operator's block (``marketplace scan block-hash|block-extension``): the ingest refuses what it names.
    ``BLOCK#<kind>`` / ``<value>``, so each kind is one small partition the scanner reads at once."""

    kind = UnicodeAttribute()
    value = UnicodeAttribute()
    reason = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()

    @staticmethod
    def key(kind: str) -> str:
        return f"BLOCK#{kind}"


def block_item(kind: str, value: str, reason: str, created_by: str, now: datetime) -> BlockItem:
    return _model(BlockItem)(BlockItem.key(kind), value, kind=kind, value=value, reason=reason,
                             created_by=created_by, created_at=now)


def put_block(item: BlockItem) -> None:
    """Write a block, replacing the one with the same kind and value (a new reason)."""
    item.save()


def get_block(kind: str, value: str) -> BlockItem | None:
    return _get(BlockItem, BlockItem.key(kind), value)


def blocks(kind: str) -> list[BlockItem]:
    """Every block of ``kind`` (one Query of its partition)."""
    return list(_model(BlockItem).query(BlockItem.key(kind), consistent_read=True))


def remove_block(kind: str, value: str) -> bool:
    """Delete a block; ``False`` when there was none."""
    try:
        _model(BlockItem)(BlockItem.key(kind), value).delete(condition=BlockItem.pk.exists())
    except DeleteError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def flagged_uploads() -> list[UploadRecord]:
    """Upload records that kept scan warnings or were quarantined (a Scan: for ``marketplace scan list``,
    never a request path; records expire after ``UPLOAD_RECORD_LIFETIME``)."""
    condition = UploadRecord.warnings.exists() | (UploadRecord.status == "quarantined")
    return [item for item in _model(UploadRecord).scan(condition) if item.sk == UploadRecord.SK]
