"""Search at ten times the largest registry: 500,000 extensions, our index beside tantivy's.

One run, one synthetic catalog (``bench.synthetic_catalog``, its vocabulary grown for the size), two engines:

- ours, through its public interfaces only, so the same benchmark measures whatever design replaces the
  present one: every extension analysed as the indexer does (``encoding.document_of``), the snapshot
  written as ``marketplace search rebuild`` writes it (``snapshot.replace_all``: the segments and the
  manifest), a new gallery instance's first search (``loader.current_index()`` over segments already in
  memory, then one query, best of two: the S3 round trips are left out, the loader's own work is all in),
  the first browse after it (an ordering is made on first use), the heap the loaded index holds
  (tracemalloc, in another load so tracing does not slow the timed one), and ``SearchIndex.search``
  answering text queries (relevance, 50 per page) and browsing (by installs, pages 1 to 3, a category
  filter in half of them);
- tantivy (the Rust search engine, through its Python bindings) given the same fields, ranking the way
  ours does as far as its queries allow: per query word, the best of a constant score per field (name and
  display name 30, publisher 20, tags and categories 12, description 4; a prefix completion half, for
  words of two letters or more), the words AND-ed, an exact id, name or display name 1000, times the same
  static score (installs, rating, demotions: a fast field that ``weight_by_field`` turns into exactly
  4 x ours). What it cannot mirror: a two-letter prefix completes to every word (ours: to words of five
  or more extensions only), its tokenizer splits "c++" to "c", no stop words. Its build, its size on
  disk, its open (``Index.open`` + searcher + first query, best of two, with the files in the page cache
  as they are after the build) and the same queries, each fetching the stored id of the hits of its page
  (ours decodes each hit's whole record: tantivy is favoured there).

For exact-name queries (the query is an extension's name) both engines must put first the extension that
ours ranks first by definition (the best static score among those whose id, name or display name the
query equals); the table gives the share of those queries where each does, where their first hits agree
and where their top-10 sets agree. Goals (at 500,000: text and browse P95 <= 10 ms, index heap
<= 512 MiB, first search <= 2 s; at 50,000 and below: first search <= 0.3 s, index heap <= 64 MiB; text
P95 no worse than tantivy's and the top 10 of exact-name queries agreeing).
"""

from __future__ import annotations

import gc
import io
import os
import random
import re
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import percentiles, synthetic_catalog

if TYPE_CHECKING:
    from marketplace.search.analysis import Document

CATALOG_SIZE = 500_000
QUERIES = 200  # per workload (text, browse); the text workload is five kinds in equal shares
WARM_UP = 20
PAGE = 50
TOP = 10
MiB = 1024 * 1024
BUCKET = "bench-search-scale"
KINDS = ("exact name", "partial word", "two words", "publisher", "tag")
TOP_AGREEMENT = 0.9  # share of exact-name queries whose top-10 sets must agree (ties may order the tenth apart)
FIELD_WEIGHTS = (("name", 30.0), ("display", 30.0), ("publisher", 20.0), ("tags", 12.0), ("description", 4.0))
EXACT_WEIGHT = 1000.0
MIN_PREFIX = 2
_WORD = re.compile(r"[^\W_]+")  # what tantivy's default tokenizer keeps: letters and digits


@dataclass(frozen=True)
class Goals:
    size: str
    first_search_s: float
    index_mib: float
    p95_ms: float = 10.0


GOALS_50K = Goals("50,000", 0.3, 64.0)
GOALS_500K = Goals("500,000", 2.0, 512.0)


def goals_for(count: int) -> Goals:
    return GOALS_500K if count > 50_000 else GOALS_50K


@dataclass(frozen=True, slots=True)
class Entry:
    """What the workload and tantivy need of one extension (the catalog's views are not kept)."""

    extension_id: str
    name: str
    display_name: str
    publisher: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    description: str
    installs: int
    static: float  # our static score (``Document.static``): tantivy ranks with the same

    def exact(self) -> set[str]:
        """What a whole query must equal to rank this extension first: its id, name and display name."""
        return {self.extension_id.lower(), self.name.lower(), _normalize(self.display_name or self.name)}


@dataclass(frozen=True)
class TextQuery:
    kind: str
    text: str
    expected: str | None = None  # exact names: the id both engines must put first


@dataclass(frozen=True)
class Browse:
    category: str | None
    page: int


@dataclass
class Engine:
    """One engine's numbers (times in seconds, samples in milliseconds)."""

    size_mib: float = 0.0
    size_note: str = ""
    write_s: float = 0.0
    first_s: float = 0.0
    text_ms: list[float] = field(default_factory=list)  # in workload order
    browse_ms: list[float] = field(default_factory=list)
    top: dict[int, list[str]] = field(default_factory=dict)  # exact-name query (its index) -> top 10 ids
    first_browse_s: float = 0.0
    heap_mib: float = 0.0


@dataclass
class Result:
    extensions: int
    queries: list[TextQuery]
    ours: Engine
    tantivy: Engine | None  # None: not installed
    tantivy_version: str
    generate_s: float
    analyse_s: float
    publishers: int
    commonest_name: tuple[str, int]
    peak_rss_mib: float = 0.0
    wall_s: float = 0.0

    @property
    def goals(self) -> Goals:
        return goals_for(self.extensions)

    def exact_queries(self) -> list[int]:
        return [i for i, q in enumerate(self.queries) if q.kind == "exact name"]

    def first_right(self, engine: Engine) -> float:
        """Share of exact-name queries that put the expected extension first."""
        chosen = self.exact_queries()
        right = sum(1 for i in chosen if engine.top.get(i, [])[:1] == [self.queries[i].expected])
        return right / max(1, len(chosen))

    def agreement(self) -> tuple[float, float]:
        """Shares of exact-name queries whose first hits, and whose top-10 sets, agree."""
        assert self.tantivy is not None
        chosen = self.exact_queries()
        ours, theirs = self.ours.top, self.tantivy.top
        first = sum(1 for i in chosen if ours[i][:1] == theirs[i][:1])
        sets = sum(1 for i in chosen if set(ours[i]) == set(theirs[i]))
        return first / max(1, len(chosen)), sets / max(1, len(chosen))

    @property
    def checks(self) -> dict[str, bool]:
        goals = self.goals
        found = {
            "first search": self.ours.first_s <= goals.first_search_s,
            "index memory": self.ours.heap_mib <= goals.index_mib,
            "text search P95": percentile(self.ours.text_ms, 0.95) <= goals.p95_ms,
            "browse P95": percentile(self.ours.browse_ms, 0.95) <= goals.p95_ms,
        }
        if self.tantivy is not None:
            found["text P95 vs tantivy"] = percentile(self.ours.text_ms, 0.95) <= percentile(self.tantivy.text_ms,
                                                                                            0.95)
            first, sets = self.agreement()
            found["exact names agree"] = first == 1.0 and sets >= TOP_AGREEMENT
        return found

    @property
    def ok(self) -> bool:
        return all(self.checks.values())


def percentile(samples: list[float], fraction: float) -> float:
    """``bench.percentiles``' rule; 0 for an engine that ran no query (tantivy missing)."""
    return percentiles.percentile(samples, fraction) if samples else 0.0


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


# ------------------------------------------------------------------------------------------ catalog


def catalog(count: int) -> tuple[list[Entry], list[Document], float, float]:
    """The entries and documents of ``count`` synthetic extensions; seconds generating and analysing."""
    from marketplace.search.encoding import document_of

    entries: list[Entry] = []
    documents: list[Document] = []
    analyse_s = 0.0
    collecting = gc.isenabled()
    gc.disable()  # a million long-lived objects: the collector would walk them again and again
    started = time.perf_counter()
    try:
        for view in synthetic_catalog.generate(count):
            before = time.perf_counter()
            document = document_of(view)
            analyse_s += time.perf_counter() - before
            documents.append(document)
            entries.append(Entry(view.extension_id, view.name, view.display_name or "", view.publisher,
                                 tuple(view.tags), tuple(view.categories), view.description or "", view.installs,
                                 document.static))
    finally:
        if collecting:
            gc.enable()
    return entries, documents, time.perf_counter() - started - analyse_s, analyse_s


def workload(entries: list[Entry], count: int, seed: int = 13) -> list[TextQuery]:
    """What people type, five kinds in equal shares: an extension's exact name (half of them a popular
    one's), a word as it is being typed, two words, a publisher, a tag."""
    rng = random.Random(seed)
    popular = sorted(entries, key=lambda e: -e.installs)[:max(50, len(entries) // 100)]
    subjects = synthetic_catalog.LANGUAGES + synthetic_catalog.FRAMEWORKS + synthetic_catalog.TOOLS

    def typed() -> str:
        word = rng.choice(_WORD.findall(rng.choice(popular).display_name.lower()) or subjects) \
            if rng.random() < 0.5 else rng.choice(subjects)
        return word[:rng.randint(2, max(2, min(len(word) - 1, 5)))]

    makers: dict[str, Callable[[], str]] = {
        "exact name": lambda: rng.choice(popular if rng.random() < 0.5 else entries).name,
        "partial word": typed,
        "two words": lambda: f"{rng.choice(subjects)} {rng.choice(synthetic_catalog.KINDS)}"
        if rng.random() < 0.5 else " ".join(rng.choice(popular).display_name.split()[-2:]),
        "publisher": lambda: rng.choice(popular if rng.random() < 0.5 else entries).publisher,
        "tag": lambda: rng.choice(rng.choice(entries).tags or ("theme",)),
    }
    queries = [(KINDS[i % len(KINDS)], makers[KINDS[i % len(KINDS)]]()) for i in range(count)]
    rng.shuffle(queries)
    wanted = {_normalize(text) for kind, text in queries if kind == "exact name"}
    best: dict[str, tuple[float, str]] = {}  # ours ranks an exact match by static score, then id
    for entry in entries:
        for key in entry.exact() & wanted:
            rank = (-entry.static, entry.extension_id)
            if key not in best or rank < best[key]:
                best[key] = rank
    return [TextQuery(kind, text, best[_normalize(text)][1] if kind == "exact name" else None)
            for kind, text in queries]


def browsing(count: int, seed: int = 17) -> list[Browse]:
    rng = random.Random(seed)
    return [Browse(rng.choice(synthetic_catalog.CATEGORIES) if rng.random() < 0.5 else None, rng.randint(1, 3))
            for _ in range(count)]


# -------------------------------------------------------------------------------------------- ours


class MemoryS3:
    """S3 as the snapshot's writers and the loader use it (a get, a conditional put), over a dict: the
    fetch costs nothing, so a load measures the loader's own work, as on Lambda after the bytes arrived."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self._writes = 0

    @staticmethod
    def _error(code: str, status: int, operation: str) -> Exception:
        from botocore.exceptions import ClientError

        error: Exception = ClientError({"Error": {"Code": code, "Message": code},
                                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)
        return error

    def get_object(self, **request: Any) -> dict[str, Any]:
        found = self.objects.get(request["Key"])
        if found is None:
            raise self._error("NoSuchKey", 404, "GetObject")
        body, etag = found
        if request.get("IfNoneMatch") == etag:
            raise self._error("304", 304, "GetObject")
        return {"Body": io.BytesIO(body), "ETag": etag}

    def put_object(self, **request: Any) -> dict[str, Any]:
        current = self.objects.get(request["Key"])
        if (request.get("IfNoneMatch") == "*" and current is not None) or (
                "IfMatch" in request and (current is None or current[1] != request["IfMatch"])):
            raise self._error("PreconditionFailed", 412, "PutObject")
        self._writes += 1
        etag = f'"{self._writes:032x}"'
        self.objects[request["Key"]] = (bytes(request["Body"]), etag)
        return {"ETag": etag}


@contextmanager
def memory_s3() -> Iterator[MemoryS3]:
    """``aws.client("s3")`` is a ``MemoryS3`` and the packages bucket is named, for the block."""
    from marketplace.platform import aws
    from marketplace.platform.resources import PACKAGES_BUCKET

    s3 = MemoryS3()
    original = aws.client
    saved = os.environ.get(PACKAGES_BUCKET.env_var)

    def client(service: str) -> Any:
        return s3 if service == "s3" else original(service)

    # the snapshot module asks aws.client("s3") at each request
    setattr(aws, "client", client)  # noqa: B010
    os.environ[PACKAGES_BUCKET.env_var] = BUCKET
    try:
        yield s3
    finally:
        setattr(aws, "client", original)  # noqa: B010
        if saved is None:
            os.environ.pop(PACKAGES_BUCKET.env_var, None)
        else:
            os.environ[PACKAGES_BUCKET.env_var] = saved


def _request(query: TextQuery | Browse) -> Any:
    from marketplace.search.index import SearchRequest

    if isinstance(query, TextQuery):
        return SearchRequest(text=query.text, limit=PAGE)
    return SearchRequest(categories=(query.category,) if query.category else (), sort="installs",
                         offset=(query.page - 1) * PAGE, limit=PAGE)


def measure_ours(documents: list[Document], queries: list[TextQuery], browse: list[Browse]) -> Engine:
    """Write the snapshot (``documents`` is emptied then, to free it), load it as a new gallery instance
    does, run the workloads, and load it again under tracemalloc for the heap."""
    from marketplace.search import loader, snapshot
    from marketplace.search.index import SearchIndex

    engine = Engine()
    with memory_s3() as s3:
        started = time.perf_counter()
        snapshot.replace_all(documents, scan_started=0)
        engine.write_s = time.perf_counter() - started
        documents.clear()
        segments = [body for key, (body, _) in s3.objects.items() if key.endswith(".json.gz")]
        engine.size_mib = sum(map(len, segments)) / MiB
        engine.size_note = f"gzipped in {len(segments)} segments"
        del segments

        def first_search() -> tuple[SearchIndex, float]:
            """A new instance's first search: every segment loaded, then one query."""
            loader.reset()
            gc.collect()
            started = time.perf_counter()
            index = loader.current_index()
            index.search(_request(queries[0]))
            return index, time.perf_counter() - started

        index, engine.first_s = first_search()
        started = time.perf_counter()
        index.search(_request(browse[0]))
        engine.first_browse_s = time.perf_counter() - started

        warm: list[TextQuery | Browse] = [*queries[:WARM_UP], *browse[:WARM_UP]]
        for query in warm:
            index.search(_request(query))
        for number, query in enumerate(queries):
            request = _request(query)
            started = time.perf_counter()
            found = index.search(request)
            engine.text_ms.append((time.perf_counter() - started) * 1000)
            if query.kind == "exact name":
                engine.top[number] = [view.extension_id for view in found.views[:TOP]]
        for page in browse:
            request = _request(page)
            started = time.perf_counter()
            index.search(request)
            engine.browse_ms.append((time.perf_counter() - started) * 1000)

        del index
        engine.first_s = min(engine.first_s, first_search()[1])  # best of two: the machine may be busy
        loader.reset()
        gc.collect()
        tracemalloc.start()
        try:
            loader.current_index()
            engine.heap_mib = tracemalloc.get_traced_memory()[0] / MiB
        finally:
            tracemalloc.stop()
            loader.reset()
            gc.collect()
    return engine


# ----------------------------------------------------------------------------------------- tantivy


def tantivy_version() -> str | None:
    try:
        import tantivy  # noqa: F401
    except ImportError:
        return None
    return metadata.version("tantivy")


def measure_tantivy(entries: list[Entry], queries: list[TextQuery], browse: list[Browse]) -> Engine:
    import tantivy
    from tantivy import Occur, Query

    engine = Engine()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    for name, _ in FIELD_WEIGHTS:
        builder.add_text_field(name, tokenizer_name="default", index_option="basic")
    builder.add_text_field("exact", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("category", tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("installs", fast=True)
    builder.add_float_field("rank", fast=True)  # weight_by_field multiplies a score by log2(2 + rank) = 4 x static
    schema = builder.build()

    with tempfile.TemporaryDirectory(prefix="bench-tantivy-") as path:
        started = time.perf_counter()
        index = tantivy.Index(schema, path=path)
        writer = index.writer()
        for entry in entries:
            document = tantivy.Document()
            document.add_text("id", entry.extension_id)
            document.add_text("name", entry.name)
            document.add_text("display", entry.display_name)
            document.add_text("publisher", entry.publisher)
            document.add_text("tags", " ".join((*entry.tags, *entry.categories)))
            document.add_text("description", entry.description)
            for value in entry.exact():
                document.add_text("exact", value)
            for category in entry.categories:
                document.add_text("category", category.lower())
            document.add_unsigned("installs", entry.installs)
            document.add_float("rank", 2.0 ** (4 * entry.static) - 2)
            writer.add_document(document)
        writer.commit()
        writer.wait_merging_threads()
        engine.write_s = time.perf_counter() - started
        files = [p for p in Path(path).iterdir() if p.is_file()]
        engine.size_mib = sum(p.stat().st_size for p in files) / MiB
        del writer, index
        gc.collect()

        def word(text: str) -> Any:
            """The best field a word (or, for two letters or more, a longer word it begins) matches in."""
            parts = []
            for name, weight in FIELD_WEIGHTS:
                parts.append(Query.const_score_query(Query.term_query(schema, name, text, index_option="basic"),
                                                     weight))
                if len(text) >= MIN_PREFIX:
                    parts.append(Query.const_score_query(
                        Query.fuzzy_term_query(schema, name, text, distance=0, transposition_cost_one=False,
                                               prefix=True), weight / 2))
            return Query.disjunction_max_query(parts)

        def text_query(text: str) -> Any:
            words = list(dict.fromkeys(_WORD.findall(text.lower())))[:8]
            exact = Query.const_score_query(
                Query.term_query(schema, "exact", _normalize(text), index_option="basic"), EXACT_WEIGHT)
            if not words:
                return exact
            matched = Query.boolean_query([(Occur.Must, word(w)) for w in words])
            return Query.disjunction_max_query([matched, exact])

        def search_text(searcher: Any, text: str) -> list[str]:
            found = searcher.search(text_query(text), PAGE, count=True, weight_by_field="rank")
            return [searcher.doc(address).get_first("id") for _, address in found.hits]

        def search_browse(searcher: Any, page: Browse) -> list[str]:
            query = Query.term_query(schema, "category", page.category.lower(), index_option="basic") \
                if page.category else Query.all_query()
            found = searcher.search(query, PAGE, count=True, order_by_field="installs", offset=(page.page - 1) * PAGE)
            return [searcher.doc(address).get_first("id") for _, address in found.hits]

        firsts = []
        for _ in range(2):
            started = time.perf_counter()
            searcher = tantivy.Index.open(path).searcher()
            search_text(searcher, queries[0].text)
            firsts.append(time.perf_counter() - started)
        engine.first_s = min(firsts)
        engine.size_note = f"on disk in {searcher.num_segments} segments"
        started = time.perf_counter()
        search_browse(searcher, browse[0])
        engine.first_browse_s = time.perf_counter() - started

        for query in queries[:WARM_UP]:
            search_text(searcher, query.text)
        for page in browse[:WARM_UP]:
            search_browse(searcher, page)
        for number, query in enumerate(queries):
            started = time.perf_counter()
            ids = search_text(searcher, query.text)
            engine.text_ms.append((time.perf_counter() - started) * 1000)
            if query.kind == "exact name":
                engine.top[number] = ids[:TOP]
        for page in browse:
            started = time.perf_counter()
            search_browse(searcher, page)
            engine.browse_ms.append((time.perf_counter() - started) * 1000)
        del searcher
        gc.collect()
    return engine


# -------------------------------------------------------------------------------------------- run


def measure(count: int = CATALOG_SIZE, queries: int = QUERIES) -> Result:
    began = time.perf_counter()
    entries, documents, generate_s, analyse_s = catalog(count)
    names: dict[str, int] = {}
    for entry in entries:
        names[entry.name] = names.get(entry.name, 0) + 1
    commonest = max(names.items(), key=lambda item: item[1])
    publishers = len({entry.publisher for entry in entries})
    del names
    text = workload(entries, max(len(KINDS), queries))
    browse = browsing(max(1, queries))
    ours = measure_ours(documents, text, browse)
    del documents
    version = tantivy_version()
    theirs = measure_tantivy(entries, text, browse) if version else None
    result = Result(count, text, ours, theirs, version or "", generate_s, analyse_s, publishers, commonest)
    result.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.wall_s = time.perf_counter() - began
    return result


def _ms(samples: list[float]) -> str:
    return f"{percentile(samples, 0.5):.2f} / {percentile(samples, 0.95):.2f} ms"


def table(result: Result) -> str:
    goals, ours, theirs, checks = result.goals, result.ours, result.tantivy, result.checks
    unavailable = "tantivy unavailable"

    def mark(name: str) -> str:
        return "" if name not in checks else "yes" if checks[name] else "NO"

    def other(render: Callable[[Engine], str]) -> str:
        return render(theirs) if theirs is not None else unavailable

    rows: list[tuple[str, str, str, str, str]] = [
        ("snapshot / index", f"{ours.size_mib:.1f} MiB {ours.size_note}",
         other(lambda t: f"{t.size_mib:.1f} MiB {t.size_note}"), "", ""),
        ("write / build", f"{ours.write_s:.1f} s (after {result.analyse_s:.1f} s analysing)",
         other(lambda t: f"{t.write_s:.1f} s"), "", ""),
        ("first search", f"{ours.first_s:.2f} s (load every segment + 1 query, best of 2)",
         other(lambda t: f"{t.first_s:.3f} s (open + 1 query, best of 2)"), f"<= {goals.first_search_s:g} s",
         mark("first search")),
        ("index memory", f"{ours.heap_mib:,.0f} MiB of Python heap",
         other(lambda _: "memory-mapped files"), f"<= {goals.index_mib:,.0f} MiB", mark("index memory")),
        ("text search P50 / P95", _ms(ours.text_ms), other(lambda t: _ms(t.text_ms)),
         f"P95 <= {goals.p95_ms:g} ms", mark("text search P95")),
        ("browse P50 / P95", _ms(ours.browse_ms), other(lambda t: _ms(t.browse_ms)),
         f"P95 <= {goals.p95_ms:g} ms", mark("browse P95")),
        ("text P95 vs tantivy", f"{percentile(ours.text_ms, 0.95):.2f} ms",
         other(lambda t: f"{percentile(t.text_ms, 0.95):.2f} ms"), "ours <= tantivy's", mark("text P95 vs tantivy")),
        ("exact name first", f"{result.first_right(ours):.0%} of {len(result.exact_queries())} queries",
         other(lambda t: f"{result.first_right(t):.0%}"), "", ""),
    ]
    if theirs is not None:
        first, sets = result.agreement()
        agreed = f"first hits {first:.0%}, top-10 sets {sets:.0%}"
    else:
        agreed = unavailable
    rows.append(("exact names agree", agreed, "", f"first 100%, top 10 >= {TOP_AGREEMENT:.0%}",
                 mark("exact names agree")))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    heads = ("measure", "ours", f"tantivy {result.tantivy_version}" if theirs else "tantivy", "goal", "ok")
    widths = [max(w, len(h)) for w, h in zip(widths, heads, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    lines = [
        f"Search at {result.extensions:,} extensions, in-process: our index beside tantivy on the same catalog "
        f"(goals for {goals.size}: first search <= {goals.first_search_s:g} s, index <= {goals.index_mib:,.0f} MiB, "
        f"P95 <= {goals.p95_ms:g} ms)",
        line(heads),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *(line(row) for row in rows),
        "",
        by_kind(result),
        "",
        f"catalog: {result.extensions:,} extensions of {result.publishers:,} publishers, the commonest name "
        f"({result.commonest_name[0]}) shared by {result.commonest_name[1]:,}; generated in {result.generate_s:.1f} s",
        f"first browse after the first search: ours {ours.first_browse_s:.3f} s, "
        + other(lambda t: f"tantivy {t.first_browse_s:.3f} s")
        + f"; workloads: {len(ours.text_ms)} text queries, {len(ours.browse_ms)} browse pages (after {WARM_UP} "
        "of each to warm up), 50 per page",
        f"process: peak RSS {result.peak_rss_mib:,.0f} MiB, {result.wall_s:.0f} s in all",
    ]
    return "\n".join(lines)


def by_kind(result: Result) -> str:
    """Text search P50 / P95 by kind of query, both engines."""
    heads = ("text query kind", "queries", "ours P50 / P95", "tantivy P50 / P95")
    rows = []
    for kind in KINDS:
        chosen = [i for i, q in enumerate(result.queries) if q.kind == kind]
        ours = [result.ours.text_ms[i] for i in chosen]
        theirs = _ms([result.tantivy.text_ms[i] for i in chosen]) if result.tantivy else "tantivy unavailable"
        rows.append((kind, str(len(chosen)), _ms(ours), theirs))
    widths = [max(len(c) for c in column) for column in zip(heads, *rows, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)])
