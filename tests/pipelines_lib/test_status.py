"""status(), wait(), abort(): what users and the status page read."""

from __future__ import annotations

import time

import pytest

import pipelines_lib
from tests.pipelines_lib import sample_pipelines as s


def test_status_of_an_unknown_id_is_a_key_error_naming_it(redis_broker):
    with pytest.raises(KeyError) as info:
        pipelines_lib.status("nope")
    assert isinstance(info.value, pipelines_lib.PipelineNotFound)
    assert "'nope'" in str(info.value) and "check the id" in str(info.value)


def test_wait_raises_timeout_error_while_the_tree_runs(redis_broker):
    pid = s.Stamp("slow", 2.0).start()
    with pytest.raises(TimeoutError) as info:
        pipelines_lib.wait(pid, timeout=0.3)
    assert isinstance(info.value, pipelines_lib.PipelineTimeout)
    assert pid in str(info.value) and "abort()" in str(info.value)
    assert pipelines_lib.wait(pid, timeout=30).status == "done"


def test_status_shows_waiting_running_and_done_children_while_a_tree_runs(redis_broker):
    pid = s.InOrderParent().start()
    seen: set[str] = set()
    while True:
        st = pipelines_lib.status(pid)
        seen.update(c.status for c in st.children[:3])
        if st.ended:
            break
        time.sleep(0.02)
    assert {"waiting", "running", "done"} <= seen


def test_abort_lets_running_tasks_finish_and_starts_nothing_new(redis_broker, tmp_path):
    pid = s.SlowFanOut(12, 0.4, str(tmp_path)).start()
    while not any(c.status == "done" for c in pipelines_lib.status(pid).children):
        time.sleep(0.02)
    assert pipelines_lib.abort(pid) is True
    # A worker may claim a child while abort() runs (that child is running, so it
    # finishes); once abort() has returned, nothing new starts.
    aborted_at = time.time()
    result = pipelines_lib.wait(pid, timeout=60)
    assert result.status == "aborted"
    *children, collect = result.children
    done = [c for c in children if c.status == "done"]
    assert done and all(c.started_at < aborted_at for c in done)
    assert {c.status for c in children} == {"done", "aborted"}
    # Nothing started after abort() returned: an aborted child either never ran, or its
    # attempt began before the abort (one lost to a slow lease renewal on a loaded machine).
    assert all(
        c.started_at is None or c.started_at < aborted_at for c in children if c.status == "aborted"
    )
    assert collect.status == "aborted" and "abort() was called" in result.error
    assert pipelines_lib.abort(pid) is False  # already ended


def test_format_prints_one_line_per_pipeline_with_the_last_error_line(redis_broker):
    result = pipelines_lib.wait(s.SoftParent(2).start(), timeout=60)
    lines = result.format().splitlines()
    assert len(lines) == 1 + 4
    assert lines[0].startswith(f"{result.pipeline_id} SoftParent done")
    assert "AlwaysFails failed attempts=3/3 error: RuntimeError: quota exceeded" in lines[3]
    assert result.counts() == {"done": 4, "failed": 1}
