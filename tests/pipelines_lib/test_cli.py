"""python -m pipelines_lib status|worker."""

from __future__ import annotations

import subprocess
import sys

import pipelines_lib
from tests.pipelines_lib import sample_pipelines as s
from tests.pipelines_lib.conftest import ROOT


def _run(backend, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines_lib", *args],
        env=backend.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_prints_the_tree_one_line_per_pipeline(redis_broker):
    result = pipelines_lib.wait(s.SumOfSquares(1, 2, 3).start(), timeout=60)
    out = _run(redis_broker, "status", result.pipeline_id)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"{result.pipeline_id} SumOfSquares done")
    assert [line.split()[1] for line in lines[1:5]] == ["Square", "Square", "Square", "Add"]
    assert lines[-1] == "done=5"


def test_status_of_an_unknown_id_exits_2_with_the_reason(redis_broker):
    out = _run(redis_broker, "status", "nope")
    assert out.returncode == 2 and "'nope'" in out.stderr


def test_worker_passes_its_options_to_celery_worker(redis_broker):
    out = _run(redis_broker, "worker", "--help")
    assert out.returncode == 0 and "--concurrency" in out.stdout
