"""Where a function finds its resources: the environment variables named in ``resources``.

Logic never reads ``os.environ`` directly; it asks here, and a missing variable is an operator error with
a message that names it.
"""

from __future__ import annotations

import os

from marketplace.platform.errors import ConfigurationError
from marketplace.platform.resources import BucketDef, KeyDef, QueueDef, StreamDef, TableDef

STAGE_VAR = "MARKETPLACE_STAGE"
METRICS_NAMESPACE = "Marketplace"  # every function's CloudWatch metrics namespace


def stage() -> str:
    return os.environ.get(STAGE_VAR, "local")


def location(resource: TableDef | BucketDef | QueueDef | StreamDef | KeyDef) -> str:
    """The physical name (table, bucket, stream), URL (queue) or key id of a resource."""
    if resource.env_var is None:
        raise ConfigurationError(f"resource {resource.id!r} is not exposed to functions")
    value = os.environ.get(resource.env_var)
    if not value:
        raise ConfigurationError(f"environment variable {resource.env_var} is not set")
    return value


def setting_int(name: str, default: int, *, minimum: int = 1) -> int:
    """An integer setting from the environment (an operator's override of a documented default)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ConfigurationError(f"{name} must be an integer, not {raw!r}") from error
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}")
    return value


def setting_flag(name: str) -> bool:
    """A yes/no setting from the environment (``1``, ``true`` or ``yes`` is yes; unset is no)."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def setting_list(name: str) -> list[str]:
    """A comma-separated setting from the environment, as its non-empty, stripped items (unset is none)."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]
