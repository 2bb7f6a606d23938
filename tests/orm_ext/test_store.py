"""The store on every backend: round trips, multi-ops, ids, bad input writes nothing, corruption."""

from __future__ import annotations

import datetime
import re

import pytest
import sqlalchemy as sa

import orm_ext
from orm_ext import (
    BadValueError,
    BooleanProperty,
    BytesProperty,
    CorruptEntityError,
    DateProperty,
    DateTimeProperty,
    FloatProperty,
    IntegerProperty,
    JsonProperty,
    Key,
    KeyProperty,
    Model,
    ProjectedEntityWriteError,
    StringProperty,
    TextProperty,
)
from orm_ext.entity_pb2 import Entity

UTC_MINUS_7 = datetime.timezone(datetime.timedelta(hours=-7))


class StoreThing(Model):
    s = StringProperty()
    t = TextProperty()
    tz = TextProperty(compressed=True)
    i = IntegerProperty()
    f = FloatProperty()
    b = BooleanProperty()
    dt = DateTimeProperty()
    dta = DateTimeProperty(tzinfo=UTC_MINUS_7)
    d = DateProperty()
    j = JsonProperty()
    jz = JsonProperty(compressed=True)
    by = BytesProperty()
    byi = BytesProperty(indexed=True)
    byz = BytesProperty(compressed=True)
    k = KeyProperty()
    tags = StringProperty(repeated=True)
    nums = IntegerProperty(repeated=True)
    when = DateTimeProperty(repeated=True)
    blobs = BytesProperty(repeated=True)
    docs = JsonProperty(repeated=True, compressed=True)


class StoreOther(Model):
    name = StringProperty(required=True)


class StoreEvolving(Model):
    name = StringProperty(indexed=False)

    @classmethod
    def _get_kind(cls):
        return "StoreEvolvingKind"


FULL = dict(
    s="ünï 𝄞 😀 中文",
    t="long text 𐍈 " * 200,
    tz="compressible " * 500,
    i=-(2**63),
    f=-1.25e-300,
    b=False,
    dt=datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
    dta=datetime.datetime(
        2020, 6, 1, 12, 0, 0, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=9))
    ),
    d=datetime.date(1969, 7, 20),
    j={"a": [1, 2.5, None, True], "ü": {"𝄞": "x"}},
    jz=["z"] * 300,
    by=bytes(range(256)),
    byi=b"\x00\xff index",
    byz=b"\x00" * 10_000,
    k=Key("StoreOther", "named"),
    tags=["a", "𝄞", "a"],
    nums=[2**63 - 1, 0, -(2**63)],
    when=[datetime.datetime(1, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59, 999999)],
    blobs=[b"", b"\x00"],
    docs=[{"x": 1}, [], "s"],
)


def test_every_property_type_round_trips(store):
    key = StoreThing(**FULL).put()
    got = key.get()
    assert got.to_dict() == StoreThing(**FULL).to_dict()
    assert got.dta.utcoffset() == datetime.timedelta(hours=-7)


def test_int64_max_round_trips_and_filters(store):
    StoreThing(i=2**63 - 1).put()
    StoreThing(i=-(2**63)).put()
    assert [e.i for e in StoreThing.query(StoreThing.i > 0).fetch()] == [2**63 - 1]
    assert [e.i for e in StoreThing.query().order(StoreThing.i).fetch()] == [-(2**63), 2**63 - 1]


def test_none_values_round_trip_as_none(store):
    got = StoreThing().put().get()
    assert all(
        getattr(got, n) is None for n in ["s", "t", "tz", "i", "f", "b", "dt", "d", "j", "by", "k"]
    )
    assert got.tags == [] and got.nums == []


def test_microseconds_survive_index_column(store):
    value = datetime.datetime(2020, 1, 1, 0, 0, 0, 1)
    StoreThing(dt=value).put()
    StoreThing(dt=value.replace(microsecond=2)).put()
    assert [e.dt for e in StoreThing.query(StoreThing.dt == value).fetch()] == [value]


def test_astral_string_filters_exactly(store):
    StoreThing(s="𝄞").put()
    StoreThing(s="😀").put()
    assert [e.s for e in StoreThing.query(StoreThing.s == "𝄞").fetch()] == ["𝄞"]


def test_put_returns_allocated_distinct_keys(store):
    keys = orm_ext.put_multi([StoreThing(i=n) for n in range(3)])
    assert len(set(keys)) == 3 and all(isinstance(k.id(), int) for k in keys)


def test_put_sets_key_on_entity(store):
    thing = StoreThing(i=1)
    key = thing.put()
    assert thing.key == key


def test_re_put_overwrites_in_place(store):
    thing = StoreThing(i=1, tags=["a"])
    key = thing.put()
    thing.i, thing.tags = 2, ["b"]
    assert thing.put() == key
    assert key.get().i == 2
    assert StoreThing.query().count() == 1
    assert StoreThing.query(StoreThing.tags == "a").count() == 0
    assert StoreThing.query(StoreThing.tags == "b").count() == 1


def test_get_multi_puts_none_for_missing_keys_in_order(store):
    a, b = orm_ext.put_multi([StoreThing(i=1), StoreOther(name="n", id="x")])
    missing = [Key("StoreThing", 999_999), Key("StoreOther", "nope")]
    got = orm_ext.get_multi([missing[0], b, a, missing[1], a])
    assert [g and g.key for g in got] == [None, b, a, None, a]


def test_delete_multi_removes_only_given_keys_and_ignores_missing(store):
    keys = orm_ext.put_multi([StoreThing(i=n, tags=["t"]) for n in range(3)])
    orm_ext.delete_multi([keys[0], keys[2], Key("StoreThing", 999_999)])
    assert orm_ext.get_multi(keys) == [None, keys[1].get(), None]
    assert StoreThing.query(StoreThing.tags == "t").fetch(keys_only=True) == [keys[1]]


def test_string_id_re_put_keeps_its_row(store):
    StoreOther(id="alpha", name="one").put()
    table = store.schema(StoreOther).table
    with store.engine.connect() as conn:
        before = conn.execute(sa.select(table.c._key_id)).scalar_one()
    StoreOther(id="alpha", name="two").put()
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c._key_id)).scalars().all()
    assert rows == [before]
    assert Key("StoreOther", "alpha").get().name == "two"


def test_user_int_ids_then_auto_ids_do_not_collide(store):
    orm_ext.put_multi([StoreOther(id=n, name=str(n)) for n in (5, 10)])
    auto = orm_ext.put_multi([StoreOther(name="auto") for _ in range(3)])
    assert all(k.id() > 10 for k in auto)
    assert Key("StoreOther", 10).get().name == "10"
    assert StoreOther.query().count() == 5


def test_ids_are_not_reused_after_delete(store):
    key = StoreOther(name="first").put()
    key.delete()
    again = StoreOther(name="second").put()
    assert again.id() != key.id()
    assert key.get() is None


def test_int_key_does_not_reach_a_string_named_entity(store):
    named = StoreOther(id="named", name="keep").put()
    table = store.schema(StoreOther).table
    with store.engine.connect() as conn:
        row_id = conn.execute(sa.select(table.c._key_id)).scalar_one()
    assert Key("StoreOther", row_id).get() is None
    Key("StoreOther", row_id).delete()
    assert named.get().name == "keep"
    assert StoreOther.query(StoreOther.key == Key("StoreOther", row_id)).fetch() == []


def test_put_of_int_id_taken_by_named_row_writes_nothing(store):
    named = StoreOther(id="named", name="keep").put()
    table = store.schema(StoreOther).table
    with store.engine.connect() as conn:
        row_id = conn.execute(sa.select(table.c._key_id)).scalar_one()
    with pytest.raises(BadValueError, match=re.escape(repr(Key("StoreOther", row_id)))):
        StoreOther(id=row_id, name="clobber").put()
    assert named.get().name == "keep"
    assert StoreOther.query().count() == 1


def test_batch_with_one_bad_entity_writes_none(store):
    good = [StoreOther(name="a"), StoreThing(i=1)]
    with pytest.raises(BadValueError, match="required property 'name'"):
        orm_ext.put_multi([*good, StoreOther()])
    assert StoreOther.query().count() == 0 and StoreThing.query().count() == 0
    assert all(e.key is None for e in good)


def test_batch_with_unserialisable_json_writes_none(store):
    with pytest.raises(BadValueError, match=r"StoreThing\.j = "):
        orm_ext.put_multi([StoreThing(i=1), StoreThing(j={"x": {1, 2}})])
    assert StoreThing.query().count() == 0


def test_put_multi_refuses_non_model(store):
    with pytest.raises(BadValueError, match="not a Model"):
        orm_ext.put_multi([StoreOther(name="a"), {"name": "b"}])
    assert StoreOther.query().count() == 0


def test_projected_entity_put_is_refused_and_writes_nothing(store):
    key = StoreThing(i=1, s="x").put()
    projected = StoreThing.query(projection=["i"]).get()
    projected.i = 2
    with pytest.raises(ProjectedEntityWriteError, match="nothing was written"):
        projected.put()
    assert key.get().to_dict()["i"] == 1 and key.get().s == "x"


def _write_pb(store, model, key_id, blob):
    table = store.schema(model).table
    with store.engine.begin() as conn:
        conn.execute(sa.insert(table).values(_key_id=key_id, _pb=blob))


def test_corrupt_blob_on_get_raises_naming_kind_and_key(store):
    _write_pb(store, StoreOther, 7, b"\xff\xfe garbage that is not protobuf")
    with pytest.raises(CorruptEntityError) as exc:
        Key("StoreOther", 7).get()
    assert exc.value.kind == "StoreOther" and exc.value.key == Key("StoreOther", 7)
    assert "Key('StoreOther', 7)" in str(exc.value)


def test_corrupt_blob_in_query_raises_naming_key(store):
    StoreOther(name="fine").put()
    _write_pb(store, StoreOther, 99, b"\x0a\xff")
    with pytest.raises(CorruptEntityError) as exc:
        StoreOther.query().fetch()
    assert exc.value.key == Key("StoreOther", 99)


def test_invalid_zlib_on_read_names_the_property(store):
    pb = Entity()
    pb.key.kind, pb.key.id = "StoreThing", 3
    pb.properties["tz"].blob_value = b"not zlib at all"
    pb.properties["tz"].meaning = 1 | 4
    _write_pb(store, StoreThing, 3, pb.SerializeToString())
    # Compressed values may stay compressed until read (as in ndb): read it too.
    with pytest.raises(CorruptEntityError) as exc:
        Key("StoreThing", 3).get().tz  # noqa: B018
    assert exc.value.property == "tz" and exc.value.key == Key("StoreThing", 3)


def test_entity_written_before_property_existed_reads_default(store):
    pb = Entity()
    pb.key.kind, pb.key.id = "StoreThing", 4
    pb.properties["s"].string_value = "old"
    _write_pb(store, StoreThing, 4, pb.SerializeToString())
    got = Key("StoreThing", 4).get()
    assert (got.s, got.i, got.tags, got.j) == ("old", None, [], None)


def test_property_indexed_later_gets_its_column_on_first_use(store):
    old = StoreEvolving(name="before").put()
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("StoreEvolvingKind")}
    assert "name" not in columns

    class StoreEvolvingIndexed(Model):
        name = StringProperty()

        @classmethod
        def _get_kind(cls):
            return "StoreEvolvingKind"

    try:
        new = StoreEvolvingIndexed(name="after").put()
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns("StoreEvolvingKind")}
        assert "name" in columns
        found = StoreEvolvingIndexed.query(StoreEvolvingIndexed.name == "after").fetch(
            keys_only=True
        )
        assert found == [new]
        # written before the index: found once re-put
        assert StoreEvolvingIndexed.query(StoreEvolvingIndexed.name == "before").count() == 0
        old.get().put()
        assert StoreEvolvingIndexed.query(StoreEvolvingIndexed.name == "before").count() == 1
    finally:
        Model._kind_map["StoreEvolvingKind"] = StoreEvolving


def test_store_survives_postgresql_terminating_its_connections(postgresql_store):
    store = postgresql_store
    key = StoreOther(name="before").put()
    assert key.get().name == "before"  # a pooled connection now exists
    killer = sa.create_engine(store.engine.url, poolclass=sa.pool.NullPool)
    with killer.connect() as conn:
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    killer.dispose()
    assert killed >= 1
    assert key.get().name == "before"
    assert StoreOther(name="after").put().get().name == "after"


def test_no_default_store_says_how_to_connect():
    previous = orm_ext.set_store(None)
    try:
        with pytest.raises(orm_ext.Error, match=r"orm_ext\.connect\("):
            orm_ext.get_store()
    finally:
        orm_ext.set_store(previous)


def test_get_multi_refuses_incomplete_key(store):
    with pytest.raises(BadValueError, match="not a complete Key"):
        orm_ext.get_multi([Key("StoreOther")])


def test_same_key_twice_in_one_batch_keeps_the_last(store):
    first, second = StoreOther(id="dup", name="first"), StoreOther(id="dup", name="second")
    keys = orm_ext.put_multi([first, second])
    assert keys == [Key("StoreOther", "dup")] * 2
    assert keys[0].get().name == "second"
    assert StoreOther.query().count() == 1
