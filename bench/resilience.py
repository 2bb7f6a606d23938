"""Fault injection for orm_ext.resilient_query on the real PostgreSQL: prints the README table.

Each scenario reads N entities (or items) through ``resilient_query`` while a
fault is injected from outside the reader, then counts what came out:

* lost: expected items neither yielded nor reported in ``it.skipped`` (must be 0);
* duplicates: items yielded more than once (must be 0);
* skipped: items reported in ``it.skipped`` (only what is truly bad);
* retried: transient errors retried (these cost nothing).

Run: ``.venv/bin/python bench/resilience.py [--entities 1000] [--batch-size 50]``.
It creates and drops its own database ``protolens_bench_<pid>`` on
127.0.0.1:5432 and restarts the server once for a second or two.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orm_ext
from orm_ext import IntegerProperty, Model, StringProperty, resilient_query

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_CTL = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main {}"


class BenchEntity(Model):
    n = IntegerProperty()
    body = StringProperty(indexed=False)


def pg_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def pg_ctl(action: str) -> None:
    subprocess.run(PG_CTL.format(action), shell=True, check=False, capture_output=True, timeout=60)


def ensure_pg_up(wait: float = 60.0) -> None:
    if not pg_is_up():
        pg_ctl("start")
    deadline = time.monotonic() + wait
    while not pg_is_up():
        if time.monotonic() > deadline:
            raise SystemExit("PostgreSQL is not up on 127.0.0.1:5432 and did not start")
        time.sleep(0.2)


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    ensure_pg_up()
    name = f"protolens_bench_{os.getpid()}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        ensure_pg_up()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextlib.contextmanager
def reader_store(url: str, **options: Any) -> Iterator[orm_ext.Store]:
    """A store that remembers its backend pids; the entities are rewritten fresh."""
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
        ensure_pg_up()
        store.drop_all()
        store.close()


def terminate(store: orm_ext.Store) -> None:
    killer = sa.create_engine(
        store.engine.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with killer.connect() as conn:
        for pid in sorted(store.backend_pids):  # type: ignore[attr-defined]
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()


def put_entities(count: int) -> list[orm_ext.Key]:
    keys: list[orm_ext.Key] = []
    for start in range(0, count, 500):
        chunk = [BenchEntity(n=i, body="x" * 64) for i in range(start, min(count, start + 500))]
        keys += orm_ext.put_multi(chunk)
    return keys


def run_query(
    store: orm_ext.Store,
    count: int,
    batch_size: int,
    fault: Callable[[int], None],
    prepare: Callable[[list[orm_ext.Key]], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Read every entity through resilient_query, calling fault(i) after each item."""
    keys = put_entities(count)
    if prepare is not None:
        prepare(keys)
    it = resilient_query(BenchEntity.query().order(BenchEntity.n), batch_size=batch_size, **options)
    yielded: list[int] = []
    start = time.perf_counter()
    for entity in it:
        yielded.append(entity.key.id())
        fault(len(yielded))
    elapsed = time.perf_counter() - start
    return tally([k.id() for k in keys], yielded, [s.key.id() for s in it.skipped], it, elapsed)


def tally(
    expected: list[Any], yielded: list[Any], skipped: list[Any], it: Any, elapsed: float
) -> dict[str, Any]:
    return {
        "expected": len(expected),
        "yielded": len(yielded),
        "lost": len(set(expected) - set(yielded) - set(skipped)),
        "duplicates": len(yielded) - len(set(yielded)),
        "skipped": len(skipped),
        "retried": len(it.retried),
        "seconds": elapsed,
        "in_order": yielded == sorted(yielded),
    }


# -- scenarios -------------------------------------------------------------------------------


def backend_killed(url: str, count: int, batch_size: int) -> dict[str, Any]:
    # pool_pre_ping off: otherwise the pool quietly replaces the dead connection and
    # the iterator never sees the fault.
    with reader_store(url, pool_pre_ping=False) as store:
        return run_query(
            store,
            count,
            batch_size,
            lambda i: terminate(store) if i == count // 2 + batch_size // 2 else None,
            backoff=0.05,
        )


def backend_killed_repeatedly(url: str, count: int, batch_size: int) -> dict[str, Any]:
    with reader_store(url, pool_pre_ping=False) as store:
        every = max(1, count // 10)
        return run_query(
            store,
            count,
            batch_size,
            lambda i: terminate(store) if i % every == 0 and i < count else None,
            backoff=0.05,
        )


def server_restart(url: str, count: int, batch_size: int) -> dict[str, Any]:
    starter: list[threading.Timer] = []

    def restart(i: int) -> None:
        if i == count // 2 + batch_size // 2:
            pg_ctl("stop")
            timer = threading.Timer(1.0, pg_ctl, ("start",))
            timer.start()
            starter.append(timer)

    with reader_store(url) as store:  # default options: pool_pre_ping on
        try:
            return run_query(store, count, batch_size, restart, retries=8, backoff=0.25)
        finally:
            for timer in starter:
                timer.join()
            ensure_pg_up()


def corrupt_blob(url: str, count: int, batch_size: int) -> dict[str, Any]:
    def corrupt_middle(keys: list[orm_ext.Key]) -> None:
        target = keys[len(keys) // 2]
        table = sa.table("BenchEntity", sa.column("_key_id"), sa.column("_pb"))
        with store.engine.begin() as conn:
            conn.execute(
                sa.update(table).where(table.c._key_id == target.id()).values(_pb=b"\xff\xfe")
            )

    with reader_store(url) as store:
        return run_query(store, count, batch_size, lambda i: None, prepare=corrupt_middle)


class FlakyFeed:
    """Items 0..n-1; every 50th raises a transient ConnectionResetError once (then resumes),
    every 333rd is bad for good (ValueError carrying the item as ``key``; the feed moves on)."""

    def __init__(self, count: int) -> None:
        self.count, self.i = count, 0
        self.reset_done: set[int] = set()

    def __iter__(self) -> FlakyFeed:
        return self

    def __next__(self) -> int:
        i = self.i
        if i >= self.count:
            raise StopIteration
        if i % 50 == 49 and i not in self.reset_done:
            self.reset_done.add(i)
            raise ConnectionResetError(f"feed reset before item {i}")
        self.i += 1
        if i % 333 == 332:
            exc = ValueError(f"item {i} is malformed")
            exc.key = i  # type: ignore[attr-defined]
            raise exc
        return i


def flaky_iterator(_url: str, count: int, _batch_size: int) -> dict[str, Any]:
    it = resilient_query(FlakyFeed(count), backoff=0.001)
    start = time.perf_counter()
    yielded = list(it)
    elapsed = time.perf_counter() - start
    return tally(list(range(count)), yielded, [s.key for s in it.skipped], it, elapsed)


SCENARIOS: list[tuple[str, Callable[[str, int, int], dict[str, Any]]]] = [
    ("backend killed mid-iteration (pg_terminate_backend)", backend_killed),
    ("backend killed every 10% of the way", backend_killed_repeatedly),
    ("server stopped + restarted mid-iteration", server_restart),
    ("one corrupt _pb blob", corrupt_blob),
    ("flaky generic iterator (resets + bad items)", flaky_iterator),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    # Skips are logged at WARNING on "orm_ext.resilient": show them on stderr, apart from the table.
    logging.basicConfig(level=logging.WARNING, format="  log %(levelname)s %(name)s: %(message)s")
    rows = []
    with bench_database() as url:
        for name, scenario in SCENARIOS:
            rows.append((name, scenario(url, args.entities, args.batch_size)))
    header = (
        "fault",
        "expected",
        "yielded",
        "lost",
        "duplicates",
        "skipped",
        "retried",
        "in order",
        "s",
    )
    lines = [
        (
            name,
            str(r["expected"]),
            str(r["yielded"]),
            str(r["lost"]),
            str(r["duplicates"]),
            str(r["skipped"]),
            str(r["retried"]),
            "yes" if r["in_order"] else "NO",
            f"{r['seconds']:.2f}",
        )
        for name, r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def fmt(cells: tuple[str, ...]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
            )
            + " |"
        )

    print(
        f"resilient_query fault injection: PostgreSQL {server_version()}, "
        f"{args.entities} entities, batch_size={args.batch_size}"
    )
    print(fmt(header))
    print(
        "|"
        + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths))
        + "|"
    )
    for line in lines:
        print(fmt(line))
    bad = [name for name, r in rows if r["lost"] or r["duplicates"] or not r["in_order"]]
    if bad:
        print(f"FAILED: lost, repeated or reordered entities in: {', '.join(bad)}")
        return 1
    return 0


def server_version() -> str:
    engine = sa.create_engine(ADMIN_URL, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SHOW server_version").scalar()
    engine.dispose()
    return str(version).split()[0]


if __name__ == "__main__":
    sys.exit(main())
