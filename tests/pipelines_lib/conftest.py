"""Real workers on real brokers for the pipelines_lib tests.

Three broker kinds: Redis (state in the session's PostgreSQL database),
RabbitMQ (state in the session's MariaDB database) and the embedded default
(SQLite broker and state). Each gets one ``python -m pipelines_lib worker``
subprocess per session, on a queue named after this process so concurrent
runs on the machine never share work. Services that are down are started
(tests.services); a service that cannot start skips, or fails in CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import pipelines_lib
from pipelines_lib import _config
from tests import services
from tests.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]
SESSION = os.getpid()
BROKERS = ("redis", "rabbitmq", "embedded")


@dataclass
class Backend:
    """Where a kind's pipelines run: URLs and queue (the env a worker gets)."""

    kind: str
    broker_url: str
    state_url: str
    queue: str

    def env(self, queue: str | None = None, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(extra)
        env.update(
            PIPELINES_BROKER_URL=self.broker_url,
            PIPELINES_STATE_URL=self.state_url,
            PIPELINES_QUEUE=queue or self.queue,
            PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        )
        return env

    def configure(self, queue: str | None = None) -> None:
        pipelines_lib.configure(self.broker_url, self.state_url, queue=queue or self.queue)


class Worker:
    """A ``python -m pipelines_lib worker`` subprocess in its own process group."""

    def __init__(
        self,
        backend: Backend,
        log_path: Path,
        queue: str | None = None,
        concurrency: int = 2,
        extra_env: dict[str, str] | None = None,
    ):
        self.extra_env = extra_env or {}
        self.backend = backend
        self.queue = queue or backend.queue
        self.log_path = log_path
        self.concurrency = concurrency
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child owns it)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines_lib",
                "worker",
                "-c",
                str(self.concurrency),
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env=self.backend.env(self.queue, **self.extra_env),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once (no cleanup runs)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            # SIGTERM to the main process only: it stops its pool itself. A pool process
            # killed while holding the pool's queue lock would hang the main one's shutdown.
            self.proc.terminate()
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def make_backend(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    queue = f"pl-test-{kind}-{SESSION}"
    if kind == "redis":
        services.require("redis")
        # A DB per session (modulo 8) keeps kombu's shared "unacked" hash apart too.
        return Backend(
            kind,
            f"redis://127.0.0.1:6379/{8 + SESSION % 8}",
            database_url("postgresql", tmp_path_factory),
            queue,
        )
    if kind == "rabbitmq":
        services.require("rabbitmq")
        return Backend(
            kind,
            "amqp://guest:guest@127.0.0.1:5672//",
            database_url("mysql", tmp_path_factory),
            queue,
        )
    tmp = tmp_path_factory.mktemp("embedded")
    return Backend(
        kind, f"sqla+sqlite:///{tmp / 'broker.db'}", f"sqlite:///{tmp / 'state.db'}", queue
    )


def wait_ready(
    backend: Backend, worker: Worker, queue: str | None = None, timeout: float = 60
) -> None:
    """Block until the worker runs a pipeline (it has connected and consumes)."""
    from tests.pipelines_lib.sample_pipelines import Square

    backend.configure(queue)
    try:
        pid = Square(3).start()
        pipelines_lib.wait(pid, timeout=timeout)
    except pipelines_lib.PipelineTimeout:
        pytest.fail(f"worker on {backend.kind} did not start; its log:\n{worker.log()[-3000:]}")
    finally:
        _config.reset_for_tests()


_workers: dict[str, tuple[Backend, Worker]] = {}


@pytest.fixture(scope="session")
def session_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    yield _workers
    for _, worker in _workers.values():
        worker.stop()


def _backend_with_worker(
    kind: str, session_workers: dict, tmp_path_factory
) -> tuple[Backend, Worker]:
    if kind not in session_workers:
        backend = make_backend(kind, tmp_path_factory)
        logs = tmp_path_factory.mktemp(f"logs-{kind}")
        worker = Worker(backend, logs / "worker.log").start()
        session_workers[kind] = (backend, worker)
        wait_ready(backend, worker)
    return session_workers[kind]


def _configured(kind: str, session_workers, tmp_path_factory) -> Iterator[Backend]:
    """*kind* with a running worker and the library configured for it, reset afterwards."""
    backend, _ = _backend_with_worker(kind, session_workers, tmp_path_factory)
    backend.configure()
    yield backend
    _config.reset_for_tests()


@pytest.fixture(params=BROKERS)
def broker(request, session_workers, tmp_path_factory) -> Iterator[Backend]:
    """Each broker kind in turn, with a running worker and the library configured for it."""
    yield from _configured(request.param, session_workers, tmp_path_factory)


@pytest.fixture
def redis_broker(session_workers, tmp_path_factory) -> Iterator[Backend]:
    """Redis with a running worker (for rules that do not depend on the broker)."""
    yield from _configured("redis", session_workers, tmp_path_factory)


@pytest.fixture
def embedded(session_workers, tmp_path_factory) -> Iterator[Backend]:
    """The embedded default (SQLite broker and state) with a running worker."""
    yield from _configured("embedded", session_workers, tmp_path_factory)


@pytest.fixture
def restore_settings() -> Iterator[None]:
    """Put the library's settings back after a test that configures it."""
    yield
    _config.reset_for_tests()


@pytest.fixture
def make_worker(tmp_path) -> Iterator:
    """Start extra workers for one test (stopped after it)."""
    started: list[Worker] = []

    def make(backend: Backend, queue: str, concurrency: int = 2, **extra_env: str) -> Worker:
        worker = Worker(
            backend, tmp_path / f"worker-{len(started)}.log", queue, concurrency, extra_env
        ).start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()
