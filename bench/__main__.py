"""Run every benchmark in one process and print one table per benchmark; exit 1 if a budget is missed."""

from __future__ import annotations

import argparse
import sys

from bench import batch_strategy, cold_start, gallery_query, ingest, stats, sync, telemetry


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rounds", type=int, default=15,
                        help="cold-start samples per function and batch-strategy samples per candidate (default 15)")
    parser.add_argument("--only", choices=("cold-start", "ingest", "gallery-query", "sync", "telemetry", "stats",
                                           "batch-strategy"),
                        help="run one benchmark")
    parser.add_argument("--ingest-mib", type=int, default=50, help="size of the ingest benchmark's package")
    parser.add_argument("--catalog", type=int, default=gallery_query.CATALOG_SIZE,
                        help="extensions in the gallery-query benchmark's catalog (default 50,000)")
    parser.add_argument("--queries", type=int, default=gallery_query.SAMPLES,
                        help="queries per gallery-query workload (default 400)")
    parser.add_argument("--sync-rounds", type=int, default=sync.ROUNDS,
                        help="rounds of the sync benchmark (each: a write and a read per user and variant)")
    parser.add_argument("--telemetry-rounds", type=int, default=telemetry.ROUNDS,
                        help="500-event bodies per telemetry workload")
    parser.add_argument("--stats-batches", type=int, default=stats.BATCHES, help="batches of the stats benchmark")
    args = parser.parse_args()
    ok = True
    if args.only in (None, "cold-start"):
        floor, rows = cold_start.measure(args.rounds)
        print(cold_start.table(floor, rows), flush=True)
        ok = ok and all(row.ok for row in rows)
    if args.only in (None, "ingest"):
        result = ingest.measure(args.ingest_mib)
        print(("\n" if args.only is None else "") + ingest.table(result), flush=True)
        ok = ok and result.ok
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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
