"""Resilient iteration: ride out transient faults, skip only what is truly bad.

:func:`resilient_query` wraps an orm_ext query (or any iterable) and keeps
iterating through faults:

* a *transient* error (connection dropped, database restarting, timeout,
  deadlock or serialization failure, lock wait) is retried with exponential
  backoff. For a query, the retry reopens the query from the cursor after the
  last entity handed out, so no entity is lost and none is repeated;
* a single entity whose stored protobuf cannot be decoded
  (:class:`~orm_ext.CorruptEntityError`) is skipped alone, not its batch, and
  recorded with its key;
* every skip is logged at WARNING on the ``orm_ext.resilient`` logger and kept
  in ``it.skipped``; crossing ``max_failures`` raises
  :class:`~orm_ext.ResilientQueryError` carrying that list.

Example:
    >>> it = resilient_query(Video.query(), max_failures=10, retries=3, batch_size=100)
    >>> for video in it:
    ...     total += video.views
    >>> [(s.key, type(s.error).__name__) for s in it.skipped]
    [(Key('Video', 17), 'CorruptEntityError')]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ._errors import BadQueryError, ResilientQueryError
from .key import Key
from .query import Cursor, Query, QueryIterator

__all__ = ["ResilientIterator", "SkippedItem", "is_transient", "resilient_query"]

logger = logging.getLogger("orm_ext.resilient")

TransientSpec = (
    type[BaseException]
    | Callable[[BaseException], bool]
    | Iterable[type[BaseException] | Callable[[BaseException], bool]]
    | None
)

# PostgreSQL SQLSTATEs (psycopg ``sqlstate``, psycopg2 ``pgcode``) worth a retry.
_PG_TRANSIENT_CLASSES = ("08", "40", "57")  # connection, transaction rollback, operator
_PG_TRANSIENT_CODES = {
    "53000",  # insufficient_resources
    "53200",  # out_of_memory
    "53300",  # too_many_connections
    "55P03",  # lock_not_available
    "55006",  # object_in_use
}
# MySQL / MariaDB error numbers (pymysql, mysqlclient: ``args[0]``) worth a retry.
_MYSQL_TRANSIENT_CODES = {
    0,  # pymysql's (0, '') on a connection that is already closed
    1040,  # too many connections
    1053,  # server shutdown in progress
    1158,  # net read error
    1159,  # net read interrupted
    1160,  # net write error
    1161,  # net write interrupted
    1205,  # lock wait timeout exceeded
    1213,  # deadlock found
    1317,  # query execution was interrupted
    1927,  # connection was killed (MariaDB)
    1969,  # max_statement_time exceeded (MariaDB)
    2002,  # can't connect through socket
    2003,  # can't connect to server
    2006,  # server has gone away
    2013,  # lost connection during query
    2014,  # commands out of sync
    2045,  # can't open shared memory
    2055,  # lost connection at reading
    3024,  # max_execution_time exceeded (MySQL)
    4031,  # disconnected by the server for inactivity
}
_SQLITE_TRANSIENT_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED


def is_transient(exc: BaseException) -> bool:
    """Whether *exc* is a fault that a retry may cure.

    Recognised: any SQLAlchemy ``DBAPIError`` with ``connection_invalidated``;
    pool timeouts and ``DisconnectionError``; ``OperationalError`` and
    ``InterfaceError`` classified by the driver's own code (psycopg/psycopg2
    SQLSTATE classes 08 connection, 40 deadlock and serialization failure, 57
    shutdown, restart and statement timeout, plus too-many-connections and lock
    timeouts; pymysql/mysqlclient disconnects, deadlock 1213, lock wait 1205,
    statement timeouts; SQLite busy/locked). ``OperationalError`` from a driver
    that gives no code (a refused connection) counts as transient, as it does for
    drivers this function does not know. Built-in ``ConnectionError`` and
    ``TimeoutError`` are transient too. Everything else (syntax errors, missing
    tables, access denied, corrupt entities) is not.

    Example:
        >>> is_transient(TimeoutError("read timed out"))
        True
        >>> is_transient(ValueError("bad"))
        False
    """
    if isinstance(exc, (sa.exc.TimeoutError, sa.exc.DisconnectionError)):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if not isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
            return _driver_transient(exc.orig) is True
        verdict = _driver_transient(exc.orig)
        return True if verdict is None else verdict
    return isinstance(exc, (ConnectionError, TimeoutError))


def _driver_transient(orig: BaseException | None) -> bool | None:
    """The driver's verdict from its error code; None when it gives no code."""
    if orig is None:
        return None
    module = type(orig).__module__ or ""
    if module.startswith("psycopg"):  # psycopg 3 and psycopg2
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if not state:
            return None  # libpq-level: refused, reset, closed
        return state[:2] in _PG_TRANSIENT_CLASSES or state in _PG_TRANSIENT_CODES
    if module.startswith(("pymysql", "MySQLdb", "mysql")):
        code = orig.args[0] if orig.args else None
        if isinstance(code, BaseException):
            code = code.args[0] if code.args else None
        if not isinstance(code, int):
            return None
        return code in _MYSQL_TRANSIENT_CODES
    if module.startswith("sqlite3"):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_TRANSIENT_CODES
        text = str(orig).lower()
        return "locked" in text or "busy" in text
    return None


@dataclass(frozen=True)
class SkippedItem:
    """One item :func:`resilient_query` passed over.

    Attributes:
        key: the entity's :class:`~orm_ext.Key` when known (queries; or the
            exception's ``key`` attribute for other iterables), else None.
        error: the exception that made it be skipped.
        attempts: how many times it was tried (1 unless the error was
            transient and the retries ran out).
        index: how many items had been yielded before it, i.e. where in the
            output the gap is.

    Example:
        >>> it.skipped[0]
        SkippedItem(key=Key('Video', 17), error=CorruptEntityError(...), attempts=1, index=41)
    """

    key: Key | None
    error: BaseException
    attempts: int
    index: int


class ResilientIterator(Iterator[Any]):
    """The iterator :func:`resilient_query` returns.

    Attributes:
        skipped: every :class:`SkippedItem` so far, in the order met.
        retried: every transient exception that was retried (whether the retry
            cured it or not); these cost nothing unless their retries ran out.
        yielded: how many items were handed out.
    """

    def __init__(
        self,
        source: Any,
        *,
        max_failures: int,
        retries: int,
        backoff: float,
        batch_size: int,
        transient: TransientSpec,
    ) -> None:
        self.max_failures = max_failures
        self.retries = retries
        self.backoff = backoff
        self.batch_size = batch_size
        self._extra_types, self._predicates = _parse_transient(transient)
        self.skipped: list[SkippedItem] = []
        self.retried: list[BaseException] = []
        self.yielded = 0
        self._done = False
        self._query: Query | None = None
        self._cursor: Cursor | None = None
        self._qit: QueryIterator | None = None
        self._source: Iterator[Any] | None = None
        if isinstance(source, Query):
            self._query = source
        elif isinstance(source, QueryIterator):
            # Reopen its query from its own position: nothing it buffered is lost.
            self._query = source.query
            self._cursor = source.cursor_after()
            self.batch_size = source.batch_size
        else:
            try:
                self._source = iter(source)
            except TypeError:
                raise BadQueryError(
                    f"resilient_query({source!r}): not iterable; pass an orm_ext query "
                    "(Video.query()) or any iterable"
                ) from None
        self._describe = repr(source)

    def __iter__(self) -> ResilientIterator:
        return self

    def __repr__(self) -> str:
        return (
            f"<ResilientIterator over {self._describe}: {self.yielded} yielded, "
            f"{len(self.skipped)} skipped, {len(self.retried)} retried>"
        )

    def cursor_after(self) -> Cursor | None:
        """For a query source: the cursor after the last entity yielded or skipped.

        Pass it as ``start_cursor`` to ``query.iter()`` (or wrap
        ``query.iter(start_cursor=...)`` again) to resume after a
        :class:`~orm_ext.ResilientQueryError`. None for other sources or
        before the first entity.
        """
        return self._cursor

    def is_transient(self, exc: BaseException) -> bool:
        """Whether *exc* is retried: :func:`is_transient` or the ``transient=`` additions."""
        if self._extra_types and isinstance(exc, self._extra_types):
            return True
        if any(predicate(exc) for predicate in self._predicates):
            return True
        return is_transient(exc)

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        try:
            item = self._next_from_query() if self._query is not None else self._next_generic()
        except StopIteration:
            self._done = True
            raise
        except BaseException:
            self._done = True
            raise
        self.yielded += 1
        return item

    # -- orm_ext queries ----------------------------------------------------------------

    def _next_from_query(self) -> Any:
        assert self._query is not None
        attempts = 0
        while True:
            key: Key | None = None
            qit = self._qit
            try:
                if qit is None:
                    qit = self._qit = self._query.iter(
                        batch_size=self.batch_size, start_cursor=self._cursor
                    )
                key = qit.next_key()  # reads the next batch when needed
                if key is None:
                    raise StopIteration
                entity = next(qit)
            except StopIteration:
                raise
            except Exception as exc:
                attempts += 1
                moved = qit is not None and qit.cursor_after() != self._cursor
                if self.is_transient(exc) and attempts <= self.retries:
                    self._retry(exc, attempts, reopen=True)
                    continue
                if moved and qit is not None:
                    # One entity failed and the iterator is past it: skip it alone.
                    self._cursor = qit.cursor_after()
                    self._skip(getattr(exc, "key", None) or key, exc, attempts)
                    attempts = 0
                    continue
                self._qit = None
                raise ResilientQueryError(
                    f"resilient_query({self._describe}): reading the batch after cursor "
                    f"{self._cursor!r} failed after {attempts} attempt(s) ({exc!r}); no entity "
                    "was skipped past it. Resume with resilient_query(query.iter(start_cursor="
                    "it.cursor_after())), or raise retries=/backoff= or add the error to "
                    "transient= if it heals by itself",
                    self.skipped,
                ) from exc
            self._cursor = qit.cursor_after()
            return entity

    # -- any other iterable -------------------------------------------------------------

    def _next_generic(self) -> Any:
        assert self._source is not None
        attempts = 0
        while True:
            try:
                return next(self._source)
            except StopIteration:
                raise
            except Exception as exc:
                attempts += 1
                if self.is_transient(exc) and attempts <= self.retries:
                    self._retry(exc, attempts, reopen=False)
                    continue
                self._skip(getattr(exc, "key", None), exc, attempts)
                attempts = 0
                if _finished_generator(self._source):
                    logger.warning(
                        "resilient_query(%s): the generator ended with %r; a generator cannot "
                        "resume after raising, so whatever it had left is not read. Wrap an "
                        "iterator whose __next__ can be called again after an error",
                        self._describe,
                        exc,
                    )

    # -- shared ---------------------------------------------------------------------------

    def _retry(self, exc: BaseException, attempt: int, *, reopen: bool) -> None:
        self.retried.append(exc)
        delay = self.backoff * 2 ** (attempt - 1)
        logger.info(
            "resilient_query(%s): transient %r; retry %d of %d in %.2fs%s",
            self._describe,
            exc,
            attempt,
            self.retries,
            delay,
            f" from cursor {self._cursor!r}" if reopen else "",
        )
        if reopen:
            self._qit = None  # reopen from the last cursor: nothing lost, nothing repeated
        if delay > 0:
            time.sleep(delay)

    def _skip(self, key: Key | None, exc: BaseException, attempts: int) -> None:
        item = SkippedItem(key=key, error=exc, attempts=attempts, index=self.yielded)
        self.skipped.append(item)
        what = repr(key) if key is not None else f"item #{self.yielded}"
        logger.warning(
            "resilient_query(%s): skipped %s after %d attempt(s): %r (%d of max_failures=%d)",
            self._describe,
            what,
            attempts,
            exc,
            len(self.skipped),
            self.max_failures,
        )
        if len(self.skipped) > self.max_failures:
            raise ResilientQueryError(
                f"resilient_query({self._describe}): {len(self.skipped)} items failed, more "
                f"than max_failures={self.max_failures} (last: {what}, {exc!r}); see the "
                "error's .skipped, fix or delete those entities, or raise max_failures=",
                self.skipped,
            ) from exc


def _finished_generator(source: Any) -> bool:
    frame = getattr(source, "gi_frame", getattr(source, "ag_frame", False))
    return frame is None


def _parse_transient(
    transient: TransientSpec,
) -> tuple[tuple[type[BaseException], ...], tuple[Callable[[BaseException], bool], ...]]:
    if transient is None:
        return (), ()
    specs = (
        [transient]
        if isinstance(transient, type) or callable(transient) or not _is_iterable(transient)
        else list(transient)  # type: ignore[arg-type]
    )
    types: list[type[BaseException]] = []
    predicates: list[Callable[[BaseException], bool]] = []
    for spec in specs:
        if isinstance(spec, type) and issubclass(spec, BaseException):
            types.append(spec)
        elif callable(spec) and not isinstance(spec, type):
            predicates.append(spec)
        else:
            raise BadQueryError(
                f"resilient_query(transient={transient!r}): {spec!r} is neither an exception "
                "class nor a predicate; pass exception classes (transient=[MyTimeout]) or a "
                "function taking the exception and returning True to retry it"
            )
    return tuple(types), tuple(predicates)


def _is_iterable(value: Any) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return not isinstance(value, (str, bytes))


def _check_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise BadQueryError(
            f"resilient_query({name}={value!r}): {name} must be an int >= {minimum}; "
            f"pass e.g. {name}={max(minimum, 3)}"
        )


def resilient_query(
    source: Query | QueryIterator | Iterable[Any],
    *,
    max_failures: int = 10,
    retries: int = 3,
    backoff: float = 0.1,
    batch_size: int = 100,
    transient: TransientSpec = None,
) -> ResilientIterator:
    """Iterate *source* through faults, skipping only what is truly bad.

    For an orm_ext :class:`~orm_ext.Query` (or a ``query.iter(...)``
    iterator) the results are read *batch_size* at a time. A transient error
    (see :func:`is_transient`) is retried up to *retries* times, waiting
    ``backoff * 2**n`` seconds, by reopening the query from the cursor after
    the last entity handed out: no entity is lost, none is repeated. An entity
    whose stored protobuf is corrupt is skipped alone and recorded with its
    key. A batch that cannot be read even after the retries (or fails with a
    non-transient error) raises :class:`~orm_ext.ResilientQueryError` at once:
    passing over rows never seen would lose them silently.

    Any other iterable is advanced by calling its ``__next__`` again after an
    error, as the original App Engine recipe did: a transient error is retried
    with backoff, any other error skips that call. Whether a retried call gives
    the same item again is up to the iterator; a generator cannot continue
    after raising, so it ends there (logged at WARNING).

    Every skip is logged at WARNING on the ``orm_ext.resilient`` logger and
    recorded in ``it.skipped``; retries are logged at INFO and kept in
    ``it.retried``. Up to *max_failures* items may be skipped; the next one
    raises :class:`~orm_ext.ResilientQueryError` whose ``skipped`` lists all of
    them, the last being the one that crossed the threshold.

    Args:
        source: an orm_ext query, a ``query.iter(...)`` iterator, or any iterable.
        max_failures: how many items may be skipped before giving up (0: none).
        retries: how many times a transient error is retried before it fails.
        backoff: seconds before the first retry; doubled for each next one.
        batch_size: rows read per batch for a query source.
        transient: more errors to retry: an exception class, a predicate
            ``f(exc) -> bool``, or a list of either.

    Returns:
        A :class:`ResilientIterator` with ``skipped``, ``retried`` and
        ``cursor_after()``.

    Raises:
        ResilientQueryError: more than *max_failures* items failed, or a query
            batch could not be read.
        BadQueryError: an argument is out of range or *source* is not iterable.

    Example:
        >>> it = resilient_query(Video.query(), max_failures=10, retries=3, batch_size=100)
        >>> views = sum(v.views for v in it)
        >>> for s in it.skipped:
        ...     print(s.key, s.error)
        >>> rows = resilient_query(csv_reader, transient=[ConnectionResetError])
    """
    _check_int("max_failures", max_failures, 0)
    _check_int("retries", retries, 0)
    _check_int("batch_size", batch_size, 1)
    if not isinstance(backoff, (int, float)) or isinstance(backoff, bool) or backoff < 0:
        raise BadQueryError(
            f"resilient_query(backoff={backoff!r}): backoff is the first wait in seconds and "
            "must be a number >= 0; pass e.g. backoff=0.1"
        )
    return ResilientIterator(
        source,
        max_failures=max_failures,
        retries=retries,
        backoff=float(backoff),
        batch_size=batch_size,
        transient=transient,
    )
