"""Leases and the sweeper: a SIGKILLed worker's tree completes; lost messages come back."""

from __future__ import annotations

import json
import threading
import time

import sqlalchemy as sa

import pipelines_lib
from pipelines_lib import _config, _engine, _sweeper
from pipelines_lib._schema import pipelines
from pipelines_lib._store import get_store
from tests.pipelines_lib import sample_pipelines as s
from tests.pipelines_lib.conftest import wait_ready

N = 30


def test_sigkilled_worker_tree_completes_after_restart_with_each_output_once(
    broker, make_worker, tmp_path
):
    queue = f"{broker.queue}-kill"
    runs = tmp_path / "runs"
    runs.mkdir()
    worker = make_worker(broker, queue)
    wait_ready(broker, worker, queue)
    broker.configure(queue)
    pid = s.SlowFanOut(N, 0.3, str(runs)).start()
    deadline = time.monotonic() + 60
    while sum(c.status == "done" for c in pipelines_lib.status(pid).children) < 6:
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.05)
    worker.kill()
    assert pipelines_lib.status(pid).status == "running"

    restarted = time.monotonic()
    make_worker(broker, queue)
    result = pipelines_lib.wait(pid, timeout=120)
    assert time.monotonic() - restarted < 120
    assert result.status == "done"
    *children, _collect = result.children
    assert len(children) == N  # no child spawned twice
    assert [c.output for c in children] == list(range(N))  # every output, once
    assert result.output == list(range(N))
    # The kill landed mid-run: some attempt was lost with the worker and run again.
    lost = [c for c in children if c.attempts == 2]
    assert lost and all("was lost" in c.error for c in lost)
    assert all((runs / str(i)).exists() for i in range(N))


def test_a_running_task_keeps_its_lease_past_the_lease_length(broker, make_worker):
    queue = f"{broker.queue}-lease"
    # Leases of 2 s swept every 0.5 s: without heartbeats a 3 s run would be declared lost.
    worker = make_worker(broker, queue, PIPELINES_LEASE_SECONDS="2", PIPELINES_SWEEP_SECONDS="0.5")
    wait_ready(broker, worker, queue)
    broker.configure(queue)
    result = pipelines_lib.wait(s.Stamp("long", 3.0).start(), timeout=60)
    assert result.status == "done" and result.attempts == 1 and result.error is None


def test_sweep_republishes_an_expired_record_once_per_expiry(embedded):
    _config.configure(embedded.broker_url, embedded.state_url, queue=f"{embedded.queue}-nobody")
    pid = s.Square(2).start()  # no worker consumes this queue: the message just sits
    queue = _config.get_settings().queue
    later = time.time() + 1000
    assert _sweeper.sweep_once([queue], now=later) == [pid]
    assert _sweeper.sweep_once([queue], now=later) == []  # lease moved on: not twice
    with get_store().read() as conn:
        publishes = conn.execute(
            sa.select(pipelines.c.publishes).where(pipelines.c.id == pid)
        ).scalar_one()
    assert publishes == 2


def test_the_embedded_broker_table_is_trimmed_of_delivered_messages(embedded):
    pipelines_lib.wait(s.FanOut(400, 25).start(), timeout=60)
    engine = sa.create_engine(_config.get_settings().sqla_broker_db_url)
    try:
        deadline = time.monotonic() + 20
        while True:
            with engine.connect() as conn:
                delivered = conn.execute(
                    sa.text("SELECT count(*) FROM kombu_message WHERE visible = 0")
                ).scalar_one()
            if delivered == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    assert delivered == 0


def test_a_lost_attempt_in_an_aborted_tree_still_runs_finalized(tmp_path, restore_settings):
    # No worker: the test plays one that claims the record and dies, then the sweeper.
    pipelines_lib.configure(
        f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        f"sqlite:///{tmp_path / 'state.db'}",
        queue="pl-lost-aborted",
    )
    path = tmp_path / "finalized.jsonl"
    pid = s.Recorder(str(path)).start()
    assert _engine._claim_ready(pid, "0" * 32, time.time()) is not None  # its worker dies
    assert pipelines_lib.abort(pid)
    assert _sweeper.sweep_once(["pl-lost-aborted"], now=time.time() + 1000) == [pid]
    _engine.step(pid)
    result = pipelines_lib.status(pid)
    assert result.status == "aborted"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["id"], r["outcome"]) for r in records] == [(pid, "aborted")]


def test_a_collect_whose_worker_died_runs_again_instead_of_aborting_the_tree(
    tmp_path, restore_settings
):
    pipelines_lib.configure(
        f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        f"sqlite:///{tmp_path / 'state.db'}",
        queue="pl-lost-collect",
    )
    pid = pipelines_lib.Collect(1, 2).start()
    assert _engine._claim_ready(pid, "0" * 32, time.time()) is not None  # its worker dies
    assert _sweeper.sweep_once(["pl-lost-collect"], now=time.time() + 1000) == [pid]
    _engine.step(pid)  # the lost attempt is counted and retried (state retry, no countdown)
    _engine.step(pid)
    result = pipelines_lib.status(pid)
    assert (result.status, result.output, result.attempts) == ("done", [1, 2], 2)


def test_finalized_after_a_lost_final_attempt_keeps_its_lease(tmp_path, restore_settings):
    # The lost attempt was the last one: the step that notices it runs finalized(). If that
    # takes longer than a lease and nothing renews it, the sweeper calls it lost again and
    # again: the record never ends.
    pipelines_lib.configure(
        f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        f"sqlite:///{tmp_path / 'state.db'}",
        queue="pl-lost-final",
        lease_seconds=0.6,
        sweep_seconds=0.1,
    )
    path = tmp_path / "finalized.txt"
    pid = s.OneShotSlowFinalized(str(path), 1.5).start()
    assert _engine._claim_ready(pid, "0" * 32, time.time()) is not None  # its worker dies
    assert _sweeper.sweep_once(["pl-lost-final"], now=time.time() + 1000) == [pid]
    stepping = threading.Thread(target=_engine.step, args=(pid,))
    stepping.start()
    while stepping.is_alive():  # a live worker's sweeper, meanwhile
        _sweeper.sweep_once(["pl-lost-final"])
        time.sleep(0.1)
    result = pipelines_lib.status(pid)
    assert (result.status, result.attempts) == ("failed", 1)
    assert path.read_text() == "failed\n"


def test_a_message_queued_behind_a_backlog_is_republished_less_and_less_often():
    from pipelines_lib._sweeper import _next_lease

    waits = [_next_lease(0.0, n, 20.0) for n in range(1, 10)]
    assert waits[:4] == [20.0, 40.0, 80.0, 160.0]
    # An hour behind a backlog costs a handful of re-sends, not one a minute.
    elapsed, sends = 0.0, 0
    while elapsed < 3600:
        sends += 1
        elapsed = _next_lease(elapsed, sends, 20.0)
    assert sends <= 8
