"""The framework-free recorder: one :class:`Recording` per profiled request.

The recording in progress lives in a ContextVar, so threads and asyncio tasks
never see each other's requests. While a recording is active it is also the
``orm_ext`` observer (decode batches and first reads are reported to it), and
the SQL hooks in :mod:`middleware.sql` add statements to it. Nothing here runs
for requests that are not profiled: the hooks see ``current_recording() is
None`` and step aside.

Example:
    >>> rec = Recording(method="GET", path="/videos")
    >>> with rec.active():
    ...     videos = Video.query().fetch(50)
    ...     titles = [v.title for v in videos]
    >>> rec.stop()
    >>> profile = rec.to_profile(status=200)
    >>> profile["suggestions"][0]["code"]
    'with projection(Video, "title"):'
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from orm_ext.instrument import DecodeBatch, observe

from .suggest import decode_rows, suggestions

__all__ = ["MAX_QUERIES", "Recording", "current_recording", "new_profile_id"]

_CURRENT: ContextVar[Recording | None] = ContextVar("protolens_recording", default=None)

# A request issuing thousands of statements still gets a bounded profile.
MAX_QUERIES = 1000


def new_profile_id() -> str:
    """An unguessable profile id: 128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def current_recording() -> Recording | None:
    """The recording of the request running in this thread / task, or None."""
    return _CURRENT.get()


class Recording:
    """What one profiled request did: wall time, SQL statements, decode batches.

    Args:
        method: the HTTP method (for display).
        path: the request path (for display).
        show_sql_params: keep SQL parameters; off by default, because they
            hold user data (the profile then shows statements only).

    Example:
        >>> rec = Recording(method="GET", path="/")
        >>> with rec.active():
        ...     view()
        >>> rec.stop(); rec.timings()["total_ms"] > 0
        True
    """

    def __init__(self, *, method: str = "", path: str = "", show_sql_params: bool = False) -> None:
        self.id = new_profile_id()
        self.method = method
        self.path = path
        self.show_sql_params = show_sql_params
        self.started_at = time.time()
        self.queries: list[dict[str, Any]] = []
        self.dropped_queries = 0
        self.batches: list[tuple[float, DecodeBatch]] = []
        self.fetch_seconds = 0.0  # orm_ext's row transfer after its statements ran
        self.total: float | None = None
        self._t0 = perf_counter()

    # -- activation --------------------------------------------------------------------------

    @contextlib.contextmanager
    def active(self) -> Iterator[Recording]:
        """Attribute SQL and decoding in this context (thread / task) to this recording."""
        token = _CURRENT.set(self)
        try:
            with observe(self):
                yield self
        finally:
            _CURRENT.reset(token)

    def stop(self) -> None:
        """Fix the total wall time (idempotent: the first call wins)."""
        if self.total is None:
            self.total = perf_counter() - self._t0

    # -- orm_ext observer --------------------------------------------------------------------

    def decoded(self, batch: DecodeBatch) -> None:
        """orm_ext decoded a batch (the batch keeps counting reads by itself)."""
        self.batches.append((perf_counter() - self._t0 - batch.seconds, batch))

    def read(self, batch: DecodeBatch, name: str) -> None:
        """First read of *name* on *batch*: already in ``batch.read_names``."""

    def fetched(self, seconds: float) -> None:
        """orm_ext fetched a batch's rows: database time the SQL events do not see."""
        self.fetch_seconds += seconds

    # -- SQL ---------------------------------------------------------------------------------

    def add_query(
        self,
        sql: str,
        params: Any,
        started: float,
        seconds: float,
        *,
        source: str,
        many: bool = False,
        error: str | None = None,
    ) -> None:
        """Record one statement; *started* is a ``perf_counter()`` value."""
        if len(self.queries) >= MAX_QUERIES:
            self.dropped_queries += 1
            return
        self.queries.append(
            {
                "sql": sql,
                "params": _params(params) if self.show_sql_params else None,
                "start_ms": _ms(started - self._t0),
                "ms": _ms(seconds),
                "source": source,
                "many": many,
                "error": error,
            }
        )

    # -- results -----------------------------------------------------------------------------

    def timings(self) -> dict[str, float]:
        """``total_ms``, ``db_ms``, ``decode_ms`` and ``app_ms`` (the rest; they add up)."""
        total = self.total if self.total is not None else perf_counter() - self._t0
        db = sum(q["ms"] for q in self.queries) / 1000 + self.fetch_seconds
        decode = sum(b.seconds for _, b in self.batches)
        return {
            "total_ms": _ms(total),
            "db_ms": _ms(db),
            "decode_ms": _ms(decode),
            "app_ms": _ms(max(0.0, total - db - decode)),
        }

    def to_profile(self, *, status: int | None = None, **extra: Any) -> dict[str, Any]:
        """The JSON-ready profile document (what stores keep and pages show)."""
        batches = [b for _, b in self.batches]
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "status": status,
            "started_at": self.started_at,
            **self.timings(),
            "entities": sum(b.entities for b in batches),
            "queries": self.queries,
            "dropped_queries": self.dropped_queries,
            "decodes": decode_rows(batches),
            "timeline": [
                {"start_ms": _ms(start), "ms": _ms(b.seconds), "model": b.model.__name__}
                for start, b in self.batches
            ],
            "suggestions": suggestions(batches),
            **extra,
        }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _params(params: Any) -> Any:
    # Parameters become text: profiles are JSON and must never hold live objects.
    if isinstance(params, dict):
        return {str(k): repr(v)[:200] for k, v in params.items()}
    if isinstance(params, list | tuple):
        return [_params(p) if isinstance(p, list | tuple | dict) else repr(p)[:200] for p in params]
    return repr(params)[:200]
