"""Pipeline, Collect, futures, After, InOrder: on Redis, RabbitMQ and the embedded default."""

from __future__ import annotations

import pytest

import pipelines_lib
from pipelines_lib import After, Future, InOrder, Pipeline
from tests.pipelines_lib import sample_pipelines as s


def test_fan_out_of_160_children_fans_in_every_output_in_yield_order(broker):
    pid = s.FanOut(4000, 25).start()
    result = pipelines_lib.wait(pid, timeout=120)
    assert result.status == "done"
    batches = result.children[:-1]
    assert len(batches) == 160 and all(c.status == "done" for c in batches)
    expected = [[i * 2 for i in range(start, start + 25)] for start in range(0, 4000, 25)]
    assert result.output == expected
    assert [c.output for c in batches] == expected


def test_futures_as_arguments_pass_outputs_positional_keyword_and_nested(broker):
    result = pipelines_lib.wait(s.SumOfSquares(1, 2, 3).start(), timeout=60)
    assert result.status == "done"
    assert result.output == 1 + 4 + 9


def test_after_starts_a_child_only_once_its_futures_ended(broker):
    result = pipelines_lib.wait(s.AfterParent().start(), timeout=60)
    first, second, free = result.output
    assert second["start"] >= first["end"]
    # Without After, a sibling does not wait: "free" started before "first" ended.
    assert free["start"] < first["end"]


def test_in_order_runs_children_one_after_another(broker):
    result = pipelines_lib.wait(s.InOrderParent().start(), timeout=60)
    a, b, c = result.output
    assert [x["tag"] for x in result.output] == ["a", "b", "c"]
    assert b["start"] >= a["end"] and c["start"] >= b["end"]


def test_yielding_a_non_pipeline_fails_the_attempt_with_a_message_naming_it(redis_broker):
    result = pipelines_lib.wait(NotAPipelineParent().start(), timeout=60)
    assert result.status == "failed"
    assert "yielded 42" in result.error and "yield Pipeline instances" in result.error


class NotAPipelineParent(Pipeline):
    max_attempts = 1

    def run(self):
        yield 42


def test_a_pipeline_defined_in_a_function_cannot_start():
    class Local(Pipeline):
        def run(self):
            return 1

    with pytest.raises(
        pipelines_lib.PipelineImportError, match="top level of an importable module"
    ):
        Local().start()


def test_a_future_has_no_truth_value_inside_run():
    with pytest.raises(pipelines_lib.UsageError, match="pass it as an argument"):
        bool(Future("abc", "Square"))


def test_after_outside_a_generator_run_is_a_usage_error():
    with pytest.raises(pipelines_lib.UsageError, match="outside a generator run"), After():
        pass
    with pytest.raises(TypeError), InOrder():
        pass


def test_attempt_hooks_report_the_current_and_final_attempt(redis_broker):
    result = pipelines_lib.wait(s.Flaky().start(), timeout=60)
    assert result.status == "done"
    assert result.output == {"attempt": 3, "final": True}
    assert result.attempts == 3
