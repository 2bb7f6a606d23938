"""A URLconf that forgot to include ``middleware.django.urls``."""

from __future__ import annotations

from django.urls import path

from tests.middleware.app import wide

urlpatterns = [path("wide/", wide)]
