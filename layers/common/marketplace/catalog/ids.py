"""Extension identity grammar shared by the ingest (package.json) and the owner's lifecycle actions."""

from __future__ import annotations

import re

ID_PART_PATTERN = r"[A-Za-z0-9][A-Za-z0-9-]*"
ID_PART = re.compile(ID_PART_PATTERN)
EXTENSION_ID = re.compile(rf"({ID_PART_PATTERN})\.({ID_PART_PATTERN})")

UNIVERSAL = "universal"
TARGET_PLATFORMS = frozenset({
    "win32-x64", "win32-arm64", "win32-ia32", "linux-x64", "linux-arm64", "linux-armhf", "alpine-x64",
    "alpine-arm64", "darwin-x64", "darwin-arm64", "web", UNIVERSAL,
})
# marks an extension that runs in the browser (docs/protocols/vscode-gallery.md A12)
WEB_EXTENSION_TAG = "__web_extension"
