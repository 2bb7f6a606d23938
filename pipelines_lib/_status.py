"""What users read: status(), wait(), abort(), and the tree as text.

status() reads the whole tree in one query (no args, one row per pipeline),
so a page polling a 160-child tree costs one indexed SELECT.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import sqlalchemy as sa

from pipelines_lib._errors import PipelineNotFound, PipelineTimeout
from pipelines_lib._schema import pipelines
from pipelines_lib._store import get_store

__all__ = ["PipelineStatus", "abort", "status", "wait"]

P = pipelines.c

# Engine state -> what users see.
_VISIBLE = {
    "waiting": "waiting",
    "ready": "waiting",
    "retry": "running",
    "running": "running",
    "lost": "running",
    "children": "running",
    "finalizing": "running",
}


@dataclasses.dataclass(frozen=True)
class PipelineStatus:
    """One pipeline's state, with its children's, as :func:`status` returns it.

    Attributes:
        pipeline_id: The id.
        name: ``module:Class`` of the pipeline.
        status: ``waiting``, ``running``, ``done``, ``failed`` or ``aborted``.
        output: The recorded output (``None`` until done; a soft failure's default).
        attempts: Attempts started so far.
        max_attempts: Attempts allowed.
        error: Traceback text of the last failed attempt (or why the tree was aborted).
        children: The children's statuses, in the order they were yielded.
        started_at: Epoch seconds of the first attempt, or None.
        ended_at: Epoch seconds it ended, or None.
    """

    pipeline_id: str
    name: str
    status: str
    output: Any
    attempts: int
    max_attempts: int
    error: str | None
    children: tuple[PipelineStatus, ...] = ()
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def ended(self) -> bool:
        """Whether the pipeline reached done, failed or aborted."""
        return self.status in ("done", "failed", "aborted")

    def counts(self) -> dict[str, int]:
        """How many pipelines of this subtree (itself included) are in each status."""
        out: dict[str, int] = {}
        stack = [self]
        while stack:
            node = stack.pop()
            out[node.status] = out.get(node.status, 0) + 1
            stack.extend(node.children)
        return out

    def format(self, indent: int = 0) -> str:
        """The tree as text, one line per pipeline, the last error line shown.

        Example:
            >>> print(pipelines_lib.status(pid).format())  # doctest: +SKIP
            3f2a... FetchAll done attempts=1/3
              91bc... FetchBatch failed attempts=3/3 error: RateLimited: quota
        """
        name = self.name.rpartition(":")[2]
        line = f"{'  ' * indent}{self.pipeline_id} {name} {self.status} attempts={self.attempts}/{self.max_attempts}"
        if self.error:
            lines = self.error.strip().splitlines()
            line += f" error: {lines[-1] if lines else ''}"
        return "\n".join([line, *(c.format(indent + 1) for c in self.children)])


def _root_of(conn: sa.Connection, pid: str) -> str:
    root = conn.execute(sa.select(P.root_id).where(P.id == pid)).scalar()
    if root is None:
        raise PipelineNotFound(
            f"status({pid!r}): no pipeline has this id in the state database "
            f"{get_store().engine.url.render_as_string(hide_password=True)!r}; check the id and "
            "PIPELINES_STATE_URL."
        )
    return root


def status(pipeline_id: str) -> PipelineStatus:
    """The status of a pipeline and its whole subtree.

    Args:
        pipeline_id: An id from :meth:`Pipeline.start` (or a child's id).

    Returns:
        The pipeline's :class:`PipelineStatus`, children included.

    Raises:
        PipelineNotFound: No such id (a ``KeyError``).

    Example:
        >>> s = pipelines_lib.status(pid)  # doctest: +SKIP
        >>> s.status, s.counts()  # doctest: +SKIP
        ('running', {'running': 3, 'done': 158})
    """
    with get_store().read() as conn:
        root = _root_of(conn, pipeline_id)
        rows = conn.execute(
            sa.select(
                P.id,
                P.parent_id,
                P.idx,
                P.class_path,
                P.state,
                P.outcome,
                P.output,
                P.attempts,
                P.max_attempts,
                P.error,
                P.started_at,
                P.ended_at,
            ).where(P.root_id == root)
        ).all()
    kids: dict[str | None, list[Any]] = {}
    by_id = {}
    for r in rows:
        kids.setdefault(r.parent_id, []).append(r)
        by_id[r.id] = r

    def build(r: Any) -> PipelineStatus:
        children = sorted(kids.get(r.id, ()), key=lambda c: c.idx)
        return PipelineStatus(
            pipeline_id=r.id,
            name=r.class_path,
            status=r.outcome if r.state == "ended" else _VISIBLE.get(r.state, r.state),
            output=json.loads(r.output) if r.output is not None and r.state == "ended" else None,
            attempts=r.attempts,
            max_attempts=r.max_attempts,
            error=r.error,
            children=tuple(build(c) for c in children),
            started_at=r.started_at,
            ended_at=r.ended_at,
        )

    return build(by_id[pipeline_id])


def wait(pipeline_id: str, timeout: float | None = None, poll: float = 0.05) -> PipelineStatus:
    """Block until the pipeline (and so its whole subtree) ended; its status.

    Args:
        pipeline_id: The id to wait for.
        timeout: Seconds to wait at most; ``None`` waits for ever.
        poll: First polling interval; it grows to 0.5 s.

    Returns:
        The final :class:`PipelineStatus` (``done``, ``failed`` or ``aborted``).

    Raises:
        PipelineTimeout: Not ended in time (a ``TimeoutError``).
        PipelineNotFound: No such id.

    Example:
        >>> result = pipelines_lib.wait(pid, timeout=300)  # doctest: +SKIP
        >>> result.status  # doctest: +SKIP
        'done'
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    store = get_store()
    while True:
        try:
            with store.read() as conn:
                state = conn.execute(sa.select(P.state).where(P.id == pipeline_id)).scalar()
        except sa.exc.OperationalError:
            # The database restarting is no reason to stop waiting; the deadline still holds.
            if deadline is not None and time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
            continue
        if state is None:
            with store.read() as conn:
                _root_of(conn, pipeline_id)  # raises PipelineNotFound
        if state == "ended":
            return status(pipeline_id)
        if deadline is not None and time.monotonic() >= deadline:
            current = status(pipeline_id)
            raise PipelineTimeout(
                f"wait({pipeline_id!r}, timeout={timeout!r}): the pipeline is still "
                f"{current.status} ({current.counts()}); wait longer, check that a worker "
                "consumes its queue (python -m pipelines_lib worker), or abort() it."
            )
        time.sleep(poll)
        poll = min(poll * 1.5, 0.5)


def abort(pipeline_id: str, reason: str = "abort() was called") -> bool:
    """Stop the tree *pipeline_id* belongs to: running tasks finish, nothing new starts.

    Every pipeline not yet started ends ``aborted`` (its ``finalized()`` runs),
    parents end ``aborted`` once their children ended.

    Args:
        pipeline_id: The root's id or any pipeline's in the tree.
        reason: Stored as the root's error text.

    Returns:
        True if this call aborted the tree; False if it had ended (or its children all
        ended done, only its finalized() left) or was already aborted.

    Example:
        >>> pipelines_lib.abort(pid)  # doctest: +SKIP
        True
    """
    from pipelines_lib._engine import abort_tree, publish_ids

    store = get_store()
    with store.write() as conn:
        root = _root_of(conn, pipeline_id)
        # Locked (PostgreSQL, MySQL): a worker ending the root between this read and
        # abort_tree would otherwise get "aborted" written on a tree that ended done.
        row = conn.execute(
            sa.select(P.queue, P.state, P.outcome, P.abort_requested)
            .where(P.id == root)
            .with_for_update()
        ).one()
        finished = row.state == "ended" or (row.state == "finalizing" and row.outcome == "done")
        if finished or row.abort_requested:
            return False
        ids = abort_tree(conn, root, reason)
    publish_ids(ids, row.queue)
    return True
