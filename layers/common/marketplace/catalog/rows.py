"""The extensions table's items as the gallery and search read them: decoded from DynamoDB's JSON form
without pynamodb, whose models cost the gallery's cold start more than everything else it reads with.

``ExtensionRow``, ``VersionRow``, ``PointerRow`` and ``ControlRow`` carry exactly the attributes of
``store.ExtensionItem``, ``store.VersionItem``, ``store.UuidPointer`` and ``store.ControlEntry``, with the
values pynamodb's ``from_raw_data`` gives them: a missing or ``NULL`` attribute takes the model's default
(else ``None``), a number is an ``int`` or a ``float`` as its JSON reads, a timestamp is an aware UTC
``datetime``, a list of strings a ``list``, the assets map a plain ``dict`` (pynamodb's ``as_dict()``), and an
attribute of another type than declared is a ``TypeError``. Attributes the models do not declare are
ignored. tests/unit/test_catalog_rows.py decodes the models' own items both ways, so the two cannot drift.
The writers (``catalog.store``) keep the models.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

Raw = Mapping[str, Any]  # an item or attribute value in DynamoDB's JSON form
R = TypeVar("R", bound="_Row")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+0000"  # how pynamodb's UTCDateTimeAttribute writes a timestamp


def _timestamp(text: str) -> datetime:
    """``2026-01-02T03:04:05.000006+0000`` as an aware datetime (pynamodb's own parse, format checks
    included: years before 1000 may have been written without their leading zeros)."""
    text = text.zfill(31)
    if (len(text) != 31 or text[4] != "-" or text[7] != "-" or text[10] != "T" or text[13] != ":"
            or text[16] != ":" or text[19] != "." or text[26:31] != "+0000"):
        raise ValueError(f"Datetime string '{text}' does not match format '{_TIME_FORMAT}'")
    try:
        return datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                        int(text[17:19]), int(text[20:26]), UTC)
    except (TypeError, ValueError):
        raise ValueError(f"Datetime string '{text}' does not match format '{_TIME_FORMAT}'") from None


def _number(text: str) -> Any:
    return json.loads(text)  # pynamodb's NumberAttribute: "3" is 3, "3.5" is 3.5


def _plain(value: Raw) -> Any:
    """A value of an undeclared shape (inside the raw assets map), as pynamodb's untyped attributes read it."""
    decoded: Any = None
    for kind, data in value.items():
        if kind == "S" or kind == "B":
            decoded = data
        elif kind == "N":
            decoded = _number(data)
        elif kind == "BOOL":
            decoded = bool(data)
        elif kind == "NULL":
            decoded = None
        elif kind == "L":
            decoded = [_plain(v) for v in data]
        elif kind == "M":
            decoded = {k: _plain(v) for k, v in data.items()}
        elif kind == "SS" or kind == "BS":
            decoded = set(data)
        elif kind == "NS":
            decoded = {_number(v) for v in data}
        else:
            raise KeyError(kind)
    return decoded


def _strings(values: list[Raw]) -> list[str | None]:
    return [None if "NULL" in v else _value(v, "S", f"[{i}]") for i, v in enumerate(values)]


def _value(value: Raw, kind: str, name: str) -> Any:
    if kind not in value:
        raise TypeError(f"Cannot deserialize '{name}' attribute from type: {kind}")
    return value[kind]


def _attribute(kind: str, convert: Callable[[Any], Any] | None = None,
               default: Callable[[], Any] | bool | int | None = None) -> Mapping[str, Any]:
    """A field's metadata: the DynamoDB type its value has, how it becomes a Python value, its default."""
    return {"kind": kind, "convert": convert, "default": default}


# what each of the models' attribute classes reads (UnicodeAttribute, UTCDateTimeAttribute, NumberAttribute,
# BooleanAttribute, ListAttribute(of=UnicodeAttribute), the raw MapAttribute), with their defaults
_TEXT = _attribute("S")
_TIME = _attribute("S", _timestamp)
_NUMBER = _attribute("N", _number)
_COUNT = _attribute("N", _number, 0)
_FALSE = _attribute("BOOL", bool, False)
_TRUE = _attribute("BOOL", bool, True)
_TEXTS = _attribute("L", _strings, list)
_MAP = _attribute("M", lambda data: {k: _plain(v) for k, v in data.items()}, dict)


_Layout = tuple[tuple[str, str, Callable[[Any], Any] | None, Any], ...]
_layouts: dict[type[Any], _Layout] = {}


def _layout(cls: type[Any]) -> _Layout:
    """Each field's name, DynamoDB type, conversion and default (worked out once per row class)."""
    found = _layouts.get(cls)
    if found is None:
        found = _layouts[cls] = tuple((f.name, f.metadata["kind"], f.metadata["convert"], f.metadata["default"])
                                      for f in fields(cls))
    return found


def decode(cls: type[R], raw: Raw) -> R:
    """``raw`` (an item as the DynamoDB client returns it) as a ``cls`` row."""
    values: dict[str, Any] = {}
    for name, kind, convert, default in _layout(cls):
        value = raw.get(name)
        if value and "NULL" not in value:
            data = _value(value, kind, name)
            values[name] = convert(data) if convert is not None else data
        else:
            values[name] = default() if callable(default) else default
    return cls(**values)


class _Row:
    """What the rows share. Their dataclass declares the fields (with what ``decode`` needs to know of each)
    and generates nothing: its ``__init__``, ``__eq__`` and ``__repr__`` would be compiled at import, which
    costs the gallery's cold start milliseconds. Like pynamodb's items, a row is equal only to itself."""

    def __init__(self, **values: Any) -> None:
        vars(self).update(values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


@dataclass(init=False, repr=False, eq=False)
class ExtensionRow(_Row):
    """An extension's summary item (``store.ExtensionItem``)."""

    pk: str = field(metadata=_TEXT)
    sk: str = field(metadata=_TEXT)
    extension_id: str = field(metadata=_TEXT)
    publisher: str = field(metadata=_TEXT)
    name: str = field(metadata=_TEXT)
    display_name: str | None = field(metadata=_TEXT)
    description: str | None = field(metadata=_TEXT)
    categories: list[str] = field(metadata=_TEXTS)
    tags: list[str] = field(metadata=_TEXTS)
    latest_version: str | None = field(metadata=_TEXT)
    latest_prerelease: str | None = field(metadata=_TEXT)
    version_count: int | float = field(metadata=_COUNT)
    created_at: datetime = field(metadata=_TIME)
    updated_at: datetime = field(metadata=_TIME)
    revision: int | float = field(metadata=_COUNT)
    unpublished: bool = field(metadata=_FALSE)
    deprecated: bool = field(metadata=_FALSE)
    replacement: str | None = field(metadata=_TEXT)
    deprecation_message: str | None = field(metadata=_TEXT)
    malicious: bool = field(metadata=_FALSE)
    featured: bool = field(metadata=_FALSE)
    verified: bool = field(metadata=_FALSE)
    gsi1pk: str | None = field(metadata=_TEXT)
    gsi1sk: str | None = field(metadata=_TEXT)


@dataclass(init=False, repr=False, eq=False)
class VersionRow(_Row):
    """One published (version, target platform) of an extension (``store.VersionItem``)."""

    pk: str = field(metadata=_TEXT)
    sk: str = field(metadata=_TEXT)
    extension_id: str = field(metadata=_TEXT)
    publisher: str = field(metadata=_TEXT)
    name: str = field(metadata=_TEXT)
    version: str = field(metadata=_TEXT)
    target_platform: str = field(metadata=_TEXT)
    pre_release: bool = field(metadata=_FALSE)
    display_name: str | None = field(metadata=_TEXT)
    description: str | None = field(metadata=_TEXT)
    engine: str = field(metadata=_TEXT)
    dependencies: list[str] = field(metadata=_TEXTS)
    extension_pack: list[str] = field(metadata=_TEXTS)
    extension_kind: list[str] = field(metadata=_TEXTS)
    categories: list[str] = field(metadata=_TEXTS)
    tags: list[str] = field(metadata=_TEXTS)
    localized_languages: list[str] = field(metadata=_TEXTS)
    enabled_api_proposals: list[str] = field(metadata=_TEXTS)
    executes_code: bool = field(metadata=_TRUE)
    web_extension: bool = field(metadata=_FALSE)
    license: str | None = field(metadata=_TEXT)
    repository: str | None = field(metadata=_TEXT)
    homepage: str | None = field(metadata=_TEXT)
    bugs: str | None = field(metadata=_TEXT)
    sha256: str = field(metadata=_TEXT)
    size: int | float = field(metadata=_NUMBER)
    asset_base: str = field(metadata=_TEXT)
    assets: dict[str, str] = field(metadata=_MAP)
    web_resource_count: int | float = field(metadata=_COUNT)
    upload_id: str = field(metadata=_TEXT)
    published_by: str = field(metadata=_TEXT)
    published_at: datetime = field(metadata=_TIME)
    signature_key_id: str | None = field(metadata=_TEXT)
    unpublished_at: datetime | None = field(metadata=_TIME)
    quarantined: bool = field(metadata=_FALSE)
    quarantine_reason: str | None = field(metadata=_TEXT)
    confirmed_by: str | None = field(metadata=_TEXT)
    approved_by: str | None = field(metadata=_TEXT)
    released_at: datetime | None = field(metadata=_TIME)


@dataclass(init=False, repr=False, eq=False)
class PointerRow(_Row):
    """``UUID#<uuid>`` → the extension id (``store.UuidPointer``)."""

    pk: str = field(metadata=_TEXT)
    sk: str = field(metadata=_TEXT)
    extension_id: str = field(metadata=_TEXT)


@dataclass(init=False, repr=False, eq=False)
class ControlRow(_Row):
    """An extension the control manifest names (``store.ControlEntry``)."""

    pk: str = field(metadata=_TEXT)
    sk: str = field(metadata=_TEXT)
    extension_id: str = field(metadata=_TEXT)
    kind: str = field(metadata=_TEXT)
    replacement: str | None = field(metadata=_TEXT)
    message: str | None = field(metadata=_TEXT)
    updated_at: datetime = field(metadata=_TIME)
