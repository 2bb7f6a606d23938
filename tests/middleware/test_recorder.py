"""middleware.recorder: per-request state that threads and tasks never share."""

from __future__ import annotations

import asyncio
import threading

import pytest

from middleware import Recording, current_recording, watch_engine
from middleware.recorder import MAX_QUERIES
from orm_ext.instrument import current_observer
from tests.middleware.app import ENTITIES, MwWide

pytestmark = pytest.mark.usefixtures("wide_store")


def test_recording_is_current_and_observer_only_inside_active():
    rec = Recording()
    assert current_recording() is None
    with rec.active():
        assert current_recording() is rec and current_observer() is rec
    assert current_recording() is None and current_observer() is None


def test_threads_record_only_their_own_requests(wide_store):
    watch_engine(wide_store.engine)
    recs = [Recording(), Recording()]
    counts = [1, 3]
    barrier = threading.Barrier(2)

    def request(i: int) -> None:
        with recs[i].active():
            barrier.wait()
            for _ in range(counts[i]):
                MwWide.query().fetch(5)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [len(r.batches) for r in recs] == counts
    assert [len(r.queries) for r in recs] == counts


def test_asyncio_tasks_record_only_their_own_requests():
    async def request(rec: Recording, n: int) -> None:
        with rec.active():
            for _ in range(n):
                await asyncio.sleep(0)
                MwWide.query().fetch(2)

    recs = [Recording(), Recording()]

    async def main() -> None:
        await asyncio.gather(request(recs[0], 2), request(recs[1], 4))

    asyncio.run(main())
    assert [len(r.batches) for r in recs] == [2, 4]


def test_timings_add_up_and_stop_fixes_the_total():
    rec = Recording()
    with rec.active():
        [e.title for e in MwWide.query().fetch(ENTITIES)]
    rec.stop()
    t = rec.timings()
    assert t["db_ms"] + t["decode_ms"] + t["app_ms"] == pytest.approx(t["total_ms"], abs=0.01)
    assert rec.timings() == t


def test_queries_beyond_the_bound_are_counted_not_kept():
    rec = Recording()
    for _ in range(MAX_QUERIES + 5):
        rec.add_query("SELECT 1", None, 0.0, 0.0, source="test")
    assert len(rec.queries) == MAX_QUERIES and rec.dropped_queries == 5


def test_profile_ids_are_unguessable():
    ids = {Recording().id for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) >= 22 for i in ids)


def test_db_time_includes_the_row_transfer_of_orm_ext_reads(wide_store):
    watch_engine(wide_store.engine)
    rec = Recording()
    with rec.active():
        MwWide.query().fetch(ENTITIES)
        MwWide.query().get()
    rec.stop()
    statements_ms = sum(q["ms"] for q in rec.queries)
    assert rec.fetch_seconds > 0
    assert rec.timings()["db_ms"] == pytest.approx(
        statements_ms + rec.fetch_seconds * 1000, abs=0.01
    )
