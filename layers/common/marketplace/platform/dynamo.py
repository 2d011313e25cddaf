"""PynamoDB models find their table through the environment at first use, not at import time, so the
same model works in Lambda, in the local runtime and in tests that set the variable later."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from marketplace.platform import aws  # noqa: F401  (PynamoDB's own sessions read the trimmed SDK models too)
from marketplace.platform.config import location
from marketplace.platform.resources import TableDef

M = TypeVar("M", bound=Model)

_bound: dict[type[Model], tuple[str, str | None]] = {}


def bind(model: type[M], table: TableDef) -> type[M]:
    """Point ``model`` (and the model classes it derives from) at the physical table named by ``table``'s
    environment variable, and at the current endpoint: the local runtime and tests may move it."""
    target = (location(table), os.environ.get("AWS_ENDPOINT_URL"))
    for cls in model.__mro__:
        if isinstance(cls, type) and issubclass(cls, Model) and cls is not Model and _bound.get(cls) != target:
            cls.Meta.table_name = target[0]
            cls._connection = None  # the cached connection holds the old table name and endpoint
            _bound[cls] = target
    return model


def get_or_none(model: type[M], table: TableDef, hash_key: Any, range_key: Any) -> M | None:
    """A strongly consistent read of one item, ``None`` when it does not exist."""
    try:
        return bind(model, table).get(hash_key, range_key, consistent_read=True)
    except DoesNotExist:
        return None


def connection(model: type[Model], table: TableDef) -> Connection:
    """The low-level connection transactions need."""
    return bind(model, table)._get_connection().connection
