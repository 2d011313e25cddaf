"""Read and validate the manifests of an inspected VSIX: ``extension.vsixmanifest`` and ``extension/package.json``.

``read_package(archive)`` turns an ``Archive`` from ``vsix.inspect_archive(path, keep=wanted)`` into a
``PackageInfo`` or raises ``vsix.Rejected(code, reason)``; the reason names the field and what is allowed.
Everything here is decidable from the file alone (namespace ownership, duplicates and abuse checks are
the caller's).

Decisions (the other publishing code relies on them):

* Identity: package.json ``publisher``/``name``/``version`` must equal the vsixmanifest ``Identity``
  ``Publisher``/``Id``/``Version`` exactly (vsce copies them). The target platform and the pre-release flag
  exist only in the vsixmanifest (``TargetPlatform`` attribute; ``Microsoft.VisualStudio.Code.PreRelease``
  property, ``"true"`` or absent); pass ``Expected`` to compare them (and the rest) with what the
  publisher declared.
* Publisher and name: vsce's grammar ``[a-z0-9][a-z0-9-]*`` case-insensitively (mixed case such as
  ``GitHub`` is real), at most 128 characters. ``PackageInfo.id``/``namespace``/``extension`` are lower-cased.
* Version: strict SemVer 2.0, at most 64 characters, never ``latest``/``pre-release``/``reviews``.
* ``engines.vscode``: VS Code's own grammar (``*``, or optional ``^``/``>=`` then ``major.minor.patch`` with
  ``x`` wildcards and an optional ``-suffix``); ``~`` ranges are refused because VS Code can't read them.
* Text (displayName <= 255, description <= 2048, categories and keywords <= 64 each, at most 32 categories
  and 30 keywords): no control, format (bidi, zero-width), unassigned, private-use or line/paragraph
  separator characters, except ZWJ (U+200D, emoji sequences) in the description.
* URLs (homepage, bugs, qna, sponsor, badges): http(s) with a host. ``repository`` also allows
  ``git+https``, ``git+http``, ``git``, ``git+ssh``, ``ssh``, scp-like ``git@host:owner/repo.git`` and npm's
  ``owner/repo`` / ``github:owner/repo`` shorthands. Never ``javascript:``, ``data:``, ``file:``.
* README/CHANGELOG: images must be https (or relative); no ``javascript:``/``vbscript:``/``data:`` links.
* Icon: a relative path inside ``extension/``, a .png/.jpg/.jpeg file that exists, PNG or JPEG by its
  bytes, at most 1 MiB. SVG is refused (vsce rule).
* Web extension: decided like vsce (``extensionKind`` deduced from ``main``/``browser``/contributions): a
  ``browser`` entry point or a declarative (code-free) extension runs on the web. Then the ``__web_extension``
  tag is added and every file under ``extension/`` is a web resource.
* package.json is UTF-8 (a BOM is tolerated), a JSON object, at most 64 levels deep, without duplicate keys,
  ``NaN``/``Infinity`` or unpaired surrogate escapes.
"""

from __future__ import annotations

import json
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring as parse_xml  # type: ignore[import-untyped]

from marketplace.catalog.ids import EXTENSION_ID, ID_PART, ID_PART_PATTERN
from marketplace.catalog.ids import TARGET_PLATFORMS as TARGET_PLATFORMS
from marketplace.catalog.ids import UNIVERSAL as UNIVERSAL
from marketplace.catalog.ids import WEB_EXTENSION_TAG as WEB_EXTENSION_TAG
from marketplace.platform.text import FORBIDDEN_CATEGORIES
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

VSIX_NAMESPACE = "http://schemas.microsoft.com/developer/vsx-schema/2011"

ASSET_MANIFEST = "Microsoft.VisualStudio.Code.Manifest"
ASSET_DETAILS = "Microsoft.VisualStudio.Services.Content.Details"
ASSET_CHANGELOG = "Microsoft.VisualStudio.Services.Content.Changelog"
ASSET_LICENSE = "Microsoft.VisualStudio.Services.Content.License"
ASSET_ICON = "Microsoft.VisualStudio.Services.Icons.Default"
ASSET_VSIXMANIFEST = "Microsoft.VisualStudio.Services.VsixManifest"
PROPERTY_PRE_RELEASE = "Microsoft.VisualStudio.Code.PreRelease"
PROPERTY_ENGINE = "Microsoft.VisualStudio.Code.Engine"

RESERVED_VERSIONS = frozenset({"latest", "pre-release", "reviews"})
EXTENSION_KINDS = ("ui", "workspace", "web")

MAX_ID_LENGTH = 128
MAX_VERSION_LENGTH = 64
MAX_ENGINE_LENGTH = 64
MAX_DISPLAY_NAME = 255
MAX_DESCRIPTION = 2048
MAX_SHORT_TEXT = 255  # license, language names, badge descriptions
MAX_TAG_LENGTH = 64
MAX_CATEGORIES = 32
MAX_KEYWORDS = 30
MAX_DEPENDENCIES = 256
MAX_URL_LENGTH = 2048
MAX_JSON_DEPTH = 64
MAX_ASSETS = 512

MANIFEST_MAX_BYTES = MiB
DOC_MAX_BYTES = 5 * MiB
ICON_MAX_BYTES = MiB
DOC_ASSETS = (ASSET_DETAILS, ASSET_CHANGELOG, ASSET_LICENSE)

_ID = ID_PART_PATTERN
_NUM = r"(?:0|[1-9][0-9]*)"
_PRE = rf"(?:{_NUM}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
SEMVER = re.compile(rf"{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE}(?:\.{_PRE})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
ENGINE = re.compile(r"\*|(?:\^|>=)?(?:[0-9]+|x)\.(?:[0-9]+|x)\.(?:[0-9]+|x)(?:-[0-9A-Za-z.-]+)?")
API_PROPOSAL = re.compile(r"[A-Za-z0-9_.@-]{1,128}")
ASSET_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,127}")
_SCP_URL = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+")
_SHORTHAND = re.compile(r"(?:(?:github|gitlab|bitbucket):)?[A-Za-z0-9._-]+/[A-Za-z0-9._-]+")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}")
_REPOSITORY_SCHEMES = frozenset({"http", "https", "git+https", "git+http", "git", "git+ssh", "ssh"})
_WEB_SCHEMES = frozenset({"http", "https"})
_ZWJ = "\u200d"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_DOC_PREFIXES = ("readme", "changelog", "license", "licence")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
# vsce: contribution points that restrict where an extension can run (deduceExtensionKinds).
_CONTRIBUTION_KINDS: dict[str, tuple[str, ...]] = {
    "jsonValidation": ("workspace", "web"), "localizations": ("ui", "workspace"), "debuggers": ("workspace",),
    "terminal": ("workspace",), "typescriptServerPlugins": ("workspace",),
    "markdown.previewStyles": ("workspace", "web"), "markdown.previewScripts": ("workspace", "web"),
    "markdown.markdownItPlugins": ("workspace", "web"), "html.customData": ("workspace", "web"),
    "css.customData": ("workspace", "web"),
}
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


@dataclass(frozen=True)
class _VsixManifest:
    publisher: str
    name: str
    version: str
    target_platform: str | None
    properties: Mapping[str, str]
    assets: Mapping[str, str]


# ------------------------------------------------------------------------------------------- parsing


def _manifest_bytes(archive: Archive, name: str) -> bytes:
    entry = archive.get(name)
    if entry is None or entry.is_dir:
        raise Rejected("manifest.missing", f"the package has no {name}; package the extension with vsce")
    if entry.size > MANIFEST_MAX_BYTES:
        raise Rejected("manifest.too_large", f"{name} is {entry.size} bytes; at most {MANIFEST_MAX_BYTES} are allowed")
    return read_entry(archive, name, MANIFEST_MAX_BYTES)


def _attribute(element: Element, attribute: str, where: str, *, required: bool = True) -> str | None:
    value = element.get(attribute)
    if value is None and required:
        raise Rejected("manifest.xml_invalid", f"{MANIFEST_NAME}: {where} has no {attribute} attribute")
    return value


def parse_vsixmanifest(data: bytes) -> _VsixManifest:
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
    return _VsixManifest(
        publisher=_attribute(identity, "Publisher", "Identity") or "",
        name=_attribute(identity, "Id", "Identity") or "",
        version=_attribute(identity, "Version", "Identity") or "",
        target_platform=identity.get("TargetPlatform"),
        properties=properties,
        assets=assets,
    )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Rejected("manifest.json_invalid", f"package.json has the key {show(key)} twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise Rejected("manifest.json_invalid", f"package.json contains {name}, which is not JSON")


def parse_package_json(data: bytes) -> dict[str, Any]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("manifest.json_invalid", "package.json is not valid UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except Rejected:
        raise
    except RecursionError:
        raise Rejected("manifest.json_invalid", f"package.json is nested more than {MAX_JSON_DEPTH} levels deep"
                       ) from None
    except ValueError as error:
        raise Rejected("manifest.json_invalid", f"package.json is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise Rejected("manifest.json_invalid", "package.json must be a JSON object")
    _check_json_tree(value)
    return value


def _check_json_tree(root: dict[str, Any]) -> None:
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise Rejected("manifest.json_invalid", f"package.json is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                _no_surrogates(key)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _no_surrogates(value)


def _no_surrogates(text: str) -> None:
    if any("\ud800" <= char <= "\udfff" for char in text):
        raise Rejected("manifest.json_invalid", "package.json contains an unpaired surrogate escape (\\ud800-\\udfff)")


# ----------------------------------------------------------------------------------------- field rules


def _typed(pkg: Mapping[str, Any], key: str, kind: type | tuple[type, ...], description: str) -> Any:
    value = pkg.get(key)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
        raise Rejected("manifest.field", f'package.json "{key}" must be {description}')
    return value


def check_text(value: str, field: str, max_length: int, *, allow_zwj: bool = False) -> str:
    if len(value) > max_length:
        raise Rejected("manifest.text", f"package.json {field} is {len(value)} characters; at most {max_length} are "
                                        f"allowed")
    for char in value:
        if unicodedata.category(char) in FORBIDDEN_CATEGORIES and not (allow_zwj and char == _ZWJ):
            raise Rejected("manifest.text", f"package.json {field} contains the invisible or control character "
                                            f"U+{ord(char):04X}; remove it")
    return value


def _identifier(value: Any, field: str, code: str) -> str:
    if not isinstance(value, str) or not value:
        raise Rejected(code, f'package.json "{field}" is missing; it must be letters, digits and hyphens')
    if len(value) > MAX_ID_LENGTH or not ID_PART.fullmatch(value):
        raise Rejected(code, f'package.json "{field}" ({show(value)}) must be letters, digits and hyphens, starting '
                             f"with a letter or digit, at most {MAX_ID_LENGTH} characters")
    return value


def check_version(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Rejected("manifest.version", 'package.json "version" is missing; it must be a SemVer version like 1.2.3')
    if value in RESERVED_VERSIONS:
        raise Rejected("manifest.version", f'package.json "version" ({show(value)}) is a reserved word; use a SemVer '
                                           f"version like 1.2.3")
    if len(value) > MAX_VERSION_LENGTH or not SEMVER.fullmatch(value):
        raise Rejected("manifest.version", f'package.json "version" ({show(value)}) must be a SemVer 2.0 version like '
                                           f"1.2.3 or 1.2.3-beta.1, at most {MAX_VERSION_LENGTH} characters")
    return value


def check_engine(pkg: Mapping[str, Any]) -> str:
    engines = pkg.get("engines")
    engine = engines.get("vscode") if isinstance(engines, dict) else None
    if not isinstance(engine, str) or not engine:
        raise Rejected("manifest.engine", 'package.json "engines.vscode" is missing; it must name the VS Code versions '
                                          'the extension supports, like "^1.80.0"')
    if len(engine) > MAX_ENGINE_LENGTH or not ENGINE.fullmatch(engine):
        raise Rejected("manifest.engine", f'package.json "engines.vscode" ({show(engine)}) must be "*" or a version '
                                          f'like "^1.80.0", ">=1.60.0" or "1.80.x"')
    return engine


def check_url(value: Any, field: str, *, repository: bool = False) -> str:
    if not isinstance(value, str) or not value:
        raise Rejected("manifest.url", f"package.json {field} must be a URL string")
    if len(value) > MAX_URL_LENGTH or any(unicodedata.category(c)[0] in "CZ" for c in value):
        raise Rejected("manifest.url", f"package.json {field} ({show(value)}) must be a URL without spaces or control "
                                       f"characters, at most {MAX_URL_LENGTH} characters")
    if repository and (_SCP_URL.fullmatch(value) or _SHORTHAND.fullmatch(value)):
        return value
    schemes = _REPOSITORY_SCHEMES if repository else _WEB_SCHEMES
    try:
        parsed = urllib.parse.urlsplit(value)
        host = parsed.hostname
    except ValueError:
        host = None
        parsed = None
    if parsed is None or parsed.scheme.lower() not in schemes or not host or "\\" in parsed.netloc:
        allowed = "an http(s) or git URL" if repository else "an http:// or https:// URL"
        raise Rejected("manifest.url", f"package.json {field} ({show(value)}) must be {allowed} with a host")
    return value


def _strings(pkg: Mapping[str, Any], key: str, max_items: int, max_length: int) -> tuple[str, ...]:
    value = pkg.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Rejected("manifest.field", f'package.json "{key}" must be a list of strings')
    if len(value) > max_items:
        raise Rejected("manifest.text", f'package.json "{key}" has {len(value)} entries; at most {max_items} are '
                                        f"allowed")
    for item in value:
        if not item.strip():
            raise Rejected("manifest.text", f'package.json "{key}" contains an empty entry')
        check_text(item, f'"{key}" entry {show(item)}', max_length)
    return tuple(dict.fromkeys(value))


def _extension_ids(pkg: Mapping[str, Any], key: str, self_id: str) -> tuple[str, ...]:
    value = pkg.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Rejected("manifest.dependency", f'package.json "{key}" must be a list of "publisher.name" strings')
    if len(value) > MAX_DEPENDENCIES:
        raise Rejected("manifest.dependency", f'package.json "{key}" has {len(value)} entries; at most '
                                              f"{MAX_DEPENDENCIES} are allowed")
    seen: dict[str, str] = {}
    for item in value:
        match = EXTENSION_ID.fullmatch(item)
        if not match or max(len(match[1]), len(match[2])) > MAX_ID_LENGTH:
            raise Rejected("manifest.dependency", f'package.json "{key}" entry {show(item)} must be an extension id '
                                                  f'"publisher.name" (letters, digits and hyphens)')
        if item.lower() == self_id:
            raise Rejected("manifest.dependency", f'package.json "{key}" names the extension itself ({show(item)})')
        seen.setdefault(item.lower(), item)
    return tuple(seen.values())


def _extension_kind(pkg: Mapping[str, Any]) -> tuple[str, ...]:
    """vsce's getExtensionKind: the declared kinds (plus web when deducible), or the deduced ones."""
    declared = pkg.get("extensionKind")
    if declared is not None:
        kinds = [declared] if isinstance(declared, str) else declared
        if not isinstance(kinds, list) or not kinds or not all(k in EXTENSION_KINDS for k in kinds):
            raise Rejected("manifest.field", 'package.json "extensionKind" must be a list of "ui", "workspace" '
                                             'or "web"')
    deduced: list[str]
    if pkg.get("main"):
        deduced = ["workspace", "web"] if pkg.get("browser") else ["workspace"]
    elif pkg.get("browser"):
        deduced = ["web"]
    else:
        deduced = ["workspace", "web"] if pkg.get("extensionPack") or pkg.get("extensionDependencies") else list(
            EXTENSION_KINDS)
        contributes = pkg.get("contributes")
        for point in contributes if isinstance(contributes, dict) else ():
            allowed = _CONTRIBUTION_KINDS.get(point)
            if allowed:
                deduced = [kind for kind in deduced if kind in allowed]
    if declared is None:
        return tuple(deduced)
    result = ["ui", "workspace"] if declared == "ui" else list(dict.fromkeys(kinds))
    if "web" in deduced and "web" not in result:
        result.append("web")
    return tuple(result)


def _localized_languages(pkg: Mapping[str, Any]) -> tuple[str, ...]:
    contributes = pkg.get("contributes")
    localizations = contributes.get("localizations") if isinstance(contributes, dict) else None
    if not isinstance(localizations, list):
        return ()
    names: list[str] = []
    for item in localizations:
        if not isinstance(item, dict):
            continue
        label = item.get("localizedLanguageName") or item.get("languageName") or item.get("languageId")
        if isinstance(label, str) and label:
            names.append(check_text(label, "contributes.localizations language name", MAX_TAG_LENGTH))
    return tuple(dict.fromkeys(names))


def _links(pkg: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, str | bool | None, str | None]:
    homepage = pkg.get("homepage")
    if homepage is not None:
        check_url(homepage, '"homepage"')
    bugs = pkg.get("bugs")
    bugs_url: str | None = None
    if isinstance(bugs, dict):
        if bugs.get("url") is not None:
            bugs_url = check_url(bugs.get("url"), '"bugs.url"')
        email = bugs.get("email")
        if email is not None and not (isinstance(email, str) and _EMAIL.fullmatch(email)):
            raise Rejected("manifest.field", 'package.json "bugs.email" must be an e-mail address')
    elif bugs is not None:
        bugs_url = check_url(bugs, '"bugs"')
    repository = pkg.get("repository")
    repository_url: str | None = None
    if isinstance(repository, dict):
        if repository.get("url") is not None:
            repository_url = check_url(repository.get("url"), '"repository.url"', repository=True)
    elif repository is not None:
        repository_url = check_url(repository, '"repository"', repository=True)
    qna = pkg.get("qna")
    if qna is not None and qna is not False and qna != "marketplace":
        if not isinstance(qna, str):
            raise Rejected("manifest.field", 'package.json "qna" must be "marketplace", false or a URL')
        check_url(qna, '"qna"')
    sponsor = pkg.get("sponsor")
    sponsor_url: str | None = None
    if sponsor is not None:
        if not isinstance(sponsor, dict):
            raise Rejected("manifest.field", 'package.json "sponsor" must be an object with a "url"')
        sponsor_url = check_url(sponsor.get("url"), '"sponsor.url"')
    badges = pkg.get("badges")
    if badges is not None:
        if not isinstance(badges, list) or len(badges) > 64 or not all(isinstance(b, dict) for b in badges):
            raise Rejected("manifest.field", 'package.json "badges" must be a list of at most 64 objects')
        for badge in badges:
            url = check_url(badge.get("url"), '"badges[].url"')
            if not url.lower().startswith("https:"):
                raise Rejected("manifest.url", f'package.json "badges[].url" ({show(url)}) must be an https:// URL')
            check_url(badge.get("href"), '"badges[].href"')
            description = badge.get("description", "")
            if not isinstance(description, str):
                raise Rejected("manifest.field", 'package.json "badges[].description" must be a string')
            check_text(description, '"badges[].description"', MAX_SHORT_TEXT)
    return repository_url, homepage, bugs_url, qna, sponsor_url


def _presentation(pkg: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, str | None, bool]:
    markdown = _typed(pkg, "markdown", str, '"github" or "standard"')
    if markdown is not None and markdown not in ("github", "standard"):
        raise Rejected("manifest.field", 'package.json "markdown" must be "github" or "standard"')
    banner = _typed(pkg, "galleryBanner", dict, "an object with color and theme")
    color = theme = None
    if banner is not None:
        color = banner.get("color")
        theme = banner.get("theme")
        if color is not None and not (isinstance(color, str) and len(color) <= 16):
            raise Rejected("manifest.field", 'package.json "galleryBanner.color" must be a CSS colour of at most 16 '
                                             "characters")
        if color is not None:
            check_text(color, '"galleryBanner.color"', 16)
        if theme is not None and theme not in ("dark", "light"):
            raise Rejected("manifest.field", 'package.json "galleryBanner.theme" must be "dark" or "light"')
    pricing = _typed(pkg, "pricing", str, '"Free" or "Trial"')
    if pricing is not None and pricing not in ("Free", "Trial"):
        raise Rejected("manifest.field", 'package.json "pricing" must be "Free" or "Trial"')
    preview = _typed(pkg, "preview", bool, "true or false")
    return markdown, color, theme, pricing, bool(preview)


def _license(pkg: Mapping[str, Any]) -> str | None:
    value = pkg.get("license")
    if isinstance(value, dict):  # legacy {"type": "MIT", "url": ...}
        value = value.get("type")
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected("manifest.field", 'package.json "license" must be an SPDX expression string')
    return check_text(value, '"license"', MAX_SHORT_TEXT)


# -------------------------------------------------------------------------------------------- assets


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


# ---------------------------------------------------------------------------------------------- main


def read_package(archive: Archive, *, expected: Expected | None = None, require_license: bool = False) -> PackageInfo:
    """Validate the manifests of an inspected package and return what the marketplace publishes."""
    vsix_data = _manifest_bytes(archive, MANIFEST_NAME)
    pkg_data = _manifest_bytes(archive, PACKAGE_JSON_NAME)
    xml = parse_vsixmanifest(vsix_data)
    pkg = parse_package_json(pkg_data)

    publisher = _identifier(pkg.get("publisher"), "publisher", "manifest.publisher")
    name = _identifier(pkg.get("name"), "name", "manifest.name")
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

    display_name = _typed(pkg, "displayName", str, "a string")
    description = _typed(pkg, "description", str, "a string") or ""
    check_text(display_name or "", '"displayName"', MAX_DISPLAY_NAME)
    check_text(description, '"description"', MAX_DESCRIPTION, allow_zwj=True)
    categories = _strings(pkg, "categories", MAX_CATEGORIES, MAX_TAG_LENGTH)
    keywords = _strings(pkg, "keywords", MAX_KEYWORDS, MAX_TAG_LENGTH)
    for key in ("main", "browser"):
        if _typed(pkg, key, str, "a path to the extension's entry point") == "":
            raise Rejected("manifest.field", f'package.json "{key}" must not be empty')
    self_id = f"{publisher}.{name}".lower()
    dependencies = _extension_ids(pkg, "extensionDependencies", self_id)
    extension_pack = _extension_ids(pkg, "extensionPack", self_id)
    extension_kind = _extension_kind(pkg)
    proposals = _typed(pkg, "enabledApiProposals", list, "a list of API proposal names") or []
    if len(proposals) > MAX_DEPENDENCIES or not all(isinstance(p, str) and API_PROPOSAL.fullmatch(p)
                                                    for p in proposals):
        raise Rejected("manifest.field", 'package.json "enabledApiProposals" must be a list of proposal names '
                                         "(letters, digits, _ . @ -)")
    repository, homepage, bugs, qna, sponsor_link = _links(pkg)
    markdown, color, theme, pricing, preview = _presentation(pkg)
    license_value = _license(pkg)
    web = "web" in extension_kind

    assets, asset_bytes, icon = _resolve_assets(archive, xml, pkg, vsix_data, pkg_data)
    if require_license and license_value is None and ASSET_LICENSE not in assets:
        raise Rejected("manifest.license", 'the package has no license: set package.json "license" and include a '
                                           "LICENSE file")
    info = PackageInfo(
        publisher=publisher, name=name, version=version, target_platform=target, pre_release=pre_release,
        engine=engine, display_name=display_name or name, description=description, categories=categories,
        keywords=keywords, tags=tuple(dict.fromkeys([*keywords, *([WEB_EXTENSION_TAG] if web else [])])),
        dependencies=dependencies, extension_pack=extension_pack, extension_kind=extension_kind,
        localized_languages=_localized_languages(pkg), enabled_api_proposals=tuple(proposals),
        executes_code=bool(pkg.get("main") or pkg.get("browser")), web_extension=web, preview=preview,
        repository=repository, homepage=homepage, bugs=bugs, qna=qna, sponsor_link=sponsor_link,
        license=license_value, markdown=markdown, gallery_color=color, gallery_theme=theme, pricing=pricing,
        icon=icon, assets=assets, asset_bytes=asset_bytes,
        web_resources=_web_resources(archive.entries) if web else (), package_json=pkg,
    )
    if expected is not None:
        _compare(info, expected)
    return info


def _resolve_assets(archive: Archive, xml: _VsixManifest, pkg: Mapping[str, Any], vsix_data: bytes,
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


def _web_resources(entries: Iterable[Any]) -> tuple[str, ...]:
    return tuple(e.name for e in entries if not e.is_dir and e.name.startswith(EXTENSION_DIR))


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
