"""Build VSIX files for tests: realistic vsce-like packages, and hostile ones byte by byte.

Normal packages::

    build_vsix(tmp_path / "a.vsix")                                   # somepub.hello 1.0.0, universal
    build_vsix(path, target_platform="linux-x64", pre_release=True, icon=True)
    build_vsix(path, package_json_overrides={"engines": {"vscode": "~1"}})   # None deletes a key

They match what ``vsce package`` (yazl) writes: ``extension.vsixmanifest`` first (rendered from the
package.json the way vsce's template does), ``[Content_Types].xml``, then ``extension/package.json``,
``extension/extension.js``, ``extension/readme.md``, ``extension/changelog.md``, ``extension/LICENSE.txt``
(and the icon); UTF-8 name flag on every entry, no extra fields, data descriptors on the files vsce streams
from disk.

Hostile packages: every ``HOSTILE_CASES`` item builds one class of bad input and names the rejection code
``inspect_archive``/``read_package`` must give; the builders are plain functions ``(path) -> Path`` that can
be reused directly. ``ZipWriter`` + ``RawEntry`` write any zip structure (lying sizes, shared data, odd flags,
extra fields, symlinks ...) when a new case is needed.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import lzma
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
UTF8_FLAG = 0x0800
DESCRIPTOR_FLAG = 0x0008
# yazl: "version made by" 6.3 on Unix; needs 2.0
VERSION_MADE_BY = (3 << 8) | 63
VERSION_NEEDED = 20
DOS_TIME, DOS_DATE = 0x6000, 0x5B38  # 2025-09-24 12:00:00

MANIFEST = "Microsoft.VisualStudio.Code.Manifest"
DETAILS = "Microsoft.VisualStudio.Services.Content.Details"
CHANGELOG = "Microsoft.VisualStudio.Services.Content.Changelog"
LICENSE = "Microsoft.VisualStudio.Services.Content.License"
ICON = "Microsoft.VisualStudio.Services.Icons.Default"


# ------------------------------------------------------------------------------------------ raw writer


@dataclass(frozen=True)
class RawEntry:
    """One zip entry, with every header field overridable. ``None`` means "the true value"."""

    name: str | bytes
    data: bytes = b""
    method: int = DEFLATED
    payload: bytes | None = None  # the bytes after the local header; default: ``data`` compressed by ``method``
    flags: int = UTF8_FLAG
    descriptor: bool = False  # bit 3: local CRC/sizes zero, a data descriptor follows the data
    descriptor_signature: bool = True
    mode: int = 0o100644  # Unix mode; external attributes = mode << 16 | dos_attr
    dos_attr: int = 0
    create_system: int = 3
    extra: bytes = b""
    local_extra: bytes | None = None
    comment: bytes = b""
    crc: int | None = None  # declared in both headers
    compressed_size: int | None = None
    size: int | None = None
    local_name: bytes | None = None
    local_flags: int | None = None
    local_method: int | None = None
    local_crc: int | None = None
    local_compressed_size: int | None = None
    local_size: int | None = None
    disk: int = 0


def compress(data: bytes, method: int) -> bytes:
    if method == STORED:
        return data
    if method == DEFLATED:
        deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        return deflater.compress(data) + deflater.flush()
    if method == BZIP2:
        return bz2.compress(data)
    if method == LZMA:
        return lzma.compress(data, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}])
    raise ValueError(f"no compressor for method {method}")


def extra_field(header_id: int, body: bytes = b"") -> bytes:
    return struct.pack("<HH", header_id, len(body)) + body


class ZipWriter:
    """Appends local entries, raw bytes and central records, then an end record: full control of the layout."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.central: list[bytes] = []
        self.offsets: dict[bytes, int] = {}

    def raw(self, data: bytes) -> None:
        self.buffer += data

    def add(self, entry: RawEntry, *, central: bool = True) -> int:
        """Write the local header, data (and descriptor); add the central record. Returns the header offset."""
        name = entry.name.encode() if isinstance(entry.name, str) else entry.name
        payload = entry.payload if entry.payload is not None else compress(entry.data, entry.method)
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        csize = len(payload) if entry.compressed_size is None else entry.compressed_size
        size = len(entry.data) if entry.size is None else entry.size
        flags = entry.flags | (DESCRIPTOR_FLAG if entry.descriptor else 0)
        hidden = entry.descriptor
        local = (
            entry.local_crc if entry.local_crc is not None else (0 if hidden else crc),
            entry.local_compressed_size if entry.local_compressed_size is not None else (0 if hidden else csize),
            entry.local_size if entry.local_size is not None else (0 if hidden else size),
        )
        local_name = name if entry.local_name is None else entry.local_name
        local_extra = entry.extra if entry.local_extra is None else entry.local_extra
        offset = len(self.buffer)
        self.buffer += struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", VERSION_NEEDED,
            flags if entry.local_flags is None else entry.local_flags,
            entry.method if entry.local_method is None else entry.local_method,
            DOS_TIME, DOS_DATE, *local, len(local_name), len(local_extra),
        )
        self.buffer += local_name + local_extra + payload
        if entry.descriptor:
            descriptor = struct.pack("<III", crc, csize, size)
            self.buffer += (b"PK\x07\x08" + descriptor) if entry.descriptor_signature else descriptor
        self.offsets[name] = offset
        if central:
            self.add_central(entry, offset)
        return offset

    def add_central(self, entry: RawEntry, header_offset: int) -> None:
        """A central record for ``entry`` pointing at ``header_offset`` (which may be another entry's)."""
        name = entry.name.encode() if isinstance(entry.name, str) else entry.name
        payload = entry.payload if entry.payload is not None else compress(entry.data, entry.method)
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        csize = len(payload) if entry.compressed_size is None else entry.compressed_size
        size = len(entry.data) if entry.size is None else entry.size
        flags = entry.flags | (DESCRIPTOR_FLAG if entry.descriptor else 0)
        external = ((entry.mode & 0xFFFF) << 16) | entry.dos_attr
        self.central.append(struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", (entry.create_system << 8) | 63, VERSION_NEEDED, flags,
            entry.method, DOS_TIME, DOS_DATE, crc, csize, size, len(name), len(entry.extra), len(entry.comment),
            entry.disk, 0, external, header_offset,
        ) + name + entry.extra + entry.comment)

    def finish(self, *, comment: bytes = b"", entries: int | None = None, cd_size: int | None = None,
               cd_offset: int | None = None, disk: int = 0, zip64_locator: bool = False) -> bytes:
        """The whole file: central directory and end record appended (fields overridable)."""
        start = len(self.buffer)
        directory = b"".join(self.central)
        out = bytes(self.buffer) + directory
        if zip64_locator:
            out += b"PK\x06\x07" + struct.pack("<IQI", 0, len(out), 1)
        count = len(self.central) if entries is None else entries
        out += struct.pack(
            "<4sHHHHIIH", b"PK\x05\x06", disk, disk, count, count,
            len(directory) if cd_size is None else cd_size, start if cd_offset is None else cd_offset, len(comment),
        )
        return out + comment


def write_zip(path: Path, entries: Iterable[RawEntry], *, comment: bytes = b"") -> Path:
    writer = ZipWriter()
    for entry in entries:
        writer.add(entry)
    path.write_bytes(writer.finish(comment=comment))
    return path


# ----------------------------------------------------------------------------------- package contents


def png_bytes(width: int = 1, height: int = 1) -> bytes:
    """A valid RGBA PNG of the given size (all transparent)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\x00\x00\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
SVG_BYTES = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><script>alert(1)</script></svg>'


def package_json(*, publisher: str = "somepub", name: str = "hello", version: str = "1.0.0", icon: str | None = None,
                 web: bool = False, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A realistic package.json; ``overrides`` replaces top-level keys (``None`` deletes one)."""
    manifest: dict[str, Any] = {
        "name": name,
        "displayName": "Hello",
        "description": "Says hello from a test package.",
        "version": version,
        "publisher": publisher,
        "license": "MIT",
        "repository": {"type": "git", "url": f"https://github.com/{publisher}/{name}.git"},
        "bugs": {"url": f"https://github.com/{publisher}/{name}/issues"},
        "homepage": f"https://github.com/{publisher}/{name}#readme",
        "engines": {"vscode": "^1.80.0"},
        "categories": ["Other"],
        "keywords": ["hello", "greeting"],
        "activationEvents": [],
        "main": "./extension.js",
        "contributes": {"commands": [{"command": f"{name}.sayHello", "title": "Say Hello"}]},
    }
    if icon:
        manifest["icon"] = icon
    if web:
        manifest["browser"] = "./dist/web/extension.js"
    for key, value in (overrides or {}).items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    return manifest


def _repository(manifest: Mapping[str, Any]) -> str | None:
    repository = manifest.get("repository")
    url = repository.get("url") if isinstance(repository, dict) else repository
    return url if isinstance(url, str) else None


def _extension_kind(manifest: Mapping[str, Any]) -> list[str]:
    kind = manifest.get("extensionKind")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    if manifest.get("main"):
        return ["workspace", "web"] if manifest.get("browser") else ["workspace"]
    return ["web"] if manifest.get("browser") else ["ui", "workspace", "web"]


def vsixmanifest(manifest: Mapping[str, Any], *, target_platform: str | None = None, pre_release: bool = False,
                 assets: Mapping[str, str] | None = None, overrides: Mapping[str, str | None] | None = None) -> str:
    """extension.vsixmanifest rendered from a package.json the way vsce's template does.

    ``overrides`` sets Identity attributes (``Id``, ``Version``, ``Publisher``, ``TargetPlatform``, ``Language``)
    and Properties (any other key, e.g. ``Microsoft.VisualStudio.Code.PreRelease``); ``None`` removes one.
    """
    def s(value: Any) -> str:
        return "" if value is None else str(value)

    identity: dict[str, str | None] = {
        "Language": "en-US", "Id": s(manifest.get("name")), "Version": s(manifest.get("version")),
        "Publisher": s(manifest.get("publisher")), "TargetPlatform": target_platform,
    }
    kinds = _extension_kind(manifest)
    def listed(key: str) -> str:
        value = manifest.get(key)
        return ",".join(str(item) for item in value) if isinstance(value, list) else ""

    keywords = manifest.get("keywords")
    tags = [k for k in keywords if isinstance(k, str)] if isinstance(keywords, list) else []
    if "web" in kinds:
        tags.append("__web_extension")
    repository = _repository(manifest)
    bugs = manifest.get("bugs")
    bugs_url = bugs.get("url") if isinstance(bugs, dict) else bugs
    engines = manifest.get("engines")
    properties: dict[str, str | None] = {
        "Microsoft.VisualStudio.Code.Engine": s(engines.get("vscode") if isinstance(engines, dict) else None),
        "Microsoft.VisualStudio.Code.ExtensionDependencies": listed("extensionDependencies"),
        "Microsoft.VisualStudio.Code.ExtensionPack": listed("extensionPack"),
        "Microsoft.VisualStudio.Code.ExtensionKind": ",".join(kinds),
        "Microsoft.VisualStudio.Code.LocalizedLanguages": "",
        "Microsoft.VisualStudio.Code.EnabledApiProposals": listed("enabledApiProposals"),
        "Microsoft.VisualStudio.Code.PreRelease": "true" if pre_release else None,
        "Microsoft.VisualStudio.Code.ExecutesCode": "true" if manifest.get("main") or manifest.get("browser") else None,
        "Microsoft.VisualStudio.Services.Links.Source": repository,
        "Microsoft.VisualStudio.Services.Links.Getstarted": repository,
        "Microsoft.VisualStudio.Services.Links.GitHub": repository,
        "Microsoft.VisualStudio.Services.Links.Support": bugs_url if isinstance(bugs_url, str) else None,
        "Microsoft.VisualStudio.Services.Links.Learn": s(manifest.get("homepage")) or None,
        "Microsoft.VisualStudio.Services.GitHubFlavoredMarkdown": "true",
        "Microsoft.VisualStudio.Services.Content.Pricing": "Free",
    }
    for key, value in (overrides or {}).items():
        (identity if key in ("Language", "Id", "Version", "Publisher", "TargetPlatform") else properties)[key] = value
    attributes = " ".join(f"{key}={quoteattr(value)}" for key, value in identity.items() if value is not None)
    property_lines = "\n".join(f'\t\t\t\t<Property Id={quoteattr(key)} Value={quoteattr(value)} />'
                               for key, value in properties.items() if value is not None)
    asset_lines = "\n".join(f'\t\t\t<Asset Type={quoteattr(kind)} Path={quoteattr(path)} Addressable="true" />'
                            for kind, path in (assets or {}).items() if kind != MANIFEST)
    license_path = (assets or {}).get(LICENSE)
    icon_path = (assets or {}).get(ICON)
    return f"""<?xml version="1.0" encoding="utf-8"?>
	<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011" xmlns:d="http://schemas.microsoft.com/developer/vsx-schema-design/2011">
		<Metadata>
			<Identity {attributes}/>
			<DisplayName>{escape(s(manifest.get("displayName") or manifest.get("name")))}</DisplayName>
			<Description xml:space="preserve">{escape(s(manifest.get("description")))}</Description>
			<Tags>{escape(",".join(tags))}</Tags>
			<Categories>{escape(listed("categories"))}</Categories>
			<GalleryFlags>Public</GalleryFlags>
			<Properties>
{property_lines}
			</Properties>
			{f"<License>{escape(license_path)}</License>" if license_path else ""}
			{f"<Icon>{escape(icon_path)}</Icon>" if icon_path else ""}
		</Metadata>
		<Installation>
			<InstallationTarget Id="Microsoft.VisualStudio.Code"/>
		</Installation>
		<Dependencies/>
		<Assets>
			<Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true" />
{asset_lines}
		</Assets>
	</PackageManifest>"""


_MIME = {".js": "application/javascript", ".json": "application/json", ".md": "text/markdown", ".txt": "text/plain",
         ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
         ".vsixmanifest": "text/xml"}


def content_types(names: Iterable[str]) -> str:
    types = {".json": "application/json", ".vsixmanifest": "text/xml"}
    for name in names:
        base = name.rsplit("/", 1)[-1]
        if "." in base:
            ext = "." + base.rsplit(".", 1)[-1].lower()
            types[ext] = _MIME.get(ext, "application/octet-stream")
    body = "".join(f'<Default Extension="{ext}" ContentType="{kind}"/>' for ext, kind in types.items())
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">{body}</Types>\n')


README = "# Hello\n\nSays hello. ![screenshot](https://example.com/screenshot.png)\n"
CHANGELOG_TEXT = "# Change Log\n\n## 1.0.0\n\n- Initial release\n"
LICENSE_TEXT = "MIT License\n\nCopyright (c) 2025 somepub\n\nPermission is hereby granted, free of charge ...\n"
EXTENSION_JS = ("const vscode = require('vscode');\nfunction activate(context) {\n  context.subscriptions.push("
                "vscode.commands.registerCommand('hello.sayHello', () => vscode.window.showInformationMessage('Hello'))"
                ");\n}\nmodule.exports = { activate, deactivate() {} };\n")


def vsix_entries(*, publisher: str = "somepub", name: str = "hello", version: str = "1.0.0",
                 target_platform: str | None = None, pre_release: bool = False, web: bool = False,
                 icon: bool | bytes = False, icon_path: str = "images/icon.png",
                 package_json_overrides: Mapping[str, Any] | None = None,
                 manifest_overrides: Mapping[str, str | None] | None = None,
                 asset_overrides: Mapping[str, str | None] | None = None,
                 extra_files: Mapping[str, bytes | str] | None = None, omit: Iterable[str] = (),
                 package_json_text: str | bytes | None = None, vsixmanifest_text: str | bytes | None = None,
                 readme: str | bytes | None = README, changelog: str | bytes | None = CHANGELOG_TEXT,
                 license_text: str | bytes | None = LICENSE_TEXT) -> list[RawEntry]:
    """The entries of a vsce-like package, in vsce's order, ready for ``write_zip`` (or to tamper with)."""
    manifest = package_json(publisher=publisher, name=name, version=version, icon=icon_path if icon else None,
                            web=web, overrides=package_json_overrides)
    files: dict[str, bytes] = {"extension/package.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
                               .encode() if package_json_text is None else _bytes(package_json_text)}
    if manifest.get("main"):
        files["extension/extension.js"] = EXTENSION_JS.encode()
    if manifest.get("browser"):
        files["extension/dist/web/extension.js"] = EXTENSION_JS.encode()
    assets: dict[str, str] = {}
    if readme is not None:
        files["extension/readme.md"] = _bytes(readme)
        assets[DETAILS] = "extension/readme.md"
    if license_text is not None:
        files["extension/LICENSE.txt"] = _bytes(license_text)
    if changelog is not None:
        files["extension/changelog.md"] = _bytes(changelog)
        assets[CHANGELOG] = "extension/changelog.md"
    if license_text is not None:  # vsce lists the license asset after the changelog
        assets[LICENSE] = "extension/LICENSE.txt"
    if icon:
        icon_entry = "extension/" + icon_path.removeprefix("./")
        files[icon_entry] = png_bytes(16, 16) if icon is True else icon
        assets[ICON] = icon_entry
    for entry_name, data in (extra_files or {}).items():
        files[entry_name] = _bytes(data)
    for kind, path in (asset_overrides or {}).items():
        if path is None:
            assets.pop(kind, None)
        else:
            assets[kind] = path
    xml = vsixmanifest(manifest, target_platform=target_platform, pre_release=pre_release, assets=assets,
                       overrides=manifest_overrides) if vsixmanifest_text is None else vsixmanifest_text
    omitted = set(omit)
    entries = [RawEntry("extension.vsixmanifest", _bytes(xml)), RawEntry("[Content_Types].xml",
                                                                         content_types(files).encode())]
    # vsce adds in-memory files with addBuffer (no descriptor) and files on disk with addFile (descriptor).
    entries += [RawEntry(entry_name, data, descriptor=entry_name != "extension/package.json")
                for entry_name, data in files.items()]
    return [entry for entry in entries if entry.name not in omitted]


def build_vsix(path: Path, **options: Any) -> Path:
    """Write a vsce-like VSIX to ``path``; ``options`` are ``vsix_entries``'s keyword arguments."""
    return write_zip(path, vsix_entries(**options))


def vsix_bytes(**options: Any) -> bytes:
    writer = ZipWriter()
    for entry in vsix_entries(**options):
        writer.add(entry)
    return writer.finish()


def incompressible_text(size: int, seed: bytes = b"vsix") -> str:
    """``size`` characters of hex that deflate can't shrink much (for size-limit cases, not ratio ones)."""
    return hashlib.shake_256(seed).hexdigest((size + 1) // 2)[:size]


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _tampered(path: Path, target: str, change: Callable[[RawEntry], RawEntry], **options: Any) -> Path:
    entries = [change(e) if e.name == target else e for e in vsix_entries(**options)]
    return write_zip(path, entries)


def _with(path: Path, *extra: RawEntry, **options: Any) -> Path:
    return write_zip(path, [*vsix_entries(**options), *extra])


# ------------------------------------------------------------------------------------ hostile: archive

JS = "extension/extension.js"


def prepended_junk(path: Path, junk: bytes = b"MZ\x90\x00" + b"\x00" * 60) -> Path:
    """A polyglot: bytes before the first local header (like ``cat stub.exe package.vsix``)."""
    path.write_bytes(junk + vsix_bytes())
    return path


def appended_junk(path: Path) -> Path:
    path.write_bytes(vsix_bytes() + b"trailing bytes after the end record")
    return path


def not_a_zip(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.7\n" + b"\x00" * 100)
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def truncated(path: Path, keep: float = 0.6) -> Path:
    data = vsix_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def corrupt_central_directory(path: Path) -> Path:
    data = bytearray(vsix_bytes())
    start = data.rfind(b"PK\x01\x02")
    data[start:start + 4] = b"XX\x01\x02"
    path.write_bytes(bytes(data))
    return path


def encrypted_entry(path: Path) -> Path:
    return _tampered(path, JS, lambda e: replace(e, flags=e.flags | 0x0001))


def bzip2_entry(path: Path) -> Path:
    return _tampered(path, JS, lambda e: replace(e, method=BZIP2))


def lzma_entry(path: Path) -> Path:
    return _tampered(path, JS, lambda e: replace(e, method=LZMA))


def too_many_entries(path: Path, count: int = 10_001) -> Path:
    return build_vsix(path, extra_files={f"extension/f/{i}.txt": b"" for i in range(count)})


def oversized_entry(path: Path, declared: int = 300 * 1024 * 1024) -> Path:
    """A header claiming a 300 MiB file (nothing that large is written)."""
    return _tampered(path, JS, lambda e: replace(e, size=declared))


def lying_size(path: Path) -> Path:
    """Declares fewer bytes than the entry inflates to, in both headers (the classic lying header)."""
    return _tampered(path, JS, lambda e: replace(e, size=len(e.data) - 10))


def understated_size(path: Path) -> Path:
    """Declares more bytes than the entry inflates to."""
    return _tampered(path, JS, lambda e: replace(e, size=len(e.data) + 10))


def crc_mismatch(path: Path) -> Path:
    return _tampered(path, JS, lambda e: replace(e, crc=zlib.crc32(e.data) ^ 0x5A5A5A5A))


def zip_bomb(path: Path, size: int = 20 * 1024 * 1024) -> Path:
    """One entry of ``size`` zero bytes: deflate makes it ~1000:1."""
    return _with(path, RawEntry("extension/bomb.bin", bytes(size), descriptor=True))


def overlapping_entries(path: Path) -> Path:
    """Two central records pointing at the same local header (the non-recursive zip bomb)."""
    writer = ZipWriter()
    entries = vsix_entries()
    offsets = {e.name: writer.add(e) for e in entries}
    js = next(e for e in entries if e.name == JS)
    writer.add_central(replace(js, name="extension/copy.js"), offsets[JS])
    path.write_bytes(writer.finish())
    return path


def hidden_gap(path: Path) -> Path:
    """Bytes hidden between two entries that no central record accounts for."""
    writer = ZipWriter()
    for entry in vsix_entries():
        writer.add(entry)
        if entry.name == JS:
            writer.raw(b"hidden payload between entries")
    path.write_bytes(writer.finish())
    return path


def duplicate_names(path: Path) -> Path:
    return _with(path, RawEntry(JS, b"console.log('second copy');"))


def case_colliding_names(path: Path) -> Path:
    return _with(path, RawEntry("extension/README.md", b"# other readme"))


def normalization_colliding_names(path: Path) -> Path:
    return build_vsix(path, extra_files={"extension/caf\u00e9.txt": b"nfc", "extension/cafe\u0301.txt": b"nfd"})


def file_directory_collision(path: Path) -> Path:
    return build_vsix(path, extra_files={"extension/lib": b"a file", "extension/lib/index.js": b"a file in it"})


def symlink_entry(path: Path, target: str = "/etc/passwd") -> Path:
    return _with(path, RawEntry("extension/link", target.encode(), method=STORED, mode=0o120777))


def device_entry(path: Path) -> Path:
    return _with(path, RawEntry("extension/tty", b"", method=STORED, mode=0o020666))


def fifo_entry(path: Path) -> Path:
    return _with(path, RawEntry("extension/pipe", b"", method=STORED, mode=0o010644))


def directory_with_data(path: Path) -> Path:
    return _with(path, RawEntry("extension/dir/", b"data in a directory", mode=0o040755))


def extra_field_entry(path: Path, header_id: int = 0x7075) -> Path:
    """An unexpected extra field (default: Info-ZIP Unicode path, which makes readers disagree on names)."""
    body = b"\x01" + struct.pack("<I", zlib.crc32(JS.encode())) + b"extension/other.js"
    return _tampered(path, JS, lambda e: replace(e, extra=extra_field(header_id, body)))


def zip64_entry(path: Path) -> Path:
    body = struct.pack("<QQ", len(EXTENSION_JS), 0)
    return _tampered(path, JS, lambda e: replace(e, extra=extra_field(0x0001, body)))


def zip64_end_record(path: Path) -> Path:
    writer = ZipWriter()
    for entry in vsix_entries():
        writer.add(entry)
    path.write_bytes(writer.finish(zip64_locator=True))
    return path


def long_comment(path: Path, size: int = 4096) -> Path:
    return write_zip(path, vsix_entries(), comment=b"c" * size)


def entry_comment(path: Path) -> Path:
    return _tampered(path, JS, lambda e: replace(e, comment=b"hello"))


def local_name_mismatch(path: Path) -> Path:
    return _tampered(path, JS, lambda e: replace(e, local_name=b"extension/evil.js"))


def local_size_mismatch(path: Path) -> Path:
    return _tampered(path, "extension/package.json", lambda e: replace(e, local_size=1))


def hostile_name(path: Path, name: str | bytes, *, flags: int = UTF8_FLAG) -> Path:
    """One extra entry with exactly this (hostile) name."""
    return _with(path, RawEntry(name, b"x", flags=flags))


def nested_archive(path: Path) -> Path:
    """A .vsix inside the package: a plain file, never opened."""
    return build_vsix(path, extra_files={"extension/bundled/inner.vsix": vsix_bytes()})


# ----------------------------------------------------------------------------------- hostile: manifests

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">
  <Metadata><Identity Language="en-US" Id="hello" Version="1.0.0" Publisher="somepub"/>
  <DisplayName>&lol9;</DisplayName></Metadata>
</PackageManifest>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE PackageManifest [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">
  <Metadata><Identity Language="en-US" Id="hello" Version="1.0.0" Publisher="somepub"/>
  <DisplayName>&xxe;</DisplayName></Metadata>
</PackageManifest>"""


def oversized_package_json(path: Path) -> Path:
    return build_vsix(path, package_json_overrides={"padding": incompressible_text(1024 * 1024)})


def oversized_readme(path: Path) -> Path:
    return build_vsix(path, readme=incompressible_text(5 * 1024 * 1024 + 1))


def billion_laughs(path: Path) -> Path:
    return build_vsix(path, vsixmanifest_text=BILLION_LAUGHS)


def external_entity(path: Path) -> Path:
    return build_vsix(path, vsixmanifest_text=EXTERNAL_ENTITY)


# --------------------------------------------------------------------------------------- the catalogue

# ``build_vsix`` options for packages that must be accepted: each a variant real packagers produce.
VALID_CASES: dict[str, dict[str, Any]] = {
    "universal": {},
    "pre-release": {"pre_release": True, "version": "1.1.0"},
    "platform-specific": {"target_platform": "linux-x64", "version": "1.0.0"},
    "web-extension": {"web": True, "package_json_overrides": {"main": None}},
    "with-icon": {"icon": True},
    "mixed-case-publisher": {"publisher": "SomePub", "name": "Hello-World"},
    "no-readme-changelog-license": {"readme": None, "changelog": None, "license_text": None},
    "with-dependencies": {"package_json_overrides": {"extensionDependencies": ["vscode.git"],
                                                     "extensionPack": ["ms-python.python"]}},
}


@dataclass(frozen=True)
class HostileCase:
    """One class of bad input (an item of docs/hostile-packages.md) and the code it must be rejected with."""

    name: str
    build: Callable[[Path], Path]
    code: str
    d3: str  # the item(s) of docs/hostile-packages.md it covers
    mentions: str = ""  # text the rejection reason must contain (the entry or field it names)


def _opts(**options: Any) -> Callable[[Path], Path]:
    return lambda path: build_vsix(path, **options)


def _name(name: str | bytes, **kw: Any) -> Callable[[Path], Path]:
    return lambda path: hostile_name(path, name, **kw)


HOSTILE_CASES: tuple[HostileCase, ...] = (
    # archive structure (D3 2, 4-13)
    HostileCase("not-a-zip", not_a_zip, "archive.not_zip", "2"),
    HostileCase("empty-file", empty_file, "archive.not_zip", "2"),
    HostileCase("prepended-junk", prepended_junk, "archive.not_zip", "2,13"),
    HostileCase("appended-junk", appended_junk, "archive.invalid", "4,13"),
    HostileCase("truncated", truncated, "archive.invalid", "2,4"),
    HostileCase("corrupt-central-directory", corrupt_central_directory, "archive.invalid", "4"),
    HostileCase("crc-mismatch", crc_mismatch, "archive.crc", "4", "extension/extension.js"),
    HostileCase("encrypted-entry", encrypted_entry, "archive.encrypted", "5", "extension/extension.js"),
    HostileCase("bzip2-entry", bzip2_entry, "archive.compression", "5", "bzip2"),
    HostileCase("lzma-entry", lzma_entry, "archive.compression", "5", "lzma"),
    HostileCase("oversized-entry", oversized_entry, "archive.entry_too_large", "6", "extension/extension.js"),
    HostileCase("lying-size", lying_size, "archive.size_mismatch", "7", "extension/extension.js"),
    HostileCase("understated-size", understated_size, "archive.size_mismatch", "7", "extension/extension.js"),
    HostileCase("zip-bomb", zip_bomb, "archive.ratio", "8", "extension/bomb.bin"),
    HostileCase("overlapping-entries", overlapping_entries, "archive.overlap", "9", "extension/copy.js"),
    HostileCase("duplicate-names", duplicate_names, "path.duplicate", "11", "extension/extension.js"),
    HostileCase("case-colliding-names", case_colliding_names, "path.collision", "11", "extension/README.md"),
    HostileCase("normalization-colliding-names", normalization_colliding_names,
                "path.collision", "11", "extension/caf"),
    HostileCase("file-directory-collision", file_directory_collision, "path.collision", "11", "extension/lib"),
    HostileCase("unicode-path-extra-field", extra_field_entry, "archive.extra_field", "12", "0x7075"),
    HostileCase("local-name-mismatch", local_name_mismatch, "archive.header_mismatch", "12", "extension/evil.js"),
    HostileCase("local-size-mismatch", local_size_mismatch, "archive.header_mismatch", "12", "extension/package.json"),
    HostileCase("zip64-extra", zip64_entry, "archive.zip64", "13", "extension/extension.js"),
    HostileCase("zip64-end-record", zip64_end_record, "archive.zip64", "13", "ZIP64"),
    HostileCase("long-comment", long_comment, "archive.comment", "13", "4096"),
    HostileCase("entry-comment", entry_comment, "archive.comment", "13", "extension/extension.js"),
    HostileCase("hidden-gap", hidden_gap, "archive.layout", "13", "extension/readme.md"),
    # paths (D3 14-18)
    HostileCase("absolute-path", _name("/etc/passwd"), "path.absolute", "14", "/etc/passwd"),
    HostileCase("drive-letter", _name("C:\\Windows\\evil.dll"), "path.absolute", "14", "C:"),
    HostileCase("drive-relative", _name("C:evil.txt"), "path.absolute", "14", "C:evil.txt"),
    HostileCase("unc-path", _name("\\\\server\\share\\x"), "path.absolute", "14", "server"),
    HostileCase("dot-dot", _name("extension/../../etc/cron.d/x"), "path.traversal", "15", ".."),
    HostileCase("dot-segment", _name("extension/./x.js"), "path.traversal", "15", "extension/./x.js"),
    HostileCase("backslash-dot-dot", _name("extension\\..\\..\\evil.js"), "path.backslash", "15", "backslash"),
    HostileCase("symlink", symlink_entry, "archive.symlink", "16", "extension/link"),
    HostileCase("device-file", device_entry, "archive.special_file", "16", "extension/tty"),
    HostileCase("fifo", fifo_entry, "archive.special_file", "16", "extension/pipe"),
    HostileCase("nul-in-name", _name("extension/a\x00.js"), "path.characters", "17", "U+0000"),
    HostileCase("control-in-name", _name("extension/a\x1b[31m.js"), "path.characters", "17", "U+001B"),
    HostileCase("bidi-in-name", _name("extension/evil\u202egnp.js"), "path.characters", "17", "U+202E"),
    HostileCase("zero-width-in-name", _name("extension/ex\u200btension.js"), "path.characters", "17", "U+200B"),
    HostileCase("overlong-path", _name("extension/" + "a/" * 600 + "x.js"), "path.too_long", "17", "1024"),
    HostileCase("overlong-segment", _name("extension/" + "a" * 300 + ".js"), "path.too_long", "17", "255"),
    HostileCase("reserved-con", _name("extension/CON.txt"), "path.reserved_name", "17", "CON"),
    HostileCase("reserved-aux", _name("extension/lib/aux"), "path.reserved_name", "17", "aux"),
    HostileCase("reserved-com1", _name("extension/com1.js"), "path.reserved_name", "17", "com1"),
    HostileCase("alternate-stream", _name("extension/a.js:hidden"),
                "path.windows_unsafe", "17", "extension/a.js:hidden"),
    HostileCase("trailing-dot", _name("extension/a.js."), "path.windows_unsafe", "17", "extension/a.js."),
    HostileCase("empty-segment", _name("extension//a.js"), "path.empty_segment", "17", "extension//a.js"),
    HostileCase("invalid-utf8-name", _name(b"extension/\xff\xfe.js"), "path.encoding", "17", "\\xff"),
    HostileCase("cp437-name", _name(b"extension/caf\x82.js", flags=0), "path.encoding", "17", "caf"),
    HostileCase("outside-extension", _name("evil.js"), "path.outside_extension", "18", "evil.js"),
    HostileCase("signature-at-root", _name("extension.signature.p7s"),
                "path.outside_extension", "18", "extension.signature.p7s"),
    HostileCase("directory-with-data", directory_with_data, "archive.directory_data", "16", "extension/dir/"),
    # manifests (D3 19-29)
    HostileCase("missing-vsixmanifest", _opts(omit=["extension.vsixmanifest"]),
                "manifest.missing", "19", "extension.vsixmanifest"),
    HostileCase("missing-package-json", _opts(omit=["extension/package.json"]),
                "manifest.missing", "19", "extension/package.json"),
    HostileCase("billion-laughs", billion_laughs, "manifest.xml_forbidden", "20", "DTD"),
    HostileCase("external-entity", external_entity, "manifest.xml_forbidden", "20", "DTD"),
    HostileCase("malformed-xml", _opts(vsixmanifest_text="<PackageManifest><Metadata>"),
                "manifest.xml_invalid", "19", "extension.vsixmanifest"),
    HostileCase("malformed-json", _opts(package_json_text="{\"name\": "),
                "manifest.json_invalid", "19", "package.json"),
    HostileCase("oversized-package-json", oversized_package_json, "manifest.too_large", "21", "extension/package.json"),
    HostileCase("oversized-readme", oversized_readme, "manifest.asset_too_large", "21", "extension/readme.md"),
    HostileCase("publisher-mismatch", _opts(manifest_overrides={"Publisher": "otherpub"}),
                "manifest.mismatch", "22", "otherpub"),
    HostileCase("name-mismatch", _opts(manifest_overrides={"Id": "other"}), "manifest.mismatch", "22", "\"name\""),
    HostileCase("version-mismatch", _opts(manifest_overrides={"Version": "1.0.1"}), "manifest.mismatch", "22", "1.0.1"),
    HostileCase("bad-publisher", _opts(publisher="Some Pub"), "manifest.publisher", "23", "Some Pub"),
    HostileCase("bad-name", _opts(name="-hello"), "manifest.name", "23", "-hello"),
    HostileCase("bad-semver", _opts(version="1.0"), "manifest.version", "23", "\"version\""),
    HostileCase("reserved-version", _opts(version="latest"), "manifest.version", "23", "latest"),
    HostileCase("unknown-target", _opts(target_platform="solaris-sparc"),
                "manifest.target_platform", "24", "solaris-sparc"),
    HostileCase("missing-engine", _opts(package_json_overrides={"engines": None}),
                "manifest.engine", "25", "engines.vscode"),
    HostileCase("invalid-engine", _opts(package_json_overrides={"engines": {"vscode": "~1.80.0"}}),
                "manifest.engine", "25", "~1.80.0"),
    HostileCase("bidi-display-name", _opts(package_json_overrides={"displayName": "Hello \u202eolleH"}),
                "manifest.text", "26", "displayName"),
    HostileCase("zero-width-description", _opts(package_json_overrides={"description": "pay\u200bpal"}),
                "manifest.text", "26", "description"),
    HostileCase("javascript-url", _opts(package_json_overrides={"homepage": "javascript:alert(1)"}),
                "manifest.url", "27", "homepage"),
    HostileCase("http-readme-image", _opts(readme="![x](http://tracker.example/pixel.png)"),
                "manifest.readme", "27", "http://tracker.example"),
    HostileCase("svg-icon", _opts(icon=SVG_BYTES, icon_path="images/icon.svg"), "manifest.icon", "28", "SVG"),
    HostileCase("svg-bytes-as-png", _opts(icon=SVG_BYTES), "manifest.icon", "28", "SVG"),
    HostileCase("missing-icon", _opts(package_json_overrides={"icon": "images/missing.png"}),
                "manifest.icon", "28", "images/missing.png"),
    HostileCase("icon-escaping", _opts(package_json_overrides={"icon": "../extension.vsixmanifest"}),
                "manifest.icon", "28", "icon"),
    HostileCase("bad-dependency", _opts(package_json_overrides={"extensionDependencies": ["not an id"]}),
                "manifest.dependency", "29", "not an id"),
    HostileCase("self-dependency", _opts(package_json_overrides={"extensionPack": ["somepub.hello"]}),
                "manifest.dependency", "29", "extensionPack"),
)
