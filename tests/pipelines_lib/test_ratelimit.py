"""rate_limit(): one bucket shared by every worker process (Redis, or SQL when embedded)."""

from __future__ import annotations

import itertools
import os
import time

import pytest

import pipelines_lib
from tests.pipelines_lib import sample_pipelines as s


def _gaps(name: str, n: int, per_second: float) -> list[float]:
    result = pipelines_lib.wait(s.LimitedFanOut(name, n, per_second).start(), timeout=60)
    assert result.status == "done"
    times = sorted(result.output)
    return [b - a for a, b in itertools.pairwise(times)]


def test_redis_bucket_spaces_calls_of_all_worker_processes(redis_broker):
    gaps = _gaps(f"rl-redis-{os.getpid()}-{time.time()}", 8, 10)
    # Two pool processes call at once; the shared bucket lets one through per 0.1 s.
    assert min(gaps) >= 0.09
    assert pipelines_lib.get_settings().limiter_url.startswith("redis://")


def test_sql_bucket_spaces_calls_on_the_embedded_default(embedded):
    gaps = _gaps(f"rl-sql-{os.getpid()}-{time.time()}", 8, 10)
    assert min(gaps) >= 0.09
    assert pipelines_lib.get_settings().limiter_url.startswith("sqlite:")


def test_burst_lets_that_many_calls_start_at_once(embedded):
    name = f"rl-burst-{os.getpid()}-{time.time()}"
    waits = [pipelines_lib.reserve(name, per_second=2, burst=3) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.4 <= waits[3] <= 0.5


def test_a_non_positive_rate_is_a_value_error_with_the_fix(embedded):
    with (
        pytest.raises(ValueError, match=r"per_second=0.*must be a positive number"),
        pipelines_lib.rate_limit("x", per_second=0),
    ):
        pass
