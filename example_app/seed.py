"""Seed the store with one channel and its videos (stale statistics, as if last month)."""

from __future__ import annotations

from collections.abc import Callable

import orm_ext

from . import catalog
from .models import Channel, Video

__all__ = ["BATCH", "analyze", "get_channel", "seed_channel"]

BATCH = 200


def get_channel(channel_id: str = catalog.CHANNEL_ID) -> Channel | None:
    """The channel whose YouTube id is *channel_id*, or None before seeding."""
    return Channel.query(Channel.youtube_channel_id == channel_id).get()


def _clear(channel: Channel) -> None:
    keys = Video.query(Video.channel == channel.key).fetch(keys_only=True)
    orm_ext.delete_multi(keys)
    channel.key.delete()


def seed_channel(
    videos: int,
    channel_id: str = catalog.CHANNEL_ID,
    on_progress: Callable[[int], None] | None = None,
) -> Channel:
    """Replace the channel *channel_id* and its videos with *videos* fresh ones.

    Args:
        videos: How many videos to create (the demo's default is 4,000).
        channel_id: The channel's YouTube id.
        on_progress: Called with the number of videos stored so far.

    Returns:
        The new channel.

    Raises:
        orm_ext.BadValueError: *videos* is not a positive number.
    """
    if not isinstance(videos, int) or videos < 1:
        raise orm_ext.BadValueError(
            f"seed_channel(videos={videos!r}): give a whole number of videos >= 1, e.g. 4000."
        )
    old = get_channel(channel_id)
    if old is not None:
        _clear(old)
    channel = Channel(
        youtube_channel_id=channel_id,
        title=catalog.CHANNEL_TITLE,
        description="Free lessons on everything, one 10-minute video at a time.",
        video_count=videos,
    )
    channel.put()
    for start in range(0, videos, BATCH):
        batch = [
            Video(
                id=catalog.video_id(channel_id, i),
                channel=channel.key,
                **catalog.video_values(channel_id, i),
            )
            for i in range(start, min(start + BATCH, videos))
        ]
        orm_ext.put_multi(batch)
        if on_progress is not None:
            on_progress(start + len(batch))
    return channel


def analyze() -> None:
    """Refresh the database's statistics after seeding.

    Without them SQLite plans "this channel, by views" on the channel index and
    sorts every video, which would hide the decode time the demo is about.
    """
    engine = orm_ext.get_store().engine
    if engine.dialect.name in ("sqlite", "postgresql"):
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
