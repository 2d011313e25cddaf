"""The gallery's search index, kept current from the snapshot in S3.

``current_index()`` loads every segment on first use (a missing snapshot is an empty index), then at most
every ``SEARCH_REFRESH_SECONDS`` (default 5) asks for the manifest with ``If-None-Match``: usually a 304, and
otherwise it fetches the segments whose generation moved and applies only the extensions that changed. A
failed refresh keeps the index it has and tries again at the next interval; a request that arrives while
another thread refreshes uses the index as it is.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from marketplace.platform.config import setting_int
from marketplace.platform.errors import ServiceUnavailable
from marketplace.search import snapshot
from marketplace.search.analysis import Document
from marketplace.search.encoding import Segment, SnapshotFormatError
from marketplace.search.index import SearchIndex

REFRESH_SETTING = "SEARCH_REFRESH_SECONDS"
DEFAULT_REFRESH_SECONDS = 5
PARALLEL_FETCHES = 8
FREEZE_AT = 10_000  # documents

logger = logging.getLogger(__name__)


@dataclass
class _Loaded:
    index: SearchIndex
    manifest_etag: str | None = None
    loaded: dict[int, tuple[int, str]] = field(default_factory=dict)  # segment -> (generation, ETag) loaded
    members: dict[int, dict[str, Document]] = field(default_factory=dict)  # segment -> id -> document
    next_check: float = 0.0


_state: _Loaded | None = None
_lock = threading.Lock()


def current_index() -> SearchIndex:
    """The index, loaded on first use and refreshed at most every ``SEARCH_REFRESH_SECONDS``."""
    global _state
    state = _state
    if state is None:
        with _lock:
            if _state is None:
                _state = _load()
            return _state.index
    if time.monotonic() >= state.next_check and _lock.acquire(blocking=False):
        try:
            _refresh(state)
        finally:
            _lock.release()
    return state.index


def reset() -> None:
    """Forget the loaded index (tests, and the local runtime when it points at a new deployment)."""
    global _state
    with _lock:
        _state = None


def _interval() -> float:
    return float(setting_int(REFRESH_SETTING, DEFAULT_REFRESH_SECONDS, minimum=0))


Fetched = tuple[Segment, str] | None  # a segment and its ETag, or None when there is none


def _fetch(segments: list[int]) -> dict[int, Fetched]:
    """The given segments, fetched in parallel (S3 latency, not CPU, dominates a fetch)."""
    one = snapshot.read_segment

    if len(segments) <= 1:
        return {s: one(s) for s in segments}
    from concurrent.futures import ThreadPoolExecutor  # about 9 ms of import: not at cold start

    with ThreadPoolExecutor(max_workers=PARALLEL_FETCHES, thread_name_prefix="search-load") as pool:
        return dict(zip(segments, pool.map(one, segments), strict=True))


def _load() -> _Loaded:
    state = _Loaded(SearchIndex())
    try:
        manifest = snapshot.read_manifest()
        if isinstance(manifest, snapshot.Manifest):
            collecting = gc.isenabled()
            gc.disable()  # millions of new objects: the collector would scan them again and again
            try:
                fetched = _fetch(sorted(manifest.segments))
                _apply(state, fetched)
                state.index.settle()
            finally:
                if collecting:
                    gc.enable()
            if len(state.index) >= FREEZE_AT:
                # The index lives as long as the process and holds no reference cycles: keep the cycle
                # collector from walking its millions of objects in a full collection (a pause of about
                # 300 ms with 50,000 extensions, measured) that would land on some unlucky request. Objects
                # freed later are still freed (reference counts); small indexes (tests) are not worth it.
                gc.freeze()
            state.manifest_etag = manifest.etag
    except (ClientError, BotoCoreError, SnapshotFormatError, ValueError) as error:
        logger.exception("cannot load the search snapshot")
        raise ServiceUnavailable("search is not available at the moment; try again shortly") from error
    state.next_check = time.monotonic() + _interval()
    return state


def _apply(state: _Loaded, fetched: dict[int, Fetched]) -> None:
    """Apply fetched segments to the index: only the extensions that changed, in one change."""
    upserts: list[Document] = []
    removals: list[str] = []
    for segment, found in fetched.items():
        before = state.members.get(segment, {})
        after = {d.extension_id: d for d in found[0].documents} if found is not None else {}
        upserts += [d for i, d in after.items() if i not in before or not before[i].same_as(d)]
        removals += [i for i in before if i not in after]
        state.members[segment] = after
        if found is None:
            state.loaded.pop(segment, None)
        else:
            state.loaded[segment] = (found[0].generation, found[1])
    state.index.apply(upserts, removals)


def _refresh(state: _Loaded) -> None:
    state.next_check = time.monotonic() + _interval()
    try:
        manifest = snapshot.read_manifest(if_none_match=state.manifest_etag)
        if manifest == snapshot.NOT_MODIFIED:
            return
        if manifest is None or isinstance(manifest, str):  # the snapshot is gone: nothing to search
            _apply(state, dict.fromkeys(state.members))
            state.manifest_etag = None
            return
        # any difference, not only a higher generation: a snapshot deleted and rebuilt starts again at 1
        stale = [n for n, info in manifest.segments.items() if state.loaded.get(n) != (info.generation, info.etag)]
        stale += [n for n in state.members if n not in manifest.segments]
        _apply(state, _fetch(sorted(set(stale))))
        state.manifest_etag = manifest.etag
    except (ClientError, BotoCoreError, SnapshotFormatError, ValueError):
        logger.exception("cannot refresh the search index; serving the one loaded")
