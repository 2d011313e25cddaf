"""Data access for the extensions table: the catalog owns it (``catalog.reader`` reads it for the gallery
and search, ``catalog.table`` serves the light functions; ``catalog.keys`` spells its keys).

| item      | pk                  | sk                              | gsi1pk        | gsi1sk          |
|-----------|---------------------|---------------------------------|---------------|-----------------|
| extension | ``EXT#<pub>.<name>`` | ``EXTENSION``                   | ``NS#<pub>``  | ``EXT#<name>``  |
| version   | ``EXT#<pub>.<name>`` | ``VERSION#<version>#<target>``  |               |                 |
| pointer   | ``UUID#<uuid>``      | ``EXTENSION``                   |               |                 |

Ids are lower-cased ``publisher.name``; display casing is kept in attributes. A version and the
extension's summary are written in one transaction: the version only if it does not exist (versions are
immutable), the summary only if nobody changed it since it was read (optimistic concurrency).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from marketplace.catalog import keys
from marketplace.catalog.ids import extension_uuid
from marketplace.catalog.keys import EXTENSION_SK as EXTENSION_SK
from marketplace.catalog.keys import extension_key as extension_key
from marketplace.catalog.keys import uuid_key as uuid_key
from marketplace.catalog.semver import Version
from marketplace.platform.dynamo import bind, connection, get_or_none
from marketplace.platform.resources import EXTENSIONS_TABLE


class CatalogItem(Model):
    class Meta:
        table_name = ""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class ExtensionItem(CatalogItem):
    extension_id = UnicodeAttribute()
    publisher = UnicodeAttribute()
    name = UnicodeAttribute()
    display_name = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    categories = ListAttribute(of=UnicodeAttribute, default=list)
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    latest_version = UnicodeAttribute(null=True)  # newest release; none while only pre-releases exist
    latest_prerelease = UnicodeAttribute(null=True)
    version_count = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    revision = NumberAttribute(default=0)  # bumped on every write: the optimistic-concurrency check
    unpublished = BooleanAttribute(default=False)  # every version unpublished by the owner
    deprecated = BooleanAttribute(default=False)
    replacement = UnicodeAttribute(null=True)  # the extension id to use instead, for a deprecated one
    deprecation_message = UnicodeAttribute(null=True)
    malicious = BooleanAttribute(default=False)  # blocked by the operator: hidden, and editors refuse it
    featured = BooleanAttribute(default=False)  # picked by the operator: the gallery's Featured filter
    verified = BooleanAttribute(default=False)  # the namespace's owner is verified by the operator
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)


class UuidPointer(CatalogItem):
    """``UUID#<uuid>`` → the extension id: the gallery's ExtensionId filter looks extensions up by UUID."""

    extension_id = UnicodeAttribute()


class ControlEntry(CatalogItem):
    """``CONTROL`` / ``EXT#<id>``: an extension editors must be warned about or kept from installing. The
    gallery's control manifest is one Query of this partition (docs/protocols/vscode-gallery.md A8)."""

    PK = keys.CONTROL_PK
    extension_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # deprecated | unpublished | malicious
    replacement = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()


class VersionItem(CatalogItem):
    extension_id = UnicodeAttribute()
    publisher = UnicodeAttribute()
    name = UnicodeAttribute()
    version = UnicodeAttribute()
    target_platform = UnicodeAttribute()
    pre_release = BooleanAttribute(default=False)
    display_name = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    engine = UnicodeAttribute()
    dependencies = ListAttribute(of=UnicodeAttribute, default=list)
    extension_pack = ListAttribute(of=UnicodeAttribute, default=list)
    extension_kind = ListAttribute(of=UnicodeAttribute, default=list)
    categories = ListAttribute(of=UnicodeAttribute, default=list)
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    localized_languages = ListAttribute(of=UnicodeAttribute, default=list)
    enabled_api_proposals = ListAttribute(of=UnicodeAttribute, default=list)
    executes_code = BooleanAttribute(default=True)
    web_extension = BooleanAttribute(default=False)
    license = UnicodeAttribute(null=True)
    repository = UnicodeAttribute(null=True)
    homepage = UnicodeAttribute(null=True)
    bugs = UnicodeAttribute(null=True)
    sha256 = UnicodeAttribute()
    size = NumberAttribute()
    asset_base = UnicodeAttribute()  # key prefix of the public assets: <asset_base>/<assetType>
    assets: MapAttribute[str, str] = MapAttribute(default=dict)  # assetType -> content type
    web_resource_count = NumberAttribute(default=0)
    upload_id = UnicodeAttribute()
    published_by = UnicodeAttribute()
    published_at = UTCDateTimeAttribute()
    signature_key_id = UnicodeAttribute(null=True)  # the repository key that signed it (publishing.signing)
    unpublished_at = UTCDateTimeAttribute(null=True)  # the gallery no longer offers it; the number stays taken
    # held back by the publish-time scan (publishing.scanning): stored, but no reader offers it until it is
    # released (``release_quarantined``); the number is taken either way
    quarantined = BooleanAttribute(default=False)
    quarantine_reason = UnicodeAttribute(null=True)  # the scan's verdict, as the publisher saw it
    confirmed_by = UnicodeAttribute(null=True)  # the namespace owner who confirmed the quarantined version
    approved_by = UnicodeAttribute(null=True)  # the operator who approved it
    released_at = UTCDateTimeAttribute(null=True)  # when it left quarantine

    @staticmethod
    def sort_key(version: str, target_platform: str) -> str:
        return keys.version_key(version, target_platform)


@dataclass(frozen=True)
class NewVersion:
    publisher: str
    name: str
    version: str
    target_platform: str
    pre_release: bool
    engine: str
    sha256: str
    size: int
    asset_base: str
    assets: dict[str, str]
    upload_id: str
    published_by: str
    published_at: datetime
    display_name: str | None = None
    description: str | None = None
    dependencies: list[str] = field(default_factory=list)
    extension_pack: list[str] = field(default_factory=list)
    extension_kind: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    localized_languages: list[str] = field(default_factory=list)
    enabled_api_proposals: list[str] = field(default_factory=list)
    executes_code: bool = True
    web_extension: bool = False
    web_resource_count: int = 0
    license: str | None = None
    repository: str | None = None
    homepage: str | None = None
    bugs: str | None = None
    signature_key_id: str | None = None
    verified: bool = False  # the namespace is verified (publishing.store.NamespaceItem.verified)
    quarantined: bool = False  # held back by the publish-time scan: the summary does not change
    quarantine_reason: str | None = None

    @property
    def extension_id(self) -> str:
        return f"{self.publisher}.{self.name}".lower()


class VersionExists(Exception):
    """That (version, target platform) is published already; ``upload_id`` says by which upload."""

    def __init__(self, upload_id: str) -> None:
        super().__init__(upload_id)
        self.upload_id = upload_id


class ConcurrentChange(Exception):
    """Another writer changed the extension between our read and our write; read again and retry."""


def _bound(model: type[CatalogItem]) -> type[CatalogItem]:
    return bind(model, EXTENSIONS_TABLE)


def get_extension(extension_id: str) -> ExtensionItem | None:
    return get_or_none(ExtensionItem, EXTENSIONS_TABLE, extension_key(extension_id), EXTENSION_SK)


def get_version(extension_id: str, version: str, target_platform: str) -> VersionItem | None:
    return get_or_none(VersionItem, EXTENSIONS_TABLE, extension_key(extension_id),
                       VersionItem.sort_key(version, target_platform))


def versions(extension_id: str) -> list[VersionItem]:
    model = _bound(VersionItem)
    return list(model.query(extension_key(extension_id), VersionItem.sk.startswith(keys.version_prefix()),  # type: ignore[arg-type]
                            consistent_read=True))


def _summary(current: ExtensionItem | None, new: NewVersion) -> ExtensionItem:
    """The extension item after ``new`` is added. Display fields follow the newest release, or the newest
    pre-release while there is no release."""
    model = _bound(ExtensionItem)
    latest = current.latest_version if current else None
    latest_pre = current.latest_prerelease if current else None
    version = Version(new.version)
    if new.pre_release:
        if latest_pre is None or version > Version(latest_pre):
            latest_pre = new.version
        leads = latest is None and latest_pre == new.version
    else:
        if latest is None or version > Version(latest):
            latest = new.version
        leads = latest == new.version
    keep = current is not None and not leads
    item = model(
        extension_key(new.extension_id), EXTENSION_SK,
        extension_id=new.extension_id, publisher=new.publisher, name=new.name,
        display_name=current.display_name if keep and current else new.display_name,
        description=current.description if keep and current else new.description,
        categories=list(current.categories) if keep and current else new.categories,
        tags=list(current.tags) if keep and current else new.tags,
        latest_version=latest, latest_prerelease=latest_pre,
        version_count=(int(current.version_count) if current else 0) + 1,
        created_at=current.created_at if current else new.published_at, updated_at=new.published_at,
        revision=(int(current.revision) if current else 0) + 1,
        deprecated=bool(current.deprecated) if current else False,
        replacement=current.replacement if current else None,
        deprecation_message=current.deprecation_message if current else None,
        featured=bool(current.featured) if current else False,
        malicious=bool(current.malicious) if current else False,
        verified=bool(current.verified) if current else new.verified,
        gsi1pk=keys.namespace_key(new.publisher), gsi1sk=keys.name_key(new.name),
    )
    return item  # type: ignore[return-value]


def record_version(new: NewVersion) -> VersionItem:
    """Write the version and the extension's new summary in one transaction."""
    current = get_extension(new.extension_id)
    version_model = _bound(VersionItem)
    item = version_model(
        extension_key(new.extension_id), VersionItem.sort_key(new.version, new.target_platform),
        extension_id=new.extension_id, publisher=new.publisher, name=new.name, version=new.version,
        target_platform=new.target_platform, pre_release=new.pre_release, display_name=new.display_name,
        description=new.description, engine=new.engine, dependencies=new.dependencies,
        extension_pack=new.extension_pack, extension_kind=new.extension_kind, categories=new.categories,
        tags=new.tags, localized_languages=new.localized_languages,
        enabled_api_proposals=new.enabled_api_proposals, executes_code=new.executes_code,
        web_extension=new.web_extension, license=new.license, repository=new.repository,
        homepage=new.homepage, bugs=new.bugs, sha256=new.sha256, size=new.size, asset_base=new.asset_base,
        assets=new.assets, web_resource_count=new.web_resource_count, upload_id=new.upload_id,
        published_by=new.published_by, published_at=new.published_at, signature_key_id=new.signature_key_id,
        quarantined=new.quarantined, quarantine_reason=new.quarantine_reason,
    )
    if new.quarantined:
        return _record_quarantined(item, new)  # type: ignore[arg-type]
    summary = _summary(current, new)
    summary_condition = (ExtensionItem.pk.does_not_exist() if current is None
                         else ExtensionItem.revision == int(current.revision))
    try:
        with TransactWrite(connection=connection(CatalogItem, EXTENSIONS_TABLE)) as transaction:
            transaction.save(item, condition=VersionItem.sk.does_not_exist())
            transaction.save(summary, condition=summary_condition)
            if current is not None and current.unpublished and not current.malicious:
                _restore_control(transaction, summary, new.published_at)  # it is back in the gallery
            if current is None:
                transaction.save(_bound(UuidPointer)(uuid_key(extension_uuid(new.extension_id)), EXTENSION_SK,
                                                     extension_id=new.extension_id))
    except TransactWriteError as error:
        reasons = [getattr(reason, "code", None) for reason in (error.cancellation_reasons or [])]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            existing = get_version(new.extension_id, new.version, new.target_platform)
            raise VersionExists(existing.upload_id if existing else "") from error
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise ConcurrentChange(new.extension_id) from error
        raise
    return item  # type: ignore[return-value]


def _record_quarantined(item: VersionItem, new: NewVersion) -> VersionItem:
    """A quarantined version is written alone: the summary (latest versions, display fields, the search
    index, which follows the summary) stays as it was until the version is released."""
    try:
        item.save(condition=VersionItem.sk.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            existing = get_version(new.extension_id, new.version, new.target_platform)
            raise VersionExists(existing.upload_id if existing else "") from error
        raise
    return item


def _as_new(item: VersionItem, verified: bool) -> NewVersion:
    return NewVersion(
        publisher=item.publisher, name=item.name, version=item.version, target_platform=item.target_platform,
        pre_release=bool(item.pre_release), engine=item.engine, sha256=item.sha256, size=int(item.size),
        asset_base=item.asset_base, assets=dict(item.assets.as_dict() if hasattr(item.assets, "as_dict")
                                                else item.assets or {}),
        upload_id=item.upload_id, published_by=item.published_by, published_at=item.published_at,
        display_name=item.display_name, description=item.description,
        categories=[str(c) for c in item.categories or []], tags=[str(t) for t in item.tags or []],
        verified=verified)


def quarantined_versions(extension_id: str) -> list[VersionItem]:
    """The versions of ``extension_id`` the scan holds back (not withdrawn), oldest first."""
    return sorted((v for v in versions(extension_id) if v.quarantined and v.unpublished_at is None),
                  key=lambda v: (Version(v.version), v.target_platform))


def note_quarantine_decision(item: VersionItem, *, confirmed_by: str | None = None,
                             approved_by: str | None = None) -> None:
    """Keep an owner's confirmation or an operator's approval on a quarantined version (it stays held)."""
    actions: list[Action] = []
    if confirmed_by is not None:
        actions.append(VersionItem.confirmed_by.set(confirmed_by))
    if approved_by is not None:
        actions.append(VersionItem.approved_by.set(approved_by))
    if actions:
        item.update(actions=actions)


def release_quarantined(item: VersionItem, now: datetime, *, confirmed_by: str | None = None,
                        approved_by: str | None = None, verified: bool = False) -> VersionItem:
    """Take a version out of quarantine: the flag goes and the summary takes it in, in one transaction, as
    ``record_version`` would have (``verified``: the namespace's flag, for an extension's first version).
    ``LookupError`` when it is not (or no longer) quarantined; ``ConcurrentChange`` when the summary moved
    meanwhile."""
    current = get_extension(item.extension_id)
    summary = _summary(current, replace(_as_new(item, verified=verified), published_at=now))
    actions: list[Action] = [VersionItem.quarantined.set(False), VersionItem.released_at.set(now)]
    if confirmed_by is not None:
        actions.append(VersionItem.confirmed_by.set(confirmed_by))
    if approved_by is not None:
        actions.append(VersionItem.approved_by.set(approved_by))
    summary_condition = (ExtensionItem.pk.does_not_exist() if current is None
                         else ExtensionItem.revision == int(current.revision))
    try:
        with TransactWrite(connection=connection(CatalogItem, EXTENSIONS_TABLE)) as transaction:
            transaction.update(item, actions=actions, condition=(VersionItem.quarantined == True)  # noqa: E712
                               & VersionItem.unpublished_at.does_not_exist())
            transaction.save(summary, condition=summary_condition)
            if current is not None and current.unpublished and not current.malicious:
                _restore_control(transaction, summary, now)
            if current is None:
                transaction.save(_bound(UuidPointer)(uuid_key(extension_uuid(item.extension_id)), EXTENSION_SK,
                                                     extension_id=item.extension_id))
    except TransactWriteError as error:
        reasons = [getattr(reason, "code", None) for reason in (error.cancellation_reasons or [])]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            raise LookupError(f"{item.extension_id} {item.version} ({item.target_platform}) is not quarantined") \
                from error
        raise ConcurrentChange(item.extension_id) from error
    item.quarantined = False
    return item


def _newest(candidates: list[VersionItem], pre_release: bool) -> VersionItem | None:
    chosen = [v for v in candidates if bool(v.pre_release) == pre_release]
    return max(chosen, key=lambda v: Version(v.version)) if chosen else None


def unpublish(extension_id: str, version: str | None, target_platform: str | None, now: datetime) -> list[str]:
    """Withdraw one version (all its targets, or one), or every version; the summary follows what remains.
    Returns the ``version@target`` withdrawn. Version numbers stay taken: a withdrawn one cannot return."""
    current = get_extension(extension_id)
    every = versions(extension_id)
    chosen = [v for v in every if v.unpublished_at is None and (version is None or v.version == version)
              and (target_platform is None or v.target_platform == target_platform)]
    if current is None:
        if not chosen or not all(v.quarantined for v in chosen):
            raise LookupError(f"extension {extension_id} does not exist")
        for held in chosen[:99]:  # a held first version: nothing else of the extension is visible
            held.update(actions=[VersionItem.unpublished_at.set(now)])
        return [f"{v.version}@{v.target_platform}" for v in chosen[:99]]
    if not chosen:
        raise LookupError(f"{extension_id} has no published version matching that")
    keys = {v.sk for v in chosen}
    remaining = [v for v in every if v.unpublished_at is None and not v.quarantined and v.sk not in keys]
    release, pre = _newest(remaining, False), _newest(remaining, True)
    leader = release or pre
    summary: list[Action] = [
        ExtensionItem.latest_version.set(release.version) if release else ExtensionItem.latest_version.remove(),
        ExtensionItem.latest_prerelease.set(pre.version) if pre else ExtensionItem.latest_prerelease.remove(),
        ExtensionItem.unpublished.set(not remaining), ExtensionItem.updated_at.set(now),
        ExtensionItem.revision.set(int(current.revision) + 1),
    ]
    if leader is not None:
        summary += [ExtensionItem.display_name.set(leader.display_name), ExtensionItem.description.set(
            leader.description), ExtensionItem.categories.set(list(leader.categories)),
            ExtensionItem.tags.set(list(leader.tags))]
    try:
        with TransactWrite(connection=connection(CatalogItem, EXTENSIONS_TABLE)) as transaction:
            for item in chosen[:99]:
                transaction.update(item, actions=[VersionItem.unpublished_at.set(now)],
                                   condition=VersionItem.unpublished_at.does_not_exist())
            transaction.update(current, actions=summary, condition=ExtensionItem.revision == int(current.revision))
    except TransactWriteError as error:
        raise ConcurrentChange(extension_id) from error
    if not remaining and not current.malicious:
        # after the transaction, which may already hold the 100 items DynamoDB allows
        _control(extension_id, "unpublished", now).save()
    return [f"{v.version}@{v.target_platform}" for v in chosen[:99]]


def _control(extension_id: str, kind: str | None = None, now: datetime | None = None, *,
             replacement: str | None = None, message: str | None = None) -> ControlEntry:
    """The control entry of ``extension_id``: its key only, or, with ``kind``, the whole entry to save."""
    if kind is None:
        return _bound(ControlEntry)(ControlEntry.PK, extension_key(extension_id))  # type: ignore[return-value]
    return _bound(ControlEntry)(ControlEntry.PK, extension_key(extension_id),  # type: ignore[return-value]
                                extension_id=extension_id, kind=kind, replacement=replacement, message=message,
                                updated_at=now)


def set_malicious(extension_id: str, malicious: bool, reason: str | None, now: datetime) -> None:
    """Block an extension everywhere (it leaves the gallery, and editors refuse to install it and offer to
    remove it), or lift the block: the control entry then says what still applies."""
    current = get_extension(extension_id)
    if current is None:
        raise LookupError(f"extension {extension_id} does not exist")
    with TransactWrite(connection=connection(CatalogItem, EXTENSIONS_TABLE)) as transaction:
        transaction.update(current, actions=[ExtensionItem.malicious.set(malicious),
                                             ExtensionItem.updated_at.set(now), ExtensionItem.revision.add(1)])
        if malicious:
            transaction.save(_control(extension_id, "malicious", now, message=reason))
        else:
            _restore_control(transaction, current, now)


def mark_malicious(extension_id: str, reason: str | None, now: datetime) -> None:
    set_malicious(extension_id, True, reason, now)


def clear_malicious(extension_id: str, now: datetime) -> None:
    set_malicious(extension_id, False, None, now)


def _restore_control(transaction: TransactWrite, current: ExtensionItem, now: datetime) -> None:
    """After a flag is cleared, the control entry says what still applies (or goes)."""
    if current.unpublished:
        transaction.save(_control(current.extension_id, "unpublished", now))
    elif current.deprecated:
        transaction.save(_control(current.extension_id, "deprecated", now, replacement=current.replacement,
                                  message=current.deprecation_message))
    else:
        transaction.delete(_control(current.extension_id))


def deprecate(extension_id: str, replacement: str | None, message: str | None, now: datetime) -> None:
    """Mark an extension deprecated, optionally naming the extension to use instead."""
    current = get_extension(extension_id)
    if current is None:
        raise LookupError(f"extension {extension_id} does not exist")
    with TransactWrite(connection=connection(CatalogItem, EXTENSIONS_TABLE)) as transaction:
        transaction.update(current, actions=[
            ExtensionItem.deprecated.set(True),
            ExtensionItem.replacement.set(replacement) if replacement else ExtensionItem.replacement.remove(),
            ExtensionItem.deprecation_message.set(message) if message else ExtensionItem.deprecation_message.remove(),
            ExtensionItem.updated_at.set(now), ExtensionItem.revision.add(1)])
        if not current.malicious and not current.unpublished:
            transaction.save(_control(extension_id, "deprecated", now, replacement=replacement, message=message))


def undeprecate(extension_id: str, now: datetime) -> None:
    current = get_extension(extension_id)
    if current is None:
        raise LookupError(f"extension {extension_id} does not exist")
    with TransactWrite(connection=connection(CatalogItem, EXTENSIONS_TABLE)) as transaction:
        transaction.update(current, actions=[ExtensionItem.deprecated.set(False), ExtensionItem.replacement.remove(),
                                             ExtensionItem.deprecation_message.remove(),
                                             ExtensionItem.updated_at.set(now), ExtensionItem.revision.add(1)])
        current.deprecated = False
        if not current.malicious:
            _restore_control(transaction, current, now)


def _set_flag(extension_id: str, attribute: BooleanAttribute, value: bool) -> None:
    """Set an operator's flag; the revision moves so a concurrent ``record_version`` re-reads the summary
    (which keeps the flag) instead of overwriting it."""
    current = get_extension(extension_id)
    if current is None:
        raise LookupError(f"extension {extension_id} does not exist")
    try:
        current.update(actions=[attribute.set(value), ExtensionItem.revision.add(1)],
                       condition=ExtensionItem.pk.exists())
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise LookupError(f"extension {extension_id} does not exist") from error
        raise


def set_featured(extension_id: str, featured: bool) -> None:
    """Feature an extension (the gallery's Featured filter) or stop featuring it."""
    _set_flag(extension_id, ExtensionItem.featured, featured)


def set_verified(extension_id: str, verified: bool) -> None:
    """Mark the extension's namespace verified (or not); ``publishing.service.verify_namespace`` calls this
    for every extension of the namespace."""
    _set_flag(extension_id, ExtensionItem.verified, verified)
