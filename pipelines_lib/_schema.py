"""The state tables: one row per pipeline, one per dependency edge, one per rate bucket.

A row's ``state`` is the engine's view (what task is due next); the status
users see is derived from it (see :mod:`pipelines_lib._status`). Every row that
needs a task carries ``lease_until``: the sweeper republishes rows whose lease
ran out, so no lost message or dead worker can strand a tree.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["ACTIVE_STATES", "deps", "metadata", "pipelines", "rates"]

metadata = sa.MetaData()

# waiting: dependencies pending (no task due)   ready: published, not yet claimed
# retry: failed attempt, next one published with a countdown   running: run() executing
# children: run() spawned children, waiting for them (no task due while any is pending)
# finalizing: outcome decided, finalized() due   ended: outcome final
ACTIVE_STATES = ("ready", "retry", "running", "lost", "finalizing")

pipelines = sa.Table(
    "pl_pipeline",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("root_id", sa.String(32), nullable=False, index=True),
    sa.Column("parent_id", sa.String(32), nullable=True),
    sa.Column("idx", sa.Integer, nullable=False, default=0),
    sa.Column("queue", sa.String(200), nullable=False),
    sa.Column("class_path", sa.String(400), nullable=False),
    sa.Column("args", sa.Text, nullable=False),
    sa.Column("kwargs", sa.Text, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("outcome", sa.String(8), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("backoff_seconds", sa.Double, nullable=False),
    sa.Column("backoff_factor", sa.Double, nullable=False),
    sa.Column("output", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("pending_deps", sa.Integer, nullable=False, default=0),
    sa.Column("pending_children", sa.Integer, nullable=False, default=0),
    sa.Column("has_dependents", sa.Boolean, nullable=False, default=False),
    sa.Column("output_child", sa.String(32), nullable=True),
    sa.Column("abort_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("lease_until", sa.Double, nullable=True),
    sa.Column("lease_token", sa.String(32), nullable=True),
    sa.Column("publishes", sa.Integer, nullable=False, default=0),
    sa.Column("next_run_at", sa.Double, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("started_at", sa.Double, nullable=True),
    sa.Column("ended_at", sa.Double, nullable=True),
    # The sweeper's query: rows of one queue whose lease ran out.
    sa.Index("ix_pl_pipeline_lease", "queue", "lease_until"),
    sa.Index("ix_pl_pipeline_parent", "parent_id", "idx"),
)

deps = sa.Table(
    "pl_dep",
    metadata,
    sa.Column("waiter_id", sa.String(32), primary_key=True),
    sa.Column("dep_id", sa.String(32), primary_key=True),
    sa.Index("ix_pl_dep_dep", "dep_id"),
)

rates = sa.Table(
    "pl_rate",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    # Theoretical arrival time of the next free slot (GCRA form of a token bucket).
    sa.Column("tat", sa.Double, nullable=False),
)
