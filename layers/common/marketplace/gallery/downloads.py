"""Download, install, update and uninstall events, put on the event stream for the stats function.

Counting must never cost a user their download: a failure to put the event is logged and swallowed. The
record is a ``stats.events.ExtensionEvent``, the one definition the stats consumer reads too; ``id`` lets the
consumer drop a redelivered event.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.headers import request_header
from marketplace.platform.resources import EVENTS_STREAM
from marketplace.stats.events import ExtensionEvent, Kind

logger = logging.getLogger(__name__)


def event_kind(query: dict[str, str]) -> Kind:
    """What a VSIX fetch counts as: VS Code appends ``install=true`` or ``update=true``
    (docs/protocols/vscode-gallery.md A5.1)."""
    if query.get("install", "").lower() == "true":
        return "install"
    if query.get("update", "").lower() == "true":
        return "update"
    return "download"


def _client(headers: Mapping[str, str]) -> str | None:
    """Who fetched: VS Code's ``X-Market-Client-Id`` (``VSCode 1.100.3``), else the User-Agent."""
    value = (request_header(headers, "x-market-client-id") or request_header(headers, "user-agent") or "").strip()
    return value[:128] or None


def download_event(extension_id: str, version: str, target_platform: str | None, kind: Kind,
                   headers: Mapping[str, str] | None = None) -> ExtensionEvent:
    """The event of one fetch, now (``headers``: the request's, to name the client)."""
    return ExtensionEvent(type=kind, id=uuid.uuid4().hex, extension=extension_id.lower(), version=version,
                          target_platform=target_platform, client=_client(headers or {}), at=datetime.now(UTC))


def record_download(extension_id: str, version: str, target_platform: str | None, kind: Kind,
                    headers: Mapping[str, str] | None = None) -> bool:
    """Put one event on the stream (``headers``: the request's, to name the client); ``False`` (and a
    warning) when that failed. Never raises."""
    event = download_event(extension_id, version, target_platform, kind, headers)
    try:
        aws.client("kinesis").put_record(
            StreamName=location(EVENTS_STREAM), Data=event.encode(), PartitionKey=event.extension)
    except Exception as error:  # counting is best effort by design
        logger.warning("could not record a %s event for %s: %s", kind, extension_id, type(error).__name__)
        return False
    return True
