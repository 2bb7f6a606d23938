"""middleware.stores: bounded, and SQL-backed as an option."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from middleware import ConfigurationError, MemoryStore, SQLStore
from middleware.stores import make_store, valid_id


def profile(i: int) -> dict:
    return {"id": f"profile-id-{i:08d}", "total_ms": float(i)}


def test_memory_store_keeps_the_newest_up_to_its_bound():
    store = MemoryStore(max_profiles=3)
    for i in range(5):
        store.save(profile(i))
    assert len(store) == 3
    assert store.load(profile(0)["id"]) is None and store.load(profile(4)["id"]) == profile(4)


def test_sql_store_round_trips_and_trims_to_its_bound(tmp_path):
    store = SQLStore(f"sqlite:///{tmp_path}/p.db", max_profiles=10)
    for i in range(25):
        store.save(profile(i))
    assert store.load(profile(24)["id"]) == profile(24)
    assert store.load(profile(0)["id"]) is None
    with store.engine.connect() as conn:
        kept = conn.execute(sa.select(sa.func.count()).select_from(store.table)).scalar()
    assert 10 <= kept <= 11  # trimmed every tenth of the bound
    store.engine.dispose()


def test_make_store_reads_memory_and_urls(tmp_path):
    assert isinstance(make_store(None), MemoryStore)
    assert isinstance(make_store("memory"), MemoryStore)
    sql = make_store(f"sqlite:///{tmp_path}/q.db")
    assert isinstance(sql, SQLStore)
    sql.engine.dispose()


def test_make_store_refuses_anything_else_with_the_fix():
    with pytest.raises(ConfigurationError, match="'memory', to a SQLAlchemy URL"):
        make_store(3)


@pytest.mark.parametrize("bad", ["", "../etc", "a" * 10, "x" * 65, "abc/def" * 4])
def test_ids_of_another_shape_are_not_looked_up(bad):
    assert not valid_id(bad)
