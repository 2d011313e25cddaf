"""Open VSX's review JSON shapes (docs/protocols/open-vsx.md B2, B6: ReviewListJson, ReviewJson, UserJson,
ResultJson).
Null fields are left out, as Open VSX's ``@JsonInclude(NON_NULL)`` does."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from marketplace.reviews.store import CatalogEntry, StoredReview


def _api(base: str, *parts: str) -> str:
    return f"{base.rstrip('/')}/api/" + "/".join(quote(p, safe="") for p in parts)


def reviews_url(base: str, entry: CatalogEntry) -> str:
    return _api(base, entry.publisher, entry.name, "reviews")


def post_url(base: str, entry: CatalogEntry) -> str:
    return _api(base, entry.publisher, entry.name, "review")


def delete_url(base: str, entry: CatalogEntry) -> str:
    return _api(base, entry.publisher, entry.name, "review", "delete")


def user_json(review: StoredReview) -> dict[str, Any]:
    return {"loginName": review.display_name, "provider": review.provider}


def review_json(review: StoredReview) -> dict[str, Any]:
    """ReviewJson, plus ``version``: the version reviewed (Open VSX clients ignore fields they do not know)."""
    body: dict[str, Any] = {"user": user_json(review), "timestamp": review.updated_at, "rating": review.rating,
                            "version": review.version}
    if review.title is not None:
        body["title"] = review.title
    if review.comment is not None:
        body["comment"] = review.comment
    return body


def review_list_json(base: str, entry: CatalogEntry, reviews: list[StoredReview]) -> dict[str, Any]:
    return {"postUrl": post_url(base, entry), "deleteUrl": delete_url(base, entry),
            "reviews": [review_json(r) for r in reviews]}


def added(entry: CatalogEntry, replaced: bool) -> dict[str, str]:
    return {"success": f"{'Updated' if replaced else 'Added'} review for {entry.display_id}"}


def deleted(entry: CatalogEntry) -> dict[str, str]:
    return {"success": f"Deleted review for {entry.display_id}"}
