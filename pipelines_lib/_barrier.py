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

from typing import Any

import sqlalchemy as sa

from pipelines_lib._schema import deps, pipelines

__all__ = ["count_at_dependents", "count_at_parent"]

P = pipelines.c


def _waiters_of(dep_id: Any) -> sa.Select:
    return sa.select(deps.c.waiter_id).where(deps.c.dep_id == dep_id)


# Built once: every child runs these (see _engine: building costs more than a round trip).
# SET expressions read the row as it was: pending_deps <= 1 means "this was the last".
_LAST_DEP = P.pending_deps <= 1
_QUEUED_UNTIL = sa.bindparam("b_queued_until", type_=sa.Double)
_COUNT_AT_DEPENDENTS = (
    sa.update(pipelines)
    .where(P.id.in_(_waiters_of(sa.bindparam("b_dep_id"))), P.state == "waiting")
    .values(
        pending_deps=P.pending_deps - 1,
        state=sa.case((_LAST_DEP, "ready"), else_=P.state),
        lease_until=sa.case((_LAST_DEP, _QUEUED_UNTIL), else_=P.lease_until),
        publishes=sa.case((_LAST_DEP, P.publishes + 1), else_=P.publishes),
    )
    .returning(P.id, P.state)
)
_PARENT_COLUMNS = (P.state, P.pending_children, P.output_child, P.root_id)
_COUNT_AT_PARENT = (
    sa.update(pipelines)
    .where(P.id == sa.bindparam("b_parent_id"))
    .values(pending_children=P.pending_children - 1)
)
_COUNT_AT_PARENT_RETURNING = _COUNT_AT_PARENT.returning(*_PARENT_COLUMNS)


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
        changed = conn.execute(
            _COUNT_AT_DEPENDENTS, {"b_dep_id": dep_id, "b_queued_until": queued_until}
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
    params = {"b_parent_id": parent_id}
    if conn.dialect.update_returning:
        parent = conn.execute(_COUNT_AT_PARENT_RETURNING, params).one()
    else:
        conn.execute(_COUNT_AT_PARENT, params)
        parent = conn.execute(sa.select(*_PARENT_COLUMNS).where(P.id == parent_id)).one()
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
