"""kombu's SQLAlchemy transport, fixed for the embedded default.

Three fixes over ``kombu.transport.sqlalchemy``:

* ``polling_interval`` is honoured instead of crashing ``create_engine`` (kombu
  passes every transport option to it), and defaults to 0.1 s, not 1 s, so a
  tree's hops are not a second each;
* engines are cached per process: kombu caches them per class, so a prefork
  pool process would reuse the SQLite connections of its parent;
* SQLite runs in WAL mode with a busy timeout, so workers and clients publishing
  at once wait for the lock instead of failing.

It still acknowledges on fetch: a worker killed mid-task loses the message.
The sweeper (leases in the state database) republishes what is lost, and
trims delivered rows kombu would keep forever.
"""

from __future__ import annotations

import os

from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker

__all__ = ["Channel", "Transport"]

# Transport options kombu or Celery use themselves; the rest go to create_engine.
_NOT_ENGINE_OPTIONS = (
    "queue_tablename",
    "message_tablename",
    "callback",
    "errback",
    "max_retries",
    "interval_start",
    "interval_step",
    "interval_max",
    "retry_errors",
    "polling_interval",
    "confirm_publish",
)


class Channel(kombu_sqla.Channel):
    """A channel whose engine is built right for SQLite and per process."""

    _pl_engines: dict[tuple[int, str], tuple] = {}

    def _engine_from_config(self):
        conninfo = self.connection.client
        options = {
            k: v for k, v in conninfo.transport_options.items() if k not in _NOT_ENGINE_OPTIONS
        }
        url = conninfo.hostname
        if url.startswith("sqlite"):
            options.setdefault("connect_args", {"timeout": 60})
            engine = create_engine(url, **options)

            @event.listens_for(engine, "connect")
            def _wal(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            return engine
        return create_engine(url, **options)

    def _open(self):
        key = (os.getpid(), self.connection.client.hostname)
        found = self._pl_engines.get(key)
        if found is None:
            with kombu_sqla._MUTEX:
                found = self._pl_engines.get(key)
                if found is None:
                    engine = self._engine_from_config()
                    kombu_sqla.metadata.create_all(engine)
                    found = self._pl_engines[key] = (engine, sessionmaker(bind=engine))
        return found


class Transport(kombu_sqla.Transport):
    """kombu's SQLAlchemy transport with :class:`Channel` and a 0.1 s polling interval."""

    Channel = Channel
    polling_interval = 0.1
