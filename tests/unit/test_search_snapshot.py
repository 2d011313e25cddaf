"""The snapshot's encoding: records round-trip exactly, defaults are left out, segments are checked."""

from __future__ import annotations

import dataclasses
import gzip
import json
from datetime import UTC, datetime

import pytest

from marketplace.catalog.model import ExtensionView, VersionView
from marketplace.search import analysis, encoding
from marketplace.search.encoding import (
    SEGMENTS,
    SnapshotFormatError,
    decode_segment,
    decode_view,
    document_of,
    encode_segment,
    encode_view,
    segment_of,
    view_of,
)

MOMENT = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def full_version(**overrides: object) -> VersionView:
    """A version with every field away from its default."""
    values: dict[str, object] = dict(
        version="2.0.0", target_platform="linux-x64", pre_release=True, published_at=MOMENT, engine="^1.90.0",
        asset_base="assets/p/n/2.0.0/linux-x64/u1",
        assets=("Microsoft.VisualStudio.Code.Manifest", "Microsoft.VisualStudio.Services.VSIXPackage", "X.Custom"),
        display_name="Version Name", description="Version description", categories=("Linters",), tags=("vt",),
        dependencies=("a.b",), extension_pack=("c.d",), extension_kind=("workspace", "ui"),
        localized_languages=("de",), enabled_api_proposals=("chat",), executes_code=False, web_extension=True,
        license="MIT", repository="https://example.test/r", homepage="https://example.test/h",
        bugs="https://example.test/b", sha256="ab" * 32, size=1234, published_by="alice", signature_key_id="k1",
    )
    values.update(overrides)
    return VersionView(**values)  # type: ignore[arg-type]


def full_view(versions: tuple[VersionView, ...]) -> ExtensionView:
    """An extension with every field away from its default."""
    return ExtensionView(
        extension_id="pub.name", publisher="Pub", name="Name", display_name="The Name", description="Does things",
        categories=("Other", "Themes"), tags=("x", "y"), latest_version="1.0.0", latest_prerelease="2.0.0",
        created_at=MOMENT, updated_at=MOMENT.replace(year=2027), versions=versions, all_versions=False,
        deprecated=True, replacement="pub.other", deprecation_message="Use the other one", unpublished=False,
        featured=True, verified=True, downloads=10, installs=7, updates=3, average_rating=4.25, rating_count=8,
        installs_by_day=(3, 0, 5), stats_day=20781,
    )


def test_every_field_of_a_view_round_trips():
    head = (full_version(), full_version(version="1.0.0", pre_release=False, display_name="The Name",
                                         description="Does things", categories=("Other", "Themes"), tags=("x", "y")))
    view = full_view(head)
    assert decode_view(json.loads(json.dumps(encode_view(view)))) == view
    # a new field in the read model must be encoded too: every field above is away from its default
    for model, instance in ((ExtensionView, view), (VersionView, head[0])):
        for field in dataclasses.fields(model):
            if field.name in ("all_versions", "unpublished", "extra"):
                continue
            default = field.default if field.default is not dataclasses.MISSING else None
            assert getattr(instance, field.name) not in (default, None, (), ""), (model.__name__, field.name)


def test_only_head_versions_are_kept():
    versions = (full_version(version="1.0.0", pre_release=False), full_version(version="0.9.0", pre_release=False),
                full_version(version="2.0.0"), full_version(version="1.5.0"))
    view = full_view(versions).with_versions(versions, all_versions=True)
    decoded = view_of(document_of(view))
    assert [v.version for v in decoded.versions] == ["2.0.0", "1.0.0"]
    assert decoded == view.with_versions(view.head_versions(), all_versions=False)


def test_defaults_are_left_out():
    plain = ExtensionView(
        extension_id="p.n", publisher="p", name="n", display_name=None, description=None, categories=(), tags=(),
        latest_version="1.0.0", latest_prerelease=None, created_at=MOMENT, updated_at=MOMENT,
        versions=(VersionView(version="1.0.0", target_platform="universal", pre_release=False, published_at=MOMENT,
                              engine="*", asset_base="assets/p/n/1.0.0/universal/u",
                              assets=("Microsoft.VisualStudio.Services.VSIXPackage",)),),
    )
    record = encode_view(plain)
    assert record == {"id": "p.n", "p": "p", "n": "n", "lv": "1.0.0", "ct": record["ct"], "ut": record["ut"],
                      "v": [{"v": "1.0.0", "pa": record["ct"], "e": "*", "b": "assets/p/n/1.0.0/universal/u",
                             "a": 1}]}
    assert decode_view(record) == plain.with_versions(plain.versions, all_versions=False)


def test_version_fields_equal_to_the_extension_are_left_out():
    view = full_view((full_version(display_name="The Name", description="Does things"),))
    (version,) = encode_view(view)["v"]
    assert "dn" not in version and "ds" not in version and version["c"] == ["Linters"]
    changed = full_view((full_version(display_name=None),))
    (version,) = encode_view(changed)["v"]
    assert version["dn"] is None
    assert decode_view(encode_view(changed)).versions[0].display_name is None


def test_dates_are_exact_microseconds():
    record = encode_view(full_view((full_version(),)))
    assert isinstance(record["ct"], int) and decode_view(record).created_at == MOMENT


def test_segments_are_stable_and_spread():
    assert segment_of("Pub.Name") == segment_of("pub.name")
    assert segment_of("ms-python.python") == 4076616175 % SEGMENTS == 47  # crc32: the same in every process
    used = {segment_of(f"p{n}.e{n}") for n in range(2000)}
    assert len(used) == SEGMENTS


def _documents() -> list[analysis.Document]:
    return [document_of(full_view((full_version(),))),
            document_of(dataclasses.replace(full_view((full_version(web_extension=False),)), extension_id="pub.b",
                                            name="B"))]


def test_a_segment_round_trips():
    documents = _documents()
    segment = decode_segment(encode_segment(7, 3, documents))
    assert (segment.segment, segment.generation) == (7, 3)
    assert [d.extension_id for d in segment.documents] == ["pub.b", "pub.name"]
    by_id = {d.extension_id: d for d in documents}
    for document in segment.documents:
        original = by_id[document.extension_id]
        assert document.record == original.record
        for field in ("installs", "title", "tags", "platforms", "exact", "words", "flags", "static"):
            assert getattr(document, field) == getattr(original, field), field
    assert "__web_extension" in by_id["pub.name"].tags and "__web_extension" not in by_id["pub.b"].tags


def test_another_analysis_version_is_analysed_again(monkeypatch: pytest.MonkeyPatch):
    documents = _documents()
    data = encode_segment(1, 1, documents)
    monkeypatch.setattr(encoding, "ANALYSIS", analysis.ANALYSIS + 1)
    reanalysed = decode_segment(data).documents
    assert [d.words for d in reanalysed] == [d.words for d in sorted(documents, key=lambda d: d.extension_id)]


@pytest.mark.parametrize("data", [
    b"not gzip",
    gzip.compress(b"not json"),
    gzip.compress(b'{"format":99,"segment":1,"generation":1,"count":0}\n[]'),
    gzip.compress(b'{"format":1,"segment":1,"generation":1,"analysis":1,"count":2}\n[]\n{}'),
    gzip.compress(b'{"format":1,"segment":1,"generation":1,"analysis":1,"count":1}\n[["x"]]\n{}'),
], ids=["not gzip", "not json", "unknown format", "count mismatch", "bad analysis"])  # gzip embeds the time
def test_damaged_segments_are_refused(data: bytes):
    with pytest.raises(SnapshotFormatError):
        decode_segment(data)


def test_words_keep_the_best_field():
    document = document_of(full_view((full_version(),)))
    title, publisher, tags, description = (set(w.split()) for w in document.words)
    assert {"the", "name"} <= title and publisher == {"pub"} and {"x", "y", "other", "themes"} == tags
    assert description == {"does", "things"}
    assert document.exact == ("pub.name", "name", "the name")


def test_title_words_split_names():
    assert analysis.title_words("GitLens — Git supercharged") >= {"gitlens", "git", "lens", "supercharged"}
    assert analysis.title_words("vscode-eslint") == {"vscode", "eslint", "vscodeeslint"}
    assert analysis.title_words("Node.js Tools") == {"node", "js", "nodejs", "tools"}
    assert analysis.words("C# and C++ or F#") == ["c#", "and", "c++", "or", "f#"]


@pytest.mark.parametrize("data", [b"nope", b"[]", b'{"format": 2}', b'{"format": 1}',
                                  b'{"format": 1, "segments": {"01": {"etag": "x"}}}',
                                  b'{"format": 1, "segments": {"x": {"generation": 1, "etag": "x"}}}'])
def test_a_damaged_manifest_is_refused(data: bytes):
    from marketplace.search.snapshot import Manifest

    with pytest.raises(SnapshotFormatError):
        Manifest.from_json(data, None)


def test_a_manifest_round_trips():
    from marketplace.search.snapshot import Manifest, SegmentInfo

    manifest = Manifest({3: SegmentInfo(2, '"e"', 10), 40: SegmentInfo(1, '"f"', 0)})
    assert Manifest.from_json(manifest.to_json(), '"m"') == Manifest(manifest.segments, '"m"')
    assert manifest.total == 10 and b'"03"' in manifest.to_json()
