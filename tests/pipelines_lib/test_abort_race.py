"""abort() racing with a worker that ends the root: no abort is recorded on a finished tree."""

from __future__ import annotations

import threading
import time

import pytest

import pipelines_lib
from pipelines_lib import _engine
from pipelines_lib._store import get_store
from tests.conftest import database_url
from tests.pipelines_lib import sample_pipelines as s


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_abort_racing_with_the_root_ending_leaves_a_done_tree_done(
    backend, tmp_path, tmp_path_factory, monkeypatch, restore_settings
):
    pipelines_lib.configure(
        f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        database_url(backend, tmp_path_factory),
        queue=f"pl-abort-race-{backend}",
    )
    pid = s.Square(3).start()
    token = "1" * 32
    assert _engine._claim_ready(pid, token, time.time()) is not None
    with get_store().read() as conn:
        row = _engine._load(conn, pid)

    real_abort_tree = _engine.abort_tree

    def abort_tree_after_the_root_ends(conn, root_id, reason):
        # The worker ends the root after abort() read its state (in its own transaction).
        ending = threading.Thread(target=_engine._end_now, args=(row, token, "done", "9", None))
        ending.start()
        ending.join(timeout=1)  # with the root locked it waits for abort() to commit
        return real_abort_tree(conn, root_id, reason)

    monkeypatch.setattr(_engine, "abort_tree", abort_tree_after_the_root_ends)
    pipelines_lib.abort(pid)  # True or False: either order is fine, if it is one order
    result = pipelines_lib.wait(pid, timeout=10)
    # Not "done" with the abort reason as its error, which a tree that ended done never had.
    assert (result.status, result.output, result.error) == ("done", 9, None)
