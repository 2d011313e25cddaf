"""PynamoDB models find their table through the environment at first use, not at import time, so the
same model works in Lambda, in the local runtime and in tests that set the variable later."""

from __future__ import annotations

from typing import TypeVar

from pynamodb.models import Model

from marketplace.platform.config import location
from marketplace.platform.resources import TableDef

M = TypeVar("M", bound=type[Model])


def bind(model: M, table: TableDef) -> M:
    """Point ``model`` at the physical table named by ``table``'s environment variable."""
    name = location(table)
    if getattr(model.Meta, "table_name", None) != name:
        model.Meta.table_name = name
        model._connection = None  # the cached connection holds the old table name
    return model
