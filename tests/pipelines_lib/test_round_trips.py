"""The hot path's cost in state-database round trips, counted in-process on each state database.

A child's step (claim, run, record its output, count it at its dependents' and
its parent's barriers) is what a fan-out of 160 children pays 160 times; on a
networked database each statement and each explicit transaction (BEGIN and
COMMIT) is a round trip. These tests run the engine's steps in this process
(publishing is recorded, not sent) and count what reaches the database, so a
change that adds a round trip per child fails here rather than only in the
bench. They also drive a task that runs twice, to show the leaner path still
records an output and counts it at the barriers exactly once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from sqlalchemy import event

import pipelines_lib
from pipelines_lib import _app, _config, _engine, _sweeper
from pipelines_lib._schema import pipelines
from pipelines_lib._store import get_store
from tests.conftest import BACKENDS, database_url
from tests.pipelines_lib import sample_pipelines as s

P = pipelines.c
CHILDREN = 12

# Per ordinary child step (not the last one, which also wakes its parent): at most this
# many statements, and this many explicit transactions (each is BEGIN + COMMIT: two more
# round trips on a server; on SQLite they are local calls).
BUDGET = {
    # Claim: one autocommit UPDATE ... RETURNING. End: one transaction of three UPDATEs
    # (the output, the dependents' counters with RETURNING, the parent's barrier).
    "postgresql": (4, 1),
    # The same statements; SQLite takes its write lock up front (BEGIN IMMEDIATE), so
    # the claim keeps its own transaction.
    "sqlite": (4, 2),
    # MariaDB has no UPDATE ... RETURNING: each conditional UPDATE is followed by a SELECT.
    "mysql": (8, 2),
}


@dataclass
class Counter:
    """Statements and explicit transactions an engine runs while ``on`` is set."""

    on: bool = False
    thread: int = 0  # only the measured call's thread counts (not the lease renewer's)
    statements: list[str] = field(default_factory=list)
    transactions: int = 0

    def attach(self, engine: sa.Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def detach(self, engine: sa.Engine) -> None:
        event.remove(engine, "before_cursor_execute", self._statement)
        event.remove(engine, "commit", self._commit)

    def _statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        # SQLite's BEGIN IMMEDIATE is sent as a statement; it is counted as the transaction.
        if (
            self.on
            and threading.get_ident() == self.thread
            and not statement.lstrip().upper().startswith("BEGIN")
        ):
            self.statements.append(statement)

    def _commit(self, conn: sa.Connection) -> None:
        # An autocommit connection's COMMIT is a no-op in the driver: not a round trip.
        if (
            self.on
            and threading.get_ident() == self.thread
            and conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT"
        ):
            self.transactions += 1

    def measure(self, fn, *args) -> tuple[int, int]:
        """(statements, transactions) that ``fn(*args)`` costs."""
        self.statements.clear()
        self.transactions = 0
        self.thread = threading.get_ident()
        self.on = True
        try:
            fn(*args)
        finally:
            self.on = False
        return len(self.statements), self.transactions


@dataclass
class InProcess:
    """Steps run here: the state backend, what was published, and the counter."""

    backend: str
    queue: str
    published: list[str]
    counter: Counter

    def drain(self) -> None:
        """Run every published step (and what they publish) until nothing is left."""
        while self.published:
            _engine.step(self.published.pop(0))


@pytest.fixture(params=BACKENDS)
def inproc(request, tmp_path_factory, monkeypatch) -> Iterator[InProcess]:
    backend = request.param
    url = database_url(backend, tmp_path_factory)
    queue = f"pl-roundtrips-{backend}-{os.getpid()}"
    # No message leaves this process; long leases keep the heartbeat thread quiet.
    pipelines_lib.configure("redis://127.0.0.1:6379/15", url, queue=queue, lease_seconds=600)
    published: list[str] = []
    monkeypatch.setattr(_app, "publish", lambda ids, q, countdown=None: published.extend(ids))
    engine = get_store().engine
    counter = Counter()
    counter.attach(engine)
    yield InProcess(backend, queue, published, counter)
    counter.detach(engine)
    _config.reset_for_tests()


def _spawned(inproc: InProcess) -> tuple[str, list[str]]:
    """Start a FanOut, step its root (it spawns), return the root id and its batch ids."""
    pid = s.FanOut(CHILDREN * 2, 2).start()
    assert inproc.published == [pid]
    _engine.step(inproc.published.pop())
    batches = list(inproc.published)
    inproc.published.clear()
    assert len(batches) == CHILDREN  # the Collect waits: it is not published yet
    return pid, batches


def test_a_child_step_costs_a_fixed_small_number_of_round_trips(inproc):
    pid, batches = _spawned(inproc)
    max_statements, max_transactions = BUDGET[inproc.backend]
    costs = [inproc.counter.measure(_engine.step, b) for b in batches[:-1]]
    print(f"{inproc.backend}: (statements, transactions) per child step: {costs[0]}")
    detail = "\n".join(inproc.counter.statements)
    assert all(stmts <= max_statements for stmts, _ in costs), (costs, detail)
    assert all(txs <= max_transactions for _, txs in costs), (costs, detail)
    assert inproc.published == []  # nothing to wake until the last child
    # The last child also makes the Collect ready: the same UPDATE does it (MariaDB: one
    # more, it marks the ready waiter after reading which counter reached zero).
    stmts, txs = inproc.counter.measure(_engine.step, batches[-1])
    extra = 0 if get_store().update_returning else 1
    assert (stmts, txs) == (costs[0][0] + extra, costs[0][1]), inproc.counter.statements
    assert len(inproc.published) == 1
    inproc.drain()
    result = pipelines_lib.status(pid)
    assert result.status == "done"
    assert result.output == [[i * 2, i * 2 + 2] for i in range(0, CHILDREN * 2, 2)]


def test_a_task_that_runs_twice_records_its_output_and_barrier_count_once(inproc):
    pid, batches = _spawned(inproc)
    first = batches[0]
    # Worker 1 claims the child and "hangs" in run(); its lease runs out.
    row = _engine._claim_ready(first, "a" * 32, _engine._now())
    assert row is not None and row.attempts == 1
    assert _engine._claim_ready(first, "b" * 32, _engine._now()) is None  # claimed once
    assert first in _sweeper.sweep_once([inproc.queue], now=_engine._now() + 10_000)
    inproc.published.clear()
    # The redelivered task finds the attempt lost, retries it and ends the child.
    _engine.step(first)  # lost -> retry (published at once)
    _engine.step(inproc.published.pop())  # retry -> running -> ended
    # Worker 1 wakes up and finishes with a different output: dropped, not counted.
    _engine._end_now(row, "a" * 32, "done", '"stale"', None)
    with get_store().read() as conn:
        child = conn.execute(sa.select(P.state, P.output, P.attempts).where(P.id == first)).one()
        parent = conn.execute(sa.select(P.pending_children).where(P.id == pid)).scalar_one()
        collect = conn.execute(
            sa.select(P.pending_deps).where(P.parent_id == pid, P.idx == CHILDREN)
        ).scalar_one()
    assert child.state == "ended" and child.output == "[0,2]" and child.attempts == 2
    assert parent == CHILDREN  # CHILDREN + 1 children, one ended
    assert collect == CHILDREN - 1
    # A late duplicate of the ended child's task changes nothing.
    _engine.step(first)
    for b in batches[1:]:
        _engine.step(b)
    inproc.drain()
    result = pipelines_lib.status(pid)
    assert result.status == "done"
    assert result.output[0] == [0, 2] and len(result.output) == CHILDREN
