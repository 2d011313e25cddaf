"""PynamoDB models find their table through the environment at first use, not at import time, so the
same model works in Lambda, in the local runtime and in tests that set the variable later."""

from __future__ import annotations

import os
from typing import TypeVar

from pynamodb.models import Model

from marketplace.platform.config import location
from marketplace.platform.resources import TableDef

M = TypeVar("M", bound=type[Model])


_bound: dict[type[Model], tuple[str, str | None]] = {}


def bind(model: M, table: TableDef) -> M:
    """Point ``model`` at the physical table named by ``table``'s environment variable (and at the current
    endpoint: the local runtime and tests may move it)."""
    target = (location(table), os.environ.get("AWS_ENDPOINT_URL"))
    if _bound.get(model) != target:
        model.Meta.table_name = target[0]
        model._connection = None  # the cached connection holds the old table name and endpoint
        _bound[model] = target
    return model
