"""The channel leaderboard's query, with and without projection, and its timing.

The page reads 14 of Video's 62 properties. Without projection every one of
the 62 is decoded for each of the 50 videos; the profiler's suggestion for
that page is the ``with projection(...)`` line below, pasted as it printed it.
"""

from __future__ import annotations

import contextvars
import statistics
import time
from typing import Any

from orm_ext import projection

from .models import LEADERBOARD_FIELDS, Channel, Video

__all__ = ["LIMIT", "read_row", "time_leaderboard", "top_videos"]

LIMIT = 50


def top_videos(channel: Channel, projected: bool = True, limit: int = LIMIT) -> list[Video]:
    """The channel's *limit* most viewed videos; only the page's properties when *projected*."""
    query = Video.query(Video.channel == channel.key).order(-Video.views)
    if not projected:
        return query.fetch(limit)
    # The profiler's suggestion for the unprojected page, pasted as it printed it.
    with projection(Video, "youtube_id", "views", "published_at", "title", "category", "thumbnail_url", "duration_seconds", "stats_refreshed_at", "likes", "comments", "shares", "subscribers_gained", "average_view_percentage", "engagement_score"):  # fmt: skip
        return query.fetch(limit)


def read_row(video: Video) -> list[Any]:
    """What the leaderboard template reads of one video."""
    return [getattr(video, name) for name in LEADERBOARD_FIELDS]


def _one_run(channel: Channel, projected: bool) -> float:
    start = time.perf_counter()
    for video in top_videos(channel, projected):
        read_row(video)
    return (time.perf_counter() - start) * 1000


def time_leaderboard(channel: Channel, runs: int = 7) -> dict[str, float]:
    """Median milliseconds of fetching and reading the leaderboard, both ways.

    Runs in an empty ``contextvars.Context``: a profiler recording the current
    request neither sees these runs nor slows them.

    Returns:
        ``{"full": ms, "projected": ms}``.

    Example:
        >>> time_leaderboard(channel)  # doctest: +SKIP
        {'full': 3.1, 'projected': 1.0}
    """

    def measure() -> dict[str, float]:
        _one_run(channel, True)  # warm the plan caches and the connection
        _one_run(channel, False)
        full, projected = [], []
        for _ in range(runs):  # alternate, so drift hits both sides alike
            full.append(_one_run(channel, False))
            projected.append(_one_run(channel, True))
        return {
            "full": round(statistics.median(full), 2),
            "projected": round(statistics.median(projected), 2),
        }

    return contextvars.Context().run(measure)
