"""What an extension's owner may do after publishing: withdraw versions (unpublish) and deprecate, with an
optional replacement. The catalog keeps the records (version numbers stay taken); the gallery stops
offering what is withdrawn and warns about what is deprecated."""

from __future__ import annotations

from typing import Any

from marketplace.catalog import store as catalog
from marketplace.catalog.ids import EXTENSION_ID
from marketplace.platform.errors import BadRequest, Conflict, NotFound
from marketplace.platform.text import first_forbidden
from marketplace.publishing import service, tokens

MAX_MESSAGE = 1024
_ATTEMPTS = 3


def _extension_id(namespace: str, extension: str) -> str:
    extension_id = f"{namespace}.{extension}".lower()
    if not EXTENSION_ID.fullmatch(extension_id):
        raise BadRequest(f"{namespace}.{extension} is not an extension id (publisher.name)")
    return extension_id


def _require_owner(principal: service.Principal, namespace: str, what: str = "unpublish or deprecate") -> None:
    service.require_owner(principal, namespace, f"{what} its extensions")


def unpublish(principal: service.Principal, namespace: str, extension: str, version: str | None = None,
              target_platform: str | None = None) -> list[str]:
    extension_id = _extension_id(namespace, extension)
    _require_owner(principal, namespace.lower())
    if target_platform is not None and version is None:
        raise BadRequest("name the version whose target platform to unpublish")
    for attempt in range(_ATTEMPTS):
        try:
            withdrawn = catalog.unpublish(extension_id, version, target_platform, tokens.utcnow())
            service.record(namespace.lower(), "extension.unpublish", extension_id,
                           {"version": version, "targetPlatform": target_platform, "withdrawn": withdrawn})
            return withdrawn
        except LookupError as error:
            raise NotFound(str(error)) from error
        except catalog.ConcurrentChange as error:
            if attempt == _ATTEMPTS - 1:
                raise Conflict(f"{extension_id} is changing right now; try again") from error
    raise AssertionError("unreachable")


def _message(message: object) -> str | None:
    if message is None:
        return None
    if not isinstance(message, str) or len(message) > MAX_MESSAGE:
        raise BadRequest(f"message must be text of at most {MAX_MESSAGE} characters")
    if first_forbidden(message) is not None:
        raise BadRequest("message must not contain control, bidi or zero-width characters")
    return message


def deprecate(principal: service.Principal, namespace: str, extension: str, replacement: object = None,
              message: object = None) -> None:
    extension_id = _extension_id(namespace, extension)
    _require_owner(principal, namespace.lower())
    if replacement is not None:
        if not isinstance(replacement, str) or not EXTENSION_ID.fullmatch(replacement):
            raise BadRequest("replacement must be an extension id (publisher.name)")
        replacement = replacement.lower()
        if replacement == extension_id:
            raise BadRequest("an extension cannot replace itself")
        if catalog.get_extension(replacement) is None:
            raise BadRequest(f"the replacement {replacement} is not in this marketplace")
    text = _message(message)
    try:
        catalog.deprecate(extension_id, replacement, text, tokens.utcnow())
    except LookupError as error:
        raise NotFound(str(error)) from error
    service.record(namespace.lower(), "extension.deprecate", extension_id,
                   {"replacement": replacement, "message": text})


def undeprecate(principal: service.Principal, namespace: str, extension: str) -> None:
    extension_id = _extension_id(namespace, extension)
    _require_owner(principal, namespace.lower())
    try:
        catalog.undeprecate(extension_id, tokens.utcnow())
    except LookupError as error:
        raise NotFound(str(error)) from error
    service.record(namespace.lower(), "extension.undeprecate", extension_id)


def statistics(principal: service.Principal, namespace: str, extension: str) -> dict[str, Any]:
    """An extension's statistics (``stats.store.report``) for an owner of its namespace; an extension with no
    event yet has zeros."""
    from marketplace.stats import store as stats  # the statistics route alone reads them

    extension_id = _extension_id(namespace, extension)
    _require_owner(principal, namespace.lower(), "read the statistics of")
    if catalog.get_extension(extension_id) is None:
        raise NotFound(f"there is no extension {extension_id}")
    return stats.report(extension_id) or {
        "extension": extension_id, "downloads": 0, "installs": 0, "updates": 0, "uninstalls": 0,
        "average_rating": None, "rating_count": 0, "activations_7d": {"activations": 0, "p50_ms": None,
                                                                       "p95_ms": None},
        "activations_by_day": [], "events_by_day": [], "events_by_version": []}


STATISTICS_GROUPINGS = ("day", "version")
DAY_COLUMNS = ("day", "downloads", "installs", "updates", "uninstalls", "activations", "p50_ms", "p95_ms")
VERSION_COLUMNS = ("version", "downloads", "installs", "updates", "uninstalls")


def statistics_grouping(by: str | None) -> str:
    """The rows a statistics export has: ``day`` (the default) or ``version``; 400 for anything else."""
    grouping = by or "day"
    if grouping not in STATISTICS_GROUPINGS:
        raise BadRequest('"by" must be day or version')
    return grouping


def statistics_csv(report: dict[str, Any], by: str = "day") -> tuple[str, str]:
    """A report (``statistics``) as CSV, one row per day (newest first) or per version: the file's name and
    text."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if by == "version":
        writer.writerow(VERSION_COLUMNS)
        writer.writerows([row[column] for column in VERSION_COLUMNS] for row in report["events_by_version"])
    else:
        activations = {d["day"]: d for d in report["activations_by_day"]}
        events = {d["day"]: d for d in report["events_by_day"]}
        writer.writerow(DAY_COLUMNS)
        for day in sorted({*activations, *events}, reverse=True):
            row = {**events.get(day, {}), **activations.get(day, {})}
            writer.writerow([day, *(row.get(column, 0) for column in DAY_COLUMNS[1:])])
    return f"{report['extension']}-statistics{'-by-version' if by == 'version' else ''}.csv", out.getvalue()
