"""Django settings of the demo.

Embedded defaults need nothing set: the entity store is ``sqlite:///protolens.db``
and Django's own tables are in ``protolens-django.db``, both in the working
directory; pipelines use their embedded SQLite broker and state there too.
Production switch (environment): ``DATABASE_URL`` (any SQLAlchemy URL for the
entity store), ``PIPELINES_BROKER_URL`` and ``PIPELINES_STATE_URL`` (Redis and
PostgreSQL), ``DJANGO_SECRET_KEY``, ``EXAMPLE_APP_AUTOLOGIN=0``.
"""

from __future__ import annotations

import os
from pathlib import Path


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(
            f"example_app settings: {name}={raw!r} is not a number; set it to e.g. {default!r}"
        ) from None


BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "protolens-demo-only-not-a-secret"
DEBUG = os.environ.get("EXAMPLE_APP_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"] + [
    h for h in os.environ.get("EXAMPLE_APP_ALLOWED_HOSTS", "").split(",") if h
]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "example_app.apps.ExampleAppConfig",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Logs loopback visitors in as the staff user "demo" (EXAMPLE_APP["AUTOLOGIN"]).
    "example_app.auth.DemoLoginMiddleware",
    # After authentication: the profiler profiles staff users' requests.
    "middleware.django.ProfilerMiddleware",
]

ROOT_URLCONF = "example_app.urls"
WSGI_APPLICATION = "example_app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]

# Django's own tables (users, sessions); the entities are in orm_ext's store.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.abspath(os.environ.get("EXAMPLE_APP_DJANGO_DB", "protolens-django.db")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"

PROTOLENS_PROFILER = {
    # Staff users (the demo user is one) are always profiled; nobody else is.
    "SAMPLE_RATE": 0.0,
    "PREFIX": "/_protolens/",
}

EXAMPLE_APP = {
    # Log in loopback (127.0.0.1, ::1) visitors as the staff user "demo"; turn off when
    # anything but you can reach the server (a proxy makes every visitor loopback).
    "AUTOLOGIN": os.environ.get("EXAMPLE_APP_AUTOLOGIN", "1") != "0",
    # Where workers reach the analytics API; None: this server's own /api/.
    "API_URL": os.environ.get("EXAMPLE_APP_API_URL") or None,
    # The rate all workers together keep to (pipelines_lib.rate_limit), below the API's.
    "CLIENT_PER_SECOND": _env_float("EXAMPLE_APP_CLIENT_PER_SECOND", 40.0),
    "API": {
        "RATE_PER_SECOND": _env_float("EXAMPLE_APP_API_RATE_PER_SECOND", 50.0),
        "BURST": _env_float("EXAMPLE_APP_API_BURST", 10.0),
        "FAIL_EVERY": int(_env_float("EXAMPLE_APP_API_FAIL_EVERY", 40)),
        "LATENCY_MS": _env_float("EXAMPLE_APP_API_LATENCY_MS", 20.0),
        # Video ids whose stats always answer 500 (shows a batch failing for good).
        "FAIL_IDS": frozenset(
            i for i in os.environ.get("EXAMPLE_APP_API_FAIL_IDS", "").split(",") if i
        ),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"protolens.profiler": {"handlers": ["console"], "level": "WARNING"}},
}
