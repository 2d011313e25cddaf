"""The Open VSX lookups of ``gallery.service`` that answer before reading anything: a name or UUID that cannot
exist finds nothing, and a query that names nothing is refused. Every test here runs without a table (the
table-reading paths are covered by tests/integration/test_openvsx_api.py on the shared test catalog)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketplace.catalog.model import ExtensionView
from marketplace.gallery import openvsx, service
from marketplace.gallery.openvsx import ApiPath

T0 = datetime(2026, 1, 2, tzinfo=UTC)


def _query(**params: str) -> openvsx.QueryParams:
    return openvsx.parse_query(params, v2=True)


@pytest.mark.parametrize("params", [
    {"namespaceName": "-"},
    {"extensionName": "x" * 200},
    {"extensionId": "acme.bad name"},
    {"extensionUuid": "not-a-uuid"},
    {"namespaceUuid": "not-a-uuid", "namespaceName": "acme"},
])
def test_a_query_naming_what_cannot_exist_finds_nothing(params: dict[str, str]) -> None:
    assert service.openvsx_query_views(_query(**params)) == []


def test_a_query_naming_nothing_is_refused() -> None:
    with pytest.raises(openvsx.InvalidParameter, match=r"^Name what to look up: 'extensionId', "):
        service.openvsx_query_views(_query(targetPlatform="linux-x64"))


def test_a_namespace_or_extension_that_cannot_exist_is_missing() -> None:
    with pytest.raises(openvsx.Missing, match=r"^Namespace not found: -$"):
        service.openvsx_namespace_extensions("-")
    with pytest.raises(openvsx.Missing, match=r"^Extension not found: acme\.-$"):
        service.openvsx_extension(ApiPath("extension", "acme", "-"))
    with pytest.raises(openvsx.Missing, match=r"^Extension not found: -\.hello$"):
        service.openvsx_extension(ApiPath("extension", "-", "hello"), with_statistics=False)


def test_only_a_deprecated_extension_with_a_replacement_has_a_replacement_name() -> None:
    def view(**more: object) -> ExtensionView:
        values: dict[str, object] = dict(
            extension_id="acme.hello", publisher="acme", name="hello", display_name="Hello", description=None,
            categories=(), tags=(), latest_version="1.0.0", latest_prerelease=None, created_at=T0, updated_at=T0,
            versions=())
        values.update(more)
        return ExtensionView(**values)  # type: ignore[arg-type]

    assert service.replacement_display_name(view()) is None
    assert service.replacement_display_name(view(deprecated=True)) is None
    assert service.replacement_display_name(view(replacement="acme.other")) is None
