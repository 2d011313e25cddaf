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


# --- quarantined versions: the owner's confirmation, the operator's approval or rejection --------------------

REQUIRE_OPERATOR_APPROVAL = "SCAN_REQUIRE_OPERATOR_APPROVAL"  # true: an owner's confirmation is not enough


def _held(extension_id: str, version: object, target_platform: object) -> list[catalog.VersionItem]:
    if not isinstance(version, str) or not version:
        raise BadRequest("name the quarantined version")
    if target_platform is not None and not isinstance(target_platform, str):
        raise BadRequest("targetPlatform must be a string when given")
    held = [v for v in catalog.quarantined_versions(extension_id)
            if v.version == version and (target_platform is None or v.target_platform == target_platform)]
    if not held:
        where = f" for {target_platform}" if target_platform else ""
        raise NotFound(f"{extension_id} has no quarantined version {version}{where}")
    return held


def _release(item: catalog.VersionItem, *, confirmed_by: str | None = None, approved_by: str | None = None) -> str:
    from marketplace.publishing import store as publishing_store

    namespace = publishing_store.get_namespace(item.publisher.lower())
    for attempt in range(_ATTEMPTS):
        try:
            catalog.release_quarantined(item, tokens.utcnow(), confirmed_by=confirmed_by, approved_by=approved_by,
                                        verified=bool(namespace.verified) if namespace else False)
            return f"{item.version}@{item.target_platform}"
        except LookupError as error:
            raise Conflict(str(error)) from error
        except catalog.ConcurrentChange as error:
            if attempt == _ATTEMPTS - 1:
                raise Conflict(f"{item.extension_id} is changing right now; try again") from error
    raise AssertionError("unreachable")


def confirm_quarantined(principal: service.Principal, namespace: str, extension: str, version: object,
                        target_platform: object = None) -> dict[str, Any]:
    """An owner confirms a version the scan held back: it is released, or, when the operator must approve
    too (``SCAN_REQUIRE_OPERATOR_APPROVAL``), the confirmation is kept and it waits for ``scan approve``."""
    from marketplace.platform import config

    extension_id = _extension_id(namespace, extension)
    _require_owner(principal, namespace.lower(), "confirm quarantined versions of")
    held = _held(extension_id, version, target_platform)
    waiting = config.setting_flag(REQUIRE_OPERATOR_APPROVAL)
    released: list[str] = []
    awaiting: list[str] = []
    for item in held:
        if waiting and not item.approved_by:
            catalog.note_quarantine_decision(item, confirmed_by=principal.user)
            awaiting.append(f"{item.version}@{item.target_platform}")
        else:
            released.append(_release(item, confirmed_by=principal.user))
    service.record(namespace.lower(), "extension.quarantine.confirm", extension_id,
                   {"version": version, "targetPlatform": target_platform, "released": released,
                    "awaitingOperator": awaiting})
    return {"extension": extension_id, "version": version, "released": released, "awaitingOperator": awaiting}


def approve_quarantined(extension_id: str, version: str, target_platform: str | None = None) -> list[str]:
    """The operator approves a quarantined version: it is released at once (whether or not an owner confirmed
    it: the operator's word is the last one). Audited as the acting operator."""
    held = _held(extension_id.lower(), version, target_platform)
    from marketplace.publishing import audit

    released = [_release(item, approved_by=audit.current().user) for item in held]
    service.record(extension_id.split(".", 1)[0].lower(), "extension.quarantine.approve", extension_id.lower(),
                   {"version": version, "targetPlatform": target_platform, "released": released})
    return released


def reject_quarantined(extension_id: str, version: str, target_platform: str | None = None) -> list[str]:
    """The operator rejects a quarantined version: it is unpublished (its number stays taken). Audited."""
    extension_id = extension_id.lower()
    held = _held(extension_id, version, target_platform)
    withdrawn: list[str] = []
    for item in held:
        for attempt in range(_ATTEMPTS):
            try:
                withdrawn += catalog.unpublish(extension_id, item.version, item.target_platform, tokens.utcnow())
                break
            except LookupError as error:
                raise NotFound(str(error)) from error
            except catalog.ConcurrentChange as error:
                if attempt == _ATTEMPTS - 1:
                    raise Conflict(f"{extension_id} is changing right now; try again") from error
    service.record(extension_id.split(".", 1)[0], "extension.quarantine.reject", extension_id,
                   {"version": version, "targetPlatform": target_platform, "withdrawn": withdrawn})
    return withdrawn


def quarantined_of(namespace: str, extension: str) -> list[dict[str, Any]]:
    """The versions of an extension the scan holds back, for its owners' page (the caller checked ownership)."""
    return [{"version": v.version, "targetPlatform": v.target_platform, "publishedBy": v.published_by,
             "publishedAt": v.published_at, "reason": v.quarantine_reason or "", "confirmedBy": v.confirmed_by}
            for v in catalog.quarantined_versions(_extension_id(namespace, extension))]
