"""The engine's fault rules: soft retry, hard failure, backoff, retry signal, duplicates, finalized."""

from __future__ import annotations

import json
import time

import pipelines_lib
from pipelines_lib import _app
from tests.pipelines_lib import sample_pipelines as s


def test_soft_retry_failure_ends_failed_while_siblings_and_parent_finish(broker):
    result = pipelines_lib.wait(s.SoftParent(20).start(), timeout=90)
    assert result.status == "done"
    *batches, failing, _collect = result.children
    assert [b.output for b in batches] == [[i * 2] for i in range(20)]
    assert failing.status == "failed" and failing.attempts == 3
    assert failing.output == "fallback"  # default_output
    assert "RuntimeError: quota exceeded for youtube" in failing.error
    assert "Traceback (most recent call last)" in failing.error
    assert result.output[-1] == "fallback"


def test_soft_retry_logs_every_failed_attempt_with_id_and_attempt(broker, session_workers):
    pid = s.SoftParent(1).start()
    result = pipelines_lib.wait(pid, timeout=90)
    failing = result.children[1]
    log = session_workers[broker.kind][1].log()
    for attempt in (1, 2):
        assert f"pipeline {failing.pipeline_id} (AlwaysFails) attempt {attempt} of 3 failed" in log
    assert f"pipeline {failing.pipeline_id} (AlwaysFails) failed on its final attempt 3 of 3" in log
    assert "RuntimeError: quota exceeded" in log


def test_hard_failure_after_the_last_attempt_aborts_the_root(broker):
    result = pipelines_lib.wait(s.HardParent().start(), timeout=90)
    slow, bad, never = result.children
    assert result.status == "aborted"
    assert bad.status == "failed" and bad.attempts == 2 and "ValueError: bad data" in bad.error
    assert never.status == "aborted" and never.attempts == 0  # nothing new starts
    assert slow.status == "done"  # what was running finishes
    assert (
        f"pipeline {bad.pipeline_id} (HardFails) failed on its final attempt 2 of 2" in result.error
    )


def test_backoff_waits_are_computed_to_the_millisecond_not_whole_seconds(redis_broker, tmp_path):
    log = tmp_path / "attempts.txt"
    result = pipelines_lib.wait(s.Backoff(str(log)).start(), timeout=60)
    assert result.status == "done"
    t1, t2, t3 = (float(x) for x in log.read_text().split())
    # backoff_seconds=0.3, factor 2: waits of 0.3 s then 0.6 s (Celery's autoretry would say 0 or 1).
    assert 0.28 <= t2 - t1 < 0.9
    assert 0.58 <= t3 - t2 < 1.2


def test_retry_signal_uses_its_countdown_and_counts_an_attempt(redis_broker):
    started = time.monotonic()
    result = pipelines_lib.wait(s.RetrySignal().start(), timeout=20)
    assert result.status == "done" and result.output == 2 and result.attempts == 2
    assert result.error == "Retry: not ready yet"  # no traceback for a control-flow signal
    assert time.monotonic() - started < 10  # the 30 s backoff was not used


def test_duplicate_deliveries_record_each_output_once(redis_broker, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    pid = s.SlowFanOut(10, 0.3, str(runs)).start()
    # Deliver every record's step again and again while the tree runs.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        st = pipelines_lib.status(pid)
        ids = [st.pipeline_id, *(c.pipeline_id for c in st.children)]
        _app.publish(ids, redis_broker.queue)
        time.sleep(0.2)
    result = pipelines_lib.wait(pid, timeout=60)
    assert result.status == "done"
    assert result.output == list(range(10))
    assert all(c.attempts == 1 for c in result.children)
    assert all((runs / str(i)).read_text() == "run\n" for i in range(10))


def test_finalized_runs_once_per_pipeline_after_its_children(redis_broker, tmp_path):
    path = tmp_path / "finalized.jsonl"
    result = pipelines_lib.wait(s.RecorderParent(str(path)).start(), timeout=60)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in records] == [result.children[0].pipeline_id, result.pipeline_id]
    child, parent = records
    assert child["outcome"] == "done" and child["output"] == "leaf"
    # The parent's hook sees every child's outcome, the soft failure included.
    assert parent["outcome"] == "done" and parent["children"] == ["done", "failed"]
    assert parent["output"] == "fallback"
