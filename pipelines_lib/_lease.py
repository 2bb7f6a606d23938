"""Heartbeats: keep the lease of every record this process is working on alive.

One daemon thread per process renews the leases of the records held here,
every third of a lease. If the process dies the renewals stop, the lease runs
out and the sweeper hands the work to another worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator

import sqlalchemy as sa

from pipelines_lib import _config, _store
from pipelines_lib._schema import pipelines

__all__ = ["held"]

log = logging.getLogger("pipelines_lib")

_lock = threading.Lock()
_held: dict[str, str] = {}
_thread_pid = 0
_wake = threading.Event()
# The lease of the records held here (settings of the latest held()).
_lease_seconds = _config.Settings.lease_seconds


@contextlib.contextmanager
def held(pipeline_id: str, token: str) -> Iterator[None]:
    """Renew the lease ``(pipeline_id, token)`` while the block runs."""
    global _thread_pid, _lease_seconds
    lease = _config.get_settings().lease_seconds
    with _lock:
        _held[pipeline_id] = token
        if lease != _lease_seconds:
            # The thread sleeps a third of the lease it last saw; wake it for a shorter one.
            _lease_seconds = lease
            _wake.set()
        if _thread_pid != os.getpid():
            # First use in this process (a forked pool process inherits no threads).
            _thread_pid = os.getpid()
            threading.Thread(target=_renew_forever, name="pipelines-lease", daemon=True).start()
    try:
        yield
    finally:
        with _lock:
            _held.pop(pipeline_id, None)


def _renew_forever() -> None:
    # Idle, it reads no settings (they may be changing under it) and touches no database.
    while True:
        _wake.wait(_lease_seconds / 3)
        _wake.clear()
        with _lock:
            items = list(_held.items())
            lease = _lease_seconds
        if not items:
            continue
        try:
            with _store.get_store().write() as conn:
                until = time.time() + lease
                for pid, token in items:
                    conn.execute(
                        sa.update(pipelines)
                        .where(pipelines.c.id == pid, pipelines.c.lease_token == token)
                        .values(lease_until=until)
                    )
        except Exception:
            # A missed renewal only risks a duplicate run, which completion tolerates.
            log.warning("pipelines_lib: lease renewal failed; will retry", exc_info=True)
