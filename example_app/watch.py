"""Follow a pipeline tree with a progress bar until it ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pipelines_lib

from .progress import Progress
from .status import tree_json

__all__ = ["watch_pipeline"]


def watch_pipeline(
    pipeline_id: str,
    timeout: float,
    label: str = "batches refreshed",
    check: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Poll the tree, drawing batches ended/total on stderr; the final tree as JSON.

    Args:
        pipeline_id: The root's id.
        timeout: Seconds to wait for the tree to end.
        label: The progress bar's label.
        check: Called each poll; raise from it to stop waiting (a dead worker).

    Raises:
        pipelines_lib.PipelineTimeout: Not ended in time (a ``TimeoutError``).
    """
    deadline = time.monotonic() + timeout
    bar: Progress | None = None
    while True:
        tree = tree_json(pipeline_id)
        total = tree["batches"]["total"]
        if total and bar is None:
            bar = Progress(label, total)
        if bar is not None:
            bar.update(tree["batches"]["ended"], f"retried {tree['batches']['retried']}")
        if tree["ended"]:
            if bar is not None:
                bar.close(f"retried {tree['batches']['retried']}")
            return tree
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise pipelines_lib.PipelineTimeout(
                f"watch_pipeline({pipeline_id!r}, timeout={timeout!r}): still {tree['status']} "
                f"with {tree['batches']['ended']}/{total} batches ended; is a worker running "
                "(python -m pipelines_lib worker)? See python -m pipelines_lib status "
                f"{pipeline_id}."
            )
        time.sleep(0.25)
