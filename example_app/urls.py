"""URLs: pages, the analytics API under /api/, the profiler's pages under /_protolens/."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from . import api, views


def _api_root(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"endpoints": ["v1/channels/<id>/videos", "v1/videos/stats", "v1/usage"]})


urlpatterns = [
    path("", views.leaderboard, name="leaderboard"),
    path("videos/<str:youtube_id>/", views.video, name="video"),
    path("refresh/", views.refresh, name="refresh"),
    path("pipelines/<str:pipeline_id>/", views.pipeline, name="pipeline"),
    path("pipelines/<str:pipeline_id>.json", views.pipeline_json, name="pipeline-json"),
    path("api/", _api_root, name="api-root"),
    path("api/v1/channels/<str:channel_id>/videos", api.channel_videos, name="api-videos"),
    path("api/v1/videos/stats", api.video_stats, name="api-stats"),
    path("api/v1/usage", api.usage, name="api-usage"),
    path("_protolens/", include("middleware.django.urls")),
]
