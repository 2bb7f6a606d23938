"""Run the demo as a newcomer does: ``python -m example_app demo`` in a fresh directory.

Each run gets an empty working directory (a clean checkout's state: no
database files) and an environment without ``DATABASE_URL`` or
``PIPELINES_*`` unless the test sets them, so the embedded defaults are what
runs. The PostgreSQL + Redis backend gets a database created for this run
(and dropped after it), a Redis DB number and queue of its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import services

ROOT = Path(__file__).resolve().parents[2]
RUN = os.getpid()
_PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
_OWN_VARS = ("DATABASE_URL", "PIPELINES_", "EXAMPLE_APP_", "DJANGO_SETTINGS_MODULE")


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without the demo's own settings, plus *extra*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_VARS)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class DemoRun:
    """A finished ``demo --no-serve`` run: its printout and what it stored."""

    backend: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    stored: dict = field(default_factory=dict)

    def number(self, pattern: str) -> float:
        """The number the first group of *pattern* matches in stdout (fails with the printout)."""
        found = re.search(pattern, self.stdout)
        assert found, (
            f"{pattern!r} not in the demo's printout:\n{self.stdout}\n{self.stderr[-2000:]}"
        )
        return float(found.group(1).replace(",", ""))


def inspect_store(cwd: Path, env: dict[str, str]) -> dict:
    """What the demo stored (see tests/example_app/inspect_store.py)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.example_app.inspect_store"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_demo(cwd: Path, env: dict[str, str], *args: str, timeout: float = 240) -> DemoRun:
    """``python -m example_app demo --no-serve ARGS`` in *cwd*; its printout and stored data."""
    import time

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "example_app", "demo", "--no-serve", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    run = DemoRun("", done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    if done.returncode == 0:
        run.stored = inspect_store(cwd, env)
    return run


@pytest.fixture(scope="module")
def postgresql_redis_env() -> Iterator[dict[str, str]]:
    """Env for the production switch: a PostgreSQL database of this run, Redis broker."""
    services.require("postgresql")
    services.require("redis")
    name = f"protolens_demo_{RUN}"
    admin = sa.create_engine(_PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        yield {
            "DATABASE_URL": url,
            "PIPELINES_STATE_URL": url,
            # DBs 0-7 by run (the pipelines tests use 8-15); the queue is this run's alone.
            "PIPELINES_BROKER_URL": f"redis://127.0.0.1:6379/{RUN % 8}",
            "PIPELINES_QUEUE": f"protolens-demo-test-{RUN}",
        }
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
