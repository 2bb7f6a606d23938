"""Fan-in: count an ended record at its dependents' and its parent's barriers.

Called inside the transaction that ends the record, after the conditional
UPDATE on its lease token succeeded, so each record is counted once however
often its task runs. This is the hot path of a fan-out (every child passes
here once), so on databases with ``UPDATE ... RETURNING`` each barrier costs
one statement: the counter is decremented, the state changed when it reaches
zero, and the changed rows come back, in one UPDATE whose WHERE guards the
transition. MariaDB and MySQL have no ``UPDATE ... RETURNING`` (and evaluate
SET clauses left to right, so the one-statement CASE form would read the new
counter); they read back what they changed.
"""

from __future__ import annotations

import sqlalchemy as sa

from pipelines_lib._schema import deps, pipelines

__all__ = ["count_at_dependents", "count_at_parent"]

P = pipelines.c


def _waiters_of(dep_id: str) -> sa.Select:
    return sa.select(deps.c.waiter_id).where(deps.c.dep_id == dep_id)


def count_at_dependents(conn: sa.Connection, dep_id: str, queued_until: float) -> list[str]:
    """Decrement the counters of the records waiting on *dep_id*; the ids that became ready.

    Args:
        conn: The connection of the transaction that ended *dep_id*.
        dep_id: The record that just ended.
        queued_until: The queued lease of a record that becomes ready (its message
            is published after commit; the sweeper republishes it if that is lost).

    Returns:
        The waiters whose last dependency this was, now ``ready``: publish them.
    """
    if conn.dialect.update_returning:
        # SET expressions read the row as it was: pending_deps <= 1 means "we are the last".
        last = P.pending_deps <= 1
        changed = conn.execute(
            sa.update(pipelines)
            .where(P.id.in_(_waiters_of(dep_id)), P.state == "waiting")
            .values(
                pending_deps=P.pending_deps - 1,
                state=sa.case((last, "ready"), else_=P.state),
                lease_until=sa.case((last, queued_until), else_=P.lease_until),
                publishes=sa.case((last, P.publishes + 1), else_=P.publishes),
            )
            .returning(P.id, P.state)
        ).all()
        return sorted(r.id for r in changed if r.state == "ready")
    waiters = [r[0] for r in conn.execute(_waiters_of(dep_id).order_by(deps.c.waiter_id))]
    if not waiters:
        return []
    conn.execute(
        sa.update(pipelines)
        .where(P.id.in_(waiters), P.state == "waiting")
        .values(pending_deps=P.pending_deps - 1)
    )
    ready = [
        r[0]
        for r in conn.execute(
            sa.select(P.id).where(P.id.in_(waiters), P.state == "waiting", P.pending_deps <= 0)
        )
    ]
    if ready:
        conn.execute(
            sa.update(pipelines)
            .where(P.id.in_(ready), P.state == "waiting")
            .values(state="ready", lease_until=queued_until, publishes=P.publishes + 1)
        )
    return ready


def count_at_parent(conn: sa.Connection, parent_id: str, queued_until: float) -> bool:
    """Decrement *parent_id*'s pending children; whether that woke it (publish it then).

    The last child moves a parent in state ``children`` to ``finalizing``, with
    the output of its last yielded child (or ``aborted`` if its tree was).

    Args:
        conn: The connection of the transaction that ended the child.
        parent_id: The ended child's parent.
        queued_until: The parent's queued lease once it is woken.
    """
    decrement = (
        sa.update(pipelines)
        .where(P.id == parent_id)
        .values(pending_children=P.pending_children - 1)
    )
    if conn.dialect.update_returning:
        parent = conn.execute(
            decrement.returning(P.state, P.pending_children, P.output_child, P.root_id)
        ).one()
    else:
        conn.execute(decrement)
        parent = conn.execute(
            sa.select(P.state, P.pending_children, P.output_child, P.root_id).where(
                P.id == parent_id
            )
        ).one()
    if parent.state != "children" or parent.pending_children > 0:
        return False
    # Once per parent, not per child: plain reads are fine here.
    aborted = conn.execute(sa.select(P.abort_requested).where(P.id == parent.root_id)).scalar_one()
    output = None
    if not aborted and parent.output_child is not None:
        output = conn.execute(sa.select(P.output).where(P.id == parent.output_child)).scalar_one()
    conn.execute(
        sa.update(pipelines)
        .where(P.id == parent_id, P.state == "children")
        .values(
            state="finalizing",
            outcome="aborted" if aborted else "done",
            output=output,
            lease_until=queued_until,
            lease_token=None,
            publishes=P.publishes + 1,
        )
    )
    return True
