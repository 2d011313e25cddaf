"""Data access for the extensions table (the only module that touches it).

| item      | pk                  | sk                              | gsi1pk        | gsi1sk          |
|-----------|---------------------|---------------------------------|---------------|-----------------|
| extension | ``EXT#<pub>.<name>`` | ``EXTENSION``                   | ``NS#<pub>``  | ``EXT#<name>``  |
| version   | ``EXT#<pub>.<name>`` | ``VERSION#<version>#<target>``  |               |                 |

Ids are lower-cased ``publisher.name``; display casing is kept in attributes. A version and the
extension's summary are written in one transaction: the version only if it does not exist (versions are
immutable), the summary only if nobody changed it since it was read (optimistic concurrency).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from marketplace.catalog.semver import Version
from marketplace.platform.dynamo import bind
from marketplace.platform.resources import EXTENSIONS_TABLE

EXTENSION_SK = "EXTENSION"


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
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)


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

    @staticmethod
    def sort_key(version: str, target_platform: str) -> str:
        return f"VERSION#{version}#{target_platform}"


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
    bind(CatalogItem, EXTENSIONS_TABLE)
    return bind(model, EXTENSIONS_TABLE)


def extension_key(extension_id: str) -> str:
    return f"EXT#{extension_id.lower()}"


def get_extension(extension_id: str) -> ExtensionItem | None:
    model = _bound(ExtensionItem)
    try:
        return model.get(extension_key(extension_id), EXTENSION_SK, consistent_read=True)  # type: ignore[return-value]
    except DoesNotExist:
        return None


def get_version(extension_id: str, version: str, target_platform: str) -> VersionItem | None:
    model = _bound(VersionItem)
    try:
        return model.get(extension_key(extension_id), VersionItem.sort_key(version, target_platform),  # type: ignore[return-value]
                         consistent_read=True)
    except DoesNotExist:
        return None


def versions(extension_id: str) -> list[VersionItem]:
    model = _bound(VersionItem)
    return list(model.query(extension_key(extension_id), VersionItem.sk.startswith("VERSION#"),  # type: ignore[arg-type]
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
        gsi1pk=f"NS#{new.publisher.lower()}", gsi1sk=f"EXT#{new.name.lower()}",
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
        published_by=new.published_by, published_at=new.published_at,
    )
    summary = _summary(current, new)
    summary_condition = (ExtensionItem.pk.does_not_exist() if current is None
                         else ExtensionItem.revision == int(current.revision))
    connection: Connection = _bound(CatalogItem)._get_connection().connection
    try:
        with TransactWrite(connection=connection) as transaction:
            transaction.save(item, condition=VersionItem.sk.does_not_exist())
            transaction.save(summary, condition=summary_condition)
    except TransactWriteError as error:
        reasons = [getattr(reason, "code", None) for reason in (error.cancellation_reasons or [])]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            existing = get_version(new.extension_id, new.version, new.target_platform)
            raise VersionExists(existing.upload_id if existing else "") from error
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise ConcurrentChange(new.extension_id) from error
        raise
    return item  # type: ignore[return-value]
