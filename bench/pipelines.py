"""Bench: the seed's fan-out (4,000 ids, 25 per child = 160 children) on Redis, 2 worker processes.

pipelines_lib (state in PostgreSQL, then in SQLite) side by side with a bare
Celery ``chord`` doing the same work in the same run; medians over repeats.
Per-child overhead = (wall - children * work / processes) / children.

Run: ``.venv/bin/python bench/pipelines.py [--repeats 5]`` (needs Redis on
127.0.0.1:6379; PostgreSQL on 5432 for the first row, skipped if down).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from celery import Celery, chord, group

import pipelines_lib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
N_IDS, PER_CHILD, PROCESSES = 4000, 25, 2
WORK_SECONDS = 0.005  # the fixed small piece of work each child does
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "7"))
REDIS = f"redis://127.0.0.1:6379/{REDIS_DB}"
SESSION = os.environ.get("BENCH_SESSION", str(os.getpid()))


def work(ids: list[int]) -> int:
    """Spin for WORK_SECONDS (CPU-bound, like parsing an API response), return a checksum."""
    end = time.perf_counter() + WORK_SECONDS
    while time.perf_counter() < end:
        pass
    return sum(ids)


# ------------------------------------------------------------------ pipelines_lib side


class BenchChild(pipelines_lib.Pipeline):
    def run(self, ids: list[int]) -> int:
        return work(ids)


class BenchFanOut(pipelines_lib.Pipeline):
    def run(self, n_ids: int, per: int):
        futures = []
        for start in range(0, n_ids, per):
            futures.append((yield BenchChild(list(range(start, min(start + per, n_ids))))))
        yield pipelines_lib.Collect(*futures)


# ------------------------------------------------------------------ bare chord side

chord_app = Celery("bench_chord", broker=REDIS, backend=REDIS)
chord_app.conf.update(task_acks_late=True, task_serializer="json", accept_content=["json"])


@chord_app.task(name="bench.child")
def chord_child(ids: list[int]) -> int:
    return work(ids)


@chord_app.task(name="bench.collect")
def chord_collect(results: list[int]) -> list[int]:
    return results


# ------------------------------------------------------------------ driver


def _batches() -> list[list[int]]:
    return [list(range(s, min(s + PER_CHILD, N_IDS))) for s in range(0, N_IDS, PER_CHILD)]


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, env=env, cwd=HERE, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_done(pid: str, timeout: float = 120) -> None:
    """Poll the root's state every 2 ms (wait() backs off to 0.5 s, too coarse to time)."""
    import sqlalchemy as sa

    from pipelines_lib._schema import pipelines
    from pipelines_lib._store import get_store

    deadline = time.monotonic() + timeout
    query = sa.select(pipelines.c.state).where(pipelines.c.id == pid)
    store = get_store()
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            if conn.execute(query).scalar() == "ended":
                return
        time.sleep(0.002)
    raise TimeoutError(f"bench pipeline {pid} did not end in {timeout}s")


def run_pipelines(state_url: str, repeats: int, logdir: Path) -> list[float]:
    queue = f"bench-pl-{SESSION}"
    env = dict(
        os.environ,
        PIPELINES_BROKER_URL=REDIS,
        PIPELINES_STATE_URL=state_url,
        PIPELINES_QUEUE=queue,
        PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]),
    )
    worker = _spawn(
        [
            sys.executable,
            "-m",
            "pipelines_lib",
            "worker",
            "-c",
            str(PROCESSES),
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env,
        logdir / "pipelines-worker.log",
    )
    pipelines_lib.configure(REDIS, state_url, queue=queue)
    import pipelines as me  # this file as a module, so workers find BenchFanOut by path

    times = []
    try:
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            pid = me.BenchFanOut(N_IDS, PER_CHILD).start()
            _wait_done(pid)
            wall = time.perf_counter() - t0
            result = pipelines_lib.status(pid)
            assert result.status == "done" and len(result.output) == len(_batches())
            if i:  # the first run warms the worker up
                times.append(wall)
    finally:
        _stop(worker)
    return times


def run_chord(repeats: int, logdir: Path) -> list[float]:
    queue = f"bench-chord-{SESSION}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    worker = _spawn(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "pipelines:chord_app",
            "worker",
            "-c",
            str(PROCESSES),
            "-Q",
            queue,
            "-n",
            f"bench-chord-{SESSION}@%h",
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env,
        logdir / "chord-worker.log",
    )
    times = []
    try:
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            header = group(chord_child.s(b).set(queue=queue) for b in _batches())
            res = chord(header)(chord_collect.s().set(queue=queue))
            out = res.get(timeout=120)
            wall = time.perf_counter() - t0
            assert len(out) == len(_batches())
            if i:
                times.append(wall)
    finally:
        _stop(worker)
    return times


def _pg_url() -> str | None:
    import sqlalchemy as sa

    name = f"protolens_bench_{SESSION}"
    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError:
        return None
    finally:
        admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop_pg(url: str) -> None:
    import sqlalchemy as sa

    from pipelines_lib import _config

    _config.reset_for_tests()  # closes our engine on it
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    opts = parser.parse_args()
    n = len(_batches())
    ideal = n * WORK_SECONDS / PROCESSES
    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-pipelines-") as tmp:
        logdir = Path(tmp)
        rows.append(("celery chord (redis backend)", run_chord(opts.repeats, logdir)))
        pg = _pg_url()
        if pg:
            try:
                rows.append(
                    ("pipelines_lib, PostgreSQL state", run_pipelines(pg, opts.repeats, logdir))
                )
            finally:
                _drop_pg(pg)
        else:
            print("PostgreSQL is down on 127.0.0.1:5432: its row is skipped")
        sqlite = f"sqlite:///{logdir / 'state.db'}"
        rows.append(("pipelines_lib, SQLite state", run_pipelines(sqlite, opts.repeats, logdir)))
    print(
        f"\n{N_IDS} ids, {PER_CHILD} per child = {n} children, {WORK_SECONDS * 1000:.0f} ms work "
        f"each, {PROCESSES} worker processes, Redis broker; median of {opts.repeats} runs"
    )
    print(f"{'':34} {'wall s':>8} {'overhead/child ms':>18} {'vs chord':>9}")
    chord_wall = statistics.median(rows[0][1])
    chord_over = (chord_wall - ideal) / n
    for name, times in rows:
        wall = statistics.median(times)
        over = (wall - ideal) / n
        print(f"{name:34} {wall:8.3f} {over * 1000:18.2f} {over / chord_over:8.2f}x")
    print(f"(ideal wall with zero overhead: {ideal:.3f} s; ratio is of per-child overheads)")


if __name__ == "__main__":
    main()
