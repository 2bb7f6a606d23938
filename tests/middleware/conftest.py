"""Django configured from tests/middleware/settings.py; an orm_ext store of wide entities."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.conf import settings

import orm_ext
from middleware import sql as middleware_sql

if not settings.configured:
    from tests.middleware import settings as test_settings

    settings.configure(**{k: getattr(test_settings, k) for k in dir(test_settings) if k.isupper()})
    django.setup()

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings

from tests.middleware import app

BASE_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
PROFILER = "middleware.django.ProfilerMiddleware"


@pytest.fixture(scope="session")
def django_db() -> Iterator[None]:
    """Django's tables (auth, sessions) and two users: ``staff`` and ``plain``."""
    call_command("migrate", run_syncdb=True, verbosity=0)
    User.objects.filter(username__in=["staff", "plain"]).delete()
    User.objects.create_user("staff", password="pw", is_staff=True)
    User.objects.create_user("plain", password="pw")
    yield
    from tests.middleware import settings as test_settings

    shutil.rmtree(test_settings.DB_DIR, ignore_errors=True)


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[orm_ext.Store]:
    """The default orm_ext store, holding 50 wide entities (restored afterwards)."""
    previous = orm_ext.get_store() if _has_store() else None
    path = tmp_path_factory.mktemp("mw") / "store.db"
    store = orm_ext.connect(f"sqlite:///{path}")
    app.fill(store)
    try:
        yield store
    finally:
        orm_ext.set_store(previous)
        store.close()


def _has_store() -> bool:
    try:
        orm_ext.get_store()
    except orm_ext.Error:
        return False
    return True


@pytest.fixture(autouse=True)
def _restore_engine_listeners() -> Iterator[None]:
    """Engines the profiler starts watching in a test stop being watched after it."""
    before = set(middleware_sql._watched)
    yield
    for engine in set(middleware_sql._watched) - before:
        middleware_sql.unwatch_engine(engine)


@contextlib.contextmanager
def profiler_settings(middleware: bool = True, **options: Any) -> Iterator[None]:
    """Django settings with the profiler (configured by *options*) after authentication."""
    stack = [*BASE_MIDDLEWARE, PROFILER] if middleware else list(BASE_MIDDLEWARE)
    with override_settings(MIDDLEWARE=stack, PROTOLENS_PROFILER=options):
        yield


def client_for(username: str | None) -> Client:
    """A test client logged in as *username* (None: anonymous)."""
    client = Client()
    if username is not None:
        client.force_login(User.objects.get(username=username))
    return client


def profile_json(client: Client, url: str) -> dict[str, Any]:
    """The JSON profile at *url*, fetched by *client* (which must be authorised)."""
    response = client.get(url, {"format": "json"})
    assert response.status_code == 200, response
    return json.loads(response.content)


def parse_server_timing(value: str) -> dict[str, tuple[float, str]]:
    """``{"db": (ms, description), ...}`` from a Server-Timing header."""
    out = {}
    for metric in value.split(", "):
        name, *params = metric.split(";")
        fields = dict(p.split("=", 1) for p in params)
        out[name] = (float(fields["dur"]), fields["desc"].strip('"'))
    return out
