"""Fan-out pipelines on Celery with soft retry.

App Engine Pipeline's model on Celery: a ``Pipeline`` whose generator ``run``
yields children and gets futures back, futures as arguments for dependencies,
``After``/``InOrder``, attempts with backoff, ``SoftRetryPipeline`` whose final
failure does not abort its siblings, ``finalized()``, ``abort``, ``status``.
State lives in a SQLAlchemy database; fan-in is a barrier there, not a chord;
leases and a sweeper in every worker finish trees whose workers died.

Example:
    >>> import pipelines_lib
    >>> class Double(pipelines_lib.Pipeline):
    ...     def run(self, x):
    ...         return 2 * x
    >>> class DoubleAll(pipelines_lib.Pipeline):
    ...     def run(self, xs):
    ...         futures = []
    ...         for x in xs:
    ...             futures.append((yield Double(x)))
    ...         yield pipelines_lib.Collect(*futures)
    >>> pid = DoubleAll([1, 2, 3]).start()  # doctest: +SKIP
    >>> pipelines_lib.wait(pid, timeout=60).output  # doctest: +SKIP
    [2, 4, 6]
"""

from __future__ import annotations

from typing import Any

from pipelines_lib._config import Settings, configure, get_settings
from pipelines_lib._errors import (
    ConfigurationError,
    ControlFlowSignal,
    Error,
    PipelineImportError,
    PipelineNotFound,
    PipelineTimeout,
    Retry,
    SerializationError,
    UsageError,
)
from pipelines_lib._pipeline import After, Collect, Future, InOrder, Pipeline, SoftRetryPipeline
from pipelines_lib._ratelimit import rate_limit, reserve
from pipelines_lib._status import PipelineStatus, abort, status, wait

__all__ = [
    "After",
    "Collect",
    "ConfigurationError",
    "ControlFlowSignal",
    "Error",
    "Future",
    "InOrder",
    "Pipeline",
    "PipelineImportError",
    "PipelineNotFound",
    "PipelineStatus",
    "PipelineTimeout",
    "Retry",
    "SerializationError",
    "Settings",
    "SoftRetryPipeline",
    "UsageError",
    "abort",
    "configure",
    "get_app",
    "get_settings",
    "rate_limit",
    "reserve",
    "status",
    "wait",
]


def get_app() -> Any:
    """The Celery app of the current settings (``celery -A pipelines_lib worker`` finds it).

    Example:
        >>> app = pipelines_lib.get_app()  # doctest: +SKIP
        >>> app.conf.task_acks_late  # doctest: +SKIP
        True
    """
    from pipelines_lib._app import get_app as _get_app

    return _get_app()


def __getattr__(name: str) -> Any:
    # `celery -A pipelines_lib` looks for an attribute named "app" or "celery".
    if name in ("app", "celery"):
        return get_app()
    raise AttributeError(f"module 'pipelines_lib' has no attribute {name!r}")
