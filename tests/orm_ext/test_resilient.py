"""orm_ext.resilient_query: iterate through faults, skip only what is truly bad, lose nothing."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import orm_ext
from orm_ext import (
    CorruptEntityError,
    IntegerProperty,
    Model,
    ResilientQueryError,
    StringProperty,
    resilient_query,
)
from orm_ext.resilient import is_transient
from tests import services
from tests.conftest import BACKENDS, database_url


class ResilientRow(Model):
    n = IntegerProperty()
    label = StringProperty(indexed=False)


class Flaky:
    """An iterator over *items* whose ``__next__`` raises for the indices in *bad*.

    ``bad`` maps an index to the exception to raise and how many times; a call
    that raises moves past the item unless ``resumes`` (then the next call tries
    the same item again, like an iterator that knows where to pick up).
    """

    def __init__(
        self, items: list[Any], bad: dict[int, tuple[BaseException, int]], *, resumes: bool = False
    ):
        self.items, self.bad, self.resumes = items, dict(bad), resumes
        self.i = 0

    def __iter__(self) -> Flaky:
        return self

    def __next__(self) -> Any:
        if self.i >= len(self.items):
            raise StopIteration
        i = self.i
        exc, times = self.bad.get(i, (None, 0))
        if exc is not None and times > 0:
            self.bad[i] = (exc, times - 1)
            if not self.resumes:
                self.i += 1
            raise exc
        self.i += 1
        return self.items[i]


def _put_rows(count: int) -> list[orm_ext.Key]:
    return orm_ext.put_multi([ResilientRow(n=i, label=f"row {i}") for i in range(count)])


def _query() -> orm_ext.Query:
    return ResilientRow.query().order(ResilientRow.n)


def _operational_error(
    message: str = "server closed the connection unexpectedly",
) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT ...", {}, Exception(message))


# -- any iterable ------------------------------------------------------------------------


def test_generic_iterator_skips_failing_items_and_keeps_order() -> None:
    bad = {2: (ValueError("bad 2"), 1), 5: (KeyError("bad 5"), 1)}
    it = resilient_query(Flaky(list("abcdefgh"), bad), retries=0)

    assert list(it) == ["a", "b", "d", "e", "g", "h"]
    assert [(s.index, type(s.error), s.attempts, s.key) for s in it.skipped] == [
        (2, ValueError, 1, None),
        (4, KeyError, 1, None),
    ]


def test_generic_transient_error_retried_then_succeeding_is_not_a_skip() -> None:
    flaky = Flaky([1, 2, 3], {1: (ConnectionResetError("reset"), 2)}, resumes=True)
    it = resilient_query(flaky, retries=3, backoff=0)

    assert list(it) == [1, 2, 3]
    assert it.skipped == []
    assert [type(e) for e in it.retried] == [ConnectionResetError, ConnectionResetError]


def test_generic_transient_error_past_its_retries_is_one_skip_with_its_attempts() -> None:
    flaky = Flaky([1, 2, 3], {1: (TimeoutError("slow"), 5)}, resumes=True)
    it = resilient_query(flaky, retries=2, backoff=0)

    assert list(it) == [1, 2, 3]  # the iterator resumes, so nothing was really lost
    assert [(s.index, s.attempts, type(s.error)) for s in it.skipped] == [(1, 3, TimeoutError)]


def test_transient_extension_accepts_exception_types() -> None:
    class Throttled(Exception):
        pass

    flaky = Flaky(["x", "y"], {0: (Throttled("429"), 1)}, resumes=True)
    it = resilient_query(flaky, backoff=0, transient=[Throttled])

    assert list(it) == ["x", "y"]
    assert it.skipped == []
    assert len(it.retried) == 1


def test_transient_extension_accepts_a_predicate() -> None:
    flaky = Flaky(["x", "y"], {1: (RuntimeError("try again later"), 1)}, resumes=True)
    it = resilient_query(flaky, backoff=0, transient=lambda exc: "try again" in str(exc))

    assert list(it) == ["x", "y"]
    assert it.skipped == []


def test_without_the_extension_the_same_error_is_a_skip() -> None:
    flaky = Flaky(["x", "y"], {1: (RuntimeError("try again later"), 1)}, resumes=True)
    it = resilient_query(flaky, backoff=0)

    assert list(it) == ["x", "y"]
    assert [str(s.error) for s in it.skipped] == ["try again later"]


def test_threshold_raises_with_the_skipped_list_attached() -> None:
    bad = {i: (ValueError(f"bad {i}"), 1) for i in (1, 3, 5, 7)}
    it = resilient_query(Flaky(list(range(10)), bad), max_failures=2)
    seen = []

    with pytest.raises(ResilientQueryError) as info:
        for item in it:
            seen.append(item)

    assert seen == [0, 2, 4]
    assert [str(s.error) for s in info.value.skipped] == ["bad 1", "bad 3", "bad 5"]
    assert info.value.skipped == it.skipped
    assert isinstance(info.value.__cause__, ValueError)
    assert "max_failures=2" in str(info.value)


def test_crossing_the_threshold_inside_a_generator_is_not_a_stop_iteration() -> None:
    # The App Engine recipe raised StopIteration in a generator: PEP 479 makes that a
    # RuntimeError("generator raised StopIteration") and the skipped list is gone.
    def pipeline() -> Iterator[int]:
        yield from resilient_query(Flaky([1, 2], {0: (ValueError("x"), 1)}), max_failures=0)

    with pytest.raises(ResilientQueryError) as info:
        list(pipeline())

    assert "generator raised StopIteration" not in str(info.value)
    assert len(info.value.skipped) == 1


def test_a_generator_source_ends_after_it_raises_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def gen() -> Iterator[int]:
        yield 1
        raise OSError("disk")
        yield 2  # never reached: a generator cannot resume after raising

    with caplog.at_level(logging.WARNING, logger="orm_ext.resilient"):
        it = resilient_query(gen())
        items = list(it)

    assert items == [1]
    assert [type(s.error) for s in it.skipped] == [OSError]
    assert any("cannot resume" in r.getMessage() for r in caplog.records)


def test_every_skip_logs_one_warning_on_orm_ext_resilient(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = {0: (ValueError("first"), 1), 2: (ValueError("second"), 1)}
    with caplog.at_level(logging.INFO, logger="orm_ext.resilient"):
        list(resilient_query(Flaky([1, 2, 3, 4], bad)))

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in warnings] == ["orm_ext.resilient"] * 2
    assert "first" in warnings[0].getMessage() and "second" in warnings[1].getMessage()


def test_bad_arguments_raise_full_sentences() -> None:
    with pytest.raises(orm_ext.BadQueryError, match=r"max_failures=-1.*pass e\.g\."):
        resilient_query([], max_failures=-1)
    with pytest.raises(orm_ext.BadQueryError, match="neither an exception class nor a predicate"):
        resilient_query([], transient=["OperationalError"])


# -- orm_ext queries -----------------------------------------------------------------------


def test_query_with_one_corrupt_blob_yields_everything_else_and_reports_its_key(
    store: orm_ext.Store, caplog: pytest.LogCaptureFixture
) -> None:
    keys = _put_rows(30)
    bad = keys[14]
    table = sa.table("ResilientRow", sa.column("_key_id"), sa.column("_pb"))
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c._key_id == bad.id())
            .values(_pb=b"\xff\xff\xff\xff garbage")
        )

    with caplog.at_level(logging.WARNING, logger="orm_ext.resilient"):
        it = resilient_query(_query(), batch_size=10)
        got = [row.n for row in it]

    assert got == [i for i in range(30) if i != 14]
    assert [(s.key, type(s.error), s.attempts, s.index) for s in it.skipped] == [
        (bad, CorruptEntityError, 1, 14)
    ]
    assert repr(bad) in caplog.records[0].getMessage()


def test_transient_query_errors_retried_then_succeeding_are_not_skips(
    sqlite_store: orm_ext.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put_rows(25)
    real_run = orm_ext.Query._run
    calls = {"n": 0}

    def flaky_run(self: orm_ext.Query, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] in (2, 3):  # the second batch fails twice, then reads
            raise _operational_error()
        return real_run(self, **kw)

    monkeypatch.setattr(orm_ext.Query, "_run", flaky_run)
    it = resilient_query(_query(), batch_size=10, retries=3, backoff=0)

    assert [row.n for row in it] == list(range(25))
    assert it.skipped == []
    assert len(it.retried) == 2


def test_query_batch_failing_past_its_retries_raises_and_skips_nothing(
    sqlite_store: orm_ext.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put_rows(25)
    real_run = orm_ext.Query._run
    calls = {"n": 0}

    def down_after_first_batch(self: orm_ext.Query, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:
            raise _operational_error("connection refused")
        return real_run(self, **kw)

    monkeypatch.setattr(orm_ext.Query, "_run", down_after_first_batch)
    it = resilient_query(_query(), batch_size=10, retries=2, backoff=0)
    seen = []
    with pytest.raises(ResilientQueryError) as info:
        for row in it:
            seen.append(row.n)

    assert seen == list(range(10))
    assert info.value.skipped == []
    assert isinstance(info.value.__cause__, sa.exc.OperationalError)
    assert calls["n"] == 1 + 3  # the first batch, then one try and two retries
    monkeypatch.setattr(orm_ext.Query, "_run", real_run)
    resumed = _query().iter(start_cursor=it.cursor_after())
    assert [row.n for row in resumed] == list(range(10, 25))


def test_a_non_transient_query_error_is_not_retried(sqlite_store: orm_ext.Store) -> None:
    _put_rows(3)
    with sqlite_store.engine.begin() as conn:
        conn.exec_driver_sql('DROP TABLE "ResilientRow"')  # the store still thinks it exists
    it = resilient_query(_query(), retries=3, backoff=10)  # a retry would sleep 10 s

    with pytest.raises(ResilientQueryError) as info:
        next(it)

    assert it.retried == []
    assert isinstance(info.value.__cause__, sa.exc.OperationalError)  # sqlite3: no such table


def test_a_query_iterator_source_resumes_from_its_own_cursor(sqlite_store: orm_ext.Store) -> None:
    _put_rows(12)
    inner = _query().iter(batch_size=5)
    first = [next(inner).n for _ in range(3)]

    rest = [row.n for row in resilient_query(inner)]

    assert first + rest == list(range(12))


def test_driver_timeouts_are_transient_and_missing_tables_are_not(store: orm_ext.Store) -> None:
    engine = store.engine
    missing = _db_error(engine, "SELECT * FROM no_such_table_here")
    if engine.dialect.name == "postgresql":
        timeout = _db_error(engine, "SET LOCAL statement_timeout = 1; SELECT pg_sleep(1)")
    elif engine.dialect.name in ("mysql", "mariadb"):
        timeout = _db_error(engine, "SET STATEMENT max_statement_time=0.01 FOR SELECT SLEEP(1)")
    else:
        timeout = _sqlite_locked_error(engine)

    assert (is_transient(timeout), is_transient(missing)) == (True, False)


def _db_error(engine: sa.Engine, sql: str) -> BaseException:
    try:
        with engine.begin() as conn:
            for statement in sql.split("; "):
                conn.exec_driver_sql(statement)
    except sa.exc.DBAPIError as exc:
        return exc
    raise AssertionError(f"{sql!r} did not fail")


def _sqlite_locked_error(engine: sa.Engine) -> BaseException:
    other = sa.create_engine(engine.url, connect_args={"timeout": 0})
    try:
        with engine.connect() as holder:
            holder.exec_driver_sql("CREATE TABLE IF NOT EXISTS lock_probe (x INTEGER)")
            holder.commit()
            holder.exec_driver_sql("BEGIN EXCLUSIVE")
            try:
                return _db_error(other, "INSERT INTO lock_probe VALUES (1)")
            finally:
                holder.rollback()
    finally:
        other.dispose()


# -- real PostgreSQL faults ----------------------------------------------------------------

needs_postgresql = pytest.mark.skipif(
    "postgresql" not in BACKENDS, reason="PROTOLENS_DATABASES leaves out postgresql"
)
_PG_CTL = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main {}"


@contextlib.contextmanager
def _pg_store(tmp_path_factory: pytest.TempPathFactory, **options: Any) -> Iterator[orm_ext.Store]:
    """A PostgreSQL store that remembers its backends' pids in ``store.backend_pids``."""
    url = database_url("postgresql", tmp_path_factory)
    store = orm_ext.Store(url, **options)
    store.backend_pids = set()  # type: ignore[attr-defined]

    @sa.event.listens_for(store.engine, "connect")
    def remember(dbapi_conn: Any, _record: Any) -> None:
        store.backend_pids.add(dbapi_conn.info.backend_pid)  # type: ignore[attr-defined]

    store.drop_all()
    previous = orm_ext.set_store(store)
    try:
        yield store
    finally:
        orm_ext.set_store(previous)
        services.start("postgresql")
        store.drop_all()
        store.close()


@pytest.fixture
def pg_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[orm_ext.Store]:
    """A PostgreSQL store with the default options (pool_pre_ping on)."""
    with _pg_store(tmp_path_factory) as store:
        yield store


@pytest.fixture
def pg_store_no_ping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[orm_ext.Store]:
    """A PostgreSQL store without pool_pre_ping, so a killed connection reaches the query."""
    with _pg_store(tmp_path_factory, pool_pre_ping=False) as store:
        yield store


def _terminate(pids: set[int], url: sa.URL) -> int:
    killer = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with killer.connect() as conn:
            return sum(
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
                for pid in sorted(pids)
            )
    finally:
        killer.dispose()


@needs_postgresql
def test_postgresql_backend_terminated_mid_iteration_loses_and_repeats_nothing(
    pg_store_no_ping: orm_ext.Store,
) -> None:
    pg_store = pg_store_no_ping
    _put_rows(1000)
    it = resilient_query(_query(), batch_size=50, retries=3, backoff=0.05)
    seen = []
    killed = 0
    for row in it:
        seen.append(row.n)
        if len(seen) == 525:
            killed = _terminate(pg_store.backend_pids, pg_store.engine.url)  # type: ignore[attr-defined]

    assert killed >= 1
    assert seen == list(range(1000))
    assert it.skipped == []
    assert [e.connection_invalidated for e in it.retried] == [True]


@needs_postgresql
@pytest.mark.slow
def test_postgresql_restart_mid_iteration_loses_and_repeats_nothing(
    pg_store: orm_ext.Store,
) -> None:
    _put_rows(1000)
    it = resilient_query(_query(), batch_size=50, retries=8, backoff=0.25)
    seen = []
    starter: threading.Timer | None = None
    try:
        for row in it:
            seen.append(row.n)
            if len(seen) == 525:
                subprocess.run(_PG_CTL.format("stop"), shell=True, check=True, timeout=60)
                starter = threading.Timer(
                    1.0, subprocess.run, (_PG_CTL.format("start"),), {"shell": True, "timeout": 60}
                )
                starter.start()
    finally:
        if starter is not None:
            starter.join()
        services.start("postgresql")  # whatever happened, leave the shared server up

    assert seen == list(range(1000))
    assert it.skipped == []
    assert len(it.retried) >= 1
    assert all(is_transient(e) for e in it.retried)
