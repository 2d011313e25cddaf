"""``catalog.rows`` reads the extensions table's items exactly as pynamodb's models do: each item is built
with the model, serialized to DynamoDB's JSON form, and decoded both ways; every attribute the model declares
must come out equal, of the same type. A new attribute on a model fails here until its row has it too."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pynamodb.attributes import MapAttribute
from pynamodb.models import Model

from marketplace.catalog.rows import ControlRow, ExtensionRow, PointerRow, VersionRow, decode
from marketplace.catalog.store import ControlEntry, ExtensionItem, UuidPointer, VersionItem

ROOT = Path(__file__).resolve().parents[2]
PAIRS: list[tuple[type[Model], type[Any]]] = [(ExtensionItem, ExtensionRow), (VersionItem, VersionRow),
                                              (UuidPointer, PointerRow), (ControlEntry, ControlRow)]
WHEN = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def full_extension() -> ExtensionItem:
    return ExtensionItem(
        "EXT#acme.linter", "EXTENSION", extension_id="acme.linter", publisher="Acme", name="Linter",
        display_name="Acme Linter", description="Lints.", categories=["Linters", "Other"], tags=["lint", "ä"],
        latest_version="1.2.3", latest_prerelease="1.3.0", version_count=7, created_at=WHEN,
        updated_at=datetime(2027, 1, 1, tzinfo=UTC), revision=12, unpublished=True, deprecated=True,
        replacement="acme.better", deprecation_message="Use the better one.", malicious=True, featured=True,
        verified=True, gsi1pk="NS#acme", gsi1sk="EXT#linter")


def minimal_extension() -> ExtensionItem:
    return ExtensionItem("EXT#acme.bare", "EXTENSION", extension_id="acme.bare", publisher="acme", name="bare",
                         created_at=WHEN, updated_at=WHEN)


def full_version() -> VersionItem:
    return VersionItem(
        "EXT#acme.linter", "VERSION#1.2.3#linux-x64", extension_id="acme.linter", publisher="Acme", name="Linter",
        version="1.2.3", target_platform="linux-x64", pre_release=True, display_name="Acme Linter",
        description="Lints.", engine="^1.80.0", dependencies=["acme.core"], extension_pack=["acme.a", "acme.b"],
        extension_kind=["workspace", "ui"], categories=["Linters"], tags=["lint"], localized_languages=["de"],
        enabled_api_proposals=["chatProvider"], executes_code=False, web_extension=True, license="MIT",
        repository="https://example.test/repo", homepage="https://example.test", bugs="https://example.test/bugs",
        sha256="ab" * 32, size=123456, asset_base="acme/linter/1.2.3/linux-x64",
        assets={"Microsoft.VisualStudio.Code.Manifest": "application/json",
                "Microsoft.VisualStudio.Services.Icons.Default": "image/png"},
        web_resource_count=3, upload_id="upload-1", published_by="alice", published_at=WHEN,
        signature_key_id="key-1", unpublished_at=datetime(2026, 5, 1, tzinfo=UTC))


def minimal_version() -> VersionItem:
    return VersionItem(
        "EXT#acme.bare", "VERSION#0.0.1#universal", extension_id="acme.bare", publisher="acme", name="bare",
        version="0.0.1", target_platform="universal", engine="*", sha256="cd" * 32, size=1, asset_base="x",
        upload_id="u", published_by="bob", published_at=WHEN)


def items() -> list[Model]:
    return [full_extension(), minimal_extension(), full_version(), minimal_version(),
            UuidPointer("UUID#0f8fad5b-d9cb-469f-a165-70867728950e", "EXTENSION", extension_id="acme.linter"),
            ControlEntry("CONTROL", "EXT#acme.linter", extension_id="acme.linter", kind="deprecated",
                         replacement="acme.better", message="Use the better one.", updated_at=WHEN),
            ControlEntry("CONTROL", "EXT#acme.bare", extension_id="acme.bare", kind="malicious", updated_at=WHEN)]


def row_of(model: type[Model]) -> type[Any]:
    return dict(PAIRS)[model]


def plain(value: Any) -> Any:
    return value.as_dict() if isinstance(value, MapAttribute) else value


def assert_same(model: type[Model], raw: dict[str, Any]) -> None:
    expected = model.from_raw_data(raw)
    row = decode(row_of(model), raw)
    for name in model.get_attributes():
        want, got = plain(getattr(expected, name)), getattr(row, name)
        assert got == want, name
        assert type(got) is type(want), name
        if isinstance(want, list):
            assert [type(v) for v in got] == [type(v) for v in want], name
        if isinstance(want, datetime):
            assert got.utcoffset() == want.utcoffset(), name


def raw_of(item: Model) -> dict[str, Any]:
    return item.serialize()


def test_every_row_has_exactly_its_models_attributes():
    for model, row in PAIRS:
        assert sorted(f.name for f in fields(row)) == sorted(model.get_attributes()), row.__name__


@pytest.mark.parametrize("item", items(), ids=lambda i: f"{type(i).__name__}:{i.sk}")
def test_a_serialized_item_decodes_as_its_model_reads_it(item: Model):
    assert_same(type(item), raw_of(item))


@pytest.mark.parametrize("item", items(), ids=lambda i: f"{type(i).__name__}:{i.sk}")
def test_missing_and_null_attributes_take_the_models_defaults(item: Model):
    """Items written before an attribute existed, and ``NULL`` values: each attribute in turn."""
    model, raw = type(item), raw_of(item)
    for name in model.get_attributes():
        assert_same(model, {k: v for k, v in raw.items() if k != name})
        assert_same(model, {**raw, name: {"NULL": True}})
    assert_same(model, {})


def test_numbers_timestamps_lists_and_maps_read_as_pynamodb_reads_them():
    raw = raw_of(full_version())
    raw.update({
        "size": {"N": "1234.5"}, "web_resource_count": {"N": "2.0"},  # a float stays a float
        "published_at": {"S": "999-01-02T03:04:05.000006+0000"},  # a year before 1000, written unpadded
        "tags": {"L": [{"S": "a"}, {"NULL": True}, {"S": "b"}]},
        "assets": {"M": {"Manifest": {"S": "application/json"}, "n": {"N": "3"}, "flag": {"BOOL": True},
                         "none": {"NULL": True}, "list": {"L": [{"S": "x"}, {"N": "1.5"}]},
                         "map": {"M": {"deep": {"S": "y"}}}, "set": {"SS": ["p", "q"]}}},
        "stats_touched_at": {"N": "1767225600.123"},  # not the model's: ignored
    })
    assert_same(VersionItem, raw)
    summary = raw_of(full_extension())
    summary.update({"version_count": {"N": "-4"}, "revision": {"N": "1e3"}, "unpublished": {"BOOL": False}})
    assert_same(ExtensionItem, summary)


@pytest.mark.parametrize(("model", "name", "value"), [
    (ExtensionItem, "name", {"N": "3"}),
    (ExtensionItem, "created_at", {"S": "2026-03-04 05:06:07"}),
    (ExtensionItem, "categories", {"L": [{"N": "1"}]}),
    (VersionItem, "size", {"S": "12"}),
    (VersionItem, "pre_release", {"S": "true"}),
])
def test_a_value_of_another_type_fails_as_it_does_with_pynamodb(model: type[Model], name: str, value: Any):
    base = full_extension() if model is ExtensionItem else full_version()
    raw = {**raw_of(base), name: value}
    with pytest.raises(Exception) as expected:
        model.from_raw_data(raw)
    # pynamodb's own exception classes derive from the built-in one the row raises
    builtin = next(c for c in type(expected.value).__mro__ if c.__module__ == "builtins")
    with pytest.raises(builtin, match=str(expected.value).split(" ")[0]):
        decode(row_of(model), raw)


def test_the_gallery_function_does_not_load_pynamodb():
    """Its cold start: the handler reads the catalog and the statistics with the plain DynamoDB client."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    code = ("import sys; import functions.gallery.handler; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pynamodb' "
            "or m in ('marketplace.catalog.store', 'marketplace.stats.store', 'marketplace.platform.dynamo')))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT,
                            env=env).stdout.strip()
    assert loaded == "[]"
