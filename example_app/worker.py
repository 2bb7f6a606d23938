"""A ``python -m pipelines_lib worker`` subprocess for the demo, stopped with its pool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["WorkerProcess"]


class WorkerProcess:
    """A Celery worker consuming the pipelines' queue, in its own process group.

    It inherits the environment (``PIPELINES_*``), gets ``DATABASE_URL`` so it
    writes to the store this process reads, and logs to a temporary file whose
    tail :meth:`log_tail` gives when something goes wrong.

    Args:
        database_url: The entity store's URL (absolute for SQLite).
        concurrency: Worker processes (the machine's cores suit the demo).
    """

    def __init__(self, database_url: str, concurrency: int = 2) -> None:
        self.database_url = database_url
        self.concurrency = concurrency
        self.log_path = Path(tempfile.mkstemp(prefix="protolens-demo-worker-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        """Start the worker; returns self."""
        env = dict(os.environ, DATABASE_URL=self.database_url)
        args = [
            sys.executable,
            "-m",
            "pipelines_lib",
            "worker",
            "-c",
            str(self.concurrency),
            "-l",
            "warning",
            "-n",
            f"protolens-demo-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own group: Ctrl-C in the terminal reaches only us, and stop() ends
                # the worker and its pool processes together.
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        """The worker's process id (None before start)."""
        return None if self.proc is None else self.proc.pid

    def check(self) -> None:
        """Raise if the worker has exited.

        Raises:
            RuntimeError: It exited; the message has its status and log tail.
        """
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"the pipelines worker (pid {self.proc.pid}) exited with status "
                f"{self.proc.returncode}; its log {self.log_path}:\n{self.log_tail()}"
            )

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the worker's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, keep_log: bool = False) -> None:
        """Warm shutdown (SIGTERM to the group), SIGKILL after 15 s; idempotent."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        if not keep_log:
            self.log_path.unlink(missing_ok=True)
