"""``python -m pipelines_lib worker|status``: run a worker, print a tree."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

USAGE = """usage: python -m pipelines_lib worker [celery worker options...]
       python -m pipelines_lib status PIPELINE_ID [--json]

worker  runs `celery worker` for the configured broker (PIPELINES_BROKER_URL) and
        queue (PIPELINES_QUEUE); every option is passed to celery, e.g. -c 2 -l info.
status  prints the tree of a pipeline (PIPELINES_STATE_URL): id, class, status,
        attempts and the last error line of each pipeline.
"""


def _worker(argv: Sequence[str]) -> int:
    from pipelines_lib._app import get_app
    from pipelines_lib._config import get_settings

    # Pipeline classes are imported by path; the current directory is where users expect them.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    args = list(argv)
    if not any(a in ("-Q", "--queues") or a.startswith(("-Q", "--queues=")) for a in args):
        args = ["-Q", get_settings().queue, *args]
    if not any(a in ("-n", "--hostname") or a.startswith(("-n", "--hostname=")) for a in args):
        # Celery names every worker celery@host; two on one host collide on RabbitMQ
        # (the exclusive pidbox queue), so each gets its own name unless one is given.
        args = ["-n", f"pipelines-{os.getpid()}@%h", *args]
    get_app().worker_main(["worker", *args])
    return 0


def _status(argv: Sequence[str]) -> int:
    from pipelines_lib._errors import PipelineNotFound
    from pipelines_lib._status import status

    parser = argparse.ArgumentParser(prog="python -m pipelines_lib status")
    parser.add_argument("pipeline_id")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    opts = parser.parse_args(argv)
    try:
        st = status(opts.pipeline_id)
    except PipelineNotFound as exc:
        print(exc, file=sys.stderr)
        return 2
    if opts.json:
        import dataclasses

        print(json.dumps(dataclasses.asdict(st), indent=2, default=str))
    else:
        print(st.format())
        print(" ".join(f"{k}={v}" for k, v in sorted(st.counts().items())))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pipelines_lib``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "worker":
        return _worker(rest)
    if command == "status":
        return _status(rest)
    print(f"python -m pipelines_lib: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2
