"""The local "video analytics API": what the seed's YouTube Analytics API was, on loopback.

It behaves like the real one did for its users: each API key may make
``RATE_PER_SECOND`` requests a second (a token bucket of ``BURST``) and gets
429 beyond that; every ``FAIL_EVERY``-th stats request answers 500, and so
does every request for one of the ``FAIL_IDS``; each request takes ``LATENCY_MS``. Counting is per process and exact, so tests
get the same answers every run. Settings: ``EXAMPLE_APP["API"]``.

The channel's upload list comes from the store (the videos seeding created);
the statistics come from :mod:`example_app.catalog` (today's numbers).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

import orm_ext

from . import catalog
from .models import Video
from .seed import get_channel

__all__ = ["channel_videos", "reset", "usage", "video_stats"]

MAX_IDS = 50
PAGE_SIZE = 500


class _Key:
    """Per-key state: the token bucket and the counters."""

    def __init__(self, burst: float) -> None:
        self.tokens = burst
        self.updated = time.monotonic()
        self.requests = 0
        self.stats_requests = 0
        self.answered_429 = 0
        self.answered_500 = 0


_lock = threading.Lock()
_keys: dict[str, _Key] = {}


def _conf() -> dict[str, Any]:
    return settings.EXAMPLE_APP["API"]


def reset() -> None:
    """Forget every key's bucket and counters (tests)."""
    with _lock:
        _keys.clear()


def _admit(key: str, stats: bool) -> int:
    """Count the request; the status it must answer with (200, 429 or 500)."""
    conf = _conf()
    rate, burst, fail_every = conf["RATE_PER_SECOND"], conf["BURST"], conf["FAIL_EVERY"]
    with _lock:
        state = _keys.get(key)
        if state is None:
            state = _keys[key] = _Key(burst)
        now = time.monotonic()
        state.tokens = min(burst, state.tokens + (now - state.updated) * rate)
        state.updated = now
        state.requests += 1
        if state.tokens < 1:
            state.answered_429 += 1
            return 429
        state.tokens -= 1
        if stats:
            state.stats_requests += 1
            if fail_every and state.stats_requests % fail_every == 0:
                state.answered_500 += 1
                return 500
        return 200


def _error(status: int, message: str, **extra: Any) -> JsonResponse:
    response = JsonResponse({"error": {"code": status, "message": message}}, status=status)
    for name, value in extra.items():
        response[name] = value
    return response


def _guard(request: HttpRequest, stats: bool = False) -> JsonResponse | None:
    key = request.GET.get("key", "")
    if not key:
        return _error(403, "pass your API key as ?key=...")
    time.sleep(_conf()["LATENCY_MS"] / 1000)
    status = _admit(key, stats)
    if status == 429:
        return _error(429, f"quota exceeded for key {key!r}; slow down", **{"Retry-After": "1"})
    if status == 500:
        return _error(500, "backend error; try again")
    return None


def channel_videos(request: HttpRequest, channel_id: str) -> JsonResponse:
    """``GET /api/v1/channels/<id>/videos?key=&page_token=``: the channel's video ids, paged."""
    refused = _guard(request)
    if refused is not None:
        return refused
    channel = get_channel(channel_id)
    if channel is None:
        return _error(404, f"no channel {channel_id!r}; seed it with python -m example_app demo")
    query = Video.query(Video.channel == channel.key).order(Video.youtube_id)
    token = request.GET.get("page_token") or None
    try:
        keys, cursor, more = query.fetch_page(PAGE_SIZE, start_cursor=token, keys_only=True)
    except orm_ext.BadCursorError as exc:
        return _error(400, f"bad page_token {token!r}: {exc}")
    return JsonResponse(
        {
            "items": [k.id() for k in keys],
            "next_page_token": cursor.urlsafe() if more and cursor else None,
        }
    )


def video_stats(request: HttpRequest) -> JsonResponse:
    """``GET /api/v1/videos/stats?key=&ids=a,b``: today's statistics of up to 50 videos."""
    ids = [i for i in request.GET.get("ids", "").split(",") if i]
    if not ids or len(ids) > MAX_IDS:
        return _error(400, f"ids: pass 1 to {MAX_IDS} comma-separated video ids, got {len(ids)}")
    refused = _guard(request, stats=True)
    if refused is not None:
        return refused
    broken = sorted(_conf()["FAIL_IDS"].intersection(ids))
    if broken:
        return _error(500, f"backend error reading video {broken[0]!r}")
    return JsonResponse({"items": [{"id": i, "stats": catalog.current_stats(i)} for i in ids]})


def usage(request: HttpRequest) -> JsonResponse:
    """``GET /api/v1/usage?key=``: this key's request counts (not rate limited)."""
    key = request.GET.get("key", "")
    with _lock:
        state = _keys.get(key) or _Key(0)
        counts = {
            "requests": state.requests,
            "stats_requests": state.stats_requests,
            "answered_429": state.answered_429,
            "answered_500": state.answered_500,
        }
    return JsonResponse(counts)
