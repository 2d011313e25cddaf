"""``read_package``: both manifests of an inspected package, validated field by field and against each other,
as the ``PackageInfo`` the marketplace publishes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marketplace.catalog.ids import TARGET_PLATFORMS, UNIVERSAL, WEB_EXTENSION_TAG
from marketplace.publishing.manifest.assets import manifest_bytes, resolve_assets, web_resource_names
from marketplace.publishing.manifest.fields import (
    API_PROPOSAL,
    MAX_CATEGORIES,
    MAX_DEPENDENCIES,
    MAX_DESCRIPTION,
    MAX_DISPLAY_NAME,
    MAX_KEYWORDS,
    MAX_TAG_LENGTH,
    check_engine,
    check_text,
    check_version,
    extension_ids,
    extension_kinds,
    identifier,
    localized_languages,
    strings,
    typed,
)
from marketplace.publishing.manifest.package_json import parse_package_json
from marketplace.publishing.manifest.presentation import license_of, links, presentation
from marketplace.publishing.manifest.vsixmanifest import (
    ASSET_LICENSE,
    PROPERTY_ENGINE,
    PROPERTY_PRE_RELEASE,
    parse_vsixmanifest,
)
from marketplace.publishing.vsix import MANIFEST_NAME, PACKAGE_JSON_NAME, Archive, Rejected, show


@dataclass(frozen=True)
class Expected:
    """What the publisher declared for this upload; any field left None is not compared."""

    publisher: str | None = None
    name: str | None = None
    version: str | None = None
    target_platform: str | None = None
    pre_release: bool | None = None


@dataclass(frozen=True)
class PackageInfo:
    publisher: str  # as written (vsce allows mixed case); ``namespace`` is the lower-cased form
    name: str
    version: str
    target_platform: str  # "universal" when the vsixmanifest names none
    pre_release: bool
    engine: str  # engines.vscode
    display_name: str  # displayName, else name
    description: str
    categories: tuple[str, ...]
    keywords: tuple[str, ...]
    tags: tuple[str, ...]  # keywords, plus "__web_extension" for web extensions
    dependencies: tuple[str, ...]  # extensionDependencies, de-duplicated
    extension_pack: tuple[str, ...]
    extension_kind: tuple[str, ...]  # as vsce computes it (package.json extensionKind, or deduced)
    localized_languages: tuple[str, ...]
    enabled_api_proposals: tuple[str, ...]
    executes_code: bool  # main or browser present
    web_extension: bool
    preview: bool
    repository: str | None
    homepage: str | None
    bugs: str | None
    qna: str | bool | None  # "marketplace", False, a URL, or None
    sponsor_link: str | None
    license: str | None  # package.json "license" (SPDX expression or "SEE LICENSE IN ...")
    markdown: str | None
    gallery_color: str | None
    gallery_theme: str | None
    pricing: str | None
    icon: str | None  # entry name of the icon
    assets: Mapping[str, str]  # asset type -> entry name
    asset_bytes: Mapping[str, bytes]  # Manifest, VsixManifest, Details, Changelog, License, Icons.Default
    web_resources: tuple[str, ...]  # entry names to serve under WebResources (web extensions only)
    package_json: Mapping[str, Any]

    @property
    def namespace(self) -> str:
        return self.publisher.lower()

    @property
    def extension(self) -> str:
        return self.name.lower()

    @property
    def id(self) -> str:
        return f"{self.namespace}.{self.extension}"



def read_package(archive: Archive, *, expected: Expected | None = None, require_license: bool = False) -> PackageInfo:
    """Validate the manifests of an inspected package and return what the marketplace publishes."""
    vsix_data = manifest_bytes(archive, MANIFEST_NAME)
    pkg_data = manifest_bytes(archive, PACKAGE_JSON_NAME)
    xml = parse_vsixmanifest(vsix_data)
    pkg = parse_package_json(pkg_data)

    publisher = identifier(pkg.get("publisher"), "publisher", "manifest.publisher")
    name = identifier(pkg.get("name"), "name", "manifest.name")
    version = check_version(pkg.get("version"))
    for field, ours, theirs in (("publisher", publisher, xml.publisher), ("name", name, xml.name),
                                ("version", version, xml.version)):
        if ours != theirs:
            attribute = {"publisher": "Publisher", "name": "Id", "version": "Version"}[field]
            raise Rejected("manifest.mismatch", f'package.json "{field}" ({show(ours)}) and the {MANIFEST_NAME} '
                                                f"Identity {attribute} ({show(theirs)}) must be equal")
    target = UNIVERSAL if xml.target_platform is None else xml.target_platform
    if target not in TARGET_PLATFORMS:
        raise Rejected("manifest.target_platform", f"{MANIFEST_NAME} names the target platform {show(target)}; "
                                                   f"allowed are {', '.join(sorted(TARGET_PLATFORMS))}")
    pre_release_value = xml.properties.get(PROPERTY_PRE_RELEASE)
    if pre_release_value not in (None, "true", "false"):
        raise Rejected("manifest.field", f"{MANIFEST_NAME} property {PROPERTY_PRE_RELEASE} must be \"true\" or "
                                         f"absent, not {show(pre_release_value)}")
    pre_release = pre_release_value == "true"
    engine = check_engine(pkg)
    declared_engine = xml.properties.get(PROPERTY_ENGINE)
    if declared_engine is not None and declared_engine != engine:
        raise Rejected("manifest.mismatch", f'package.json "engines.vscode" ({show(engine)}) and the {MANIFEST_NAME} '
                                            f"property {PROPERTY_ENGINE} ({show(declared_engine)}) must be equal")

    display_name = typed(pkg, "displayName", str, "a string")
    description = typed(pkg, "description", str, "a string") or ""
    check_text(display_name or "", '"displayName"', MAX_DISPLAY_NAME)
    check_text(description, '"description"', MAX_DESCRIPTION, allow_zwj=True)
    categories = strings(pkg, "categories", MAX_CATEGORIES, MAX_TAG_LENGTH)
    keywords = strings(pkg, "keywords", MAX_KEYWORDS, MAX_TAG_LENGTH)
    for key in ("main", "browser"):
        if typed(pkg, key, str, "a path to the extension's entry point") == "":
            raise Rejected("manifest.field", f'package.json "{key}" must not be empty')
    self_id = f"{publisher}.{name}".lower()
    dependencies = extension_ids(pkg, "extensionDependencies", self_id)
    extension_pack = extension_ids(pkg, "extensionPack", self_id)
    extension_kind = extension_kinds(pkg)
    proposals = typed(pkg, "enabledApiProposals", list, "a list of API proposal names") or []
    if len(proposals) > MAX_DEPENDENCIES or not all(isinstance(p, str) and API_PROPOSAL.fullmatch(p)
                                                    for p in proposals):
        raise Rejected("manifest.field", 'package.json "enabledApiProposals" must be a list of proposal names '
                                         "(letters, digits, _ . @ -)")
    repository, homepage, bugs, qna, sponsor_link = links(pkg)
    markdown, color, theme, pricing, preview = presentation(pkg)
    license_value = license_of(pkg)
    web = "web" in extension_kind

    assets, asset_bytes, icon = resolve_assets(archive, xml, pkg, vsix_data, pkg_data)
    if require_license and license_value is None and ASSET_LICENSE not in assets:
        raise Rejected("manifest.license", 'the package has no license: set package.json "license" and include a '
                                           "LICENSE file")
    info = PackageInfo(
        publisher=publisher, name=name, version=version, target_platform=target, pre_release=pre_release,
        engine=engine, display_name=display_name or name, description=description, categories=categories,
        keywords=keywords, tags=tuple(dict.fromkeys([*keywords, *([WEB_EXTENSION_TAG] if web else [])])),
        dependencies=dependencies, extension_pack=extension_pack, extension_kind=extension_kind,
        localized_languages=localized_languages(pkg), enabled_api_proposals=tuple(proposals),
        executes_code=bool(pkg.get("main") or pkg.get("browser")), web_extension=web, preview=preview,
        repository=repository, homepage=homepage, bugs=bugs, qna=qna, sponsor_link=sponsor_link,
        license=license_value, markdown=markdown, gallery_color=color, gallery_theme=theme, pricing=pricing,
        icon=icon, assets=assets, asset_bytes=asset_bytes,
        web_resources=web_resource_names(archive.entries) if web else (), package_json=pkg,
    )
    if expected is not None:
        _compare(info, expected)
    return info



def _compare(info: PackageInfo, expected: Expected) -> None:
    checks: list[tuple[str, object, object]] = [
        ("publisher", expected.publisher, info.publisher),
        ("name", expected.name, info.name),
        ("version", expected.version, info.version),
        ("target platform", expected.target_platform, info.target_platform),
        ("pre-release flag", expected.pre_release, info.pre_release),
    ]
    for field, want, have in checks:
        if want is None:
            continue
        same = want.lower() == have.lower() if isinstance(want, str) and isinstance(have, str) and field in (
            "publisher", "name") else want == have
        if not same:
            raise Rejected("manifest.mismatch", f"the upload was declared with {field} {want!r} but the package says "
                                                f"{have!r}")
