"""Run every benchmark in one process and print one table per benchmark; exit 1 if a budget is missed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import (
    batch_strategy,
    cold_start,
    cost,
    durable,
    gallery_query,
    http_router,
    ingest,
    mirror,
    scanning,
    search_scale,
    stats,
    sync,
    telemetry,
    website,
)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rounds", type=int, default=15,
                        help="cold-start samples per function, batch-strategy and http-router samples per candidate "
                             "(default 15)")
    parser.add_argument("--only", choices=("cold-start", "ingest", "gallery-query", "sync", "telemetry", "stats",
                                           "batch-strategy", "http-router", "durable", "search-scale",
                                           "cost", "website", "mirror", "scanning"),
                        help="run one benchmark")
    parser.add_argument("--ingest-mib", type=int, default=50, help="size of the ingest benchmark's package")
    parser.add_argument("--scanning-mib", type=float, nargs=2, default=(2, 50), metavar=("TYPICAL", "LARGE"),
                        help="sizes of the scanning benchmark's two packages (default 2 and 50 MiB)")
    parser.add_argument("--catalog", type=int, default=gallery_query.CATALOG_SIZE,
                        help="extensions in the gallery-query benchmark's catalog (default 50,000)")
    parser.add_argument("--queries", type=int, default=gallery_query.SAMPLES,
                        help="queries per gallery-query workload (default 400)")
    parser.add_argument("--scale-catalog", type=int, default=search_scale.CATALOG_SIZE,
                        help="extensions in the search-scale benchmark's catalog (default 500,000)")
    parser.add_argument("--scale-queries", type=int, default=search_scale.QUERIES,
                        help="text queries and browse pages of the search-scale benchmark (default 200 each)")
    parser.add_argument("--cost-rounds", type=int, default=cost.ROUNDS,
                        help="invocations timed per request of the cost model (default 60)")
    parser.add_argument("--sync-rounds", type=int, default=sync.ROUNDS,
                        help="rounds of the sync benchmark (each: a write and a read per user and variant)")
    parser.add_argument("--telemetry-rounds", type=int, default=telemetry.ROUNDS,
                        help="500-event bodies per telemetry workload")
    parser.add_argument("--stats-batches", type=int, default=stats.BATCHES, help="batches of the stats benchmark")
    parser.add_argument("--versions", type=int, default=durable.VERSIONS,
                        help="versions stored by the durable benchmark, five per extension (default 10,000)")
    parser.add_argument("--package-kib", type=int, default=durable.PACKAGE_KIB,
                        help="size of each of the durable benchmark's packages (default 512 KiB: ~5 GiB in all)")
    parser.add_argument("--durable-queries", type=int, default=durable.QUERIES,
                        help="extensionquery requests per workload of the durable benchmark (default 100)")
    parser.add_argument("--durable-publishes", type=int, default=durable.PUBLISHES,
                        help="publishes timed until searchable by the durable benchmark (default 3)")
    parser.add_argument("--durable-calls", type=int, default=durable.CALLS,
                        help="PutItem and PutObject calls per emulator for the cost of durability (default 200)")
    parser.add_argument("--website-requests", type=int, default=website.REQUESTS,
                        help="extension-page requests timed by the website benchmark (default 300)")
    parser.add_argument("--website-no-lighthouse", action="store_true",
                        help="skip the website benchmark's Lighthouse runs (its goals are then missed)")
    parser.add_argument("--mirror-small", type=int, default=mirror.SMALL,
                        help="small packages the mirror benchmark copies (default 40)")
    parser.add_argument("--mirror-large", type=int, default=mirror.LARGE,
                        help="large packages the mirror benchmark copies (default 2)")
    parser.add_argument("--mirror-large-mib", type=int, default=mirror.LARGE_MIB,
                        help="size of each of the mirror benchmark's large packages (default 10 MiB)")
    parser.add_argument("--data-dir", type=Path,
                        help="the durable benchmark's data directory: new or empty (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the durable benchmark's data directory")
    args = parser.parse_args()
    ok = True
    if args.only in (None, "cold-start"):
        floor, paused, rows = cold_start.measure(args.rounds)
        print(cold_start.table(floor, paused, rows), flush=True)
        ok = ok and all(row.ok for row in rows)
    if args.only in (None, "ingest"):
        result = ingest.measure(args.ingest_mib)
        print(("\n" if args.only is None else "") + ingest.table(result), flush=True)
        ok = ok and result.ok
    if args.only in (None, "scanning"):
        scanned = scanning.measure(tuple(args.scanning_mib))
        print(("\n" if args.only is None else "") + scanning.table(scanned), flush=True)
        ok = ok and scanned.ok
    if args.only in (None, "gallery-query"):
        queries = gallery_query.measure(args.catalog, args.queries)
        print(("\n" if args.only is None else "") + gallery_query.table(queries), flush=True)
        ok = ok and queries.ok
    if args.only in (None, "sync"):
        synced = sync.measure(rounds=args.sync_rounds)
        print(("\n" if args.only is None else "") + sync.table(synced), flush=True)
        ok = ok and synced.ok
    if args.only in (None, "telemetry"):
        ingested = telemetry.measure(rounds=args.telemetry_rounds)
        print(("\n" if args.only is None else "") + telemetry.table(ingested), flush=True)
        ok = ok and ingested.ok
    if args.only in (None, "stats"):
        counted = stats.measure(batches=args.stats_batches)
        print(("\n" if args.only is None else "") + stats.table(counted), flush=True)
        ok = ok and counted.ok
    if args.only in (None, "batch-strategy"):  # no budget: the table is what chose platform.batch
        strategies = batch_strategy.measure(args.rounds)
        print(("\n" if args.only is None else "") + batch_strategy.table(strategies), flush=True)
    if args.only in (None, "http-router"):  # no budget: the table is what chose platform.router
        routers = http_router.measure(args.rounds)
        print(("\n" if args.only is None else "") + http_router.table(routers), flush=True)
    if args.only in (None, "search-scale"):
        scaled = search_scale.measure(args.scale_catalog, args.scale_queries)
        print(("\n" if args.only is None else "") + search_scale.table(scaled), flush=True)
        ok = ok and scaled.ok
    if args.only in (None, "cost"):
        costed = cost.evaluate(cost.measure(rounds=args.cost_rounds))
        print(("\n" if args.only is None else "") + cost.table(costed), flush=True)
        ok = ok and costed.ok
    if args.only in (None, "website"):  # starts the local runtime and a browser
        try:
            site = website.measure(args.website_requests, lighthouse=not args.website_no_lighthouse)
        except website.Unavailable as missing:
            print(f"website: {missing}", file=sys.stderr, flush=True)
            return 1
        print(("\n" if args.only is None else "") + website.table(site), flush=True)
        ok = ok and site.ok
    if args.only in (None, "mirror"):  # starts two local runtimes, each in its own process
        mirrored = mirror.measure(args.mirror_small, args.mirror_large, args.mirror_large_mib)
        print(("\n" if args.only is None else "") + mirror.table(mirrored), flush=True)
        ok = ok and mirrored.ok
    if args.only in (None, "durable"):  # last: it starts the local runtime in this process
        try:
            stored = durable.measure(args.versions, args.package_kib, args.durable_queries, args.durable_publishes,
                                     args.durable_calls, args.data_dir, args.keep)
        except durable.Refused as refused:
            print(f"durable: {refused}", file=sys.stderr, flush=True)
            return 1
        print(("\n" if args.only is None else "") + durable.table(stored), flush=True)
        ok = ok and stored.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
