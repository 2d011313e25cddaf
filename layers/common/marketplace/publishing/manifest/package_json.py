"""``extension/package.json`` read strictly: UTF-8 (a BOM is tolerated), one JSON object, at most
``MAX_JSON_DEPTH`` levels deep, without duplicate keys, ``NaN``/``Infinity`` or unpaired surrogate escapes."""

from __future__ import annotations

import json
from typing import Any

from marketplace.publishing.vsix import Rejected, show

MAX_JSON_DEPTH = 64


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Rejected("manifest.json_invalid", f"package.json has the key {show(key)} twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise Rejected("manifest.json_invalid", f"package.json contains {name}, which is not JSON")


def parse_package_json(data: bytes) -> dict[str, Any]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("manifest.json_invalid", "package.json is not valid UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except Rejected:
        raise
    except RecursionError:
        raise Rejected("manifest.json_invalid", f"package.json is nested more than {MAX_JSON_DEPTH} levels deep"
                       ) from None
    except ValueError as error:
        raise Rejected("manifest.json_invalid", f"package.json is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise Rejected("manifest.json_invalid", "package.json must be a JSON object")
    _check_json_tree(value)
    return value


def _check_json_tree(root: dict[str, Any]) -> None:
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise Rejected("manifest.json_invalid", f"package.json is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                _no_surrogates(key)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _no_surrogates(value)


def _no_surrogates(text: str) -> None:
    if any("\ud800" <= char <= "\udfff" for char in text):
        raise Rejected("manifest.json_invalid", "package.json contains an unpaired surrogate escape (\\ud800-\\udfff)")

