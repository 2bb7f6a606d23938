"""Request profiling for Django and WSGI: database vs. decode time, and the projection that pays.

A profiled request records its SQL statements (count and time), the
``orm_ext`` entities it decoded per model and call site, and which of their
properties the code read. Where most decoded properties went unread, the
profile suggests the exact ``with projection(...)`` line and the decode time
it would save.

Example:
    >>> # Django: settings.py
    >>> MIDDLEWARE += ["middleware.django.ProfilerMiddleware"]
    >>> PROTOLENS_PROFILER = {"SAMPLE_RATE": 0.01}
    >>> # any WSGI app
    >>> from middleware.wsgi import ProfilerMiddleware
    >>> app = ProfilerMiddleware(app, sample_rate=0.01, authorize=is_admin)

Importing this package never imports Django.
"""

from __future__ import annotations

from ._errors import ConfigurationError, Error
from .profiler import DEFAULT_PREFIX, PROFILE_HEADER, Profiler
from .recorder import Recording, current_recording, new_profile_id
from .render import render_html, server_timing
from .sql import django_execute_wrapper, unwatch_engine, watch_engine
from .stores import MemoryStore, ProfileStore, SQLStore
from .suggest import projection_line, suggestions

__all__ = [
    "DEFAULT_PREFIX",
    "PROFILE_HEADER",
    "ConfigurationError",
    "Error",
    "MemoryStore",
    "ProfileStore",
    "Profiler",
    "Recording",
    "SQLStore",
    "current_recording",
    "django_execute_wrapper",
    "new_profile_id",
    "projection_line",
    "render_html",
    "server_timing",
    "suggestions",
    "unwatch_engine",
    "watch_engine",
]
