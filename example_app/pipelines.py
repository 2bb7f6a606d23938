"""The refresh pipeline: the seed's YouTube job on ``pipelines_lib``.

``RefreshChannel`` lists every video id of the channel from the analytics API,
yields one ``FetchStats`` child per 25 ids (each fetches their statistics
under the rate limit all workers share, and stores them), then one
``Aggregate`` child that waits for all of them and totals the channel. A
``FetchStats`` that still fails on its last attempt (a 429 or 500 every
time) ends ``failed`` without aborting its siblings: the seed's
``SoftRetryPipeline``.

Workers import this module by path (``example_app.pipelines:FetchStats``); it
needs no Django, only the store (:func:`example_app.store.connect`).
"""

from __future__ import annotations

import datetime
from typing import Any

import orm_ext
import pipelines_lib
from orm_ext import projection, resilient_query

from . import store
from .client import AnalyticsClient
from .models import STATS_FIELDS, Channel, Video

__all__ = ["BATCH_SIZE", "Aggregate", "FetchStats", "RefreshChannel"]

# Ids per child, as in the seed ("for every 25 videos, we spawn a child pipeline").
BATCH_SIZE = 25


def _client(api: dict[str, Any]) -> AnalyticsClient:
    # Every request takes a slot of one bucket per API key, shared by all worker
    # processes (in Redis, or in the state database on the embedded default).
    name = f"analytics-api:{api['key']}"
    return AnalyticsClient(
        api["url"],
        api["key"],
        limit=lambda: pipelines_lib.rate_limit(name, per_second=api["per_second"]),
    )


class RefreshChannel(pipelines_lib.Pipeline):
    """Refresh every video's statistics of one channel; the output is Aggregate's summary.

    Args (of ``run``):
        channel_id: The channel's YouTube id.
        api: ``{"url": ..., "key": ..., "per_second": ...}`` of the analytics API.
    """

    max_attempts = 3
    backoff_seconds = 1.0

    def run(self, channel_id: str, api: dict[str, Any]) -> Any:
        ids = _client(api).list_video_ids(channel_id)
        batches = []
        for start in range(0, len(ids), BATCH_SIZE):
            batches.append((yield FetchStats(ids[start : start + BATCH_SIZE], api)))
        yield Aggregate(channel_id, len(ids), *batches)


class FetchStats(pipelines_lib.SoftRetryPipeline):
    """Fetch and store the statistics of up to 25 videos; ``{"stored": n, "views": v}``.

    A 429 or 500 raises, so the attempt is retried after the backoff; after
    the last attempt the output is ``None`` and the siblings carry on.
    """

    max_attempts = 5
    backoff_seconds = 0.5
    backoff_factor = 2.0
    default_output = None

    def run(self, ids: list[str], api: dict[str, Any]) -> dict[str, int]:
        store.connect()
        stats = _client(api).video_stats(ids)
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        # Lazy entities: put() re-encodes only the statistics written here and copies
        # the other 47 properties' protobuf values through untouched.
        with orm_ext.lazy():
            videos = orm_ext.get_multi([orm_ext.Key(Video, i) for i in ids])
        found = [v for v in videos if v is not None]
        for video in found:
            fresh = stats[video.key.id()]
            video.populate(**{name: fresh[name] for name in STATS_FIELDS}, stats_refreshed_at=now)
        orm_ext.put_multi(found)
        return {"stored": len(found), "views": sum(v.views for v in found)}


class Aggregate(pipelines_lib.Pipeline):
    """Total the channel once every batch ended; stores and returns the summary.

    Args (of ``run``):
        channel_id: The channel's YouTube id.
        listed: How many ids the listing returned.
        *outputs: Each ``FetchStats`` output (``None`` for a batch that failed).
    """

    max_attempts = 3
    backoff_seconds = 1.0

    def run(self, channel_id: str, listed: int, *outputs: dict[str, int] | None) -> dict[str, Any]:
        store.connect()
        channel = Channel.query(Channel.youtube_channel_id == channel_id).get()
        if channel is None:
            raise orm_ext.BadValueError(
                f"Aggregate({channel_id!r}): the channel is gone from the store; seed it again "
                "with python -m example_app demo."
            )
        views = likes = videos = 0
        # A scan of every video for two numbers: decode only those two.
        with projection(Video, "views", "likes"):
            for video in resilient_query(Video.query(Video.channel == channel.key), batch_size=500):
                videos += 1
                views += video.views
                likes += video.likes
        done = [o for o in outputs if o is not None]
        summary = {
            "listed": listed,
            "batches": len(outputs),
            "failed_batches": len(outputs) - len(done),
            "refreshed": sum(o["stored"] for o in done),
            "videos": videos,
            "total_views": views,
            "total_likes": likes,
        }
        channel.populate(
            video_count=videos,
            total_views=views,
            total_likes=likes,
            refreshed_at=datetime.datetime.now(datetime.UTC).replace(tzinfo=None),
            last_refresh=summary,
        )
        channel.put()
        return summary
