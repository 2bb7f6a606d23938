"""The sweeper: republish work whose lease ran out, trim the embedded broker's table.

Every worker runs one (a thread in its main process). A lease runs out when a
message was lost (kombu's SQLAlchemy transport acks on fetch, a publish after
commit never happened, Redis holds a dead worker's unacked messages for its
visibility timeout) or when a worker died mid-run (its heartbeats stopped).
Each republish is a conditional UPDATE, so several sweepers never republish
the same record twice for one expiry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import sqlalchemy as sa

from pipelines_lib import _app, _config
from pipelines_lib._schema import ACTIVE_STATES, pipelines
from pipelines_lib._store import get_store

__all__ = ["Sweeper", "sweep_once", "trim_broker"]

log = logging.getLogger("pipelines_lib")
P = pipelines.c
_BATCH = 500


# A message still queued after this many republishes waits behind a backlog, not lost:
# doubling up to x64 keeps a 4,000-child backlog from being re-sent every minute.
_MAX_DOUBLINGS = 6


def _next_lease(now: float, publishes: int, queued: float) -> float:
    # Still queued behind a long backlog? Republish less and less often (x1, x2, x4, ... x64).
    return now + queued * (2 ** min(max(publishes - 1, 0), _MAX_DOUBLINGS))


def sweep_once(queues: Sequence[str], now: float | None = None) -> list[str]:
    """Republish every record of *queues* whose lease ran out; returns their ids."""
    settings = _config.get_settings()
    now = time.time() if now is None else now
    store = get_store()
    with store.read() as conn:
        expired = conn.execute(
            sa.select(P.id, P.queue, P.state, P.lease_until, P.lease_token, P.publishes)
            .where(
                P.queue.in_(list(queues)),
                P.lease_until < now,
                P.state.in_(ACTIVE_STATES),
            )
            .order_by(P.lease_until)
            .limit(_BATCH)
        ).all()
    if not expired:
        return []
    republish: dict[str, list[str]] = {}
    with store.write() as conn:
        for row in expired:
            values: dict = {
                "lease_until": _next_lease(now, row.publishes, settings.queued_lease_seconds),
                "publishes": P.publishes + 1,
            }
            if row.state == "running":
                # Its worker stopped renewing: the next step counts the attempt as lost.
                values.update(state="lost", lease_token=None)
            elif row.state == "finalizing":
                values["lease_token"] = None
            res = conn.execute(
                sa.update(pipelines)
                .where(P.id == row.id, P.state == row.state, P.lease_until == row.lease_until)
                .values(**values)
            )
            if res.rowcount == 1:
                republish.setdefault(row.queue, []).append(row.id)
    for queue, ids in republish.items():
        log.info("pipelines_lib: sweeper republishes %d record(s) on %s", len(ids), queue)
        _app.publish(ids, queue)
    return [i for ids in republish.values() for i in ids]


_trim_engines: dict[str, sa.Engine] = {}


def trim_broker() -> int:
    """Delete delivered messages from the embedded broker's table (kombu never does)."""
    settings = _config.get_settings()
    if settings.broker_kind != "sqla":
        return 0
    url = settings.sqla_broker_db_url
    engine = _trim_engines.get(url)
    if engine is None:
        engine = _trim_engines[url] = sa.create_engine(
            url, connect_args={"timeout": 60} if url.startswith("sqlite") else {}
        )
    with engine.begin() as conn:
        try:
            # kombu marks a fetched message invisible and leaves it there; fetched is acked.
            res = conn.execute(
                sa.text("DELETE FROM kombu_message WHERE visible = :f"), {"f": False}
            )
        except sa.exc.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise
    return res.rowcount or 0


class Sweeper:
    """A daemon thread calling :func:`sweep_once` every ``sweep_seconds``."""

    def __init__(self, queues: Sequence[str]):
        self.queues = list(queues)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pipelines-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        settings = _config.get_settings()
        last_trim = 0.0
        while not self._stop.wait(settings.sweep_seconds):
            try:
                sweep_once(self.queues)
                if time.monotonic() - last_trim > 2 * settings.sweep_seconds:
                    trimmed = trim_broker()
                    last_trim = time.monotonic()
                    if trimmed:
                        log.info("pipelines_lib: trimmed %d delivered broker messages", trimmed)
            except Exception:
                log.warning("pipelines_lib: sweep failed; trying again next round", exc_info=True)
