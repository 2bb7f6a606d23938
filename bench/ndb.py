"""orm_ext.projection on App Engine ndb: stock vs projected, side by side in one run.

50 entities x 60 mixed properties, 15 wanted, on ndb's offline testbed
(datastore_v3 stub + memcache stub). Two measurements, each a median over
repeats, stock and projected alternating so drift hits both alike:

* decode alone: ``ModelAdapter.pb_to_entity`` over the 50 captured protobufs;
* end to end: ``Video.query().fetch(50)`` (context cache cleared each time).

Goals (issue 9): decode >= 3.2x (the seed's figure), fetch >= 1.7x.

Run it in the App Engine venv: ``make bench-ndb`` (or
``.venv-appengine/bin/python bench/ndb.py``).
"""

from __future__ import annotations

import datetime
import gc
import importlib
import statistics
import sys
import time

try:
    from google.appengine.datastore import datastore_stub_util
    from google.appengine.ext import ndb, testbed
    from google.appengine.ext.ndb import context as ndb_context
    from google.appengine.ext.ndb import model as ndb_model
    from google.appengine.ext.ndb import tasklets
except ImportError:
    # Exit 0: `make bench` runs every bench script in the main venv, where ndb is absent.
    print(
        "bench/ndb.py: skipped, App Engine ndb (appengine-python-standard) is not installed "
        "here; it lives in its own virtualenv: run `make bench-ndb`, or "
        "`.venv-appengine/bin/python bench/ndb.py` once `make test-appengine` has created it."
    )
    sys.exit(0)

import orm_ext

projection_module = importlib.import_module("orm_ext.projection")

ENTITIES = 50
REPEATS = 41
DECODE_GOAL, FETCH_GOAL = 3.2, 1.7

# 60 properties of the kinds an App Engine model really has.
_KINDS = [
    ("s", 12, lambda: ndb.StringProperty()),
    ("i", 12, lambda: ndb.IntegerProperty()),
    ("f", 8, lambda: ndb.FloatProperty()),
    ("b", 6, lambda: ndb.BooleanProperty()),
    ("d", 6, lambda: ndb.DateTimeProperty()),
    ("t", 6, lambda: ndb.TextProperty()),
    ("r", 4, lambda: ndb.StringProperty(repeated=True)),
    ("j", 4, lambda: ndb.JsonProperty()),
    ("k", 2, lambda: ndb.KeyProperty()),
]
WANTED = ["s0", "s1", "s2", "s3", "i0", "i1", "i2", "i3", "f0", "f1", "b0", "d0", "d1", "r0", "t0"]


def _value(prefix: str, n: int, row: int) -> object:
    return {
        "s": lambda: f"string {prefix}{n} of row {row}",
        "i": lambda: row * 1000 + n,
        "f": lambda: row + n / 7,
        "b": lambda: (row + n) % 2 == 0,
        "d": lambda: datetime.datetime(2024, 1, 1) + datetime.timedelta(hours=row, minutes=n),
        "t": lambda: f"a longer unindexed text for {prefix}{n} " * 8,
        "r": lambda: [f"tag{row}", f"tag{n}", "common"],
        "j": lambda: {"row": row, "n": n, "items": [1, 2, 3]},
        "k": lambda: ndb.Key("Channel", row + 1),
    }[prefix]()


Wide = type(
    "Wide",
    (ndb.Model,),
    {f"{p}{n}": make() for p, count, make in _KINDS for n in range(count)},
)
assert len(Wide._properties) == 60


def _set_up() -> testbed.Testbed:
    bed = testbed.Testbed()
    bed.setup_env(overwrite=True, app_id="protolens-bench")
    bed.activate()
    bed.init_datastore_v3_stub(
        consistency_policy=datastore_stub_util.PseudoRandomHRConsistencyPolicy(probability=1)
    )
    bed.init_memcache_stub()
    tasklets.set_context(ndb_context.Context(conn=ndb_model.make_connection()))
    ndb.put_multi(
        [
            Wide(**{f"{p}{n}": _value(p, n, row) for p, count, _ in _KINDS for n in range(count)})
            for row in range(ENTITIES)
        ]
    )
    return bed


def _capture_pbs() -> list:
    adapter = ndb.get_context()._conn.adapter
    ndb.get_context().clear_cache()  # else the query hands back the put() instances
    with adapter:  # ndb keeps each entity's protobuf while want_pbs is on
        entities = Wide.query().fetch(ENTITIES)
    ndb.get_context().clear_cache()
    return [e._orig_pb for e in entities]


def _time(fn) -> float:
    gc.disable()  # as timeit does: a collection landing in one side skews the median
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def _alternate(stock, projected) -> tuple[float, float]:
    """Median seconds of *stock* (hooks off) and *projected* (hooks on), alternating."""
    adapter = importlib.import_module("orm_ext.adapters.appengine_ndb").ADAPTER
    stock_times, projected_times = [], []
    for _ in range(REPEATS):
        adapter.uninstall()
        stock_times.append(_time(stock))
        adapter.install()
        with orm_ext.projection(Wide, *WANTED):
            projected_times.append(_time(projected))
    return statistics.median(stock_times), statistics.median(projected_times)


def main() -> None:
    bed = _set_up()
    try:
        pbs = _capture_pbs()
        model_adapter = ndb.get_context()._conn.adapter

        def decode() -> None:
            for pb in pbs:
                model_adapter.pb_to_entity(pb)

        def fetch() -> None:
            ndb.get_context().clear_cache()
            assert len(Wide.query().fetch(ENTITIES)) == ENTITIES

        decode(), fetch()  # warm both paths up
        d_stock, d_proj = _alternate(decode, decode)
        f_stock, f_proj = _alternate(fetch, fetch)
    finally:
        projection_module.uninstall()
        tasklets.set_context(None)
        bed.deactivate()

    rows = [
        ("decode 50 protobufs", d_stock, d_proj, DECODE_GOAL),
        ("query().fetch(50)", f_stock, f_proj, FETCH_GOAL),
    ]
    print(
        f"App Engine ndb, {ENTITIES} entities x {len(Wide._properties)} properties, "
        f"{len(WANTED)} wanted; median of {REPEATS}, stock and projected alternating"
    )
    print(f"{'':22}{'stock':>10}{'projected':>12}{'speed-up':>10}{'goal':>8}")
    for label, stock, proj, goal in rows:
        ratio = stock / proj
        mark = "ok" if ratio >= goal else "BELOW GOAL"
        print(
            f"{label:22}{stock * 1e3:8.2f}ms{proj * 1e3:10.2f}ms{ratio:9.2f}x{goal:7.1f}x  {mark}"
        )


if __name__ == "__main__":
    main()
