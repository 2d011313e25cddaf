"""The rules for single package.json fields: identifiers, versions, ``engines.vscode``, text, URLs, lists of
strings and extension ids, and ``extensionKind`` as vsce deduces it."""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from collections.abc import Mapping
from typing import Any

from marketplace.catalog.ids import EXTENSION_ID, ID_PART
from marketplace.platform.text import first_forbidden
from marketplace.publishing.vsix import Rejected, show

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

_NUM = r"(?:0|[1-9][0-9]*)"
_PRE = rf"(?:{_NUM}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
SEMVER = re.compile(rf"{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE}(?:\.{_PRE})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
ENGINE = re.compile(r"\*|(?:\^|>=)?(?:[0-9]+|x)\.(?:[0-9]+|x)\.(?:[0-9]+|x)(?:-[0-9A-Za-z.-]+)?")
API_PROPOSAL = re.compile(r"[A-Za-z0-9_.@-]{1,128}")
_SCP_URL = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+")
_SHORTHAND = re.compile(r"(?:(?:github|gitlab|bitbucket):)?[A-Za-z0-9._-]+/[A-Za-z0-9._-]+")
_REPOSITORY_SCHEMES = frozenset({"http", "https", "git+https", "git+http", "git", "git+ssh", "ssh"})
_WEB_SCHEMES = frozenset({"http", "https"})
_ZWJ = "\u200d"
# vsce: contribution points that restrict where an extension can run (deduceExtensionKinds).
_CONTRIBUTION_KINDS: dict[str, tuple[str, ...]] = {
    "jsonValidation": ("workspace", "web"), "localizations": ("ui", "workspace"), "debuggers": ("workspace",),
    "terminal": ("workspace",), "typescriptServerPlugins": ("workspace",),
    "markdown.previewStyles": ("workspace", "web"), "markdown.previewScripts": ("workspace", "web"),
    "markdown.markdownItPlugins": ("workspace", "web"), "html.customData": ("workspace", "web"),
    "css.customData": ("workspace", "web"),
}


def typed(pkg: Mapping[str, Any], key: str, kind: type | tuple[type, ...], description: str) -> Any:
    value = pkg.get(key)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
        raise Rejected("manifest.field", f'package.json "{key}" must be {description}')
    return value


def check_text(value: str, field: str, max_length: int, *, allow_zwj: bool = False) -> str:
    if len(value) > max_length:
        raise Rejected("manifest.text", f"package.json {field} is {len(value)} characters; at most {max_length} are "
                                        f"allowed")
    char = first_forbidden(value, allow=_ZWJ if allow_zwj else "")
    if char is not None:
        raise Rejected("manifest.text", f"package.json {field} contains the invisible or control character "
                                        f"U+{ord(char):04X}; remove it")
    return value


def identifier(value: Any, field: str, code: str) -> str:
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


def strings(pkg: Mapping[str, Any], key: str, max_items: int, max_length: int) -> tuple[str, ...]:
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


def extension_ids(pkg: Mapping[str, Any], key: str, self_id: str) -> tuple[str, ...]:
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


def extension_kinds(pkg: Mapping[str, Any]) -> tuple[str, ...]:
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


def localized_languages(pkg: Mapping[str, Any]) -> tuple[str, ...]:
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

