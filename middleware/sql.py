"""SQL timing: SQLAlchemy engine events and Django's ``execute_wrapper``.

Both hooks attribute a statement to :func:`~middleware.recorder.current_recording`
and step aside (one ContextVar lookup) when no request is being profiled.
SQLAlchemy listeners are registered once per engine, guarded like
SQLAlchemy's ``ext/mutable.py`` does for its mapper events; Django's wrapper
is installed per connection by the Django middleware, in the thread where
the request's queries run.

Example:
    >>> watch_engine(orm_ext.get_store().engine)   # idempotent
    >>> with connection.execute_wrapper(django_execute_wrapper):
    ...     User.objects.count()
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from time import perf_counter
from typing import Any

import sqlalchemy as sa

from .recorder import current_recording

__all__ = ["django_execute_wrapper", "unwatch_engine", "watch_engine", "watched"]

_watched: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
_lock = threading.Lock()
_START = "_protolens_start"


def watch_engine(engine: sa.Engine) -> None:
    """Time the statements *engine* runs for profiled requests (idempotent).

    Example:
        >>> watch_engine(store.engine); watch_engine(store.engine)  # one set of listeners
    """
    if engine in _watched:
        return
    with _lock:
        if engine in _watched:
            return
        sa.event.listen(engine, "before_cursor_execute", _before)
        sa.event.listen(engine, "after_cursor_execute", _after)
        sa.event.listen(engine, "handle_error", _error)
        _watched.add(engine)


def unwatch_engine(engine: sa.Engine) -> None:
    """Remove the listeners :func:`watch_engine` added (tests, shutdown)."""
    with _lock:
        if engine not in _watched:
            return
        sa.event.remove(engine, "before_cursor_execute", _before)
        sa.event.remove(engine, "after_cursor_execute", _after)
        sa.event.remove(engine, "handle_error", _error)
        _watched.discard(engine)


def watched(engine: sa.Engine) -> bool:
    """Whether :func:`watch_engine` listeners are on *engine*."""
    return engine in _watched


def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
    if context is not None and _CURRENT_GET() is not None:
        setattr(context, _START, perf_counter())


def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
    rec = _CURRENT_GET()
    start = getattr(context, _START, None)
    if rec is None or start is None:
        return
    rec.add_query(statement, params, start, perf_counter() - start, source="sqlalchemy", many=many)


def _error(exc_context: Any) -> None:
    rec = _CURRENT_GET()
    context = exc_context.execution_context
    start = getattr(context, _START, None)
    if rec is None or start is None:
        return
    rec.add_query(
        exc_context.statement or "",
        exc_context.parameters,
        start,
        perf_counter() - start,
        source="sqlalchemy",
        error=type(exc_context.original_exception).__name__,
    )


def django_execute_wrapper(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """A Django ``execute_wrapper`` that times statements of the profiled request.

    Example:
        >>> with connection.execute_wrapper(django_execute_wrapper):
        ...     User.objects.count()
    """
    rec = _CURRENT_GET()
    if rec is None:
        return execute(sql, params, many, context)
    start = perf_counter()
    error = None
    try:
        return execute(sql, params, many, context)
    except Exception as exc:
        error = type(exc).__name__
        raise
    finally:
        rec.add_query(
            sql, params, start, perf_counter() - start, source="django", many=many, error=error
        )


_CURRENT_GET = current_recording
