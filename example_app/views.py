"""The demo's pages: leaderboard (with/without projection), video, refresh, pipeline status."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

import pipelines_lib

from . import leaderboard as board
from .models import LEADERBOARD_FIELDS, Video
from .refresh import api_settings, start_refresh
from .seed import get_channel
from .status import tree_json

__all__ = ["leaderboard", "pipeline", "pipeline_json", "refresh", "video"]


def _not_seeded(request: HttpRequest) -> HttpResponse:
    return render(request, "example_app/not_seeded.html", status=404)


def leaderboard(request: HttpRequest) -> HttpResponse:
    """``/``: the channel's top videos, projected unless ``?projection=off``; both timings."""
    channel = get_channel()
    if channel is None:
        return _not_seeded(request)
    projected = request.GET.get("projection") != "off"
    timings = board.time_leaderboard(channel)
    videos = board.top_videos(channel, projected)
    return render(
        request,
        "example_app/leaderboard.html",
        {
            "channel": channel,
            "videos": videos,
            "projected": projected,
            "timings": timings,
            "speedup": round(timings["full"] / timings["projected"], 1)
            if timings["projected"]
            else None,
            "read_count": len(LEADERBOARD_FIELDS),
            "property_count": len(Video._properties),
            "limit": board.LIMIT,
        },
    )


def video(request: HttpRequest, youtube_id: str) -> HttpResponse:
    """``/videos/<id>/``: one video, every property (the full entity)."""
    entity = Video.get_by_id(youtube_id)
    if entity is None:
        raise Http404(f"No video {youtube_id!r}.")
    rows = [(name, getattr(entity, name)) for name in Video._properties]
    return render(request, "example_app/video.html", {"video": entity, "rows": rows})


@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    """``POST /refresh/``: start the refresh pipeline, then show its status page."""
    channel = get_channel()
    if channel is None:
        return _not_seeded(request)
    conf = settings.EXAMPLE_APP
    url = conf["API_URL"] or request.build_absolute_uri(reverse("api-root"))
    pid = start_refresh(channel, api_settings(url, conf["CLIENT_PER_SECOND"]))
    return redirect("pipeline", pipeline_id=pid)


def _tree(pipeline_id: str) -> dict:
    try:
        return tree_json(pipeline_id)
    except pipelines_lib.PipelineNotFound:
        raise Http404(f"No pipeline {pipeline_id!r}.") from None


def pipeline(request: HttpRequest, pipeline_id: str) -> HttpResponse:
    """``/pipelines/<id>/``: the tree's progress, updated live from the JSON."""
    return render(request, "example_app/pipeline.html", {"tree": _tree(pipeline_id)})


def pipeline_json(request: HttpRequest, pipeline_id: str) -> JsonResponse:
    """``/pipelines/<id>.json``: what the status page polls."""
    response = JsonResponse(_tree(pipeline_id))
    response["Cache-Control"] = "no-store"
    return response
