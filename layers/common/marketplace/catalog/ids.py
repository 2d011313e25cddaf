"""Extension identity: the id grammar shared by the ingest (package.json) and the owner's lifecycle actions,
and the UUIDs the gallery and Open VSX give extensions and publishers."""

from __future__ import annotations

import re
import uuid
from functools import lru_cache

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

# Ids in responses are UUIDs derived from the lower-cased identity, so they are stable without being stored
# and the same on every deployment; ``catalog.store`` keeps a pointer item from the UUID back to the id.
_EXTENSION_NAMESPACE = uuid.UUID("6f1c7a52-3d5e-4b1a-9a51-6d1e2b8a4c10")
# The form those UUIDs take: a value in any other form (braces, no dashes, a ``urn:``) names nothing here.
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@lru_cache(maxsize=65536)
def extension_uuid(extension_id: str) -> str:
    return str(uuid.uuid5(_EXTENSION_NAMESPACE, "extension:" + extension_id.lower()))


@lru_cache(maxsize=16384)
def publisher_uuid(publisher: str) -> str:
    return str(uuid.uuid5(_EXTENSION_NAMESPACE, "publisher:" + publisher.lower()))


def is_uuid(value: str) -> bool:
    """Whether ``value`` can be an extension's or a publisher's UUID (8-4-4-4-12 hex digits, either case)."""
    return UUID.fullmatch(value) is not None
