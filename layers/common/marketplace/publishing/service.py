"""Publishing operations: publishers (namespaces) with members, tokens, and authentication.

Used by the publish API and by the operator CLI alike. All storage of the publishing table goes through a
``PublishingStorePort``: ``publishing.store`` by default, an in-memory one in the unit tests. The module-level
functions are those of the default ``Publishing``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from marketplace.platform.errors import BadRequest, ConfigurationError, Conflict, Forbidden, NotFound, Unauthorized
from marketplace.platform.text import first_forbidden
from marketplace.publishing import audit, logos, namespaces, tokens
from marketplace.publishing import store as publishing_store
from marketplace.publishing.store import (
    AlreadyExists,
    AuditItem,
    MemberItem,
    NameClaimItem,
    NamespaceItem,
    PublishingItem,
    SessionItem,
    TokenItem,
)

log = logging.getLogger(__name__)

ROLES = ("owner", "contributor")
# The details owners edit: their name in answers, their attribute, their longest length.
DETAILS = {"displayName": ("display_name", 100), "description": ("description", 1000), "website": ("website", 500)}


def _https_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.netloc) and " " not in value


def _upstream_url(value: str) -> bool:
    """An upstream registry's address: http(s) with a host, printable, without spaces (which upstreams an
    operator may mirror is the mirror's business)."""
    parts = urlsplit(value)
    return (parts.scheme in ("https", "http") and bool(parts.netloc) and len(value) <= 500
            and " " not in value and first_forbidden(value) is None)


USER_MAX = 254


SESSION_PREFIX = "session:"  # a website session's principal's ``token_id``: the prefix, then its key's digest
# The operator's principal's ``token_id``: the prefix, then the client acting (``operator:marketplace import``).
# Only code holding the publishing table's write access (the operator CLI, the mirror function) writes an upload
# record naming it; the publish API always writes the caller's own token id.
OPERATOR_PREFIX = "operator:"
LOCAL_PUBLISHING_COMMAND = "marketplace publisher mirrored {namespace} --allow-local-publishing"


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for, and which namespaces it may publish to. A signed-in website session
    (``session``) speaks for its user in every namespace the user is a member of, as the user would; its
    ``namespaces`` are those the user had when the request began, for listing. The operator (``operator``:
    ``marketplace import``, the mirror) covers every namespace that exists without being a member of any."""

    user: str
    token_id: str
    namespaces: frozenset[str]
    expires: datetime | None = None
    session: bool = False
    operator: bool = False

    def covers(self, namespace: str) -> bool:
        return self.operator or self.session or namespace in self.namespaces


def operator_principal(client: str) -> Principal:
    """The operator acting through ``client`` (an audit client name such as ``marketplace import``)."""
    return Principal(audit.OPERATOR, OPERATOR_PREFIX + client, frozenset(), operator=True)


@dataclass(frozen=True)
class TokenView:
    token_id: str
    user: str
    namespaces: tuple[str, ...]
    description: str | None
    created_at: datetime
    expires: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        return "expired" if self.expires <= tokens.utcnow() else "active"

    @property
    def warning(self) -> str | None:
        """What to tell the user of an active token that ends within two weeks (``tokens.expiry_warning``)."""
        return tokens.expiry_warning(self.expires, tokens.utcnow()) if self.state == "active" else None


def _user(user: str) -> str:
    if not (0 < len(user) <= USER_MAX) or any(c.isspace() or not c.isprintable() for c in user):
        raise BadRequest(f"user {user!r} must be 1 to {USER_MAX} printable characters without spaces")
    return user


class PublishingStorePort(Protocol):
    """What the operations need of the publishing table: exactly the functions of ``publishing.store`` (the
    default) they call. ``create_together`` writes all its items or none, raising ``AlreadyExists`` when any
    exists; ``revoke_token`` answers ``False`` for a token already revoked."""

    def namespace_item(self, name: str, user: str, now: datetime, reserved_override: bool, *,
                       mirrored_from: str | None = None) -> NamespaceItem: ...

    def member_item(self, namespace: str, user: str, role: str, now: datetime) -> MemberItem: ...

    def name_claim_item(self, namespace: str, skeleton: str) -> NameClaimItem: ...

    def get_name_claim(self, skeleton: str) -> NameClaimItem | None: ...

    def namespaces(self) -> Iterable[NamespaceItem]: ...

    def members(self, namespace: str) -> list[MemberItem]: ...

    def remove_member(self, member: MemberItem, other_owner: MemberItem | None, *also: PublishingItem) -> None: ...

    def set_member_role(self, member: MemberItem, role: str, other_owner: MemberItem | None,
                        *also: PublishingItem) -> None: ...

    def audit_item(self, namespace: str, now: datetime, actor: str, client: str, action: str, target: str,
                   details: dict[str, Any] | None = None, entry_id: str | None = None) -> AuditItem: ...

    def audit_entries(self, namespace: str, limit: int = 100) -> list[AuditItem]: ...

    def all_tokens(self) -> Iterable[TokenItem]: ...

    def token_item(self, token_id: str, user: str, secret_hash: str, namespaces: set[str], now: datetime,
                   expires: datetime, description: str | None) -> TokenItem: ...

    def create_together(self, *items: PublishingItem) -> None: ...

    def get_namespace(self, name: str) -> NamespaceItem | None: ...

    def get_member(self, namespace: str, user: str) -> MemberItem | None: ...

    def set_namespace_verified(self, namespace: NamespaceItem, verified: bool) -> None: ...

    def set_namespace_mirroring(self, namespace: NamespaceItem, mirrored_from: str | None, local_publishing: bool,
                                *also: PublishingItem) -> None: ...

    def set_namespace_details(self, namespace: NamespaceItem, details: dict[str, str | None],
                              *also: PublishingItem) -> None: ...

    def get_token(self, token_id: str) -> TokenItem | None: ...

    def tokens_of(self, user: str) -> Iterable[TokenItem]: ...

    def revoke_token(self, token: TokenItem, now: datetime) -> bool: ...

    def touch_token(self, token: TokenItem, now: datetime) -> None: ...

    def memberships_of_user(self, user: str) -> list[str]: ...

    def get_session(self, digest: str) -> SessionItem | None: ...


def _lookalike(name: str, existing: str) -> str:
    return (f"namespace {name!r} reads like the existing namespace {existing!r} (look-alike names are refused so "
            "that no one can pass for another publisher); choose a clearly different name")


def _view(item: TokenItem) -> TokenView:
    return TokenView(
        token_id=item.token_id, user=item.user, namespaces=tuple(sorted(item.namespaces)),
        description=item.description, created_at=item.created_at, expires=item.expires,
        revoked_at=item.revoked_at, last_used_at=item.last_used_at,
    )


class Publishing:
    def __init__(self, store: PublishingStorePort = publishing_store) -> None:
        self.store = store

    def _entry(self, namespace: str, action: str, target: str, now: datetime,
               details: dict[str, Any] | None = None, entry_id: str | None = None) -> AuditItem:
        """The audit entry of ``action`` by whoever is acting (``audit.current``), for writing with the change."""
        actor = audit.current()
        return self.store.audit_item(namespace, now, actor.user, actor.client, action, target, details, entry_id)

    def record(self, namespace: str, action: str, target: str, details: dict[str, Any] | None = None, *,
               at: datetime | None = None, entry_id: str | None = None) -> None:
        """Write an audit entry on its own, for a change another table's owner wrote (the catalog's). With
        ``at`` and ``entry_id`` (the change's own time and id) writing it again is a no-op."""
        try:
            self.store.create_together(self._entry(namespace, action, target, at or tokens.utcnow(), details,
                                                   entry_id))
        except AlreadyExists:
            if entry_id is None:
                raise

    def audit_log(self, namespace: str, limit: int = 100) -> list[AuditItem]:
        if self.store.get_namespace(namespace) is None:
            raise NotFound(f"namespace {namespace!r} does not exist")
        return self.store.audit_entries(namespace, max(1, min(limit, 1000)))

    def audit_log_for(self, principal: Principal, namespace: str, limit: int = 100) -> list[AuditItem]:
        """The log, for an owner of ``namespace`` whose token covers it (contributors do not see it)."""
        self.require_owner(principal, namespace, "read its audit log")
        return self.audit_log(namespace, limit)

    def require_owner(self, principal: Principal, namespace: str, what: str) -> NamespaceItem:
        """``authorize``, and the token's user must own ``namespace`` (``Forbidden`` saying for ``what``)."""
        item = self.authorize(principal, namespace)
        member = self.store.get_member(namespace, principal.user)
        if member is None or member.role != "owner":
            raise Forbidden(f"only an owner of namespace {namespace!r} may {what}")
        return item

    def namespace_details(self, principal: Principal, namespace: str) -> dict[str, Any]:
        """The namespace's details (``logo``: the path this site serves it at, or null) and members, for a member
        whose token covers it."""
        item = self.authorize(principal, namespace)
        return {"name": item.name, "verified": bool(item.verified),
                **{key: getattr(item, attribute) for key, (attribute, _) in DETAILS.items()},
                "logo": logos.public_path(item.logo),
                "members": [{"user": m.user, "role": m.role} for m in self.store.members(namespace)]}

    def set_namespace_logo(self, principal: Principal, namespace: str, data: bytes | None) -> dict[str, Any]:
        """An owner sets the namespace's logo to ``data`` (``publishing.logos`` says which images are taken) or,
        with ``None``, removes it; answers the details. The new object is written before the item names it and the
        old one deleted after (best effort: a leftover is unreachable, never a broken logo); nothing changes on a
        refusal. The same image again changes nothing."""
        from marketplace.publishing import objects  # the logo calls alone write objects from here

        item = self.require_owner(principal, namespace, "change its logo")
        previous, now = item.logo, tokens.utcnow()
        if data is None:
            if previous is None:
                return self.namespace_details(principal, namespace)
            self.store.set_namespace_details(item, {"logo": None}, self._entry(
                item.name, "namespace.logo", item.name, now, {"removed": True}))
        else:
            logo = logos.validate(data)
            key = logos.object_key(item.name, data, logo)
            if key == previous:
                return self.namespace_details(principal, namespace)
            # when the item cannot be written the object stays: unnamed, it is never shown (deleting it could
            # take it from a request that set the same image meanwhile)
            objects.put_asset(key, data, logo.content_type)
            self.store.set_namespace_details(item, {"logo": key}, self._entry(
                item.name, "namespace.logo", item.name, now,
                {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}))
        if previous is not None:
            _discard(previous)
        return self.namespace_details(principal, namespace)

    def update_namespace_details(self, principal: Principal, namespace: str, body: object) -> dict[str, Any]:
        """An owner sets the details named in ``body`` (``null`` removes one); nothing changes on bad input."""
        item = self.require_owner(principal, namespace, "change its details")
        if not isinstance(body, dict) or not body or set(body) - set(DETAILS):
            raise BadRequest(f"send an object with any of {', '.join(DETAILS)}")
        changes: dict[str, str | None] = {}
        for key, value in body.items():
            attribute, longest = DETAILS[key]
            if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > longest
                                      or first_forbidden(value, allow="\n" if key == "description" else "")):
                raise BadRequest(f"{key} must be text of 1 to {longest} characters without control, bidi or "
                                 "zero-width characters, or null")
            if key == "website" and value is not None and not _https_url(value):
                raise BadRequest("website must be an https:// URL")
            changes[attribute] = value.strip() if isinstance(value, str) else None
        self.store.set_namespace_details(item, changes, self._entry(namespace, "namespace.details", namespace,
                                                                    tokens.utcnow(), dict(body)))
        return self.namespace_details(principal, namespace)

    def add_member_by(self, principal: Principal, namespace: str, user: str, role: str) -> None:
        self.require_owner(principal, namespace, "add members")
        self.add_member(namespace, user, role)

    def remove_member_by(self, principal: Principal, namespace: str, user: str) -> None:
        self.require_owner(principal, namespace, "remove members")
        self.remove_member(namespace, user)

    def set_role_by(self, principal: Principal, namespace: str, user: str, role: str) -> str:
        """An owner makes ``user`` a member with ``role``, or gives a member that role (Open VSX's ``role``
        call); answers ``"added"`` or ``"changed"``."""
        self.require_owner(principal, namespace, "add members or change their roles")
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        if self.store.get_member(namespace, _user(user)) is None:
            self.add_member(namespace, user, role)
            return "added"
        self.change_role(namespace, user, role)
        return "changed"

    def memberships_of(self, principal: Principal) -> list[tuple[NamespaceItem, MemberItem]]:
        """The namespaces the token covers and its user is still a member of, by name, with the membership:
        a token never tells of the user's other namespaces."""
        found: list[tuple[NamespaceItem, MemberItem]] = []
        for name in sorted(principal.namespaces):
            namespace = self.store.get_namespace(name)
            member = self.store.get_member(name, principal.user) if namespace is not None else None
            if namespace is not None and member is not None:
                found.append((namespace, member))
        return found

    def token_of(self, principal: Principal, token_id: str) -> TokenView:
        """One of the caller's own tokens (another user's is not found, as a missing one)."""
        item = self.store.get_token(token_id) if len(token_id) <= 64 else None
        if item is None or item.user != principal.user:
            raise NotFound(f"you have no token with id {token_id!r}")
        return _view(item)

    def create_publisher(self, name: str, owner: str, *, allow_reserved: bool = False,
                         token_days: int | None = None,
                         description: str | None = None) -> tuple[NamespaceItem, str]:
        """Create a namespace owned by ``owner`` and a token for it; returns the namespace and the token
        (once)."""
        try:
            namespaces.validate(name)
        except namespaces.InvalidName as error:
            raise BadRequest(str(error)) from error
        owner = _user(owner)
        if namespaces.reserved(name) and not allow_reserved:
            raise Forbidden(
                f"namespace {name!r} is reserved; an operator must create it with the reserved-name override")
        now = tokens.utcnow()
        issued = tokens.issue()
        try:
            expires = tokens.expiry(now, token_days)
        except ValueError as error:
            raise BadRequest(str(error)) from error
        namespace = self.store.namespace_item(name, owner, now, reserved_override=namespaces.reserved(name))
        self._create_namespace(
            name,
            namespace,
            self.store.member_item(name, owner, "owner", now),
            self.store.token_item(issued.token_id, owner, issued.secret_hash, {name}, now, expires,
                                  description or f"created with publisher {name}"),
            self._entry(name, "namespace.create", name, now, {"owner": owner}),
            self._entry(name, "token.create", issued.token_id, now, {"user": owner, "expires": expires}),
        )
        return namespace, issued.value

    def _create_namespace(self, name: str, *items: PublishingItem) -> None:
        """Write a new namespace's items with its look-alike claim, all or nothing; ``Conflict`` saying why not
        (the name is taken, or reads like a namespace that exists)."""
        skeleton = namespaces.skeleton(name)
        claimed = self.store.get_name_claim(skeleton)
        if claimed is not None and claimed.namespace != name:
            raise Conflict(_lookalike(name, claimed.namespace))
        try:
            self.store.create_together(*items, self.store.name_claim_item(name, skeleton))
        except AlreadyExists as error:
            if self.store.get_namespace(name) is not None:
                raise Conflict(f"namespace {name!r} already exists") from error
            claimed = self.store.get_name_claim(skeleton)  # a look-alike won a race with this one
            raise Conflict(_lookalike(name, claimed.namespace if claimed else "another")) from error

    def create_namespace_for(self, principal: Principal, name: str) -> None:
        """A token's user creates a namespace (Open VSX's ``create-namespace``): the user becomes its owner.
        The token that asked keeps its scope: a token names the namespaces it may publish to when it is made, and
        widening it here let anyone holding a token for one namespace (a contributor, or a CI job's leaked token)
        make it good for namespaces it was never meant for. Publishing to the new namespace takes a token that
        names it. Reserved names stay with the operator."""
        try:
            namespaces.validate(name)
        except namespaces.InvalidName as error:
            raise BadRequest(str(error)) from error
        if namespaces.reserved(name):
            raise Forbidden(f"namespace {name!r} is reserved; ask the marketplace's operator")
        refusal = self.policy().refusal(principal.user)
        if refusal is not None:
            raise Forbidden(f"you may not create namespace {name!r}: {refusal}")
        now = tokens.utcnow()
        self._create_namespace(
            name,
            self.store.namespace_item(name, principal.user, now, reserved_override=False),
            self.store.member_item(name, principal.user, "owner", now),
            self._entry(name, "namespace.create", name, now, {"owner": principal.user}),
        )

    def claim_existing_names(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Write the look-alike claim of every namespace made before claims existed, oldest first (the first of
        two look-alikes keeps the claim); returns the namespaces claimed now and the look-alike pairs found
        (newer, older), which only the operator can resolve."""
        claimed: list[str] = []
        pairs: list[tuple[str, str]] = []
        for namespace in sorted(self.store.namespaces(), key=lambda n: (n.created_at, n.name)):
            skeleton = namespaces.skeleton(namespace.name)
            holder = self.store.get_name_claim(skeleton)
            if holder is None:
                try:
                    self.store.create_together(self.store.name_claim_item(namespace.name, skeleton))
                    claimed.append(namespace.name)
                    continue
                except AlreadyExists:
                    holder = self.store.get_name_claim(skeleton)
            if holder is not None and holder.namespace != namespace.name:
                pairs.append((namespace.name, holder.namespace))
        return claimed, pairs

    @staticmethod
    def policy() -> namespaces.Policy:
        """The operator's namespace-creation policy (``NAMESPACE_CREATION``), read at each use."""
        try:
            return namespaces.Policy(os.environ.get(namespaces.POLICY_VAR))
        except ValueError as error:
            raise ConfigurationError(str(error)) from error

    def add_member(self, namespace: str, user: str, role: str) -> None:
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        if self.store.get_namespace(namespace) is None:
            raise NotFound(f"namespace {namespace!r} does not exist")
        now = tokens.utcnow()
        try:
            self.store.create_together(self.store.member_item(namespace, _user(user), role, now),
                                       self._entry(namespace, "member.add", _user(user), now, {"role": role}))
        except AlreadyExists as error:
            raise Conflict(f"{user!r} is already a member of {namespace!r}") from error

    def remove_member(self, namespace: str, user: str) -> None:
        """Remove ``user`` from ``namespace``; never its last owner (``Conflict``, saying to add another first)."""
        user = _user(user)
        for _ in range(3):  # the members changed between the read and the write: read them again
            member = self.store.get_member(namespace, user)
            if member is None:
                raise NotFound(f"{user!r} is not a member of {namespace!r}")
            other_owner = self._other_owner(namespace, member)
            try:
                self.store.remove_member(member, other_owner, self._entry(namespace, "member.remove", user,
                                                                          tokens.utcnow(), {"role": member.role}))
                return
            except publishing_store.Changed:
                continue
        raise Conflict(f"the members of {namespace!r} keep changing; try again")

    def _other_owner(self, namespace: str, member: MemberItem) -> MemberItem | None:
        """For a change that takes ``member``'s ownership: another owner, who must still be one when the change
        is written (``Conflict`` when there is none); ``None`` when ``member`` owns nothing."""
        if member.role != "owner":
            return None
        others = [m for m in self.store.members(namespace) if m.role == "owner" and m.user != member.user]
        if not others:
            raise Conflict(f"{member.user!r} is the last owner of {namespace!r}; add another owner first")
        return others[0]

    def change_role(self, namespace: str, user: str, role: str) -> None:
        """Give a member of ``namespace`` another role; never take it from the last owner (``Conflict``)."""
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        user = _user(user)
        for _ in range(3):  # the members changed between the read and the write: read them again
            member = self.store.get_member(namespace, user)
            if member is None:
                raise NotFound(f"{user!r} is not a member of {namespace!r}")
            if member.role == role:
                raise Conflict(f"{user!r} already has the role {role} in {namespace!r}")
            other_owner = self._other_owner(namespace, member)
            try:
                self.store.set_member_role(member, role, other_owner,
                                           self._entry(namespace, "member.role", user, tokens.utcnow(),
                                                       {"from": member.role, "role": role}))
                return
            except publishing_store.Changed:
                continue
        raise Conflict(f"the members of {namespace!r} keep changing; try again")

    def list_namespaces(self) -> list[tuple[NamespaceItem, list[MemberItem]]]:
        """Every namespace with its members, by name (the operator's ``publisher list``)."""
        found = sorted(self.store.namespaces(), key=lambda n: n.name)
        return [(namespace, self.store.members(namespace.name)) for namespace in found]

    def list_all_tokens(self) -> list[TokenView]:
        """Every token, newest first, never its value (the operator's ``token list --all``)."""
        return [_view(t) for t in sorted(self.store.all_tokens(), key=lambda t: t.created_at, reverse=True)]

    def create_token(self, user: str, scope: list[str], *, days: int | None = None,
                     description: str | None = None) -> str:
        """A new token for ``user`` covering ``scope``; the user must be a member of every namespace in it."""
        return self._issue_token(user, scope, days, description)[0]

    def _issue_token(self, user: str, scope: list[str], days: int | None,
                     description: str | None) -> tuple[str, TokenView]:
        """``create_token``'s work: the token's value (shown once) and what is stored of it."""
        user = _user(user)
        if not scope:
            raise BadRequest("a token needs at least one namespace")
        for name in scope:
            if self.store.get_namespace(name) is None:
                raise NotFound(f"namespace {name!r} does not exist")
            if self.store.get_member(name, user) is None:
                raise Forbidden(f"{user!r} is not a member of namespace {name!r}")
        now = tokens.utcnow()
        try:
            expires = tokens.expiry(now, days)
        except ValueError as error:
            raise BadRequest(str(error)) from error
        issued = tokens.issue()
        item = self.store.token_item(issued.token_id, user, issued.secret_hash, set(scope), now, expires, description)
        self.store.create_together(
            item,
            *(self._entry(name, "token.create", issued.token_id, now, {"user": user, "expires": expires})
              for name in sorted(set(scope))),
        )
        return issued.value, _view(item)

    def create_token_for(self, principal: Principal, scope: list[str], *, days: int | None = None,
                         description: str | None = None) -> tuple[str, TokenView]:
        """A token's user makes another token, never wider than the token that asks: a contributor's or a leaked
        CI token cannot mint one for the user's other namespaces. Returns its value (shown once) and its view."""
        wider = [] if principal.session else sorted(set(scope) - principal.namespaces)
        if wider:
            raise Forbidden(f"this token does not cover {', '.join(wider)}; a token may only make tokens within "
                            "its own namespaces")
        return self._issue_token(principal.user, scope, days, description)

    def revoke_token_of(self, principal: Principal, token_id: str) -> TokenView:
        """Revoke one of the caller's own tokens (another user's is not found, as a missing one)."""
        self.token_of(principal, token_id)
        return self.revoke_token(token_id)

    def list_tokens(self, user: str) -> list[TokenView]:
        return sorted((_view(t) for t in self.store.tokens_of(_user(user))), key=lambda v: v.created_at)

    def revoke_token(self, token_id: str) -> TokenView:
        item = self.store.get_token(token_id)
        if item is None:
            raise NotFound(f"no token with id {token_id!r}")
        now = tokens.utcnow()
        if self.store.revoke_token(item, now):
            self.store.create_together(*(self._entry(name, "token.revoke", token_id, now, {"user": item.user})
                                         for name in sorted(item.namespaces)))
        refreshed = self.store.get_token(token_id)
        assert refreshed is not None
        return _view(refreshed)

    def authenticate(self, value: str | None) -> Principal:
        """The principal of a bearer token, or ``Unauthorized`` saying why not (never echoing the token)."""
        parsed = tokens.parse(value or "")
        if parsed is None:
            raise Unauthorized("a personal access token is required (Authorization: Bearer mkp_...)")
        token_id, secret = parsed
        item = self.store.get_token(token_id)
        if item is None or not tokens.secret_matches(secret, item.secret_hash):
            raise Unauthorized(tokens.INVALID)  # unknown, or the secret does not match
        now = tokens.utcnow()
        if item.revoked_at is not None:
            raise Unauthorized(f"the access token {token_id} was revoked")
        if item.expires <= now:
            raise Unauthorized(f"the access token {token_id} expired on {item.expires:%Y-%m-%d}")
        self.store.touch_token(item, now)
        return Principal(item.user, token_id, frozenset(item.namespaces), item.expires)

    def session_principal(self, session: SessionItem, digest: str) -> Principal:
        """The principal of a signed-in website session: its user, in every namespace they are a member of."""
        names = frozenset(self.store.memberships_of_user(session.user))
        return Principal(session.user, SESSION_PREFIX + digest, names, session.expires, session=True)

    def principal_of(self, token_id: str | None) -> Principal:
        """The principal of a stored token or website session, checked again (an upload outlives the request
        that started it), or the operator's (``OPERATOR_PREFIX``: an upload the operator's tools wrote)."""
        if token_id and token_id.startswith(OPERATOR_PREFIX):
            return operator_principal(token_id.removeprefix(OPERATOR_PREFIX))
        if token_id and token_id.startswith(SESSION_PREFIX):
            digest = token_id.removeprefix(SESSION_PREFIX)
            session = self.store.get_session(digest)
            if session is None or session.expires <= tokens.utcnow():
                raise Unauthorized("the website session that started this upload has ended (signed out or "
                                   "expired) before the package was processed; sign in and upload it again")
            return self.session_principal(session, digest)
        item = self.store.get_token(token_id) if token_id else None
        if item is None:
            raise Unauthorized("the access token that started this upload no longer exists")
        if item.revoked_at is not None:
            raise Unauthorized(f"the access token {item.token_id} was revoked before the package was processed")
        if item.expires <= tokens.utcnow():
            raise Unauthorized(f"the access token {item.token_id} expired on {item.expires:%Y-%m-%d}")
        return Principal(item.user, item.token_id, frozenset(item.namespaces), item.expires)

    def authorize(self, principal: Principal, namespace: str) -> NamespaceItem:
        """The token must cover ``namespace`` and its user must still be a member there; returns the namespace.
        The operator needs no membership (the namespace must exist). A namespace mirrored from an upstream is
        the mirror's alone unless the operator allowed local publishing into it."""
        if not principal.covers(namespace):
            raise Forbidden(f"this token may not publish to namespace {namespace!r}")
        item = self.store.get_namespace(namespace)
        if item is None:
            raise Forbidden(f"namespace {namespace!r} does not exist")
        if principal.operator:
            return item
        if self.store.get_member(namespace, principal.user) is None:
            raise Forbidden(f"{principal.user!r} is no longer a member of namespace {namespace!r}")
        if item.mirrored_from and not item.local_publishing:
            raise Forbidden(f"namespace {namespace!r} is mirrored from {item.mirrored_from}: only the mirror "
                            "publishes into it; the operator may allow local publishing with `"
                            + LOCAL_PUBLISHING_COMMAND.format(namespace=namespace) + "`")
        return item

    def create_namespace_as_operator(self, name: str, *, owner: str | None = None,
                                     mirrored_from: str | None = None,
                                     allow_reserved: bool = False) -> NamespaceItem:
        """The operator's tools (``marketplace import --create-namespaces``, the mirror) create a namespace
        for the packages they bring: with ``owner`` as its first owner, or no members (the operator publishes
        into it all the same), marked ``mirrored_from`` an upstream when given. No token is made (the operator
        gives one with ``marketplace token create``). Reserved names only with ``allow_reserved``; look-alikes
        and taken names are a ``Conflict``, as for ``create_publisher``."""
        try:
            namespaces.validate(name)
        except namespaces.InvalidName as error:
            raise BadRequest(str(error)) from error
        if namespaces.reserved(name) and not allow_reserved:
            raise Forbidden(f"namespace {name!r} is reserved; if these packages really are its vendor's, create it "
                            f"first with `marketplace publisher create {name} --owner USER --allow-reserved`")
        if mirrored_from is not None and not _upstream_url(mirrored_from):
            raise BadRequest(f"{mirrored_from!r} is not an upstream registry's http(s) URL")
        now = tokens.utcnow()
        item = self.store.namespace_item(name, audit.OPERATOR if owner is None else _user(owner), now,
                                         reserved_override=namespaces.reserved(name), mirrored_from=mirrored_from)
        details: dict[str, Any] = {"owner": owner}
        if mirrored_from is not None:
            details["mirroredFrom"] = mirrored_from
        members = [] if owner is None else [self.store.member_item(name, _user(owner), "owner", now)]
        self._create_namespace(name, item, *members, self._entry(name, "namespace.create", name, now, details))
        return item

    def set_local_publishing(self, name: str, allowed: bool) -> NamespaceItem:
        """The operator allows (or refuses again) its members' own publishing into a mirrored namespace."""
        item = self.store.get_namespace(name.lower())
        if item is None:
            raise NotFound(f"namespace {name!r} does not exist")
        if not item.mirrored_from:
            raise BadRequest(f"namespace {item.name!r} is not mirrored from an upstream: its members publish into "
                             "it as always")
        if bool(item.local_publishing) != allowed:
            self.store.set_namespace_mirroring(item, item.mirrored_from, allowed, self._entry(
                item.name, "namespace.local_publishing", item.name, tokens.utcnow(),
                {"allowed": allowed, "mirroredFrom": item.mirrored_from}))
        found = self.store.get_namespace(item.name)
        assert found is not None
        return found

    def verify_namespace(self, name: str, verified: bool = True) -> list[str]:
        """The operator vouches for a namespace (or takes it back): the namespace item and every extension in it
        carry the flag, so the gallery, Open VSX answers and search (through the table's stream) show it, and the
        ingest copies it into extensions published later. Returns the extension ids changed.

        An extension whose first version is being recorded while this runs may keep the old value: run it again.
        """
        from marketplace.catalog import reader  # the operator's path only: the publish API does not load it
        from marketplace.catalog import store as catalog

        item = self.store.get_namespace(name.lower())
        if item is None:
            raise NotFound(f"namespace {name!r} does not exist")
        self.store.set_namespace_verified(item, verified)
        self.record(item.name, "namespace.verify" if verified else "namespace.unverify", item.name)
        changed: list[str] = []
        for extension in reader.extensions_in_namespace(item.name):
            try:
                catalog.set_verified(extension.extension_id, verified)
            except LookupError:
                continue  # removed since the index was read
            changed.append(extension.extension_id)
        return changed


def _discard(key: str) -> None:
    """Delete a logo no item names any more; a failure is logged, not raised (the change is already made)."""
    from marketplace.publishing import objects

    try:
        objects.delete(key)
    except Exception:
        log.warning("could not delete the namespace logo %s; it is no longer used and may be deleted", key,
                    exc_info=True)


_default = Publishing()
create_publisher = _default.create_publisher
create_namespace_for = _default.create_namespace_for
claim_existing_names = _default.claim_existing_names
remove_member = _default.remove_member
list_namespaces = _default.list_namespaces
list_all_tokens = _default.list_all_tokens
record = _default.record
create_token_for = _default.create_token_for
revoke_token_of = _default.revoke_token_of
namespace_details = _default.namespace_details
update_namespace_details = _default.update_namespace_details
set_namespace_logo = _default.set_namespace_logo
add_member_by = _default.add_member_by
remove_member_by = _default.remove_member_by
set_role_by = _default.set_role_by
change_role = _default.change_role
memberships_of = _default.memberships_of
token_of = _default.token_of
require_owner = _default.require_owner
audit_log = _default.audit_log
audit_log_for = _default.audit_log_for
add_member = _default.add_member
create_token = _default.create_token
list_tokens = _default.list_tokens
revoke_token = _default.revoke_token
authenticate = _default.authenticate
principal_of = _default.principal_of
create_namespace_as_operator = _default.create_namespace_as_operator
set_local_publishing = _default.set_local_publishing
session_principal = _default.session_principal
authorize = _default.authorize
verify_namespace = _default.verify_namespace
