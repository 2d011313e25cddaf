"""The extensions table's keys and the attribute names the light paths use, spelled here and nowhere else
(``catalog.store`` describes the items). Pure: no AWS and no pynamodb.

| item      | pk                    | sk                             | gsi1pk       | gsi1sk         |
|-----------|-----------------------|--------------------------------|--------------|----------------|
| extension | ``EXT#<pub>.<name>``  | ``EXTENSION``                  | ``NS#<pub>`` | ``EXT#<name>`` |
| version   | ``EXT#<pub>.<name>``  | ``VERSION#<version>#<target>`` |              |                |
| pointer   | ``UUID#<uuid>``       | ``EXTENSION``                  |              |                |
| control   | ``CONTROL``           | ``EXT#<pub>.<name>``           |              |                |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EXTENSION_PREFIX = "EXT#"
EXTENSION_SK = "EXTENSION"  # the sort key of an extension's summary item and of a UUID pointer
VERSION_PREFIX = "VERSION#"
UUID_PREFIX = "UUID#"
NAMESPACE_PREFIX = "NS#"
CONTROL_PK = "CONTROL"
# Set on a summary item by writers of its statistics: the stream record makes the search indexer read the
# extension again (statistics live in another table, whose changes the indexer does not see).
TOUCHED_AT = "stats_touched_at"


def extension_key(extension_id: str) -> str:
    return f"{EXTENSION_PREFIX}{extension_id.lower()}"


def uuid_key(value: str) -> str:
    return f"{UUID_PREFIX}{value.lower()}"


def version_key(version: str, target_platform: str) -> str:
    return f"{VERSION_PREFIX}{version}#{target_platform}"


def version_prefix(version: str | None = None) -> str:
    """The sort-key prefix of every version item, or of every build of ``version``."""
    return VERSION_PREFIX if version is None else f"{VERSION_PREFIX}{version}#"


def target_of(version_sk: str) -> str:
    """The target platform a version item's sort key names."""
    return version_sk.rsplit("#", 1)[1]


def namespace_key(namespace: str) -> str:
    """``gsi1pk`` of the summaries of ``namespace``."""
    return f"{NAMESPACE_PREFIX}{namespace.lower()}"


def name_key(name: str) -> str:
    """``gsi1sk`` of an extension's summary (its name within the namespace)."""
    return f"{EXTENSION_PREFIX}{name.lower()}"


def summary_key(extension_id: str) -> dict[str, dict[str, str]]:
    """The key of an extension's summary item in DynamoDB's JSON form."""
    return {"pk": {"S": extension_key(extension_id)}, "sk": {"S": EXTENSION_SK}}


def is_version(sk: str) -> bool:
    return sk.startswith(VERSION_PREFIX)


def changed_extension(keys: Mapping[str, Any] | None) -> str | None:
    """The extension a stream record's keys (``{"pk": ..., "sk": ...}``) are about when they are a summary
    item's, else ``None`` (version items, UUID pointers, control entries)."""
    if not keys or keys.get("sk") != EXTENSION_SK:
        return None
    pk = str(keys.get("pk", ""))
    if not pk.startswith(EXTENSION_PREFIX) or len(pk) == len(EXTENSION_PREFIX):
        return None
    return pk[len(EXTENSION_PREFIX):].lower()
