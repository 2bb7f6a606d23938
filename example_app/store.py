"""Where the demo's entities live: ``DATABASE_URL``, else ``sqlite:///protolens.db``.

The web process (``AppConfig.ready``), the demo command and every pipeline
worker call :func:`connect`; all of them must agree on one database, so a
relative SQLite path is made absolute against the working directory.
"""

from __future__ import annotations

import os
import threading

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

import orm_ext

__all__ = ["DEFAULT_DATABASE_URL", "connect", "database_url"]

DEFAULT_DATABASE_URL = "sqlite:///protolens.db"

_lock = threading.Lock()
_connected: dict[str, orm_ext.Store] = {}


def database_url() -> str:
    """The store's SQLAlchemy URL: ``DATABASE_URL`` or the embedded SQLite file, absolute.

    Raises:
        orm_ext.BadValueError: ``DATABASE_URL`` is not a SQLAlchemy URL.
    """
    raw = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    try:
        url = make_url(raw)
    except ArgumentError:
        raise orm_ext.BadValueError(
            f"example_app: DATABASE_URL={raw!r} is not a SQLAlchemy URL; use e.g. "
            "postgresql+psycopg://user@127.0.0.1/protolens, or unset it for sqlite:///protolens.db."
        ) from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=os.path.abspath(url.database))
    return url.render_as_string(hide_password=False)


def connect() -> orm_ext.Store:
    """Connect ``orm_ext`` to :func:`database_url` once per process; the default store."""
    url = database_url()
    with _lock:
        store = _connected.get(url)
        if store is None:
            store = _connected[url] = orm_ext.connect(url)
        else:
            orm_ext.set_store(store)  # a test may have swapped the default store meanwhile
        return store
