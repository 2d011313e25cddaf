"""Run every benchmark in one process and print one table per benchmark; exit 1 if a budget is missed."""

from __future__ import annotations

import argparse
import sys

from bench import cold_start


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rounds", type=int, default=15, help="samples per function (default 15)")
    args = parser.parse_args()
    floor, rows = cold_start.measure(args.rounds)
    print(cold_start.table(floor, rows))
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
