"""Django settings of the middleware tests (configured by this package's conftest)."""

from __future__ import annotations

import tempfile
from pathlib import Path

# Django's own database lives in a temporary directory, removed at session end.
DB_DIR = Path(tempfile.mkdtemp(prefix="protolens-django-"))

SECRET_KEY = "protolens-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "tests.middleware.app"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DB_DIR / "django.db")}}
BASE_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
MIDDLEWARE = [*BASE_MIDDLEWARE, "middleware.django.ProfilerMiddleware"]
PROTOLENS_PROFILER: dict = {}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
