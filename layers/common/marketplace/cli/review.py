"""``marketplace review list|hide|unhide ID ...``: operators moderate reviews (a hidden review leaves the
average)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from marketplace.cli.common import add_target_options, emit, extension_arg, operator_command

if TYPE_CHECKING:
    from marketplace.cli.common import Commands
    from marketplace.reviews.store import CatalogEntry


def register(commands: Commands) -> None:
    review = commands.add_parser("review", help="operator: moderate ratings and reviews")
    review_commands = review.add_subparsers(dest="review_command", required=True)
    review_list = review_commands.add_parser("list", help="every review of an extension, hidden ones included")
    review_list.add_argument("extension", help="publisher.name")
    add_target_options(review_list)
    review_list.set_defaults(run=operator_command, action=list_reviews)
    for name, hidden, help_text in (
        ("hide", True, "hide a review: it leaves the public list and the extension's average"),
        ("unhide", False, "show a hidden review again (it counts again)"),
    ):
        moderate = review_commands.add_parser(name, help=help_text)
        moderate.add_argument("extension", help="publisher.name")
        moderate.add_argument("reviewer", help="the reviewer's name, or the review's id (or its first characters) "
                                               "as 'marketplace review list' shows it")
        if hidden:
            moderate.add_argument("--reason", help="why (kept with the review, never shown publicly)")
        add_target_options(moderate)
        moderate.set_defaults(run=operator_command, action=set_hidden, hidden=hidden)


def _review_extension(args: argparse.Namespace) -> CatalogEntry:
    from marketplace.reviews import service

    return service.extension_by_id(extension_arg(args))


def list_reviews(args: argparse.Namespace) -> int:
    from marketplace.reviews import service, store

    entry = _review_extension(args)
    reviews = service.newest_first(store.reviews_of(entry.extension_id))
    total, count = store.rating_totals(entry.extension_id)
    average = f"{total / count:.2f}" if count else "none"
    rows = [{"id": r.user_id, "reviewer": r.display_name, "provider": r.provider, "rating": r.rating,
             "version": r.version, "title": r.title, "updated": r.updated_at, "hidden": r.hidden,
             "hidden_reason": r.hidden_reason, "hidden_at": r.hidden_at} for r in reviews]
    lines = [f"{entry.display_id}: {count} counted rating(s), average {average}"]
    if reviews:
        lines.append(f"{'id':<12}  {'rating':<6}  {'version':<12}  {'updated':<24}  {'state':<8}  reviewer")
        for r in reviews:
            state = "hidden" if r.hidden else "visible"
            why = f" ({r.hidden_reason})" if r.hidden and r.hidden_reason else ""
            lines.append(f"{r.user_id[:12]:<12}  {r.rating:<6}  {r.version[:12]:<12}  {r.updated_at:<24}  "
                         f"{state:<8}  {r.display_name} [{r.provider}]{why}")
    else:
        lines.append("No reviews.")
    emit(args, {"extension": entry.extension_id, "rating_sum": total, "rating_count": count, "reviews": rows},
         "\n".join(lines))
    return 0


def set_hidden(args: argparse.Namespace) -> int:
    from marketplace.reviews import service

    entry = _review_extension(args)
    found = service.find(entry, args.reviewer)
    review, changed = service.set_hidden(entry, found.user_id, args.hidden, getattr(args, "reason", None))
    state = "hidden" if review.hidden else "visible"
    text = (f"The review of {entry.display_id} by {review.display_name} ({review.user_id[:12]}) is "
            f"{'now' if changed else 'already'} {state}.")
    emit(args, {"extension": entry.extension_id, "id": review.user_id, "reviewer": review.display_name,
                "hidden": review.hidden, "changed": changed}, text)
    return 0
