"""The files a package's manifests point at: which entries to keep in memory while inspecting, the declared
assets (each present and within its cap), the icon (PNG or JPEG by its bytes) and the README/CHANGELOG links."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from marketplace.publishing.manifest.vsixmanifest import (
    ASSET_CHANGELOG,
    ASSET_DETAILS,
    ASSET_ICON,
    ASSET_LICENSE,
    ASSET_MANIFEST,
    ASSET_VSIXMANIFEST,
    VsixManifest,
)
from marketplace.publishing.vsix import (
    EXTENSION_DIR,
    MANIFEST_NAME,
    PACKAGE_JSON_NAME,
    Archive,
    MiB,
    Rejected,
    check_path,
    read_entry,
    show,
)

MANIFEST_MAX_BYTES = MiB
DOC_MAX_BYTES = 5 * MiB
ICON_MAX_BYTES = MiB
DOC_ASSETS = (ASSET_DETAILS, ASSET_CHANGELOG, ASSET_LICENSE)
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_DOC_PREFIXES = ("readme", "changelog", "license", "licence")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_MD_IMAGE = re.compile(r"!\[[^\]\n]*\]\(\s*<?([^\s)>]+)")
_HTML_IMAGE = re.compile(r"<(?:img|video|source)\b[^>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]+)", re.IGNORECASE)
_MD_LINK = re.compile(r"\]\(\s*<?([^\s)>]+)")
_HTML_LINK = re.compile(r"\bhref\s*=\s*[\"']?([^\"'\s>]+)", re.IGNORECASE)
_MD_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*<?([^\s>]+)", re.MULTILINE)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_DANGEROUS_SCHEMES = frozenset({"javascript", "vbscript", "data", "file"})


def wanted(name: str) -> int | None:
    """The ``keep`` policy for ``inspect_archive``: which entries to hold in memory, and up to what size.

    The two manifests; README/CHANGELOG/LICENSE files at the root of ``extension/``; and PNG/JPEG images
    outside ``node_modules`` (one of them is the icon). Anything referenced but not kept is read again.
    """
    if name in (MANIFEST_NAME, PACKAGE_JSON_NAME):
        return MANIFEST_MAX_BYTES
    if not name.startswith(EXTENSION_DIR) or name.endswith("/"):
        return None
    rest = name[len(EXTENSION_DIR):]
    lowered = rest.lower()
    if "/" not in rest and lowered.startswith(_DOC_PREFIXES):
        return DOC_MAX_BYTES
    if lowered.endswith(_IMAGE_SUFFIXES) and "node_modules" not in rest.split("/"):
        return ICON_MAX_BYTES
    return None


def manifest_bytes(archive: Archive, name: str) -> bytes:
    entry = archive.get(name)
    if entry is None or entry.is_dir:
        raise Rejected("manifest.missing", f"the package has no {name}; package the extension with vsce")
    if entry.size > MANIFEST_MAX_BYTES:
        raise Rejected("manifest.too_large", f"{name} is {entry.size} bytes; at most {MANIFEST_MAX_BYTES} are allowed")
    return read_entry(archive, name, MANIFEST_MAX_BYTES)



def _asset_bytes(archive: Archive, kind: str, name: str, cap: int) -> bytes:
    entry = archive.get(name)
    if entry is None or entry.is_dir:
        raise Rejected("manifest.asset_missing", f"{MANIFEST_NAME} lists the asset {kind} at {show(name)}, which is "
                                                 f"not in the package")
    if entry.size > cap:
        raise Rejected("manifest.asset_too_large", f"{show(name)} ({kind}) is {entry.size} bytes; at most {cap} are "
                                                   f"allowed")
    return read_entry(archive, name, cap)


def _icon_entry(pkg: Mapping[str, Any], declared: str | None) -> str | None:
    icon = pkg.get("icon")
    if icon is None:
        return declared
    if not isinstance(icon, str) or not icon:
        raise Rejected("manifest.icon", 'package.json "icon" must be a path to a PNG or JPEG file in the package')
    relative = icon
    while relative.startswith("./"):
        relative = relative[2:]
    entry = EXTENSION_DIR + relative
    try:
        check_path(entry, what="icon")
    except Rejected as error:
        raise Rejected("manifest.icon", f'package.json "icon" ({show(icon)}) must be a relative path inside the '
                                        f"extension folder: {error.reason}") from None
    if declared is not None and declared != entry:
        raise Rejected("manifest.icon", f'package.json "icon" ({show(icon)}) and the {MANIFEST_NAME} icon asset '
                                        f"({show(declared)}) disagree")
    return entry


def _check_icon(name: str, data: bytes) -> None:
    if name.lower().endswith(".svg") or data.lstrip()[:5].lower() in (b"<svg ", b"<?xml"):
        raise Rejected("manifest.icon", f"the icon {show(name)} is an SVG; icons must be PNG or JPEG")
    if not name.lower().endswith(_IMAGE_SUFFIXES):
        raise Rejected("manifest.icon", f"the icon {show(name)} must be a .png, .jpg or .jpeg file")
    if not (data.startswith(_PNG_MAGIC) or data.startswith(_JPEG_MAGIC)):
        raise Rejected("manifest.icon", f"the icon {show(name)} is not a PNG or JPEG image")


def check_markdown(name: str, data: bytes) -> None:
    """README/CHANGELOG: images only from https (or relative), no script/data/file links (vsce's rules)."""
    text = data.decode("utf-8", errors="replace")
    for pattern, image in ((_MD_IMAGE, True), (_HTML_IMAGE, True), (_MD_LINK, False), (_HTML_LINK, False),
                           (_MD_REFERENCE, False)):
        for match in pattern.finditer(text):
            target = match[1].strip().strip("\"'")
            scheme_match = _SCHEME.match(target)
            scheme = scheme_match[1].lower() if scheme_match else ""
            if scheme in _DANGEROUS_SCHEMES or (image and scheme and scheme != "https"):
                kind = "images must come from https:// URLs" if image else "links must not use script/data/file URLs"
                raise Rejected("manifest.readme", f"{show(name)} references {show(target, 80)}; {kind}")



def resolve_assets(archive: Archive, xml: VsixManifest, pkg: Mapping[str, Any], vsix_data: bytes,
                   pkg_data: bytes) -> tuple[dict[str, str], dict[str, bytes], str | None]:
    declared_manifest = xml.assets.get(ASSET_MANIFEST, PACKAGE_JSON_NAME)
    if declared_manifest != PACKAGE_JSON_NAME:
        raise Rejected("manifest.mismatch", f"{MANIFEST_NAME} points its Code.Manifest asset at "
                                            f"{show(declared_manifest)}; it must be {PACKAGE_JSON_NAME}")
    assets = {kind: path for kind, path in xml.assets.items() if kind != ASSET_ICON}
    assets[ASSET_MANIFEST] = PACKAGE_JSON_NAME
    assets[ASSET_VSIXMANIFEST] = MANIFEST_NAME
    for kind, path in assets.items():
        entry = archive.get(path)
        if entry is None or entry.is_dir:
            raise Rejected("manifest.asset_missing", f"{MANIFEST_NAME} lists the asset {kind} at {show(path)}, which "
                                                     f"is not in the package")
    asset_bytes = {ASSET_MANIFEST: pkg_data, ASSET_VSIXMANIFEST: vsix_data}
    for kind in DOC_ASSETS:
        if kind in assets:
            asset_bytes[kind] = _asset_bytes(archive, kind, assets[kind], DOC_MAX_BYTES)
            if kind != ASSET_LICENSE:
                check_markdown(assets[kind], asset_bytes[kind])
    icon = _icon_entry(pkg, xml.assets.get(ASSET_ICON))
    if icon is not None:
        entry = archive.get(icon)
        if entry is None or entry.is_dir:
            raise Rejected("manifest.icon", f"the icon {show(icon)} is not in the package")
        if entry.size > ICON_MAX_BYTES:
            raise Rejected("manifest.icon", f"the icon {show(icon)} is {entry.size} bytes; at most {ICON_MAX_BYTES} "
                                            f"are allowed")
        data = read_entry(archive, icon, ICON_MAX_BYTES)
        _check_icon(icon, data)
        assets[ASSET_ICON] = icon
        asset_bytes[ASSET_ICON] = data
    return assets, asset_bytes, icon


def web_resource_names(entries: Iterable[Any]) -> tuple[str, ...]:
    return tuple(e.name for e in entries if not e.is_dir and e.name.startswith(EXTENSION_DIR))

