"""Search documents derived from the extensions table's stream: one JSON document per extension.

An extension's own item has ``sk == "EXTENSION"``; version items and anything else in the table do not
change what search shows, so they produce no change here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

EXTENSION_SK = "EXTENSION"


@dataclass(frozen=True)
class Upsert:
    extension_id: str
    document: bytes


@dataclass(frozen=True)
class Delete:
    extension_id: str


Change = Upsert | Delete


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot index a {type(value).__name__}")


def change_for(event_name: str, keys: dict[str, Any], new_image: dict[str, Any] | None) -> Change | None:
    if keys.get("sk") != EXTENSION_SK:
        return None
    pk = str(keys.get("pk", ""))
    extension_id = pk.removeprefix("EXT#")
    if not extension_id or extension_id == pk:
        return None
    if event_name == "REMOVE" or new_image is None:
        return Delete(extension_id)
    document = {k: v for k, v in new_image.items() if k not in ("pk", "sk", "gsi1pk", "gsi1sk")}
    document["id"] = extension_id
    return Upsert(extension_id, json.dumps(document, default=_json_default, sort_keys=True).encode())
