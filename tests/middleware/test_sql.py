"""middleware.sql: engine listeners once per engine, and only profiled requests recorded."""

from __future__ import annotations

import sqlalchemy as sa

from middleware import Recording, django_execute_wrapper, unwatch_engine, watch_engine
from middleware import sql as middleware_sql
from middleware.sql import watched


def engine() -> sa.Engine:
    return sa.create_engine("sqlite://")


def test_watching_twice_registers_the_listeners_once():
    e = engine()
    watch_engine(e)
    watch_engine(e)
    rec = Recording()
    with rec.active(), e.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert len(rec.queries) == 1
    unwatch_engine(e)


def test_unwatch_removes_the_listeners():
    e = engine()
    watch_engine(e)
    unwatch_engine(e)
    assert not watched(e)
    assert not sa.event.contains(e, "before_cursor_execute", middleware_sql._before)


def test_statements_outside_a_recording_are_not_recorded():
    e = engine()
    watch_engine(e)
    rec = Recording()
    with e.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert rec.queries == []
    unwatch_engine(e)


def test_failed_statement_is_recorded_with_its_error():
    e = engine()
    watch_engine(e)
    rec = Recording()
    with rec.active(), e.connect() as conn:
        try:
            conn.exec_driver_sql("SELECT * FROM missing_table")
        except sa.exc.OperationalError:
            pass
    assert rec.queries[0]["error"] == "OperationalError"
    unwatch_engine(e)


def test_django_wrapper_passes_through_without_a_recording():
    calls = []
    result = django_execute_wrapper(lambda *a: calls.append(a) or "rows", "SELECT 1", (), False, {})
    assert result == "rows" and len(calls) == 1


def test_django_wrapper_records_inside_a_recording_and_hides_params():
    rec = Recording()
    with rec.active():
        django_execute_wrapper(lambda *a: None, "SELECT %s", ("secret",), False, {})
    assert rec.queries[0]["sql"] == "SELECT %s" and rec.queries[0]["params"] is None
