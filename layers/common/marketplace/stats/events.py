"""Extension events on the event stream: what the gallery emits on a download, install, update or
uninstall, and what the stats function counts. One JSON object per Kinesis record.

Validated by hand rather than with a pydantic model: building the model at import cost the stats function
about 100 ms of cold start (bench/), for six flat fields.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

EXTENSION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}\.[a-z0-9][a-z0-9-]{0,127}$")
COUNTED = ("download", "install", "update", "uninstall")
Kind = Literal["download", "install", "update", "uninstall"]


class InvalidEvent(ValueError):
    pass


@dataclass(frozen=True)
class ExtensionEvent:
    type: Kind
    extension: str  # lower-cased "publisher.name"
    version: str
    at: datetime
    target_platform: str | None = None
    client: str | None = None

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> ExtensionEvent:
        kind = payload.get("type")
        if kind not in COUNTED:
            raise InvalidEvent(f"type must be one of {', '.join(COUNTED)}")
        extension = payload.get("extension")
        if not isinstance(extension, str) or not EXTENSION_ID.match(extension):
            raise InvalidEvent("extension must be a lower-case publisher.name")
        at = payload.get("at")
        try:
            timestamp = datetime.fromisoformat(at) if isinstance(at, str) else None
        except ValueError:
            timestamp = None
        if timestamp is None or timestamp.tzinfo is None:
            raise InvalidEvent("at must be an ISO 8601 time with a zone")
        return cls(
            type=cast(Kind, kind),
            extension=extension,
            version=_text(payload, "version", 64, required=True) or "",
            at=timestamp,
            target_platform=_text(payload, "target_platform", 32),
            client=_text(payload, "client", 128),
        )


def _text(payload: Mapping[str, Any], name: str, limit: int, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise InvalidEvent(f"{name} must be a string of 1 to {limit} characters")
    return value


def parse(data: bytes) -> ExtensionEvent | None:
    """The extension event in one record; ``None`` for other kinds of event sharing the stream."""
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidEvent(f"record is not JSON: {error}") from error
    if not isinstance(payload, dict):
        raise InvalidEvent("record is not a JSON object")
    if payload.get("type") not in COUNTED:
        return None
    return ExtensionEvent.from_json(payload)


def totals(events: Iterable[ExtensionEvent]) -> dict[str, Counter[str]]:
    """Counts per extension and event type: a batch is summed in memory and written once per extension."""
    result: dict[str, Counter[str]] = {}
    for event in events:
        result.setdefault(event.extension, Counter())[event.type] += 1
    return result
