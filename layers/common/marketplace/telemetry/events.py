"""Telemetry events as editors send them, and the rules each one must pass before it is stored.

A request is ``{"events": [...]}``: at most ``MAX_EVENTS`` events in at most ``MAX_BODY_BYTES``. Each event is

    {"eventName": str, "timestamp": ISO 8601 with a zone, "sessionId": str, "machineId": str,
     "userId": str (optional), "properties": {str: str} (optional), "measurements": {str: number} (optional)}

and is checked on its own; an event that breaks a rule is rejected with a reason naming the field, and the
others go on. Accepted events are returned scrubbed (``scrub``): ids replaced by keyed hashes, property values
redacted, the timestamp normalised to UTC, fields not listed above dropped.

Validation is plain Python, not a pydantic model: it runs on every event (tens of thousands a second), and the
common case (a key or event name seen before) is a set lookup, not a regular expression.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from marketplace.telemetry.scrub import Pseudonyms, looks_sensitive, redact

MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 500
NAME_GRAMMAR = r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}"
KEY_GRAMMAR = r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}"
MAX_ID_CHARS = 256
MAX_PROPERTIES = 64
MAX_MEASUREMENTS = 64
MAX_VALUE_CHARS = 1024
MAX_EVENT_BYTES = 96 * 1024  # one scrubbed event, encoded: room for every limit at its maximum in ASCII
MAX_AGE = timedelta(days=7)
MAX_SKEW = timedelta(minutes=5)
_BIGGEST_EXACT_INT = 2**53

_NAME = re.compile(NAME_GRAMMAR)
_KEY = re.compile(KEY_GRAMMAR)
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)
# Names, keys and short property values already seen valid and clean: most batches repeat a few dozen of them
# thousands of times. Bounded: once full, new ones are checked every time (never stored anywhere).
_KNOWN_NAMES: set[str] = set()
_KNOWN_KEYS: set[str] = set()
_CLEAN_VALUES: set[str] = set()
_KNOWN_LIMIT = 20_000
_CLEAN_VALUE_CHARS = 64


class InvalidEvent(ValueError):
    """One event breaks a rule; the message (the rejection's reason) never repeats the event's values."""


@dataclass(frozen=True)
class Window:
    """The accepted timestamps: from ``MAX_AGE`` before the request to ``MAX_SKEW`` after it."""

    earliest: datetime
    latest: datetime

    @classmethod
    def around(cls, now: datetime) -> Window:
        return cls(now - MAX_AGE, now + MAX_SKEW)


def _remember(known: set[str], value: str) -> None:
    if len(known) < _KNOWN_LIMIT:
        known.add(value)


def _name(value: object) -> str:
    if type(value) is not str:
        raise InvalidEvent("eventName: must be a string")
    if value in _KNOWN_NAMES:
        return value
    if not _NAME.fullmatch(value):
        raise InvalidEvent(f"eventName: must match {NAME_GRAMMAR} (1 to 128 characters)")
    if looks_sensitive(value):
        raise InvalidEvent("eventName: looks like a path, an e-mail address or a secret")
    _remember(_KNOWN_NAMES, value)
    return value


def _timestamp(value: object, window: Window) -> str:
    if type(value) is not str or not 10 <= len(value) <= 40:
        raise InvalidEvent("timestamp: must be an ISO 8601 date and time with a zone")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent("timestamp: must be an ISO 8601 date and time with a zone") from None
    if moment.tzinfo is None:
        raise InvalidEvent("timestamp: needs a zone (Z or an offset)")
    if moment < window.earliest:
        raise InvalidEvent(f"timestamp: older than {MAX_AGE.days} days")
    if moment > window.latest:
        raise InvalidEvent(f"timestamp: more than {int(MAX_SKEW.total_seconds()) // 60} minutes in the future")
    if len(value) == 24 and value[23] == "Z" and value[19] == "." and value[10] == "T" and value[4] == "-":
        return value  # already the canonical form (JavaScript's toISOString, what editors send)
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _id(value: object, field: str) -> str:
    if type(value) is not str or not 0 < len(value) <= MAX_ID_CHARS:
        raise InvalidEvent(f"{field}: must be a string of 1 to {MAX_ID_CHARS} characters")
    return value


def _key(key: str, field: str) -> None:
    if not _KEY.fullmatch(key):
        raise InvalidEvent(f"{field}: keys must match {KEY_GRAMMAR} (1 to 64 characters)")
    if looks_sensitive(key):
        raise InvalidEvent(f"{field}: a key looks like a path, an e-mail address or a secret")
    _remember(_KNOWN_KEYS, key)


def _number(value: int | float) -> str:
    if type(value) is float and not math.isfinite(value):
        raise InvalidEvent("properties: numbers must be finite")
    text = _ENCODER.encode(value)
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidEvent(f"properties: a value is longer than {MAX_VALUE_CHARS} characters")
    return text


def _properties(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise InvalidEvent("properties: must be an object of strings")
    if len(value) > MAX_PROPERTIES:
        raise InvalidEvent(f"properties: more than {MAX_PROPERTIES}")
    scrubbed: dict[str, str] = {}
    for key, item in value.items():
        if key not in _KNOWN_KEYS:
            _key(key, "properties")
        kind = type(item)
        if kind is str:
            if item in _CLEAN_VALUES:
                scrubbed[key] = item
                continue
            if len(item) > MAX_VALUE_CHARS:
                raise InvalidEvent(f"properties: a value is longer than {MAX_VALUE_CHARS} characters")
            clean = redact(item)
            if len(item) <= _CLEAN_VALUE_CHARS and clean == item:
                _remember(_CLEAN_VALUES, item)
            scrubbed[key] = clean
        elif kind is bool:
            scrubbed[key] = "true" if item else "false"
        elif kind is int or kind is float:
            scrubbed[key] = _number(item)
        else:
            raise InvalidEvent("properties: values must be strings (numbers and booleans are turned into strings)")
    return scrubbed


def _measurements(value: object) -> dict[str, int | float]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise InvalidEvent("measurements: must be an object of numbers")
    if len(value) > MAX_MEASUREMENTS:
        raise InvalidEvent(f"measurements: more than {MAX_MEASUREMENTS}")
    for key, item in value.items():
        if key not in _KNOWN_KEYS:
            _key(key, "measurements")
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):
                raise InvalidEvent("measurements: numbers must be finite")
        elif kind is int:
            if not -_BIGGEST_EXACT_INT <= item <= _BIGGEST_EXACT_INT:
                raise InvalidEvent("measurements: integers must be within +/- 2**53")
        else:
            raise InvalidEvent("measurements: values must be numbers")
    return value  # checked above: JSON keys are strings, the values finite numbers


def scrubbed(raw: object, window: Window, pseudonyms: Pseudonyms) -> dict[str, Any]:
    """The stored form of one event; ``InvalidEvent`` when it breaks a rule."""
    if type(raw) is not dict:
        raise InvalidEvent("the event is not a JSON object")
    get = raw.get
    name = _name(get("eventName"))
    timestamp = _timestamp(get("timestamp"), window)
    machine = _id(get("machineId"), "machineId")
    session = _id(get("sessionId"), "sessionId")
    user = get("userId")
    user = None if user is None else _id(user, "userId")
    properties = _properties(get("properties"))
    measurements = _measurements(get("measurements"))
    event: dict[str, Any] = {
        "eventName": name,
        "timestamp": timestamp,
        "machineId": pseudonyms.id("m", machine),
        "sessionId": pseudonyms.id("s", session),
    }
    if user is not None:
        event["userId"] = pseudonyms.id("u", user)
    event["properties"] = properties
    event["measurements"] = measurements
    return event


def encoded(event: dict[str, Any]) -> bytes:
    """One scrubbed event as compact ASCII JSON (non-ASCII escaped: lone surrogates cannot break encoding)."""
    data = _ENCODER.encode(event).encode("ascii")
    if len(data) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"the event is larger than {MAX_EVENT_BYTES} bytes once scrubbed")
    return data
