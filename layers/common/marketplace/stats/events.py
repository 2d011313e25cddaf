"""Extension events on the event stream: what the gallery emits on a download, install, update or
uninstall, and what the stats function counts. One JSON object per Kinesis record."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

EXTENSION_ID = r"^[a-z0-9][a-z0-9-]{0,127}\.[a-z0-9][a-z0-9-]{0,127}$"
COUNTED = ("download", "install", "update", "uninstall")


class ExtensionEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["download", "install", "update", "uninstall"]
    extension: str = Field(pattern=EXTENSION_ID)  # lower-cased "publisher.name"
    version: str = Field(min_length=1, max_length=64)
    at: datetime
    target_platform: str | None = Field(default=None, max_length=32)
    client: str | None = Field(default=None, max_length=128)


class InvalidEvent(ValueError):
    pass


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
    try:
        return ExtensionEvent.model_validate(payload)
    except ValidationError as error:
        raise InvalidEvent(f"invalid extension event: {error.error_count()} errors") from error


def totals(events: Iterable[ExtensionEvent]) -> dict[str, Counter[str]]:
    """Counts per extension and event type: a batch is summed in memory and written once per extension."""
    result: dict[str, Counter[str]] = {}
    for event in events:
        result.setdefault(event.extension, Counter())[event.type] += 1
    return result
