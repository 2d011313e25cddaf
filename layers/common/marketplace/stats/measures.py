"""The statistics' formulas, in one place: days, trending scores, the weighted rating, weekly downloads, and
the log-bucket histograms activation times are kept in. Pure Python (no AWS): the stats function, the
statistics readers, the gallery's serializers and the search index all compute with these.

Days are whole UTC days, numbered from 1970-01-01 (``epoch_day``); per-day counters are kept by that number.

- ``trending(w)``, for a window of ``w`` days (1, 7 or 30): ``R`` = installs in the last ``w`` complete days
  (yesterday and the ``w - 1`` days before it), ``P`` = installs in the ``w`` days before those;
  ``trending = (R - P) / (P + 5 w)``. Growth against the previous period, damped by five installs a day, so
  going from 0 to 3 installs in a week scores 0.09 while going from 0 to 300 scores 8.6, and an extension
  that keeps its pace scores 0. Today's partial day is left out so that scores do not sag every midnight.
- ``weighted_rating`` (the Bayesian average): ``(sum of ratings + 3.0 x 5) / (count + 5)``: five phantom
  ratings of 3.0 (the middle of 1 to 5) pull few ratings toward the middle; many ratings dominate them.
- ``weekly_downloads``: every package fetch (download, install or update) in the last seven days, today
  included.
- Activation times go into buckets four per doubling (``bucket``): bucket ``b >= 1`` holds times in
  ``[2^((b-1)/4), 2^(b/4))`` ms and stands for its geometric middle, so a percentile read from a histogram is
  within 9.5 % of the exact one; bucket 0 holds times under 1 ms. Percentiles are nearest-rank.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

_EPOCH = date(1970, 1, 1)

# trending compares the last w complete days with the w days before them: 2 x 30 + today
DAYS_KEPT = 61
ACTIVATION_DAYS_KEPT = 30
TRENDING_WINDOWS: Mapping[str, int] = {"daily": 1, "weekly": 7, "monthly": 30}
TRENDING_DAMPING_PER_DAY = 5
RATING_PRIOR_MEAN = 3.0
RATING_PRIOR_WEIGHT = 5
BUCKETS_PER_DOUBLING = 4
MAX_ACTIVATION_MS = 3_600_000.0  # longer times count in the last bucket


# ------------------------------------------------------------------------------------------------ days


def epoch_day(moment: datetime | date) -> int:
    """The UTC day of ``moment`` as a number of days since 1970-01-01."""
    if isinstance(moment, datetime):
        moment = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC).date()
    return (moment - _EPOCH).days


def day_of_timestamp(seconds: float) -> int:
    """The UTC day of a time given in seconds since the epoch."""
    return int(seconds // 86400)


def today() -> int:
    return day_of_timestamp(time.time())


def day_key(day: int) -> str:
    """How a day is named in a stored map: ``2026-11-24``."""
    return (_EPOCH + timedelta(days=day)).isoformat()


def day_of_key(key: str) -> int | None:
    try:
        return (date.fromisoformat(key) - _EPOCH).days
    except ValueError:
        return None


# -------------------------------------------------------------------------------------------- trending


def counts_by_age(counts: Mapping[int, int], day: int, length: int = DAYS_KEPT) -> tuple[int, ...]:
    """``counts`` (day -> count) as a tuple indexed by age: ``[0]`` is ``day``, ``[1]`` the day before...;
    trailing zeros left out."""
    values = [int(counts.get(day - age, 0)) for age in range(length)]
    while values and not values[-1]:
        values.pop()
    return tuple(values)


def trending(installs_by_age: Sequence[int], counted_on: int, on: int, window: int) -> float:
    """The trending score over ``window`` days as of day ``on``, from installs per day counted on day
    ``counted_on`` (``installs_by_age[i]`` is day ``counted_on - i``; no installs since that day)."""
    shift = on - counted_on  # day ``on`` minus age a is index a - shift

    def installs(first_age: int, end_age: int) -> int:
        return sum(installs_by_age[max(0, first_age - shift):max(0, end_age - shift)])

    recent, previous = installs(1, window + 1), installs(window + 1, 2 * window + 1)
    return round((recent - previous) / (previous + TRENDING_DAMPING_PER_DAY * window), 4)


def weekly(counts_by_age_: Sequence[int], counted_on: int, on: int) -> int:
    """The sum over the last seven days (day ``on`` included) of counts read on ``counted_on``."""
    shift = on - counted_on
    return sum(counts_by_age_[max(0, -shift):max(0, 7 - shift)])


def weighted_rating(average: float | None, count: int) -> float:
    """The Bayesian average of ``count`` ratings averaging ``average`` (0 without ratings)."""
    if not count or average is None:
        return 0.0
    total = average * count + RATING_PRIOR_MEAN * RATING_PRIOR_WEIGHT
    return round(total / (count + RATING_PRIOR_WEIGHT), 4)


def average_rating(rating_sum: float, rating_count: int) -> float | None:
    return rating_sum / rating_count if rating_count > 0 else None


# ------------------------------------------------------------------------------------------ histograms


def bucket(milliseconds: float) -> int:
    """The histogram bucket of an activation time."""
    if not milliseconds >= 1:  # also NaN
        return 0
    return 1 + math.floor(math.log2(min(milliseconds, MAX_ACTIVATION_MS)) * BUCKETS_PER_DOUBLING)


def bucket_value(index: int) -> float:
    """The time a bucket stands for: the geometric middle of its bounds."""
    return 0.0 if index <= 0 else 2 ** ((index - 0.5) / BUCKETS_PER_DOUBLING)


def merge(histograms: Iterable[Mapping[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        for index, count in histogram.items():
            merged[index] = merged.get(index, 0) + count
    return merged


def percentile(histogram: Mapping[int, int], fraction: float) -> float | None:
    """The nearest-rank ``fraction`` percentile (0.5: the median) of a histogram, in ms; None when empty."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return round(bucket_value(index), 1)
    return round(bucket_value(max(histogram)), 1)  # pragma: no cover - the loop always reaches the rank
