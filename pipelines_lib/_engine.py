"""The state machine behind one Celery task, ``pipelines_lib.step(pipeline_id)``.

Each message only names a record; what happens depends on the record's state,
so a duplicate or late message is harmless. Every transition is a conditional
UPDATE (on the state and the lease token read before), and everything a
transition implies (a parent's barrier, dependents' counters, an abort) happens
in the same transaction: a child's output is recorded once and the barrier
counts it once, however often its task runs. Tasks to publish are returned and
published after commit; a record whose message gets lost keeps an expired
lease and the sweeper republishes it.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import traceback
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from pipelines_lib import _app, _barrier, _codec, _config, _lease
from pipelines_lib._errors import PipelineImportError, Retry, UsageError
from pipelines_lib._pipeline import ChildSpec, Future, Pipeline, _Frame, _frame
from pipelines_lib._schema import deps, pipelines
from pipelines_lib._store import get_store

__all__ = ["abort_tree", "start_root", "step"]

log = logging.getLogger("pipelines_lib")

P = pipelines.c
# A retry message may arrive a little before its time (clock skew between hosts).
_EARLY_OK = 0.25


class _LostLease(Exception):
    """Our claim was taken over (lease expired): drop this result, the new holder decides."""


def _now() -> float:
    return time.time()


def _new_row(
    pipeline: Pipeline,
    pid: str,
    root_id: str,
    parent_id: str | None,
    idx: int,
    queue: str,
    path: str,
    args: str,
    kwargs: str,
    n_deps: int,
    has_dependents: bool,
    now: float,
    queued_lease: float,
) -> dict[str, Any]:
    cls = type(pipeline)
    max_attempts = cls.max_attempts
    if not isinstance(max_attempts, int) or max_attempts < 1:
        raise UsageError(
            f"{cls.__name__}.max_attempts = {max_attempts!r}: set a whole number of attempts >= 1."
        )
    for name in ("backoff_seconds", "backoff_factor"):
        value = getattr(cls, name)
        if not isinstance(value, int | float) or value < 0:
            raise UsageError(f"{cls.__name__}.{name} = {value!r}: set a number >= 0.")
    ready = n_deps == 0
    return {
        "id": pid,
        "root_id": root_id,
        "parent_id": parent_id,
        "idx": idx,
        "queue": queue,
        "class_path": path,
        "args": args,
        "kwargs": kwargs,
        "state": "ready" if ready else "waiting",
        "outcome": None,
        "attempts": 0,
        "max_attempts": max_attempts,
        "backoff_seconds": float(cls.backoff_seconds),
        "backoff_factor": float(cls.backoff_factor),
        "output": None,
        "error": None,
        "pending_deps": n_deps,
        "pending_children": 0,
        "has_dependents": has_dependents,
        "output_child": None,
        "abort_requested": False,
        "lease_until": now + queued_lease if ready else None,
        "lease_token": None,
        "publishes": 1 if ready else 0,
        "next_run_at": None,
        "created_at": now,
        "started_at": None,
        "ended_at": None,
    }


def start_root(pipeline: Pipeline, queue: str | None = None) -> str:
    """Store *pipeline* as a new root and publish it; returns its id."""
    if pipeline.pipeline_id is not None:
        raise UsageError(
            f"{pipeline!r}.start(): this instance was already started or yielded; "
            "create a new instance for each run."
        )
    settings = _config.get_settings()
    queue = queue or settings.queue
    name = type(pipeline).__name__
    path = _codec.class_path(type(pipeline))
    args, kwargs, futures = _codec.encode_args(
        f"{name}.start()", pipeline.args, pipeline.kwargs, Future
    )
    if futures:
        raise UsageError(
            f"{name}.start(): futures {futures!r} only mean something inside the run() that "
            "yielded them; pass plain values to a root pipeline."
        )
    pid = uuid.uuid4().hex
    now = _now()
    row = _new_row(
        pipeline,
        pid,
        pid,
        None,
        0,
        queue,
        path,
        args,
        kwargs,
        0,
        False,
        now,
        settings.queued_lease_seconds,
    )
    with get_store().write() as conn:
        conn.execute(sa.insert(pipelines), [row])
    pipeline.pipeline_id = pid
    pipeline.root_pipeline_id = pid
    _app.publish([pid], queue)
    return pid


# ---------------------------------------------------------------------------- step


_LOAD_COLUMNS = [
    P.id,
    P.root_id,
    P.parent_id,
    P.queue,
    P.class_path,
    P.args,
    P.kwargs,
    P.state,
    P.outcome,
    P.attempts,
    P.max_attempts,
    P.backoff_seconds,
    P.backoff_factor,
    P.output,
    P.error,
    P.has_dependents,
    P.lease_until,
    P.lease_token,
    P.next_run_at,
]


def _tree_aborted() -> sa.Label:
    """Whether the record's tree was aborted (a column of its root's row), as a column."""
    root = pipelines.alias("root")
    return (
        sa.select(root.c.abort_requested)
        .where(root.c.id == P.root_id)
        .scalar_subquery()
        .label("tree_aborted")
    )


# The statements every child runs are built once: building a Core statement costs more
# CPU than a PostgreSQL round trip (SQLAlchemy then reuses its compiled form by cache key).
_LOAD = sa.select(*_LOAD_COLUMNS, _tree_aborted()).where(P.id == sa.bindparam("b_id"))
_CLAIM = (
    sa.update(pipelines)
    .where(P.id == sa.bindparam("b_id"), P.state == "ready")
    .values(
        state="running",
        attempts=P.attempts + 1,
        lease_token=sa.bindparam("b_token"),
        lease_until=sa.bindparam("b_until", type_=sa.Double),
        started_at=sa.func.coalesce(P.started_at, sa.bindparam("b_now", type_=sa.Double)),
    )
)
_CLAIM_RETURNING = _CLAIM.returning(*_LOAD_COLUMNS, _tree_aborted())
_UNCOUNT = (
    sa.update(pipelines)
    .where(P.id == sa.bindparam("b_id"), P.lease_token == sa.bindparam("b_token"))
    .values(
        attempts=P.attempts - 1,
        # The claim stamped started_at if nothing had started yet: unstamp it too.
        started_at=sa.case((P.attempts == 1, None), else_=P.started_at),
    )
)
_END = (
    sa.update(pipelines)
    .where(P.id == sa.bindparam("b_id"), P.lease_token == sa.bindparam("b_token"))
    .values(
        state="ended",
        outcome=sa.bindparam("b_outcome"),
        output=sa.bindparam("b_output", type_=sa.Text),
        error=sa.bindparam("b_error", type_=sa.Text),
        lease_until=None,
        lease_token=None,
        ended_at=sa.bindparam("b_now", type_=sa.Double),
    )
)


def _load(conn: sa.Connection, pid: str) -> Any:
    return conn.execute(_LOAD, {"b_id": pid}).first()


def _claim_ready(pid: str, token: str, now: float) -> Any | None:
    """Take a ``ready`` record to run it (attempt + 1, lease); the record as claimed, or None.

    The common case of every step. The UPDATE's WHERE guards the transition
    (only one of two concurrent claims matches), so nothing needs reading
    first; with RETURNING (PostgreSQL, SQLite) the claimed record comes back in
    the same statement, which is a transaction of its own: one round trip on a
    server. MariaDB reads it back in the claim's transaction.
    """
    store = get_store()
    params = {
        "b_id": pid,
        "b_token": token,
        "b_until": now + _config.get_settings().lease_seconds,
        "b_now": now,
    }
    if store.update_returning:
        with store.single(write=True) as conn:
            return conn.execute(_CLAIM_RETURNING, params).first()
    with store.write() as conn:
        if conn.execute(_CLAIM, params).rowcount != 1:
            return None
        return _load(conn, pid)


def step(pid: str) -> None:
    """Advance record *pid* by whatever its state calls for (the Celery task body)."""
    store = get_store()
    now, token = _now(), uuid.uuid4().hex
    row = _claim_ready(pid, token, now)
    if row is not None:
        if row.tree_aborted:
            # The claim counted an attempt that will never run: give it back, so an
            # aborted record shows what really ran ("nothing new starts").
            with store.write() as conn:
                conn.execute(_UNCOUNT, {"b_id": pid, "b_token": token})
            _finalize(row, token, "aborted")
        else:
            _attempt(row, token, row.attempts)
        return
    # Not ready (a retry, a lost attempt, a parent to finalize, or a duplicate message).
    with store.single(write=False) as conn:
        row = _load(conn, pid)
    if row is None:
        log.warning("pipelines_lib: step for unknown pipeline %s ignored", pid)
        return
    state = row.state
    if state in ("ready", "retry"):
        if state == "retry" and (row.next_run_at or 0) - now > _EARLY_OK:
            return  # an early duplicate; the timed message or the sweeper comes later
        if row.tree_aborted:
            token = _claim(row, "finalizing", row.attempts, outcome="aborted")
            if token:
                _finalize(row, token, "aborted")
            return
        attempt = row.attempts + 1
        token = _claim(row, "running", attempt)
        if token:
            _attempt(row, token, attempt)
    elif state == "lost":
        # The sweeper found this record's worker dead mid-run: that attempt failed.
        token = _claim(row, "running", row.attempts)
        if token:
            if row.tree_aborted:
                # Nothing new starts, but finalized() runs once on every pipeline, abort
                # included (as for a record aborted before it started).
                _finalize(row, token, "aborted")
                return
            error = (
                f"attempt {row.attempts} of {row.max_attempts} was lost: its worker stopped "
                "renewing the lease (killed or hung)"
            )
            # Held like an attempt: a final lost attempt runs the user's finalized() here,
            # and an unrenewed lease would be swept as lost again, over and over.
            with _lease.held(row.id, token):
                inst: Pipeline | None = None
                try:
                    inst, _, _ = _instance(row, row.attempts)
                except Exception:
                    log.exception(
                        "pipelines_lib: cannot build %s after a lost attempt", row.class_path
                    )
                _on_failure(row, token, inst, row.attempts, None, error, lost=True)
    elif state == "finalizing":
        if row.lease_token is not None:
            return  # another worker holds it; the sweeper frees it if that worker dies
        token = _claim(row, "finalizing", row.attempts)
        if token:
            _finalize(row, token, row.outcome)
    # waiting, children, running (alive: the sweeper watches it), ended: nothing to do.


def _claim(row: Any, new_state: str, attempts: int, outcome: str | None = None) -> str | None:
    """Take *row* for this worker if nobody changed it since we read it; the new token."""
    token = uuid.uuid4().hex
    now = _now()
    values: dict[str, Any] = {
        "state": new_state,
        "attempts": attempts,
        "lease_token": token,
        "lease_until": now + _config.get_settings().lease_seconds,
    }
    if new_state == "running":
        values["started_at"] = sa.func.coalesce(P.started_at, now)
    if outcome is not None:
        values["outcome"] = outcome
    same_token = (
        P.lease_token.is_(None) if row.lease_token is None else P.lease_token == row.lease_token
    )
    with get_store().write() as conn:
        res = conn.execute(
            sa.update(pipelines)
            .where(P.id == row.id, P.state == row.state, P.attempts == row.attempts, same_token)
            .values(**values)
        )
    return token if res.rowcount == 1 else None


def _resolved_args(row: Any) -> tuple[list, dict]:
    outputs: dict[str, Any] | None = None
    if _codec.has_futures(row.args) or _codec.has_futures(row.kwargs):
        with get_store().read() as conn:
            found = conn.execute(
                sa.select(P.id, P.output)
                .join_from(deps, pipelines, P.id == deps.c.dep_id)
                .where(deps.c.waiter_id == row.id)
            ).all()
        outputs = {r.id: (json.loads(r.output) if r.output is not None else None) for r in found}
    return _codec.decode(row.args, outputs), _codec.decode(row.kwargs, outputs)


def _instance(row: Any, attempt: int) -> tuple[Pipeline, list, dict]:
    cls = _codec.load_class(row.class_path)
    if not (isinstance(cls, type) and issubclass(cls, Pipeline)):
        raise PipelineImportError(
            f"loading pipeline class {row.class_path!r}: {cls!r} is not a Pipeline subclass; "
            "point the record at a Pipeline."
        )
    args, kwargs = _resolved_args(row)
    inst = cls(*args, **kwargs)
    inst.pipeline_id = row.id
    inst.root_pipeline_id = row.root_id
    inst.current_attempt = attempt
    inst._max_attempts = row.max_attempts
    return inst, args, kwargs


def _drive(inst: Pipeline, gen: Any) -> tuple[list[ChildSpec], Any]:
    """Run a generator run() to its end, answering each yielded child with a Future."""
    frame = _Frame(inst)
    reset = _frame.set(frame)
    try:
        value: Any = None
        while True:
            try:
                child = gen.send(value)
            except StopIteration as stop:
                return frame.children, stop.value
            value = frame.add(child)
    finally:
        _frame.reset(reset)


def _attempt(row: Any, token: str, attempt: int) -> None:
    inst: Pipeline | None = None
    with _lease.held(row.id, token):
        try:
            inst, args, kwargs = _instance(row, attempt)
            result = inst.run(*args, **kwargs)
            children: list[ChildSpec] = []
            if inspect.isgenerator(result):
                children, result = _drive(inst, result)
            output = (
                None if children else _codec.dump_output(f"{type(inst).__name__}.run()", result)
            )
        except Exception as exc:
            _on_failure(row, token, inst, attempt, exc, None)
            return
        if children:
            _spawn(row, token, children)
        else:
            # Keep the last failed attempt's error: "done after 3 attempts" is worth seeing.
            _finish(row, token, inst, "done", output, row.error)


def _call_finalized(inst: Pipeline | None, outcome: str, output_text: str | None) -> str | None:
    """Run the user's finalized() if it has one; the traceback text if it raised."""
    if inst is None or not _codec.overrides(type(inst), Pipeline, "finalized"):
        return None
    inst.outcome = outcome
    inst.output = json.loads(output_text) if output_text is not None else None
    try:
        inst.finalized()
    except Exception:
        log.exception(
            "pipelines_lib: %s %s finalized() raised; the outcome %r stands",
            type(inst).__name__,
            inst.pipeline_id,
            outcome,
        )
        return "finalized() raised:\n" + traceback.format_exc()
    return None


def _finish(
    row: Any, token: str, inst: Pipeline | None, outcome: str, output: str | None, error: str | None
) -> None:
    """A leaf is over: call finalized() here (no children to wait for), then end it."""
    final_error = _call_finalized(inst, outcome, output)
    if final_error:
        error = f"{error}\n{final_error}" if error else final_error
    _end_now(row, token, outcome, output, error)


def _end_now(
    row: Any,
    token: str,
    outcome: str,
    output: str | None,
    error: str | None,
    *,
    abort_reason: str | None = None,
) -> None:
    try:
        with get_store().write() as conn:
            publish = _end(conn, row, token, outcome, output, error)
            if abort_reason is not None:
                publish += abort_tree(conn, row.root_id, abort_reason)
    except _LostLease:
        log.info("pipelines_lib: %s finished after losing its lease; result dropped", row.id)
        return
    _app.publish(publish, row.queue)


def _end(
    conn: sa.Connection, row: Any, token: str, outcome: str, output: str | None, error: str | None
) -> list[str]:
    """Mark *row* ended and count it at its parent's barrier and its dependents; once."""
    now = _now()
    res = conn.execute(
        _END,
        {
            "b_id": row.id,
            "b_token": token,
            "b_outcome": outcome,
            "b_output": output,
            "b_error": error,
            "b_now": now,
        },
    )
    if res.rowcount != 1:
        raise _LostLease(row.id)
    publish: list[str] = []
    queued_until = now + _config.get_settings().queued_lease_seconds
    if row.has_dependents:
        publish += _barrier.count_at_dependents(conn, row.id, queued_until)
    if row.parent_id is not None and _barrier.count_at_parent(conn, row.parent_id, queued_until):
        publish.append(row.parent_id)
    return publish


def _spawn(row: Any, token: str, children: list[ChildSpec]) -> None:
    """Store the children a generator yielded, all at once, and publish the ready ones."""
    settings = _config.get_settings()
    now = _now()
    dependents = {d for c in children for d in c.deps}
    rows = [
        _new_row(
            c.pipeline,
            c.pipeline_id,
            row.root_id,
            row.id,
            i,
            row.queue,
            c.class_path,
            c.args,
            c.kwargs,
            len(c.deps),
            c.pipeline_id in dependents,
            now,
            settings.queued_lease_seconds,
        )
        for i, c in enumerate(children)
    ]
    edges = [{"waiter_id": c.pipeline_id, "dep_id": d} for c in children for d in c.deps]
    try:
        with get_store().write() as conn:
            aborted = conn.execute(
                sa.select(P.abort_requested).where(P.id == row.root_id)
            ).scalar_one()
            if aborted:
                # Nothing new starts in an aborted tree: drop the children, finalize as aborted.
                res = conn.execute(
                    sa.update(pipelines)
                    .where(P.id == row.id, P.lease_token == token)
                    .values(
                        state="finalizing",
                        outcome="aborted",
                        lease_token=None,
                        lease_until=now + settings.queued_lease_seconds,
                    )
                )
                if res.rowcount != 1:
                    raise _LostLease(row.id)
                to_publish = [row.id]
            else:
                res = conn.execute(
                    sa.update(pipelines)
                    .where(P.id == row.id, P.lease_token == token)
                    .values(
                        state="children",
                        pending_children=len(children),
                        output_child=children[-1].pipeline_id,
                        lease_until=None,
                        lease_token=None,
                    )
                )
                if res.rowcount != 1:
                    raise _LostLease(row.id)
                conn.execute(sa.insert(pipelines), rows)
                if edges:
                    conn.execute(sa.insert(deps), edges)
                to_publish = [r["id"] for r in rows if r["state"] == "ready"]
    except _LostLease:
        log.info("pipelines_lib: %s spawned after losing its lease; children dropped", row.id)
        return
    _app.publish(to_publish, row.queue)


def _backoff(row: Any, attempt: int) -> float:
    return row.backoff_seconds * row.backoff_factor ** max(attempt - 1, 0)


def _on_failure(
    row: Any,
    token: str,
    inst: Pipeline | None,
    attempt: int,
    exc: BaseException | None,
    error: str | None,
    *,
    lost: bool = False,
) -> None:
    """One attempt failed: retry with backoff, or end soft-failed, or fail and abort the root."""
    name = row.class_path.rpartition(":")[2]
    if error is None:
        if isinstance(exc, Retry):
            error = f"Retry: {exc.reason}"
        else:
            error = "".join(traceback.format_exception(exc))
    is_signal = isinstance(exc, Retry)
    if attempt < row.max_attempts:
        delay = 0.0 if lost else _backoff(row, attempt)
        if is_signal and exc.countdown is not None:
            delay = max(float(exc.countdown), 0.0)
        log.log(
            logging.INFO if is_signal else logging.WARNING,
            "pipelines_lib: pipeline %s (%s) attempt %d of %d failed; retrying in %.3fs",
            row.id,
            name,
            attempt,
            row.max_attempts,
            delay,
            exc_info=None if (is_signal or exc is None) else exc,
        )
        now = _now()
        settings = _config.get_settings()
        with get_store().write() as conn:
            res = conn.execute(
                sa.update(pipelines)
                .where(P.id == row.id, P.lease_token == token)
                .values(
                    state="retry",
                    error=error,
                    next_run_at=now + delay,
                    lease_token=None,
                    lease_until=now + delay + settings.queued_lease_seconds,
                    publishes=P.publishes + 1,
                )
            )
        if res.rowcount == 1:
            _app.publish([row.id], row.queue, countdown=delay if delay > 0 else None)
        return
    cls = type(inst) if inst is not None else None
    if cls is not None and cls._pl_soft:
        log.error(
            "pipelines_lib: pipeline %s (%s) failed on its final attempt %d of %d; "
            "error swallowed, it ends failed and the tree carries on",
            row.id,
            name,
            attempt,
            row.max_attempts,
            exc_info=None if exc is None else exc,
        )
        try:
            output = _codec.dump_output(f"{name}.default_output", cls.default_output)
        except Exception as dump_exc:
            log.error("pipelines_lib: %s", dump_exc)
            output = None
        _finish(row, token, inst, "failed", output, error)
        return
    log.error(
        "pipelines_lib: pipeline %s (%s) failed on its final attempt %d of %d; "
        "aborting its root %s",
        row.id,
        name,
        attempt,
        row.max_attempts,
        row.root_id,
        exc_info=None if exc is None else exc,
    )
    last_line = error.strip().splitlines()[-1] if error.strip() else "error"
    reason = (
        f"aborted because pipeline {row.id} ({name}) failed on its final attempt "
        f"{attempt} of {row.max_attempts}: {last_line}"
    )
    final_error = _call_finalized(inst, "failed", None)
    if final_error:
        error = f"{error}\n{final_error}"
    try:
        with get_store().write() as conn:
            publish = _end(conn, row, token, "failed", None, error)
            publish += abort_tree(conn, row.root_id, reason)
    except _LostLease:
        return
    _app.publish(publish, row.queue)


def _finalize(row: Any, token: str, outcome: str) -> None:
    """A parent's children all ended (or the tree was aborted): finalized(), then end."""
    inst: Pipeline | None = None
    error = row.error
    with _lease.held(row.id, token):
        try:
            cls = _codec.load_class(row.class_path)
            if _codec.overrides(cls, Pipeline, "finalized"):
                inst, _, _ = _instance(row, row.attempts)
        except Exception:
            log.exception("pipelines_lib: cannot build %s to call finalized()", row.class_path)
        final_error = _call_finalized(inst, outcome, row.output)
    if final_error:
        error = f"{error}\n{final_error}" if error else final_error
    _end_now(row, token, outcome, row.output if outcome != "aborted" else None, error)


# --------------------------------------------------------------------------- abort


def abort_tree(conn: sa.Connection, root_id: str, reason: str) -> list[str]:
    """Stop the tree of *root_id*: nothing new starts, running work finishes.

    Records not yet started become ``finalizing``/``aborted`` (so their
    finalized() runs and their parents' barriers count them); returns the ids
    to publish.
    """
    now = _now()
    res = conn.execute(
        sa.update(pipelines)
        .where(P.id == root_id, P.abort_requested == sa.false())
        .values(abort_requested=True, error=sa.func.coalesce(P.error, reason))
    )
    if res.rowcount != 1:
        return []  # already aborted
    queued_until = now + _config.get_settings().queued_lease_seconds
    conn.execute(
        sa.update(pipelines)
        .where(P.root_id == root_id, P.state.in_(("waiting", "ready", "retry")))
        .values(
            state="finalizing",
            outcome="aborted",
            lease_token=None,
            lease_until=queued_until,
            publishes=P.publishes + 1,
        )
    )
    return [
        r[0]
        for r in conn.execute(
            sa.select(P.id).where(
                P.root_id == root_id, P.state == "finalizing", P.lease_token.is_(None)
            )
        )
    ]


def publish_ids(ids: Iterable[str], queue: str) -> None:
    """Publish a step for each id (used by the sweeper and abort())."""
    _app.publish(list(ids), queue)
