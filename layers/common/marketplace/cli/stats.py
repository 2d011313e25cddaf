"""``marketplace stats report ID``: an extension's statistics (operator)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from marketplace.cli.common import add_target_options, emit, extension_arg, operator_command

if TYPE_CHECKING:
    from marketplace.cli.common import Commands


def register(commands: Commands) -> None:
    stats = commands.add_parser("stats", help="operator: an extension's statistics")
    stats_commands = stats.add_subparsers(dest="stats_command", required=True)
    stats_report = stats_commands.add_parser("report", help="totals, trending, weekly downloads and activation "
                                             "times per day")
    stats_report.add_argument("extension", help="publisher.name")
    add_target_options(stats_report)
    stats_report.set_defaults(run=operator_command, action=report)


def report(args: argparse.Namespace) -> int:
    from marketplace.platform.errors import NotFound
    from marketplace.stats import store

    extension_id = extension_arg(args)
    found = store.report(extension_id)
    if found is None:
        raise NotFound(f"No statistics for {extension_id} yet")
    lines = [f"{extension_id}: {found.get('installs', 0)} installs, {found.get('downloads', 0)} downloads, "
             f"{found.get('weekly_downloads', 0)} in the last 7 days",
             "trending: " + ", ".join(f"{w} {found[f'trending_{w}']:.2f}" for w in ("daily", "weekly", "monthly")),
             f"activations, last 7 days: {found['activations_7d']['activations']} "
             f"(P50 {found['activations_7d']['p50_ms']} ms, P95 {found['activations_7d']['p95_ms']} ms)"]
    lines += [f"  {d['day']}: {d['activations']} activations, P50 {d['p50_ms']} ms, P95 {d['p95_ms']} ms"
              for d in found["activations_by_day"]]
    emit(args, found, "\n".join(lines))
    return 0
