"""The durable one-box registry at size: ``marketplace serve --data-dir`` with 10,000 versions and about 5 GiB of
packages stored.

One run:

1. **Fill** a new data directory: a ``LocalMarketplace(data_dir=...)`` in this process, and through its emulator
   each version's package (a stored ZIP of incompressible bytes, ``--package-kib``) and three assets (manifest,
   VSIX manifest, README) written with ``PutObject`` at the keys the ingest writes them (``<asset_base>/<asset
   type>``), then the extensions, their versions and statistics written as the ingest and the stats function
   write them (``gallery_query._put_in_tables``, names from ``synthetic_catalog``, five versions each). The
   durable hooks keep all of it, as for any write. Then ``marketplace search rebuild``'s ``indexer.rebuild()``
   writes the whole search snapshot, and the table's stream is left as the search indexer and the stream
   retention leave it once the indexer has read it (``_consumed``). Far quicker than publishing 10,000
   packages, and the same storage path. Its time is reported, not judged.
2. **Start-up**: ``marketplace serve --data-dir DIR`` in its own process, from exec to the first ``/healthz`` 200
   (goal <= 10 s): the integrity check of every stored body, restoring every table, object, key, queue and
   stream, provisioning and starting the worker processes.
3. **Memory**: the resident set of the serve process and all its descendants (``/proc``), after start-up and
   after the queries (goal <= 1 GiB: package bodies stay on disk). PSS is shown beside it (RSS counts pages
   the processes share once per process).
4. **extensionquery** through the front door (HTTP, sequential, flags 950): text search, id lookup and category
   browse, as in ``gallery_query``, plus the first query after start-up (it loads the search snapshot).
5. **Publish to searchable**: ``marketplace publish`` of a real package (``tests.vsix_factory``), then an
   extensionquery text search polled until the extension is in it; from the publish command's exec, median.
6. **Cost of durability**: N sequential small ``PutItem`` and ``PutObject`` calls to the emulator of the durable
   registry above and of a ``marketplace serve --ephemeral`` started beside it, in alternating blocks: the
   durable one answers only after ``fsync``.

The data directory is a temporary directory (or ``--data-dir``, which must be new or empty), removed at the
end unless ``--keep``. Progress goes to stderr; the table to stdout.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench import gallery_query, synthetic_catalog
from bench.percentiles import percentile

VERSIONS = 10_000
VERSIONS_PER_EXTENSION = 5
PACKAGE_KIB = 512
QUERIES = 100  # per workload
PUBLISHES = 3
CALLS = 200  # per operation and emulator, for the cost of durability
START_GOAL_S = 10.0
MEMORY_GOAL_MIB = 1024.0
KiB, MiB, GiB = 1024, 1024 * 1024, 1024 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
MARKETPLACE = Path(sys.executable).parent / "marketplace"
QUERY_PATH = "/_apis/public/gallery/extensionquery"
QUERY_HEADERS = {"Content-Type": "application/json", "Accept": "application/json;api-version=3.0-preview.1"}
PUBLISHER = "durablebench"
PACKAGE_ASSET = "Microsoft.VisualStudio.Services.VSIXPackage"
MANIFEST_ASSET = "Microsoft.VisualStudio.Code.Manifest"
VSIXMANIFEST_ASSET = "Microsoft.VisualStudio.Services.VsixManifest"
DETAILS_ASSET = "Microsoft.VisualStudio.Services.Content.Details"
ASSETS = (DETAILS_ASSET, MANIFEST_ASSET, PACKAGE_ASSET, VSIXMANIFEST_ASSET)
OVERHEAD = 16 * KiB  # the assets, ZIP headers and records of one version, on disk (estimate for the space check)
SPARE = 512 * MiB  # free space left over after the fill
LOCAL = "local"


class Refused(Exception):
    """The benchmark cannot run as asked (the message says why and what to do)."""


class NotEnoughSpace(Refused):
    """The disk cannot hold the data directory."""


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Latency:
    name: str
    samples_ms: list[float]

    def percentile(self, fraction: float) -> float:
        return percentile(self.samples_ms, fraction)


@dataclass(frozen=True)
class Memory:
    rss: int  # bytes, summed over the processes
    pss: int | None  # bytes, summed; None where /proc has no smaps_rollup
    processes: int
    serve_rss: int  # the serve process alone

    @property
    def ok(self) -> bool:
        return self.rss <= MEMORY_GOAL_MIB * MiB


@dataclass(frozen=True)
class Cost:
    operation: str
    ephemeral_s: float  # all calls, summed
    durable_s: float
    calls: int

    @property
    def ratio(self) -> float:
        return self.durable_s / self.ephemeral_s


@dataclass(frozen=True)
class Fill:
    objects_s: float
    tables_s: float
    rebuild_s: float
    total_s: float
    stored_bytes: int  # package and asset bodies written


@dataclass(frozen=True)
class Result:
    versions: int
    extensions: int
    package_kib: int
    fill: Fill
    disk_bytes: int
    disk_files: int
    start_s: float
    memory_started: Memory
    memory_queried: Memory
    first_query_ms: float
    workloads: list[Latency]
    publish_s: list[float]  # exec of ``marketplace publish`` to the first search that finds it
    publish_command_s: list[float]  # the publish command alone (upload, ingest, verdict)
    costs: list[Cost]

    @property
    def start_ok(self) -> bool:
        return self.start_s <= START_GOAL_S

    @property
    def ok(self) -> bool:
        return self.start_ok and self.memory_started.ok and self.memory_queried.ok


# ------------------------------------------------------------------------------------------------ catalog


def catalog(versions: int) -> list[Any]:
    """``synthetic_catalog``'s extensions, each with five universal release versions (the last one fewer when
    ``versions`` is not a multiple), each under an asset base of its own as the ingest makes them."""
    from marketplace.platform.resources import PACKAGES_BUCKET

    count = math.ceil(versions / VERSIONS_PER_EXTENSION)
    rng = random.Random(13)
    views = []
    remaining = versions
    for view in synthetic_catalog.build(count):
        template = view.versions[0]
        major, minor = template.version.split(".")[:2]
        numbers = [f"{major}.{minor}.{patch}" for patch in range(min(VERSIONS_PER_EXTENSION, remaining))]
        remaining -= len(numbers)
        made = [replace(
            template, version=number, target_platform="universal", pre_release=False,
            published_at=view.updated_at - timedelta(days=30 * (len(numbers) - 1 - n)), assets=ASSETS,
            asset_base=(f"{PACKAGES_BUCKET.public_prefix}{view.publisher}/{view.name}/{number}/universal/"
                        f"{rng.getrandbits(64):016x}"),
        ) for n, number in enumerate(numbers)]
        views.append(replace(view, latest_version=numbers[-1], latest_prerelease=None)
                     .with_versions(made, all_versions=True))
    return views


@dataclass(frozen=True)
class _Package:
    """What a fill worker needs to make and store one version's package and assets."""

    publisher: str
    name: str
    version: str
    display_name: str
    description: str
    asset_base: str


def _files(package: _Package) -> dict[str, bytes]:
    manifest = {"name": package.name, "publisher": package.publisher, "version": package.version,
                "displayName": package.display_name, "description": package.description,
                "engines": {"vscode": "^1.80.0"}, "license": "MIT", "main": "./extension.js"}
    vsixmanifest = (
        '<?xml version="1.0" encoding="utf-8"?>\n<PackageManifest Version="2.0.0" '
        'xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">\n  <Metadata>\n'
        f'    <Identity Language="en-US" Id="{package.name}" Version="{package.version}" '
        f'Publisher="{package.publisher}"/>\n    <DisplayName>{package.display_name}</DisplayName>\n'
        f'    <Description xml:space="preserve">{package.description}</Description>\n  </Metadata>\n'
        '  <Installation><InstallationTarget Id="Microsoft.VisualStudio.Code"/></Installation>\n'
        "</PackageManifest>\n")
    readme = f"# {package.display_name}\n\n{package.description}\n\nVersion {package.version}.\n" * 8
    return {"extension.vsixmanifest": vsixmanifest.encode(),
            "extension/package.json": json.dumps(manifest, indent=2).encode(),
            "extension/readme.md": readme.encode()}


def _vsix(files: dict[str, bytes], size: int) -> bytes:
    """A package of about ``size`` bytes: the text files deflated, then incompressible bytes stored."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data, zipfile.ZIP_DEFLATED)
        archive.writestr("extension/extension.js", b"exports.activate = () => {};\n", zipfile.ZIP_DEFLATED)
        archive.writestr("extension/media/data.bin", os.urandom(max(0, size - out.tell() - 512)), zipfile.ZIP_STORED)
    return out.getvalue()


def _session() -> Any:
    """A boto3 session with the local runtime's placeholder credentials (its emulator checks none)."""
    import boto3

    return boto3.session.Session(aws_access_key_id=LOCAL, aws_secret_access_key=LOCAL, region_name="us-east-1")


def _put_packages(endpoint: str, bucket: str, size: int, packages: list[_Package]) -> list[tuple[str, int, int]]:
    """In a fill worker: each package and its assets with ``PutObject``, as the ingest stores them. Returns each
    package's SHA-256 and size, and the bytes stored for it."""
    from marketplace.publishing.objects import IMMUTABLE

    s3 = _session().client("s3", endpoint_url=endpoint)
    done = []
    for package in packages:
        files = _files(package)
        body = _vsix(files, size)
        bodies = [(PACKAGE_ASSET, body, "application/vsix"),
                  (MANIFEST_ASSET, files["extension/package.json"], "application/json"),
                  (VSIXMANIFEST_ASSET, files["extension.vsixmanifest"], "text/xml; charset=utf-8"),
                  (DETAILS_ASSET, files["extension/readme.md"], "text/markdown; charset=utf-8")]
        for asset_type, data, content_type in bodies:
            s3.put_object(Bucket=bucket, Key=f"{package.asset_base}/{asset_type}", Body=data,
                          ContentType=content_type, CacheControl=IMMUTABLE)
        done.append((hashlib.sha256(body).hexdigest(), len(body), sum(len(data) for _, data, _ in bodies)))
    return done


# ------------------------------------------------------------------------------------------------ fill


@contextmanager
def _quiet() -> Iterator[None]:
    """The in-process emulator's request log off, as ``marketplace serve`` has it."""
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _progress(message: str) -> None:
    print(f"durable [{time.strftime('%H:%M:%S')}]: {message}", file=sys.stderr, flush=True)


def _consumed(runtime: Any) -> int:
    """Leave the extensions table's stream as the search indexer and the runtime's stream retention leave it once
    the indexer has read every record: its checkpoint at the last record, the records dropped. (The fill runs
    without the indexer: ``rebuild`` writes the snapshot it would have, without rewriting every segment a hundred
    times on the way.) Returns how many records were dropped."""
    from moto.dynamodb.models import dynamodb_backends

    from marketplace.local.context import REGION
    from marketplace.local.durable.dynamodb import ACCOUNT, trim_stream
    from marketplace.local.durable.kinesis import Checkpoints
    from marketplace.platform.functions import SEARCH_INDEXER
    from marketplace.platform.resources import EXTENSIONS_TABLE

    table = dynamodb_backends[ACCOUNT][REGION].tables[os.environ[EXTENSIONS_TABLE.env_var]]
    shard = table.stream_shard
    if shard is None or not shard.items:
        return 0
    last = shard.starting_sequence_number + len(shard.items) - 1  # the oldest kept record starts the shard
    Checkpoints(runtime.data.store, SEARCH_INDEXER.name).set(shard.id, str(last))
    return trim_stream(runtime.data.store, table.name, last)


def fill(directory: Path, views: list[Any], package_kib: int) -> tuple[list[Any], Fill]:
    """Store every version of ``views`` in the data directory ``directory``; returns the views with each
    version's package SHA-256 and size, and the times."""
    from marketplace.local.runtime import LocalMarketplace
    from marketplace.platform.resources import PACKAGES_BUCKET
    from marketplace.search import indexer

    started = time.perf_counter()
    packages = [_Package(view.publisher, view.name, v.version, view.display_name or view.name,
                         view.description or "", v.asset_base) for view in views for v in view.versions]
    chunk = 20
    tasks = [packages[i:i + chunk] for i in range(0, len(packages), chunk)]
    with _quiet():
        # the emulator, its durable hooks and the resources; no function runs (see _consumed)
        runtime = LocalMarketplace(port=0, data_dir=directory, functions=())
        runtime.start()
        try:
            bucket = os.environ[PACKAGES_BUCKET.env_var]
            objects_started = time.perf_counter()
            stored: list[tuple[str, int, int]] = []
            # the clients in processes of their own: this process's one interpreter lock is the emulator's
            with ProcessPoolExecutor(max(1, min(2, os.cpu_count() or 1)), mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_put_packages, runtime.moto_endpoint, bucket, package_kib * KiB, task)
                           for task in tasks]
                step = max(1, len(futures) // 10)
                for n, future in enumerate(futures, 1):
                    stored += future.result()
                    if n % step == 0 or n == len(futures):
                        _progress(f"stored {len(stored):,} of {len(packages):,} packages "
                                  f"({sum(s[2] for s in stored) / GiB:.2f} GiB) in "
                                  f"{time.perf_counter() - objects_started:.0f} s")
            objects_s = time.perf_counter() - objects_started
            found = iter(stored)
            views = [view.with_versions([replace(v, sha256=s, size=n) for v, (s, n, _) in zip(view.versions, found,
                                                                                                strict=False)],
                                        all_versions=True) for view in views]
            tables_started = time.perf_counter()
            for start in range(0, len(views), 200):
                gallery_query._put_in_tables(views[start:start + 200])
            tables_s = time.perf_counter() - tables_started
            _progress(f"wrote {len(views):,} extensions and {len(packages):,} versions to the tables in "
                      f"{tables_s:.0f} s")
            rebuild_started = time.perf_counter()
            manifest = indexer.rebuild()
            rebuild_s = time.perf_counter() - rebuild_started
            dropped = _consumed(runtime)
            _progress(f"rebuilt the search snapshot ({manifest.total:,} extensions) in {rebuild_s:.0f} s; "
                      f"{dropped:,} consumed stream records dropped")
        finally:
            runtime.stop()
    total_s = time.perf_counter() - started
    return views, Fill(objects_s, tables_s, rebuild_s, total_s, sum(s[2] for s in stored))


def disk_usage(directory: Path) -> tuple[int, int]:
    """Bytes the directory's files take on disk, and how many files there are."""
    used, files = 0, 0
    for folder, _, names in os.walk(directory):
        for name in names:
            try:
                info = (Path(folder) / name).lstat()
            except FileNotFoundError:
                continue
            used += info.st_blocks * 512
            files += 1
    return used, files


def check_space(directory: Path, versions: int, package_kib: int) -> None:
    """Refuse before writing anything when the disk cannot hold the data directory."""
    needed = versions * (package_kib * KiB + OVERHEAD) + SPARE
    existing = directory
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise NotEnoughSpace(
            f"the durable benchmark needs about {needed / GiB:.1f} GiB free for {versions:,} versions of "
            f"{package_kib} KiB in {existing}, and {free / GiB:.1f} GiB are free: free some space, pass --data-dir "
            "on a larger disk, or fewer --versions or a smaller --package-kib")


# ------------------------------------------------------------------------------------------------ serving


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float = 30) -> tuple[int, bytes]:
    """One HTTP request on a new connection: the status and the body."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                           headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    moto_endpoint: str
    env: dict[str, str]
    log: Path
    launched: float  # perf_counter at exec
    started_s: float = 0.0  # exec to the first /healthz 200

    def cli(self, *args: str) -> str:
        """``marketplace ARGS`` as an operator runs it (finding this server through its state file); stdout."""
        result = subprocess.run([str(MARKETPLACE), *args], capture_output=True, text=True, env=self.env, cwd=ROOT,
                                timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"marketplace {' '.join(args[:2])} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def failed(self, why: str) -> RuntimeError:
        return RuntimeError(f"marketplace serve {why}:\n{self.log.read_text(errors='replace')[-4000:]}")


def _launch(folder: Path, args: tuple[str, ...]) -> Served:
    folder.mkdir(parents=True, exist_ok=True)
    port, moto_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MARKETPLACE_STATE_FILE"] = str(folder / "local-runtime.json")
    log_path = folder / "serve.log"
    with log_path.open("wb") as out:
        launched = time.perf_counter()
        process = subprocess.Popen(
            [str(MARKETPLACE), "serve", "--port", str(port), "--moto-port", str(moto_port), *args],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    return Served(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{moto_port}", env, log_path, launched)


def _healthy(served: Served, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if served.process.poll() is not None:
            raise served.failed(f"exited with {served.process.returncode}")
        try:
            if request("GET", f"{served.base_url}/healthz", timeout=2)[0] == 200:
                served.started_s = time.perf_counter() - served.launched
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise served.failed(f"was not healthy within {timeout:.0f} s")
        time.sleep(0.05)


@contextmanager
def serving(*servers: tuple[Path, tuple[str, ...]]) -> Iterator[list[Served]]:
    """``marketplace serve ARGS`` for each ``(folder, ARGS)``, each in its own process with its state file and log
    in its folder, all started at once; yields once each ``/healthz`` answers 200 (``started_s``: from exec)."""
    launched: list[Served] = []
    try:
        for folder, args in servers:
            launched.append(_launch(folder, args))
        for served in launched:
            _healthy(served)
        yield launched
    finally:
        running = [s.process for s in launched if s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGINT)
        for process in running:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def _status_kib(pid: int, path: str, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def memory(pid: int) -> Memory:
    """The serve process's and its descendants' resident sets (a process that ended meanwhile counts nothing)."""
    pids = _descendants(pid)
    rss = {p: _status_kib(p, "status", "VmRSS") for p in pids}
    live = [p for p in pids if rss[p] is not None]
    pss = [_status_kib(p, "smaps_rollup", "Pss") for p in live]
    return Memory(rss=sum(rss[p] or 0 for p in live) * KiB,
                  pss=None if None in pss else sum(p or 0 for p in pss) * KiB,
                  processes=len(live), serve_rss=(rss[pid] or 0) * KiB)


# ------------------------------------------------------------------------------------------------ queries


def _query(served: Served, body: dict[str, Any]) -> tuple[float, list[dict[str, Any]]]:
    data = json.dumps(body).encode()
    started = time.perf_counter()
    status, answer = request("POST", served.base_url + QUERY_PATH, data, QUERY_HEADERS)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"extensionquery answered {status}: {answer[:500]!r}")
    return elapsed, list(json.loads(answer)["results"][0]["extensions"])


def queries(served: Served, views: list[Any], samples: int) -> tuple[float, list[Latency]]:
    """The first query's time (it loads the search snapshot), then each workload's latencies."""
    rng = random.Random(5)
    body = gallery_query._body
    text = [body({"filterType": 10, "value": q}) for q in synthetic_catalog.text_queries(views, samples)]
    lookups = [body({"filterType": 7, "value": rng.choice(views).extension_id}) for _ in range(samples)]
    browse = [body({"filterType": 5, "value": rng.choice(synthetic_catalog.CATEGORIES)}, page=rng.randint(1, 3),
                   sort_by=4) for _ in range(samples)]
    first_ms, found = _query(served, body({"filterType": 10, "value": views[0].name}))
    if not found:
        raise RuntimeError("the first text search found nothing: the search snapshot was not restored")
    _, found = _query(served, lookups[0])
    if len(found) != 1:
        raise RuntimeError("the id lookup found nothing: the catalog was not restored")
    for warm in (text[:5] + lookups[:5] + browse[:5]) * 2:  # every gallery environment loads its index
        _query(served, warm)
    workloads: list[tuple[str, list[dict[str, Any]], list[float]]] = [(name, bodies, []) for name, bodies in
                 (("text search", text), ("id lookup", lookups), ("category browse", browse))]
    for n in range(samples):  # interleaved, so a slow moment hits every workload alike
        for _, bodies, samples_ms in workloads:
            samples_ms.append(_query(served, bodies[n])[0])
    latencies = [Latency(name, samples_ms) for name, _, samples_ms in workloads]
    return first_ms, [*latencies, Latency("all", [s for w in latencies for s in w.samples_ms])]


def publish_to_searchable(served: Served, folder: Path, publishes: int) -> tuple[list[float], list[float]]:
    from tests.vsix_factory import build_vsix

    token = served.cli("publisher", "create", PUBLISHER, "--owner", "bench").strip().splitlines()[-1]
    totals, commands = [], []
    for n in range(publishes):
        name = f"probe{n}-{random.Random(n).getrandbits(32):08x}"
        package = build_vsix(folder / f"{name}.vsix", publisher=PUBLISHER, name=name, version="1.0.0", icon=True)
        search = gallery_query._body({"filterType": 10, "value": name})
        started = time.perf_counter()
        served.cli("publish", str(package), "--registry", served.base_url, "--token", token, "--quiet")
        commands.append(time.perf_counter() - started)
        deadline = time.monotonic() + 120
        while not any(e["extensionName"] == name for e in _query(served, search)[1]):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{PUBLISHER}.{name} was published but not searchable within 120 s")
            time.sleep(0.1)
        totals.append(time.perf_counter() - started)
    return totals, commands


# ------------------------------------------------------------------------------------------------ durability cost


def _clients(endpoint: str) -> tuple[Any, Any, str, str]:
    from marketplace.platform import resources as r

    session = _session()
    dynamodb, s3 = session.client("dynamodb", endpoint_url=endpoint), session.client("s3", endpoint_url=endpoint)
    table = next(t for t in dynamodb.list_tables()["TableNames"] if t.endswith(f"-{r.STATISTICS_TABLE.id}"))
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].endswith(f"-{r.PACKAGES_BUCKET.id}"))
    return dynamodb, s3, table, bucket


_Target = tuple[Any, Any, str, str]  # DynamoDB client, S3 client, statistics table, packages bucket


def durability_cost(ephemeral: Served, durable: Served, calls: int, block: int = 10) -> list[Cost]:
    """N sequential ``PutItem`` (a 200-byte item in the statistics table, which has no stream) and ``PutObject``
    (1 KiB, under a prefix no notification watches) to the emulators of an ephemeral and a durable ``serve``, in
    alternating blocks so that a busy moment of the machine hits both alike."""
    body = os.urandom(KiB)
    targets = {"ephemeral": _clients(ephemeral.moto_endpoint), "durable": _clients(durable.moto_endpoint)}

    def put_item(target: _Target, n: int) -> None:
        target[0].put_item(TableName=target[2], Item={
            "pk": {"S": f"BENCH#{n}"}, "sk": {"S": "TOTALS"}, "n": {"N": str(n)}, "pad": {"S": "x" * 200}})

    def put_object(target: _Target, n: int) -> None:
        target[1].put_object(Bucket=target[3], Key=f"bench/durability/{n}", Body=body)

    operations: list[tuple[str, Callable[[_Target, int], None]]] = [
        ("DynamoDB PutItem (200 B)", put_item), ("S3 PutObject (1 KiB)", put_object)]
    costs = []
    for name, call in operations:
        for target in targets.values():  # warm the connections and code paths
            for n in range(5):
                call(target, -1 - n)
        spent = dict.fromkeys(targets, 0.0)
        for start in range(0, calls, block):
            for label, target in targets.items():
                began = time.perf_counter()
                for n in range(start, min(calls, start + block)):
                    call(target, n)
                spent[label] += time.perf_counter() - began
        costs.append(Cost(name, spent["ephemeral"], spent["durable"], calls))
    return costs


# ------------------------------------------------------------------------------------------------ run


def measure(versions: int = VERSIONS, package_kib: int = PACKAGE_KIB, samples: int = QUERIES,
            publishes: int = PUBLISHES, calls: int = CALLS, data_dir: Path | None = None,
            keep: bool = False) -> Result:
    if versions < 1 or package_kib < 1 or samples < 1 or publishes < 1 or calls < 1:
        raise ValueError("versions, package size, queries, publishes and calls must be at least 1")
    work = Path(tempfile.mkdtemp(prefix="marketplace-durable-bench-"))
    directory = data_dir.resolve() if data_dir is not None else work / "data"
    if directory.exists() and any(directory.iterdir()):
        shutil.rmtree(work)
        raise Refused(f"{directory} is not empty: the benchmark fills a new data directory (and removes it unless "
                      "--keep)")
    created = not directory.exists()
    try:
        check_space(directory, versions, package_kib)
        views, filled = fill(directory, catalog(versions), package_kib)
        disk_bytes, disk_files = disk_usage(directory)
        _progress(f"filled {directory} in {filled.total_s:.0f} s: {disk_bytes / GiB:.2f} GiB in {disk_files:,} files")
        with serving((work / "serve", ("--data-dir", str(directory)))) as (served,):
            _progress(f"marketplace serve --data-dir: healthy {served.started_s:.1f} s after exec")
            started = memory(served.process.pid)
            first_ms, workloads = queries(served, views, samples)
            queried = memory(served.process.pid)
            _progress("queries done; publishing")
            publish_s, command_s = publish_to_searchable(served, work, publishes)
            _progress("measuring the cost of durability against a marketplace serve --ephemeral")
            with serving((work / "ephemeral", ("--ephemeral",))) as (ephemeral,):
                costs = durability_cost(ephemeral, served, calls)
        return Result(versions, len(views), package_kib, filled, disk_bytes, disk_files, served.started_s, started,
                      queried, first_ms, workloads, publish_s, command_s, costs)
    finally:
        if keep:
            _progress(f"kept {directory} (and the work folder {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)
            if data_dir is not None and created:
                shutil.rmtree(directory, ignore_errors=True)
            elif data_dir is not None:  # it existed, empty: leave it so
                for child in directory.iterdir():
                    shutil.rmtree(child) if child.is_dir() else child.unlink()


def _size(count: float) -> str:
    return f"{count / GiB:.2f} GiB" if count >= GiB else f"{count / MiB:.0f} MiB"


def _memory(m: Memory) -> str:
    pss = f"; PSS {_size(m.pss)}" if m.pss is not None else ""
    return f"{_size(m.rss)} RSS in {m.processes} processes (serve {_size(m.serve_rss)}{pss})"


def table(result: Result) -> str:
    f = result.fill
    rows: list[tuple[str, str, str, bool | None]] = [
        ("fill (informational)", f"{f.total_s:.0f} s: objects {f.objects_s:.0f} s, tables {f.tables_s:.0f} s, "
                                 f"search rebuild {f.rebuild_s:.0f} s", "", None),
        ("data directory on disk", f"{_size(result.disk_bytes)} in {result.disk_files:,} files", "", None),
        ("start-up: exec to /healthz 200", f"{result.start_s:.1f} s", f"<= {START_GOAL_S:.0f} s", result.start_ok),
        ("memory after start-up", _memory(result.memory_started), "<= 1 GiB", result.memory_started.ok),
        ("first extensionquery", f"{result.first_query_ms:.0f} ms (loads the search snapshot)", "", None),
    ]
    for w in result.workloads:
        rows.append((f"extensionquery: {w.name}", f"P50 {w.percentile(0.5):.1f} ms, P95 {w.percentile(0.95):.1f} ms "
                                                   f"({len(w.samples_ms)} queries)", "", None))
    rows += [
        ("memory after the queries", _memory(result.memory_queried), "<= 1 GiB", result.memory_queried.ok),
        (f"publish to searchable, median of {len(result.publish_s)}",
         f"{statistics.median(result.publish_s):.1f} s (the publish command "
         f"{statistics.median(result.publish_command_s):.1f} s)", "", None),
    ]
    for c in result.costs:
        rows.append((f"{c.operation} x{c.calls}",
                     f"ephemeral {c.ephemeral_s * 1000 / c.calls:.1f} ms, durable "
                     f"{c.durable_s * 1000 / c.calls:.1f} ms a call: {c.ratio:.2f}x", "", None))
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    lines = [
        f"Durable registry: {result.versions:,} versions of {result.extensions:,} extensions, {result.package_kib} KiB "
        f"packages ({_size(result.fill.stored_bytes)} stored), marketplace serve --data-dir",
        f"| {'measure':<{width}} | {'value':<{value_width}} | goal     | ok  |",
        f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|----------|-----|",
    ]
    for name, value, goal, ok in rows:
        mark = "" if ok is None else "yes" if ok else "NO"
        lines.append(f"| {name:<{width}} | {value:<{value_width}} | {goal:<8} | {mark:<3} |")
    return "\n".join(lines)
