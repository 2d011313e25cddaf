"""Data access for the search snapshot under ``private/search/`` in the packages bucket.

| object                                  | what                                                        |
|-----------------------------------------|-------------------------------------------------------------|
| ``private/search/segments/NN.json.gz``  | the extensions of segment NN (``encoding``), NN = 00..63     |
| ``private/search/manifest.json``        | segment -> generation, ETag and size: what readers poll     |

Writers (the search indexer, and ``marketplace search rebuild``) change a segment by reading it, changing
it and writing it back only if nobody wrote it in between (``If-Match`` on its ETag, or ``If-None-Match: *``
when it does not exist yet), retrying on a conflict; each write raises the segment's generation by one. The
manifest is then updated the same way, keeping for each segment the highest generation any writer reported,
so two writers never lose each other's changes. A reader polls the manifest with ``If-None-Match`` and
fetches only the segments whose generation moved.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.resources import PACKAGES_BUCKET
from marketplace.platform.retry import Backoff
from marketplace.search.analysis import Document
from marketplace.search.encoding import (
    SEGMENTS,
    Segment,
    SnapshotFormatError,
    decode_segment,
    encode_segment,
    segment_name,
    segment_of,
)

PREFIX = f"{PACKAGES_BUCKET.private_prefix}search/"
MANIFEST_KEY = f"{PREFIX}manifest.json"
MANIFEST_FORMAT = 1
ATTEMPTS = 6

logger = logging.getLogger(__name__)


def segment_key(segment: int) -> str:
    return f"{PREFIX}segments/{segment_name(segment)}.json.gz"


class Conflict(Exception):
    """Another writer changed the object since we read it."""


@dataclass(frozen=True)
class SegmentInfo:
    generation: int
    etag: str
    count: int


@dataclass(frozen=True)
class Manifest:
    segments: dict[int, SegmentInfo]
    etag: str | None = None  # of the manifest object; None when there is none yet

    def to_json(self) -> bytes:
        body = {"format": MANIFEST_FORMAT, "segments": {
            segment_name(n): {"generation": i.generation, "etag": i.etag, "count": i.count}
            for n, i in sorted(self.segments.items())}}
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, etag: str | None) -> Manifest:
        try:
            body = json.loads(data)
            if not isinstance(body, dict) or body.get("format") != MANIFEST_FORMAT:
                found = body.get("format") if isinstance(body, dict) else None
                raise SnapshotFormatError(f"search manifest format {found!r} is not {MANIFEST_FORMAT}")
            segments = {int(name): SegmentInfo(int(i["generation"]), str(i["etag"]), int(i.get("count", 0)))
                        for name, i in body["segments"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            if isinstance(error, SnapshotFormatError):
                raise
            raise SnapshotFormatError(f"unreadable search manifest: {error!r}; rebuild the snapshot "
                                      "(marketplace search rebuild)") from error
        return cls(segments, etag)

    @property
    def total(self) -> int:
        return sum(i.count for i in self.segments.values())


NOT_MODIFIED = "not-modified"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _missing(error: ClientError) -> bool:
    # without s3:ListBucket (the gallery may only GetObject) S3 answers a missing key with 403 AccessDenied
    return _code(error) in ("NoSuchKey", "404", "AccessDenied", "403")


def _get(key: str, if_none_match: str | None = None) -> tuple[bytes, str] | str | None:
    """``(body, etag)``; ``NOT_MODIFIED``; or None when the object does not exist."""
    request: dict[str, Any] = {"Bucket": location(PACKAGES_BUCKET), "Key": key}
    if if_none_match:
        request["IfNoneMatch"] = if_none_match
    try:
        answer = aws.client("s3").get_object(**request)
    except ClientError as error:
        if _code(error) in ("304", "NotModified") or _status(error) == 304:
            return NOT_MODIFIED
        if _missing(error):
            return None
        raise
    return answer["Body"].read(), str(answer["ETag"])


def _put(key: str, body: bytes, etag: str | None, content_type: str) -> str:
    """Write ``key`` if it still has ``etag`` (None: if it does not exist); the new ETag."""
    request: dict[str, Any] = {"Bucket": location(PACKAGES_BUCKET), "Key": key, "Body": body,
                               "ContentType": content_type}
    if etag is None:
        request["IfNoneMatch"] = "*"
    else:
        request["IfMatch"] = etag
    try:
        answer = aws.client("s3").put_object(**request)
    except ClientError as error:
        if _code(error) in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409") \
                or _status(error) in (409, 412):
            raise Conflict(key) from error
        raise
    return str(answer["ETag"])


# ------------------------------------------------------------------------------------------- reading


def read_manifest(if_none_match: str | None = None) -> Manifest | str | None:
    """The manifest; ``NOT_MODIFIED`` when its ETag is still ``if_none_match``; None when there is none."""
    found = _get(MANIFEST_KEY, if_none_match)
    if found is None or isinstance(found, str):
        return found
    body, etag = found
    return Manifest.from_json(body, etag)


def read_segment(segment: int) -> tuple[Segment, str] | None:
    """A segment and its ETag, or None when it was never written."""
    found = _get(segment_key(segment))
    if found is None or isinstance(found, str):
        return None
    body, etag = found
    return decode_segment(body), etag


# ------------------------------------------------------------------------------------------- writing


BACKOFF = Backoff(attempts=ATTEMPTS, base=0.05)  # a segment or the manifest written again after a conflict


def _pause(attempt: int) -> None:
    BACKOFF.pause(attempt)


Change = Mapping[str, Document | None]  # extension id -> its new document, or None to remove it


def _rewrite(segment: int, change: Change, keep_newer_since: int | None, floor: int = 0) -> SegmentInfo:
    """Read, change and conditionally write one segment, retrying on a conflict. ``floor``: the generation
    the manifest knows, so a segment deleted by hand does not start again below it (readers would keep
    their copy)."""
    for attempt in range(ATTEMPTS):
        found = read_segment(segment)
        current, etag = found if found is not None else (Segment(segment, floor, []), None)
        documents = {d.extension_id: d for d in current.documents}
        if keep_newer_since is None:
            updated = dict(documents)
            for extension_id, document in change.items():
                if document is None:
                    updated.pop(extension_id, None)
                else:
                    updated[extension_id] = document
        else:
            updated = _replace_all(documents, change, keep_newer_since)
        unchanged = updated.keys() == documents.keys() and all(
            documents[i].record == d.record for i, d in updated.items())
        if unchanged and etag is not None:
            return SegmentInfo(current.generation, etag, len(updated))
        body = encode_segment(segment, current.generation + 1, updated.values())
        try:
            new_etag = _put(segment_key(segment), body, etag, "application/gzip")
        except Conflict:
            logger.info("search segment %s changed under us; reading it again", segment)
            _pause(attempt)
            continue
        return SegmentInfo(current.generation + 1, new_etag, len(updated))
    raise Conflict(f"search segment {segment_name(segment)}: still conflicting after {ATTEMPTS} attempts")


def _replace_all(current: dict[str, Document], scanned: Change, since: int) -> dict[str, Document]:
    """A rebuild's new content: what the table scan found, except extensions the indexer changed after the
    scan began (their ``updated`` is newer): for those the segment's copy is the fresher one."""
    updated = {i: d for i, d in scanned.items() if d is not None}
    for extension_id, document in current.items():
        mine = updated.get(extension_id)
        if document.updated > since and (mine is None or document.updated > mine.updated):
            updated[extension_id] = document
    return updated


def publish(infos: Mapping[int, SegmentInfo]) -> Manifest:
    """Record new segment generations in the manifest (the highest generation of each segment wins)."""
    for attempt in range(ATTEMPTS):
        found = read_manifest()
        if isinstance(found, str):
            raise RuntimeError("unexpected answer to an unconditional read of the search manifest")
        current = found or Manifest({})
        merged = dict(current.segments)
        for segment, info in infos.items():
            known = merged.get(segment)
            if known is None or info.generation > known.generation:
                merged[segment] = info
        if merged == current.segments and current.etag is not None:
            return current
        manifest = Manifest(merged)
        try:
            etag = _put(MANIFEST_KEY, manifest.to_json(), current.etag, "application/json")
        except Conflict:
            _pause(attempt)
            continue
        return Manifest(merged, etag)
    raise Conflict(f"search manifest: still conflicting after {ATTEMPTS} attempts")


def apply(changes: Mapping[int, Change]) -> dict[int, Exception]:
    """Apply per-segment changes (each segment rewritten once), then publish them in the manifest.

    Returns the segments that failed, with why; the others are written and published.
    """
    written: dict[int, SegmentInfo] = {}
    failed: dict[int, Exception] = {}
    if not changes:
        return failed
    try:
        floors = _generations()
    except Exception as error:  # nothing can be written: every segment's records are retried
        return dict.fromkeys(changes, error)
    for segment, change in sorted(changes.items()):
        try:
            written[segment] = _rewrite(segment, change, None, floors.get(segment, 0))
        except Exception as error:  # reported per segment: the others still go through
            failed[segment] = error
    if written:
        try:
            publish(written)
        except Exception as error:  # their records are retried, which publishes again
            failed.update(dict.fromkeys(written, error))
    return failed


def replace_all(documents: Iterable[Document], scan_started: int) -> Manifest:
    """Write every segment with exactly ``documents`` (a rebuild), keeping extensions the indexer changed
    after ``scan_started`` (microseconds since the epoch); publish all segments."""
    by_segment: dict[int, dict[str, Document | None]] = {n: {} for n in range(SEGMENTS)}
    for document in documents:
        by_segment[segment_of(document.extension_id)][document.extension_id] = document
    floors = _generations()
    written = {n: _rewrite(n, change, scan_started, floors.get(n, 0)) for n, change in by_segment.items()}
    return publish(written)


def _generations() -> dict[int, int]:
    found = read_manifest()
    return {n: i.generation for n, i in found.segments.items()} if isinstance(found, Manifest) else {}
