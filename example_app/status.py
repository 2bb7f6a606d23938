"""A pipeline tree as the status page and its JSON show it."""

from __future__ import annotations

import time
from typing import Any

import pipelines_lib

__all__ = ["tree_json"]


def _last_line(error: str | None) -> str | None:
    if not error:
        return None
    lines = error.strip().splitlines()
    return lines[-1] if lines else None


def _node(st: pipelines_lib.PipelineStatus) -> dict[str, Any]:
    return {
        "id": st.pipeline_id,
        "name": st.name.rpartition(":")[2],
        "status": st.status,
        "attempts": st.attempts,
        "max_attempts": st.max_attempts,
        "error": _last_line(st.error),
    }


def tree_json(pipeline_id: str) -> dict[str, Any]:
    """The root, its children, counts and (once done) the summary output.

    Raises:
        pipelines_lib.PipelineNotFound: No pipeline has this id.
    """
    st = pipelines_lib.status(pipeline_id)
    children = [_node(c) for c in st.children]
    batches = [c for c in children if c["name"] == "FetchStats"]
    counts = {s: 0 for s in ("waiting", "running", "done", "failed", "aborted")}
    for child in batches:
        counts[child["status"]] = counts.get(child["status"], 0) + 1
    aggregate = next((c for c in children if c["name"] == "Aggregate"), None)
    end = st.ended_at or time.time()
    return {
        **_node(st),
        "ended": st.ended,
        "elapsed": round(end - st.started_at, 1) if st.started_at else 0.0,
        "output": st.output,
        "batches": {
            "total": len(batches),
            "ended": counts["done"] + counts["failed"] + counts["aborted"],
            "retried": sum(1 for c in batches if c["attempts"] > 1),
            **counts,
        },
        "aggregate": aggregate,
        "children": children,
    }
