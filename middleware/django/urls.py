"""URLs of the profile pages; include them at ``PROTOLENS_PROFILER["PREFIX"]``.

Example:
    >>> urlpatterns = [path("_protolens/", include("middleware.django.urls"))]
"""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "protolens"

urlpatterns = [path("<str:profile_id>/", views.profile, name="profile")]
