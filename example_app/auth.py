"""The demo user: loopback visitors are logged in as the staff user ``demo``.

This is the simplest safe way to show the profiler (which profiles staff
users only) without a login form: only requests whose peer address is
127.0.0.1 or ::1 are logged in, and ``EXAMPLE_APP["AUTOLOGIN"]`` (env
``EXAMPLE_APP_AUTOLOGIN=0``) turns it off. Behind a reverse proxy every
visitor looks like loopback, so turn it off there.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse

__all__ = ["DEMO_USERNAME", "DemoLoginMiddleware", "demo_user"]

DEMO_USERNAME = "demo"
_LOOPBACK = frozenset({"127.0.0.1", "::1"})


def demo_user():
    """The staff user ``demo`` (created without a usable password on first use)."""
    user, created = get_user_model().objects.get_or_create(
        username=DEMO_USERNAME, defaults={"is_staff": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


class DemoLoginMiddleware:
    """Log loopback visitors in as :func:`demo_user` (put it after AuthenticationMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.EXAMPLE_APP["AUTOLOGIN"]
            # API clients (the workers) keep no cookies: a login each would be a session each.
            and not request.path_info.startswith("/api/")
            and request.META.get("REMOTE_ADDR") in _LOOPBACK
            and not request.user.is_authenticated
        ):
            login(request, demo_user(), backend="django.contrib.auth.backends.ModelBackend")
        return self.get_response(request)
