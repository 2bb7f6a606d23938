"""Settings: where the broker and the state database are, and the lease timings.

Read from the environment (``PIPELINES_*``) on first use, or set with
:func:`configure`. Without a broker the library runs embedded: a SQLite-backed
broker (kombu's SQLAlchemy transport) and SQLite state, files in the current
directory, so a demo needs no server.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pipelines_lib._errors import ConfigurationError

__all__ = ["Settings", "configure", "get_settings", "on_change"]

DEFAULT_BROKER_FILE = "pipelines-broker.db"
DEFAULT_STATE_FILE = "pipelines-state.db"

_BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp", "sqla", "sqlalchemy")

_ENV = {
    "broker_url": "PIPELINES_BROKER_URL",
    "state_url": "PIPELINES_STATE_URL",
    "queue": "PIPELINES_QUEUE",
    "lease_seconds": "PIPELINES_LEASE_SECONDS",
    "queued_lease_seconds": "PIPELINES_QUEUED_LEASE_SECONDS",
    "sweep_seconds": "PIPELINES_SWEEP_SECONDS",
    "rate_limit_url": "PIPELINES_RATE_LIMIT_URL",
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The library's configuration (see :func:`configure` for each field)."""

    broker_url: str
    state_url: str
    queue: str = "pipelines"
    lease_seconds: float = 10.0
    queued_lease_seconds: float = 20.0
    sweep_seconds: float = 2.0
    rate_limit_url: str | None = None
    celery: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def broker_kind(self) -> str:
        """``redis``, ``amqp`` or ``sqla`` (the embedded kind)."""
        scheme = self.broker_url.split("://", 1)[0].split("+", 1)[0]
        if scheme.startswith("redis"):
            return "redis"
        if scheme in ("sqla", "sqlalchemy"):
            return "sqla"
        return "amqp"

    @property
    def sqla_broker_db_url(self) -> str:
        """The SQLAlchemy URL behind an ``sqla+`` broker URL."""
        return self.broker_url.split("+", 1)[1]

    @property
    def limiter_url(self) -> str:
        """Where :func:`rate_limit` keeps its buckets: Redis if there is one, else the state DB."""
        if self.rate_limit_url:
            return self.rate_limit_url
        if self.broker_kind == "redis":
            return self.broker_url
        return self.state_url


_lock = threading.RLock()


def _new_lock_after_fork() -> None:
    # The worker's sweeper thread may hold the lock when the pool forks a process:
    # the child would inherit it held, and hang on its first use.
    global _lock
    _lock = threading.RLock()


os.register_at_fork(after_in_child=_new_lock_after_fork)
_current: Settings | None = None
_listeners: list[Callable[[], None]] = []


def _from_env() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field, var in _ENV.items():
        raw = os.environ.get(var)
        if raw:
            values[field] = raw
    return values


def _default_sqlite(filename: str) -> str:
    # Absolute, so a worker started elsewhere by the same user finds the same file.
    return f"sqlite:///{os.path.abspath(filename)}"


def _build(values: Mapping[str, Any]) -> Settings:
    values = dict(values)
    broker = values.get("broker_url") or f"sqla+{_default_sqlite(DEFAULT_BROKER_FILE)}"
    state = values.get("state_url") or _default_sqlite(DEFAULT_STATE_FILE)
    scheme = broker.split("://", 1)[0].split("+", 1)[0] if "://" in broker else ""
    if scheme not in _BROKER_SCHEMES:
        raise ConfigurationError(
            f"configure(broker_url={broker!r}): the broker URL must start with redis://, "
            "amqp:// or sqla+<sqlalchemy url>; set PIPELINES_BROKER_URL to one of those, "
            "or leave it unset for the embedded SQLite broker."
        )
    for name, url in (("state_url", state), ("rate_limit_url", values.get("rate_limit_url"))):
        if url is None or (name == "rate_limit_url" and url.startswith("redis")):
            continue
        try:
            make_url(url)
        except ArgumentError as exc:
            raise ConfigurationError(
                f"configure({name}={url!r}): not a SQLAlchemy database URL ({exc}); "
                "use e.g. postgresql+psycopg://user@host/db or sqlite:///pipelines-state.db."
            ) from None
    numbers = {}
    for name in ("lease_seconds", "queued_lease_seconds", "sweep_seconds"):
        if name in values:
            try:
                numbers[name] = float(values[name])
            except (TypeError, ValueError):
                numbers[name] = -1.0
            if numbers[name] <= 0:
                raise ConfigurationError(
                    f"configure({name}={values[name]!r}): must be a positive number of seconds."
                )
    if "sweep_seconds" in numbers or "lease_seconds" in numbers:
        lease = numbers.get("lease_seconds", Settings.lease_seconds)
        sweep = numbers.get("sweep_seconds", Settings.sweep_seconds)
        if sweep >= lease:
            raise ConfigurationError(
                f"configure(sweep_seconds={sweep!r}, lease_seconds={lease!r}): the sweeper must "
                "run more often than a lease lasts; make sweep_seconds smaller."
            )
    return Settings(
        broker_url=broker,
        state_url=state,
        queue=str(values.get("queue") or "pipelines"),
        rate_limit_url=values.get("rate_limit_url"),
        celery=dict(values.get("celery") or {}),
        **numbers,
    )


def get_settings() -> Settings:
    """The current settings, read from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = _build(_from_env())
        return _current


def configure(
    broker_url: str | None = None,
    state_url: str | None = None,
    *,
    queue: str | None = None,
    lease_seconds: float | None = None,
    queued_lease_seconds: float | None = None,
    sweep_seconds: float | None = None,
    rate_limit_url: str | None = None,
    celery: Mapping[str, Any] | None = None,
) -> Settings:
    """Set where pipelines run and keep their state; unset arguments come from the environment.

    Args:
        broker_url: Celery broker (``PIPELINES_BROKER_URL``): ``redis://...``,
            ``amqp://...`` or ``sqla+sqlite:///file.db``. Default: the embedded
            SQLite broker ``./pipelines-broker.db``.
        state_url: SQLAlchemy URL of the state database (``PIPELINES_STATE_URL``).
            Default: ``sqlite:///./pipelines-state.db``.
        queue: Celery queue the pipeline tasks go to (``PIPELINES_QUEUE``).
        lease_seconds: How long a running task's lease lasts without a heartbeat;
            a worker that dies is noticed after this (``PIPELINES_LEASE_SECONDS``).
        queued_lease_seconds: How long a published task may wait before the
            sweeper publishes it again (``PIPELINES_QUEUED_LEASE_SECONDS``).
        sweep_seconds: How often each worker's sweeper looks for lost work.
        rate_limit_url: Where :func:`rate_limit` buckets live; default the Redis
            broker, else the state database.
        celery: Extra Celery settings (``{"worker_prefetch_multiplier": 1}``).

    Returns:
        The new settings.

    Raises:
        ConfigurationError: A URL or number cannot be used; the message says the fix.

    Example:
        >>> import pipelines_lib
        >>> s = pipelines_lib.configure("redis://127.0.0.1:6379/0",
        ...                             "postgresql+psycopg://app@db/pipelines")
        >>> s.broker_kind
        'redis'
    """
    global _current
    given = {
        "broker_url": broker_url,
        "state_url": state_url,
        "queue": queue,
        "lease_seconds": lease_seconds,
        "queued_lease_seconds": queued_lease_seconds,
        "sweep_seconds": sweep_seconds,
        "rate_limit_url": rate_limit_url,
        "celery": celery,
    }
    values = _from_env()
    values.update({k: v for k, v in given.items() if v is not None})
    new = _build(values)
    with _lock:
        _current = new
        listeners = list(_listeners)
    for listener in listeners:
        listener()
    return new


def on_change(listener: Callable[[], None]) -> None:
    """Call *listener* after every :func:`configure` (caches drop their engines and apps)."""
    with _lock:
        _listeners.append(listener)


def reset_for_tests() -> None:
    """Forget the settings so the next use reads the environment again."""
    global _current
    with _lock:
        _current = None
        listeners = list(_listeners)
    for listener in listeners:
        listener()
