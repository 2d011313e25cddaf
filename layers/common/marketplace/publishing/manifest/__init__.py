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

The package's modules follow those seams: ``vsixmanifest`` (the XML manifest), ``package_json`` (strict JSON),
``fields`` (single-field rules), ``presentation`` (links, presentation, license), ``assets`` (the files the
manifests point at) and ``package`` (``read_package``, which puts them together). Import from here.
"""

from __future__ import annotations

from marketplace.catalog.ids import TARGET_PLATFORMS, UNIVERSAL, WEB_EXTENSION_TAG
from marketplace.publishing.manifest.assets import (
    DOC_ASSETS,
    DOC_MAX_BYTES,
    ICON_MAX_BYTES,
    MANIFEST_MAX_BYTES,
    check_markdown,
    wanted,
)
from marketplace.publishing.manifest.fields import (
    API_PROPOSAL,
    ENGINE,
    EXTENSION_KINDS,
    MAX_CATEGORIES,
    MAX_DEPENDENCIES,
    MAX_DESCRIPTION,
    MAX_DISPLAY_NAME,
    MAX_ENGINE_LENGTH,
    MAX_ID_LENGTH,
    MAX_KEYWORDS,
    MAX_SHORT_TEXT,
    MAX_TAG_LENGTH,
    MAX_URL_LENGTH,
    MAX_VERSION_LENGTH,
    RESERVED_VERSIONS,
    SEMVER,
    check_engine,
    check_text,
    check_url,
    check_version,
)
from marketplace.publishing.manifest.package import Expected, PackageInfo, read_package
from marketplace.publishing.manifest.package_json import MAX_JSON_DEPTH, parse_package_json
from marketplace.publishing.manifest.vsixmanifest import (
    ASSET_CHANGELOG,
    ASSET_DETAILS,
    ASSET_ICON,
    ASSET_LICENSE,
    ASSET_MANIFEST,
    ASSET_TYPE,
    ASSET_VSIXMANIFEST,
    MAX_ASSETS,
    PROPERTY_ENGINE,
    PROPERTY_PRE_RELEASE,
    VSIX_NAMESPACE,
    VsixManifest,
    parse_vsixmanifest,
)

__all__ = [
    "API_PROPOSAL",
    "ASSET_CHANGELOG",
    "ASSET_DETAILS",
    "ASSET_ICON",
    "ASSET_LICENSE",
    "ASSET_MANIFEST",
    "ASSET_TYPE",
    "ASSET_VSIXMANIFEST",
    "DOC_ASSETS",
    "DOC_MAX_BYTES",
    "ENGINE",
    "EXTENSION_KINDS",
    "ICON_MAX_BYTES",
    "MANIFEST_MAX_BYTES",
    "MAX_ASSETS",
    "MAX_CATEGORIES",
    "MAX_DEPENDENCIES",
    "MAX_DESCRIPTION",
    "MAX_DISPLAY_NAME",
    "MAX_ENGINE_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_JSON_DEPTH",
    "MAX_KEYWORDS",
    "MAX_SHORT_TEXT",
    "MAX_TAG_LENGTH",
    "MAX_URL_LENGTH",
    "MAX_VERSION_LENGTH",
    "PROPERTY_ENGINE",
    "PROPERTY_PRE_RELEASE",
    "RESERVED_VERSIONS",
    "SEMVER",
    "TARGET_PLATFORMS",
    "UNIVERSAL",
    "VSIX_NAMESPACE",
    "WEB_EXTENSION_TAG",
    "Expected",
    "PackageInfo",
    "VsixManifest",
    "check_engine",
    "check_markdown",
    "check_text",
    "check_url",
    "check_version",
    "parse_package_json",
    "parse_vsixmanifest",
    "read_package",
    "wanted",
]
