"""Start a refresh of a channel: from the management command, the page button and the demo."""

from __future__ import annotations

import secrets
from typing import Any

from .models import Channel
from .pipelines import RefreshChannel

__all__ = ["api_settings", "start_refresh"]


def api_settings(url: str, per_second: float, key: str | None = None) -> dict[str, Any]:
    """The ``api`` argument of the pipelines: where the API is, the key, the shared rate."""
    return {"url": url, "key": key or f"demo-{secrets.token_hex(4)}", "per_second": per_second}


def start_refresh(channel: Channel, api: dict[str, Any]) -> str:
    """Start :class:`~example_app.pipelines.RefreshChannel` for *channel*; its pipeline id.

    The id is kept on the channel so the leaderboard links to the last run.
    """
    pid = RefreshChannel(channel.youtube_channel_id, api).start()
    channel.last_pipeline_id = pid
    channel.put()
    return pid
