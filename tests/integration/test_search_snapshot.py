"""The search snapshot in (moto's) S3: conditional writes, the manifest, the gallery's loader, the indexer's
reads of the table and the rebuild from a scan."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from marketplace.catalog import reader
from marketplace.catalog import store as catalog
from marketplace.catalog.model import ExtensionView, VersionView
from marketplace.catalog.store import NewVersion
from marketplace.platform.errors import ServiceUnavailable
from marketplace.search import indexer, loader, snapshot
from marketplace.search.analysis import Document
from marketplace.search.encoding import SEGMENTS, document_of, segment_of
from marketplace.search.index import SearchIndex, SearchRequest
from marketplace.stats import store as stats

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _view(extension_id: str, display: str, *, installs: int = 0, updated: datetime = NOW) -> ExtensionView:
    publisher, name = extension_id.split(".")
    version = VersionView(version="1.0.0", target_platform="universal", pre_release=False, published_at=NOW,
                          engine="^1.80.0", asset_base=f"assets/{publisher}/{name}/1.0.0/universal/u", assets=())
    return ExtensionView(extension_id=extension_id, publisher=publisher, name=name, display_name=display,
                         description=f"{display} for testing", categories=("Other",), tags=(),
                         latest_version="1.0.0", latest_prerelease=None, created_at=NOW, updated_at=updated,
                         versions=(version,), installs=installs)


def _doc(extension_id: str, display: str, **options: Any) -> Document:
    return document_of(_view(extension_id, display, **options))


def _same_segment(count: int, segment: int = 5) -> list[str]:
    found = [f"p.e{n}" for n in range(5000) if segment_of(f"p.e{n}") == segment]
    return found[:count]


def _manifest() -> snapshot.Manifest:
    found = snapshot.read_manifest()
    assert isinstance(found, snapshot.Manifest)
    return found


@pytest.fixture
def refresh_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loader.REFRESH_SETTING, "0")
    loader.reset()


# ------------------------------------------------------------------------------------------ writing


def test_writes_create_segments_and_raise_generations(deployment):
    a, b = _same_segment(2)
    assert snapshot.apply({5: {a: _doc(a, "Alpha")}}) == {}
    assert _manifest().segments[5].generation == 1 and _manifest().segments[5].count == 1
    snapshot.apply({5: {b: _doc(b, "Beta")}})
    segment, etag = snapshot.read_segment(5)  # type: ignore[misc]
    assert segment.generation == 2 and [d.extension_id for d in segment.documents] == sorted([a, b])
    assert _manifest().segments[5] == snapshot.SegmentInfo(2, etag, 2)
    snapshot.apply({5: {b: _doc(b, "Beta")}})  # no change: no new generation
    assert _manifest().segments[5].generation == 2
    snapshot.apply({5: {a: None, "p.never": None}})
    assert [d.extension_id for d in snapshot.read_segment(5)[0].documents] == [b]  # type: ignore[index]
    body = boto3.client("s3").get_object(Bucket=deployment.env["PACKAGES_BUCKET"], Key=snapshot.MANIFEST_KEY)
    assert json.loads(body["Body"].read())["segments"]["05"]["generation"] == 3


def test_a_conflicting_writer_is_not_lost(deployment, monkeypatch: pytest.MonkeyPatch):
    """Another writer changes the segment between our read and our write: our conditional write fails,
    we read again and both changes survive."""
    a, b = _same_segment(2)
    snapshot.apply({5: {a: _doc(a, "Alpha")}})
    original = snapshot.read_segment
    raced: list[int] = []

    def racing_read(segment: int) -> Any:
        found = original(segment)
        if not raced:
            raced.append(segment)
            monkeypatch.setattr(snapshot, "read_segment", original)
            snapshot.apply({5: {b: _doc(b, "Beta")}})  # the other writer, after our read
            monkeypatch.setattr(snapshot, "read_segment", racing_read)
        return found

    monkeypatch.setattr(snapshot, "read_segment", racing_read)
    monkeypatch.setattr(snapshot, "_pause", lambda attempt: None)
    assert snapshot.apply({5: {a: _doc(a, "Alpha Two")}}) == {}
    monkeypatch.setattr(snapshot, "read_segment", original)
    segment = original(5)[0]  # type: ignore[index]
    titles = {d.extension_id: d.title for d in segment.documents}
    assert titles == {a: "alpha two", b: "beta"} and segment.generation == 3
    assert _manifest().segments[5].generation == 3


def test_a_segment_deleted_by_hand_comes_back_above_its_generation(deployment, refresh_always):
    a, b = _same_segment(2)
    snapshot.apply({5: {a: _doc(a, "Alpha")}})
    snapshot.apply({5: {a: _doc(a, "Alpha Two")}})
    assert loader.current_index().ids() == [a]
    boto3.client("s3").delete_object(Bucket=deployment.env["PACKAGES_BUCKET"], Key=snapshot.segment_key(5))
    snapshot.apply({5: {b: _doc(b, "Beta")}})
    assert _manifest().segments[5].generation == 3
    assert loader.current_index().ids() == [b]


def test_the_manifest_keeps_the_highest_generation(deployment):
    snapshot.publish({1: snapshot.SegmentInfo(4, '"x"', 10)})
    snapshot.publish({1: snapshot.SegmentInfo(3, '"old"', 9), 2: snapshot.SegmentInfo(1, '"y"', 1)})
    assert _manifest().segments == {1: snapshot.SegmentInfo(4, '"x"', 10), 2: snapshot.SegmentInfo(1, '"y"', 1)}


def test_a_stale_manifest_write_is_retried(deployment, monkeypatch: pytest.MonkeyPatch):
    snapshot.publish({1: snapshot.SegmentInfo(1, '"a"', 1)})
    original = snapshot.read_manifest
    calls: list[int] = []

    def stale(if_none_match: str | None = None) -> Any:
        found = original(if_none_match)
        if not calls:
            calls.append(1)
            monkeypatch.setattr(snapshot, "read_manifest", original)
            snapshot.publish({2: snapshot.SegmentInfo(1, '"b"', 1)})  # someone else, after our read
            monkeypatch.setattr(snapshot, "read_manifest", stale)
        return found

    monkeypatch.setattr(snapshot, "read_manifest", stale)
    monkeypatch.setattr(snapshot, "_pause", lambda attempt: None)
    snapshot.publish({3: snapshot.SegmentInfo(1, '"c"', 1)})
    monkeypatch.setattr(snapshot, "read_manifest", original)
    assert sorted(_manifest().segments) == [1, 2, 3]


def test_a_failed_segment_is_reported_and_the_others_go_through(deployment, monkeypatch: pytest.MonkeyPatch):
    (a,) = _same_segment(1, 5)
    (b,) = _same_segment(1, 6)
    original = snapshot._rewrite

    def failing(segment: int, *rest: Any) -> snapshot.SegmentInfo:
        if segment == 6:
            raise RuntimeError("boom")
        return original(segment, *rest)

    monkeypatch.setattr(snapshot, "_rewrite", failing)
    failed = snapshot.apply({5: {a: _doc(a, "Alpha")}, 6: {b: _doc(b, "Beta")}})
    assert list(failed) == [6] and str(failed[6]) == "boom"
    assert sorted(_manifest().segments) == [5]


# ------------------------------------------------------------------------------------------ the loader


def test_no_snapshot_is_an_empty_index(deployment, refresh_always):
    index = loader.current_index()
    assert len(index) == 0 and index.search(SearchRequest(text="anything")).total == 0


def test_the_loader_follows_the_snapshot(deployment, refresh_always, monkeypatch: pytest.MonkeyPatch):
    a, b = _same_segment(2, 5)
    (c,) = _same_segment(1, 9)
    snapshot.apply({5: {a: _doc(a, "Alpha Linter"), b: _doc(b, "Beta Linter")}, 9: {c: _doc(c, "Gamma")}})
    index = loader.current_index()
    assert len(index) == 3 and [v.extension_id for v in index.search(SearchRequest(text="linter")).views] == sorted(
        [a, b], key=lambda i: i)  # equal scores: by id

    fetched: list[int] = []
    original = snapshot.read_segment

    def counted(segment: int) -> Any:
        fetched.append(segment)
        return original(segment)

    monkeypatch.setattr(snapshot, "read_segment", counted)
    assert loader.current_index() is index and fetched == []  # manifest unchanged: 304, nothing fetched
    snapshot.apply({5: {b: None, a: _doc(a, "Alpha Formatter", installs=5)}})
    fetched.clear()  # the writer read it too
    assert loader.current_index() is index
    assert fetched == [5]  # only the segment that moved
    assert sorted(index.ids()) == sorted([a, c])
    assert index.search(SearchRequest(text="formatter")).views[0].installs == 5
    assert index.search(SearchRequest(text="linter")).total == 0


def test_a_snapshot_deleted_and_rebuilt_is_followed(deployment, refresh_always):
    a, b = _same_segment(2)
    snapshot.apply({5: {a: _doc(a, "Alpha")}})
    snapshot.apply({5: {a: _doc(a, "Alpha Two")}})  # generation 2
    index = loader.current_index()
    assert index.search(SearchRequest(text="two")).total == 1
    s3 = boto3.client("s3")
    bucket = deployment.env["PACKAGES_BUCKET"]
    for key in (snapshot.MANIFEST_KEY, snapshot.segment_key(5)):
        s3.delete_object(Bucket=bucket, Key=key)
    snapshot.apply({5: {b: _doc(b, "Beta")}})  # generation 1 again, within one refresh interval
    assert loader.current_index().ids() == [b]


def test_refreshes_wait_for_the_interval(deployment, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(loader.REFRESH_SETTING, "3600")
    loader.reset()
    (a,) = _same_segment(1)
    assert len(loader.current_index()) == 0
    snapshot.apply({5: {a: _doc(a, "Alpha")}})
    assert len(loader.current_index()) == 0  # not checked again yet
    monkeypatch.setattr(time, "monotonic", lambda: 10.0 ** 9)
    assert len(loader.current_index()) == 1


def test_a_failed_refresh_keeps_the_index(deployment, refresh_always, monkeypatch: pytest.MonkeyPatch):
    (a,) = _same_segment(1)
    snapshot.apply({5: {a: _doc(a, "Alpha")}})
    index = loader.current_index()
    snapshot.apply({5: {a: None}})
    monkeypatch.setenv("PACKAGES_BUCKET", "no-such-bucket")
    assert loader.current_index() is index and len(index) == 1  # S3 says NoSuchBucket: keep serving
    monkeypatch.setenv("PACKAGES_BUCKET", deployment.env["PACKAGES_BUCKET"])
    assert len(loader.current_index()) == 0


def test_a_first_load_that_fails_is_a_503(deployment, refresh_always, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PACKAGES_BUCKET", "no-such-bucket")
    with pytest.raises(ServiceUnavailable):
        loader.current_index()
    monkeypatch.setenv("PACKAGES_BUCKET", deployment.env["PACKAGES_BUCKET"])
    assert len(loader.current_index()) == 0


# ------------------------------------------------------------------------------------- from the table


def _publish(name: str, version: str = "1.0.0", *, pre: bool = False, display: str | None = None,
             description: str = "Lints things") -> None:
    catalog.record_version(NewVersion(
        publisher="Acme", name=name, version=version, target_platform="universal", pre_release=pre,
        engine="^1.80.0", sha256="0" * 64, size=10, asset_base=f"assets/acme/{name}/{version}/universal/u",
        assets={"Microsoft.VisualStudio.Services.VSIXPackage": "application/vsix"}, upload_id="u",
        published_by="alice", published_at=datetime.now(UTC), display_name=display or name.title(),
        description=description, tags=["lint"], categories=["Linters"]))


def _documents() -> dict[str, Document]:
    found: dict[str, Document] = {}
    for segment in range(SEGMENTS):
        read = snapshot.read_segment(segment)
        if read is not None:
            found.update({d.extension_id: d for d in read[0].documents})
    return found


def test_the_indexer_reads_the_table(deployment):
    _publish("linter", "1.0.0")
    _publish("linter", "1.1.0")
    _publish("linter", "2.0.0", pre=True)
    stats.add_totals({"acme.linter": Counter(install=7)})
    assert indexer.index(["ACME.LINTER", "acme.linter", "acme.missing"]) == {}
    (document,) = _documents().values()
    index = SearchIndex()
    index.apply([document])
    found = index.get("acme.linter")
    assert found is not None and found.installs == 7
    assert [v.version for v in found.versions] == ["2.0.0", "1.1.0"]  # head versions
    catalog.unpublish("acme.linter", None, None, datetime.now(UTC))
    assert indexer.index(["acme.linter"]) == {}
    assert _documents() == {}


def test_the_indexer_reports_extensions_it_cannot_read(deployment, monkeypatch: pytest.MonkeyPatch):
    def broken(ids: Any, **options: Any) -> Any:
        raise RuntimeError("table unavailable")

    monkeypatch.setattr(reader, "load_many", broken)
    failed = indexer.index(["a.b", "c.d"])
    assert sorted(failed) == ["a.b", "c.d"] and _documents() == {}


def test_rebuild_writes_every_segment_from_a_scan(deployment):
    for name in ("one", "two", "three"):
        _publish(name)
    _publish("gone")
    catalog.unpublish("acme.gone", None, None, datetime.now(UTC))
    catalog.mark_malicious("acme.three", "bad", datetime.now(UTC))
    stats.add_totals({"acme.two": Counter(install=3)})
    (stale,) = _same_segment(1, segment_of("acme.one"))
    snapshot.apply({segment_of("acme.one"): {stale: _doc(stale, "Stale", updated=NOW - timedelta(days=30))}})
    manifest = indexer.rebuild()
    assert sorted(manifest.segments) == list(range(SEGMENTS)) and manifest.total == 2
    documents = _documents()
    assert sorted(documents) == ["acme.one", "acme.two"]  # the stale one is gone, unpublished/blocked too
    assert documents["acme.two"].installs == 3


def test_rebuild_keeps_what_the_indexer_changed_during_the_scan(deployment, monkeypatch: pytest.MonkeyPatch):
    _publish("one")
    (fresh,) = _same_segment(1, segment_of("acme.one"))
    scan = indexer.scan_documents

    def scan_while_the_indexer_writes() -> Any:
        documents = list(scan())
        # the indexer adds an extension after the scan passed it, before the rebuild writes its segment
        snapshot.apply({segment_of(fresh): {fresh: _doc(fresh, "Fresh", updated=datetime.now(UTC))}})
        return iter(documents)

    monkeypatch.setattr(indexer, "scan_documents", scan_while_the_indexer_writes)
    indexer.rebuild()
    assert sorted(_documents()) == sorted(["acme.one", fresh])
