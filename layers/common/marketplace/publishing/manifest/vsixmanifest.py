"""``extension.vsixmanifest``: the XML package manifest vsce writes (identity, properties, assets), parsed with
DTDs, entities and external references refused."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring as parse_xml  # type: ignore[import-untyped]

from marketplace.publishing.vsix import MANIFEST_NAME, Rejected, show

VSIX_NAMESPACE = "http://schemas.microsoft.com/developer/vsx-schema/2011"

ASSET_MANIFEST = "Microsoft.VisualStudio.Code.Manifest"
ASSET_DETAILS = "Microsoft.VisualStudio.Services.Content.Details"
ASSET_CHANGELOG = "Microsoft.VisualStudio.Services.Content.Changelog"
ASSET_LICENSE = "Microsoft.VisualStudio.Services.Content.License"
ASSET_ICON = "Microsoft.VisualStudio.Services.Icons.Default"
ASSET_VSIXMANIFEST = "Microsoft.VisualStudio.Services.VsixManifest"
PROPERTY_PRE_RELEASE = "Microsoft.VisualStudio.Code.PreRelease"
PROPERTY_ENGINE = "Microsoft.VisualStudio.Code.Engine"

MAX_ASSETS = 512
ASSET_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,127}")


@dataclass(frozen=True)
class VsixManifest:
    publisher: str
    name: str
    version: str
    target_platform: str | None
    properties: Mapping[str, str]
    assets: Mapping[str, str]



def _attribute(element: Element, attribute: str, where: str, *, required: bool = True) -> str | None:
    value = element.get(attribute)
    if value is None and required:
        raise Rejected("manifest.xml_invalid", f"{MANIFEST_NAME}: {where} has no {attribute} attribute")
    return value


def parse_vsixmanifest(data: bytes) -> VsixManifest:
    try:
        root: Element = parse_xml(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise Rejected("manifest.xml_forbidden", f"{MANIFEST_NAME} declares a DTD or entities, which are not "
                                                 f"allowed; write it as vsce does") from None
    except (ParseError, ValueError, LookupError, UnicodeError) as error:
        raise Rejected("manifest.xml_invalid", f"{MANIFEST_NAME} is not well-formed XML ({error})") from None
    namespace = f"{{{VSIX_NAMESPACE}}}" if root.tag.startswith("{") else ""
    if root.tag != f"{namespace}PackageManifest":
        raise Rejected("manifest.xml_invalid", f"{MANIFEST_NAME} is not a VSIX package manifest (root element "
                                               f"{show(root.tag)})")
    identity = root.find(f"{namespace}Metadata/{namespace}Identity")
    if identity is None:
        raise Rejected("manifest.xml_invalid", f"{MANIFEST_NAME} has no Metadata/Identity element")
    properties: dict[str, str] = {}
    for node in root.iterfind(f"{namespace}Metadata/{namespace}Properties/{namespace}Property"):
        key = _attribute(node, "Id", "a Property") or ""
        if key in properties:
            raise Rejected("manifest.xml_invalid", f"{MANIFEST_NAME} declares the property {show(key)} twice")
        properties[key] = node.get("Value", "")
    assets: dict[str, str] = {}
    for count, node in enumerate(root.iterfind(f"{namespace}Assets/{namespace}Asset")):
        kind = _attribute(node, "Type", "an Asset") or ""
        path = _attribute(node, "Path", "an Asset") or ""
        if count >= MAX_ASSETS or not ASSET_TYPE.fullmatch(kind):
            raise Rejected("manifest.xml_invalid", f"{MANIFEST_NAME} declares an invalid asset type {show(kind)} "
                                                   f"(or more than {MAX_ASSETS} assets)")
        if kind in assets:
            raise Rejected("manifest.xml_invalid", f"{MANIFEST_NAME} declares the asset {kind} twice")
        assets[kind] = path
    return VsixManifest(
        publisher=_attribute(identity, "Publisher", "Identity") or "",
        name=_attribute(identity, "Id", "Identity") or "",
        version=_attribute(identity, "Version", "Identity") or "",
        target_platform=identity.get("TargetPlatform"),
        properties=properties,
        assets=assets,
    )

