"""The state database: one SQLAlchemy engine per process, transactions that serialise writers.

SQLite writers take the write lock up front (``BEGIN IMMEDIATE``): a deferred
transaction that reads and then writes can fail at once with "database is
locked" instead of waiting. MySQL/MariaDB run READ COMMITTED so a transaction
sees rows committed after it began, as PostgreSQL does by default.

On a server every statement is a round trip and so are an explicit
transaction's BEGIN and COMMIT; :meth:`Store.single` runs a statement that is
a whole transaction by itself (a claim) without them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError, ProgrammingError

from pipelines_lib import _config
from pipelines_lib._schema import metadata

__all__ = ["Store", "get_store"]


class Store:
    """The state database of the current settings."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # PostgreSQL and SQLite >= 3.35 (not MariaDB, not MySQL): a conditional UPDATE
        # returns the rows it changed, so no SELECT has to follow it.
        self.update_returning = bool(self.engine.dialect.update_returning)
        self._create_tables()

    def _create_tables(self) -> None:
        for attempt in range(5):
            try:
                metadata.create_all(self.engine, checkfirst=True)
                return
            except (OperationalError, ProgrammingError):
                # Another process created them between our check and our CREATE.
                if attempt == 4:
                    raise

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A connection inside a write transaction (committed on success)."""
        with self.engine.connect() as conn:
            conn.execution_options(pl_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection inside a read transaction."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def single(self, *, write: bool) -> Iterator[sa.Connection]:
        """A connection for exactly one statement, which is its own transaction.

        On a server that is an autocommit connection: the statement commits by
        itself, atomically, and the BEGIN and COMMIT round trips of an explicit
        transaction are saved. SQLite keeps its transaction (local calls, and a
        writer must take the lock up front, see above).

        Args:
            write: Whether the statement writes (SQLite: ``BEGIN IMMEDIATE``).
        """
        if self.is_sqlite:
            with self.write() if write else self.read() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _make_engine(url: str) -> sa.Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):
            # Let SQLAlchemy's "begin" event below open transactions itself.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            write = conn.get_execution_options().get("pl_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        return sa.create_engine(url, isolation_level="READ COMMITTED", pool_recycle=3600)
    # No pool_pre_ping: it costs a round trip per checkout (three per step). A connection
    # the server dropped fails one step, SQLAlchemy then refreshes the pool, and the
    # app task retries the step once (see _app._step).
    return sa.create_engine(url)


_lock = threading.Lock()


def _new_lock_after_fork() -> None:
    # The worker's sweeper thread may hold the lock when the pool forks a process:
    # the child would inherit it held, and hang on its first use.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_after_fork)
_store: Store | None = None
_store_pid = 0


def get_store() -> Store:
    """The store for the current settings, made once per process (forks get their own)."""
    global _store, _store_pid
    url = _config.get_settings().state_url
    with _lock:
        if _store is None or _store_pid != os.getpid() or _store.url != url:
            if _store is not None and _store_pid == os.getpid():
                _store.dispose()
            elif _store is not None:
                # Inherited from the parent process: drop its connections without closing
                # them, since the parent still uses them.
                _store.engine.dispose(close=False)
            _store = Store(url)
            _store_pid = os.getpid()
        return _store


def _forget() -> None:
    global _store
    with _lock:
        if _store is not None and _store_pid == os.getpid():
            _store.dispose()
        _store = None


_config.on_change(_forget)
