"""The profile page and its JSON, for authorised users only (404 for anyone else)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from ..render import render_html
from ..stores import valid_id
from ._settings import get_config

__all__ = ["profile"]


def profile(request: HttpRequest, profile_id: str) -> HttpResponse:
    """The profile *profile_id*: HTML, or JSON with ``?format=json``.

    Raises:
        Http404: the user is not authorised, or no such profile is kept.
    """
    config = get_config()
    # Unauthorised users get the same 404 as a missing profile: nothing to probe.
    if not (valid_id(profile_id) and config.authorize and config.authorize(request)):
        raise Http404("No such profile.")
    found = config.profiler.store.load(profile_id)
    if found is None:
        raise Http404("No such profile.")
    if request.GET.get("format") == "json":
        response: HttpResponse = JsonResponse(found)
    else:
        response = HttpResponse(render_html(found))
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response
