"""The search snapshot's compact encoding of an ``ExtensionView`` (head versions only), and its segments.

A record is a JSON object with short keys; defaults are left out, dates are integer microseconds since the
epoch (exact, so a decoded view equals the encoded one), asset types are a bitmask over ``ASSET_TYPES``,
and a version's display fields are left out when they equal the extension's. The index keeps records as
JSON bytes and builds an ``ExtensionView`` only for the extensions a query returns, which keeps both the
load time and the memory of 50,000 extensions small.

A segment holds the extensions whose id hashes to it (``segment_of``), as gzipped lines: a header
(``{"format", "segment", "generation", "analysis", "count"}``), the analysis of every extension (what the
index needs: ``analysis.Document``), then one record per line.

Pure Python: no AWS here (``snapshot`` reads and writes the objects).
"""

from __future__ import annotations

import functools
import gzip
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from marketplace.catalog.ids import UNIVERSAL
from marketplace.catalog.model import ExtensionView, VersionView, sort_versions
from marketplace.search.analysis import ANALYSIS, Document, analyze

FORMAT = 1
SEGMENTS = 64

Record = dict[str, Any]

# Bit i of a version's ``a`` is ASSET_TYPES[i]. Append only: snapshots in S3 were written with this order.
ASSET_TYPES: tuple[str, ...] = (
    "Microsoft.VisualStudio.Services.VSIXPackage",
    "Microsoft.VisualStudio.Code.Manifest",
    "Microsoft.VisualStudio.Services.VsixManifest",
    "Microsoft.VisualStudio.Services.Content.Details",
    "Microsoft.VisualStudio.Services.Content.Changelog",
    "Microsoft.VisualStudio.Services.Content.License",
    "Microsoft.VisualStudio.Services.Icons.Default",
    "Microsoft.VisualStudio.Services.Icons.Small",
    "Microsoft.VisualStudio.Code.WebResources",
    "Microsoft.VisualStudio.Services.VsixSignature",
    "Microsoft.VisualStudio.Code.Translation",
)
_ASSET_BIT = {name: 1 << i for i, name in enumerate(ASSET_TYPES)}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class SnapshotFormatError(ValueError):
    """A segment or record this code cannot read (another format, or damaged)."""


def segment_of(extension_id: str) -> int:
    """The segment an extension lives in: stable across processes and releases (CRC-32 of the lower-case id)."""
    return zlib.crc32(extension_id.lower().encode()) % SEGMENTS


def segment_name(segment: int) -> str:
    return f"{segment:02d}"


# ------------------------------------------------------------------------------------------------ dates


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


# --------------------------------------------------------------------------------------------- encoding


def _put(out: Record, key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is a default (None, False, 0, empty)."""
    if value:
        out[key] = list(value) if isinstance(value, tuple) else value


def _encode_version(version: VersionView, extension: ExtensionView) -> Record:
    out: Record = {"v": version.version, "pa": _micros(version.published_at), "e": version.engine,
                   "b": version.asset_base}
    if version.target_platform != UNIVERSAL:
        out["tp"] = version.target_platform
    _put(out, "pr", 1 if version.pre_release else 0)
    mask = 0
    extra: list[str] = []
    for asset in version.assets:
        bit = _ASSET_BIT.get(asset)
        if bit is None:
            extra.append(asset)
        else:
            mask |= bit
    _put(out, "a", mask)
    _put(out, "ax", extra)
    # display fields: left out when they are the extension's (the common case); present, even null, otherwise
    for key, value, same in (("dn", version.display_name, extension.display_name),
                             ("ds", version.description, extension.description)):
        if value != same:
            out[key] = value
    for key, values, same_values in (("c", version.categories, extension.categories),
                                     ("t", version.tags, extension.tags)):
        if values != same_values:
            out[key] = list(values)
    _put(out, "dp", version.dependencies)
    _put(out, "pk", version.extension_pack)
    _put(out, "k", version.extension_kind)
    _put(out, "ll", version.localized_languages)
    _put(out, "ap", version.enabled_api_proposals)
    if not version.executes_code:
        out["x"] = 0
    _put(out, "w", 1 if version.web_extension else 0)
    _put(out, "li", version.license)
    _put(out, "r", version.repository)
    _put(out, "h", version.homepage)
    _put(out, "bg", version.bugs)
    _put(out, "sh", version.sha256)
    _put(out, "sz", version.size)
    _put(out, "by", version.published_by)
    _put(out, "sk", version.signature_key_id)
    return out


def encode_view(view: ExtensionView) -> Record:
    """The record of a published extension; only its head versions are kept."""
    out: Record = {"id": view.extension_id, "p": view.publisher, "n": view.name}
    _put(out, "dn", view.display_name)
    _put(out, "ds", view.description)
    _put(out, "c", view.categories)
    _put(out, "t", view.tags)
    _put(out, "lv", view.latest_version)
    _put(out, "lp", view.latest_prerelease)
    out["ct"] = _micros(view.created_at)
    out["ut"] = _micros(view.updated_at)
    _put(out, "dep", 1 if view.deprecated else 0)
    _put(out, "rp", view.replacement)
    _put(out, "dm", view.deprecation_message)
    _put(out, "f", 1 if view.featured else 0)
    _put(out, "vf", 1 if view.verified else 0)
    _put(out, "dl", view.downloads)
    _put(out, "in", view.installs)
    _put(out, "up", view.updates)
    if view.average_rating is not None:
        out["ar"] = view.average_rating
    _put(out, "rc", view.rating_count)
    if view.installs_by_day:
        out["ib"] = list(view.installs_by_day)
        out["sd"] = view.stats_day
    out["v"] = [_encode_version(v, view) for v in sort_versions(view.head_versions())]
    return out


def searchable(view: ExtensionView | None) -> bool:
    """Whether search shows the extension at all: published, with at least one version on offer."""
    return view is not None and not view.unpublished and bool(view.versions)


# --------------------------------------------------------------------------------------------- decoding


def _strings(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(values) if values else ()


@functools.cache
def _assets(mask: int) -> tuple[str, ...]:
    return tuple(sorted(name for name, bit in _ASSET_BIT.items() if mask & bit))


def _decode_version(raw: Record, display_name: str | None, description: str | None, categories: tuple[str, ...],
                    tags: tuple[str, ...]) -> VersionView:
    assets = _assets(int(raw.get("a", 0)))
    if "ax" in raw:
        assets = tuple(sorted((*assets, *raw["ax"])))
    return VersionView(
        version=raw["v"], target_platform=raw.get("tp", UNIVERSAL), pre_release=bool(raw.get("pr")),
        published_at=_moment(raw["pa"]), engine=raw["e"], asset_base=raw["b"], assets=assets,
        display_name=raw.get("dn", display_name), description=raw.get("ds", description),
        categories=_strings(raw["c"]) if "c" in raw else categories,
        tags=_strings(raw["t"]) if "t" in raw else tags,
        dependencies=_strings(raw.get("dp")), extension_pack=_strings(raw.get("pk")),
        extension_kind=_strings(raw.get("k")), localized_languages=_strings(raw.get("ll")),
        enabled_api_proposals=_strings(raw.get("ap")), executes_code=bool(raw.get("x", 1)),
        web_extension=bool(raw.get("w")), license=raw.get("li"), repository=raw.get("r"), homepage=raw.get("h"),
        bugs=raw.get("bg"), sha256=raw.get("sh", ""), size=int(raw.get("sz", 0)), published_by=raw.get("by", ""),
        signature_key_id=raw.get("sk"),
    )


def decode_view(record: Mapping[str, Any]) -> ExtensionView:
    """The ``ExtensionView`` of a record (``all_versions`` is false: the snapshot holds head versions, stored
    newest first)."""
    try:
        rating = record.get("ar")
        display_name, description = record.get("dn"), record.get("ds")
        categories, tags = _strings(record.get("c")), _strings(record.get("t"))
        return ExtensionView(
            extension_id=record["id"], publisher=record["p"], name=record["n"], display_name=display_name,
            description=description, categories=categories, tags=tags,
            latest_version=record.get("lv"), latest_prerelease=record.get("lp"),
            created_at=_moment(record["ct"]), updated_at=_moment(record["ut"]),
            versions=tuple(_decode_version(v, display_name, description, categories, tags) for v in record["v"]),
            all_versions=False, deprecated=bool(record.get("dep")), replacement=record.get("rp"),
            deprecation_message=record.get("dm"), featured=bool(record.get("f")), verified=bool(record.get("vf")),
            downloads=int(record.get("dl", 0)), installs=int(record.get("in", 0)), updates=int(record.get("up", 0)),
            average_rating=float(rating) if rating is not None else None, rating_count=int(record.get("rc", 0)),
            installs_by_day=tuple(int(n) for n in record.get("ib", ())), stats_day=int(record.get("sd", 0)),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SnapshotFormatError(f"unreadable search record {record.get('id')!r}: {error!r}") from error


# -------------------------------------------------------------------------------------------- segments


def encode_segment(segment: int, generation: int, documents: Iterable[Document]) -> bytes:
    """A segment object: gzipped lines: a header, the documents' analysis (one JSON array), then each
    document's record on its own line, in the same order (a reader keeps those lines as bytes)."""
    chosen = sorted(documents, key=lambda d: d.extension_id)
    header = {"format": FORMAT, "segment": segment, "generation": generation, "analysis": ANALYSIS,
              "count": len(chosen)}
    lines = [json.dumps(header, separators=(",", ":")).encode(),
             json.dumps([d.entry() for d in chosen], separators=(",", ":"), ensure_ascii=False).encode()]
    lines += [d.record for d in chosen]
    return gzip.compress(b"\n".join(lines), compresslevel=6, mtime=0)


@dataclass(frozen=True)
class Segment:
    segment: int
    generation: int
    documents: list[Document]


def decode_segment(data: bytes) -> Segment:
    try:
        lines = gzip.decompress(data).split(b"\n")
        header = json.loads(lines[0])
    except (OSError, EOFError, ValueError, IndexError) as error:
        raise SnapshotFormatError(f"unreadable search segment: {error}") from error
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise SnapshotFormatError(f"search segment format {found!r} is not {FORMAT}: rebuild the snapshot "
                                  "(marketplace search rebuild)")
    count = int(header.get("count", -1))
    records = lines[2:]
    if count != len(records):
        raise SnapshotFormatError(f"search segment {header.get('segment')} holds {len(records)} records, "
                                  f"its header says {count}")
    try:
        if header.get("analysis") == ANALYSIS:
            entries = json.loads(lines[1])
            documents = [Document.from_entry(entry, raw) for entry, raw in zip(entries, records, strict=True)]
        else:  # analysed by another version of the tokenizer: analyse again
            documents = [analyze(json.loads(raw), raw) for raw in records]
    except (KeyError, TypeError, ValueError) as error:
        raise SnapshotFormatError(f"search segment {header.get('segment')} is damaged: {error!r}") from error
    return Segment(int(header["segment"]), int(header["generation"]), documents)


def document_of(view: ExtensionView) -> Document:
    """The index document of a published extension (its head versions)."""
    return analyze(encode_view(view.with_versions(view.head_versions(), all_versions=False)))


def view_of(document: Document) -> ExtensionView:
    return decode_view(json.loads(document.record))
