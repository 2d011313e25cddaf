"""What the stats function reads from the event stream (one JSON object per Kinesis record):

- extension events the gallery emits on a download, install, update or uninstall (``gallery.downloads``):
  ``{"type", "id", "extension", "version", "target_platform", "client", "at"}``, an ``ExtensionEvent``: the
  producer writes it with ``encode`` and this module reads it with ``from_json``, one definition for both;
- telemetry records the telemetry function packs (``{"type": "telemetry", "v": 1, "events": [...]}``), of
  which the extension activations count (``eventName`` ``vscode/extension/activation`` with
  ``properties.extensionId`` and ``measurements.activationTime`` in ms);
- anything else shares the stream with them and is ignored.

Validated by hand rather than with a pydantic model: building the model at import cost the stats function
about 100 ms of cold start (bench/), for a few flat fields.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

EXTENSION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}\.[a-z0-9][a-z0-9-]{0,127}$")
_EVENT_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")
COUNTED = ("download", "install", "update", "uninstall")
Kind = Literal["download", "install", "update", "uninstall"]
TELEMETRY = "telemetry"
TELEMETRY_VERSION = 1
ACTIVATION = "vscode/extension/activation"


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
    id: str | None = None  # the producer's id: a duplicate put of one event carries the same

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "extension": self.extension, "version": self.version,
                "target_platform": self.target_platform, "client": self.client, "at": self.at.isoformat()}

    def encode(self) -> bytes:
        """The record's data as the producer puts it on the stream."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> ExtensionEvent:
        kind = payload.get("type")
        if kind not in COUNTED:
            raise InvalidEvent(f"type must be one of {', '.join(COUNTED)}")
        extension = payload.get("extension")
        if not isinstance(extension, str) or not EXTENSION_ID.match(extension):
            raise InvalidEvent("extension must be a lower-case publisher.name")
        event_id = payload.get("id")
        if event_id is not None and not (isinstance(event_id, str) and _EVENT_ID.match(event_id)):
            raise InvalidEvent("id must be up to 64 letters, digits or dashes")
        return cls(
            type=cast(Kind, kind),
            extension=extension,
            version=_text(payload, "version", 64, required=True) or "",
            at=_moment(payload.get("at"), "at"),
            target_platform=_text(payload, "target_platform", 32),
            client=_text(payload, "client", 128),
            id=event_id,
        )


@dataclass(frozen=True, slots=True)
class Activation:
    """One extension activation from telemetry."""

    extension: str  # lower-cased "publisher.name"
    at: datetime
    milliseconds: float


@dataclass
class Content:
    """What one record holds for the statistics."""

    events: list[ExtensionEvent] = field(default_factory=list)
    activations: list[Activation] = field(default_factory=list)
    skipped: int = 0  # telemetry events in the record that could not be read
    ignored: bool = False  # a record of a type the statistics do not use


def _moment(value: Any, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidEvent(f"{name} must be an ISO 8601 time with a zone")
    return moment


def _text(payload: Mapping[str, Any], name: str, limit: int, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise InvalidEvent(f"{name} must be a string of 1 to {limit} characters")
    return value


def _json(data: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise InvalidEvent(f"record is not JSON: {error}") from error
    if not isinstance(payload, dict):
        raise InvalidEvent("record is not a JSON object")
    return payload


def parse(data: bytes) -> ExtensionEvent | None:
    """The extension event in one record; ``None`` for other kinds of event sharing the stream."""
    payload = _json(data)
    if payload.get("type") not in COUNTED:
        return None
    return ExtensionEvent.from_json(payload)


def activation(event: Any) -> Activation | None:
    """The activation a telemetry event reports; None when it is another event. ``InvalidEvent`` when it is
    an activation without a usable extension id, time or duration."""
    if not isinstance(event, dict):
        raise InvalidEvent("a telemetry event must be an object")
    if event.get("eventName") != ACTIVATION:
        return None
    properties, measurements = event.get("properties"), event.get("measurements")
    extension = properties.get("extensionId") if isinstance(properties, dict) else None
    if not isinstance(extension, str) or not EXTENSION_ID.match(extension.lower()):
        raise InvalidEvent("properties.extensionId must be publisher.name")
    milliseconds = measurements.get("activationTime") if isinstance(measurements, dict) else None
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float) \
            or not math.isfinite(milliseconds) or milliseconds < 0:
        raise InvalidEvent("measurements.activationTime must be a number of milliseconds")
    return Activation(extension.lower(), _moment(event.get("timestamp"), "timestamp"), float(milliseconds))


def read(data: bytes) -> Content:
    """Everything one record holds for the statistics. ``InvalidEvent`` when the record cannot be read at all
    (not JSON, or an extension event with a bad field); a telemetry record's unreadable events are skipped
    and counted instead, so one bad event does not cost the others."""
    payload = _json(data)
    kind = payload.get("type")
    if kind in COUNTED:
        return Content(events=[ExtensionEvent.from_json(payload)])
    if kind != TELEMETRY or payload.get("v") != TELEMETRY_VERSION:
        return Content(ignored=True)
    packed = payload.get("events")
    if not isinstance(packed, list):
        raise InvalidEvent("a telemetry record's events must be a list")
    content = Content()
    for event in packed:
        try:
            found = activation(event)
        except InvalidEvent:
            content.skipped += 1
            continue
        if found is not None:
            content.activations.append(found)
    return content


def totals(events: Iterable[ExtensionEvent]) -> dict[str, Counter[str]]:
    """Counts per extension and event type."""
    result: dict[str, Counter[str]] = {}
    for event in events:
        result.setdefault(event.extension, Counter())[event.type] += 1
    return result
