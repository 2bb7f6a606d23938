"""Arguments and outputs are JSON; classes are found by import path."""

from __future__ import annotations

import pytest

import pipelines_lib
from pipelines_lib import Pipeline, _codec
from tests.pipelines_lib import sample_pipelines as s


def test_arguments_that_are_not_json_are_refused_at_start_naming_them(restore_settings):
    with pytest.raises(TypeError) as info:
        s.Square({1, 2}).start()
    assert isinstance(info.value, pipelines_lib.SerializationError)
    assert "Square.start()" in str(info.value) and "{1, 2}" in str(info.value)


def test_an_output_that_is_not_json_fails_the_attempt_with_the_reason(redis_broker):
    result = pipelines_lib.wait(ReturnsASet().start(), timeout=60)
    assert result.status == "failed"
    assert "output {1} cannot be stored as JSON" in result.error


class ReturnsASet(Pipeline):
    max_attempts = 1

    def run(self):
        return {1}


def test_a_class_path_round_trips_through_import():
    path = _codec.class_path(s.Batch)
    assert path == "tests.pipelines_lib.sample_pipelines:Batch"
    assert _codec.load_class(path) is s.Batch


def test_an_unknown_class_path_names_the_path_and_the_fix():
    with pytest.raises(ImportError, match=r"'no_such_module:X'.*PYTHONPATH"):
        _codec.load_class("no_such_module:X")
