"""Fixtures shared by the whole suite: one store per database backend."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import orm_ext
from tests import services

# Every store test runs on each of these; tox narrows it with PROTOLENS_DATABASES.
ALL_BACKENDS = ("sqlite", "postgresql", "mysql")
BACKENDS = tuple(
    b.strip()
    for b in os.environ.get("PROTOLENS_DATABASES", ",".join(ALL_BACKENDS)).split(",")
    if b.strip()
)

# One database per test session, so concurrent runs on this machine never collide.
SESSION_DB = f"protolens_test_{os.getpid()}"

_ADMIN = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/test",
}
_URL = {
    "postgresql": f"postgresql+psycopg://postgres@127.0.0.1:5432/{SESSION_DB}",
    "mysql": f"mysql+pymysql://root@127.0.0.1:3306/{SESSION_DB}?charset=utf8mb4",
}
_created: set[str] = set()
# orm_ext.projection is the context manager; the module is reached by its import path.
projection_module = importlib.import_module("orm_ext.projection")


def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL of an empty database of *backend* for this session (created on first use)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    services.require(backend)
    if backend not in _created:
        admin = sa.create_engine(_ADMIN[backend], isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{SESSION_DB}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{SESSION_DB}"')
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{SESSION_DB}`")
                conn.exec_driver_sql(
                    f"CREATE DATABASE `{SESSION_DB}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )
        admin.dispose()
        _created.add(backend)
    return _URL[backend]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for backend in _created:
        admin = sa.create_engine(_ADMIN[backend], isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                if backend == "postgresql":
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{SESSION_DB}" WITH (FORCE)')
                else:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{SESSION_DB}`")
        except sa.exc.OperationalError:
            pass  # the server went away; the database goes with the next cleanup
        finally:
            admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test run: sqlite, postgresql or mysql."""
    return request.param


@contextlib.contextmanager
def default_store(url: str, *, empty: bool = True) -> Iterator[orm_ext.Store]:
    """A store on *url*, made the default store; emptied before and after if *empty*."""
    store = orm_ext.Store(url)
    if empty:
        store.drop_all()
    previous = orm_ext.set_store(store)
    try:
        yield store
    finally:
        orm_ext.set_store(previous)
        if empty:
            store.drop_all()
        store.close()


@pytest.fixture
def store(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[orm_ext.Store]:
    """An empty store on *backend*, made the default store for the test."""
    with default_store(database_url(backend, tmp_path_factory)) as store:
        yield store


@pytest.fixture
def postgresql_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[orm_ext.Store]:
    """An empty store on the real PostgreSQL, for PostgreSQL's own rules (no skip elsewhere)."""
    with default_store(database_url("postgresql", tmp_path_factory)) as store:
        yield store


@pytest.fixture
def sqlite_store(tmp_path: os.PathLike) -> Iterator[orm_ext.Store]:
    """An empty SQLite store (for rules that do not depend on the backend)."""
    with default_store(f"sqlite:///{tmp_path}/t.db", empty=False) as store:
        yield store


@pytest.fixture(autouse=True)
def _restore_projection_hooks() -> Iterator[None]:
    """Tests may install or uninstall hooks: put them back as they were."""
    before = set(projection_module.installed_adapters())
    yield
    after = set(projection_module.installed_adapters())
    if after != before:
        from orm_ext.adapters import get_adapter

        for name in after - before:
            get_adapter(name).uninstall()
        for name in before - after:
            get_adapter(name).install()
