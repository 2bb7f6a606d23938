"""The Celery app: built from the settings, one task, a sweeper in every worker.

Settings that matter for faults: ``task_acks_late`` with
``task_reject_on_worker_lost`` (a killed pool process's task goes back to the
queue), no result backend (outputs live in the state database, fan-in is our
own barrier, not a chord). The embedded broker is kombu's SQLAlchemy transport
through :mod:`pipelines_lib._sqla_transport`, which fixes what breaks it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from celery import Celery, bootsteps

from pipelines_lib import _config

__all__ = ["STEP_TASK", "get_app", "publish"]

STEP_TASK = "pipelines_lib.step"

_lock = threading.Lock()
_app: Celery | None = None
_app_key: tuple[Any, int] | None = None


def _step(pipeline_id: str) -> None:
    from sqlalchemy.exc import DBAPIError

    from pipelines_lib._engine import step

    try:
        step(pipeline_id)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        # The database restarted since this process last used a pooled connection;
        # SQLAlchemy has dropped the stale pool, so one retry gets a fresh connection.
        step(pipeline_id)


class SweeperStep(bootsteps.StartStopStep):
    """Runs the sweeper thread in each worker's main process."""

    label = "pipelines sweeper"

    def __init__(self, worker: Any, **kwargs: Any):
        super().__init__(worker, **kwargs)
        self.sweeper = None

    def start(self, worker: Any) -> None:
        from pipelines_lib._sweeper import Sweeper

        # Sweep the queues this worker consumes (-Q), so trees of other apps sharing
        # the state database are left to their own workers.
        consumed = getattr(worker.app.amqp.queues, "consume_from", None) or {}
        self.sweeper = Sweeper(list(consumed) or [_config.get_settings().queue])
        self.sweeper.start()

    def stop(self, worker: Any) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()


def build_app(settings: _config.Settings) -> Celery:
    """A Celery app for *settings* with the step task and the sweeper registered."""
    app = Celery("pipelines_lib", set_as_current=False)
    conf: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,
        "task_default_queue": settings.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    }
    if settings.broker_kind == "sqla":
        # The URL loses its "sqla+" so kombu takes the transport we name, not its own.
        conf["broker_url"] = settings.sqla_broker_db_url
        conf["broker_transport"] = "pipelines_lib._sqla_transport:Transport"
    conf.update(settings.celery)
    app.conf.update(conf)
    app.task(name=STEP_TASK, ignore_result=True, acks_late=True)(_step)
    app.steps["worker"].add(SweeperStep)
    return app


def get_app() -> Celery:
    """The Celery app of the current settings (rebuilt after :func:`configure` or a fork)."""
    global _app, _app_key
    settings = _config.get_settings()
    key = (settings, os.getpid())
    with _lock:
        if _app is None or _app_key != key:
            _app = build_app(settings)
            _app_key = key
        return _app


def publish(ids: Sequence[str], queue: str, countdown: float | None = None) -> None:
    """Send one step message per id, through one pooled producer."""
    if not ids:
        return
    app = get_app()
    with app.producer_or_acquire() as producer:
        for pid in ids:
            app.send_task(
                STEP_TASK, args=[pid], queue=queue, countdown=countdown, producer=producer
            )


def _forget() -> None:
    global _app, _app_key
    with _lock:
        old, _app, _app_key = _app, None, None
    if old is not None:
        try:
            old.close()
        except Exception:
            pass  # a broker that is gone cannot be closed more


_config.on_change(_forget)
