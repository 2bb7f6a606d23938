"""orm_ext.lazy: entities decode each property on first read, and put back what nobody read."""

from __future__ import annotations

import datetime
import threading

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import orm_ext
from orm_ext import (
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
    UnprojectedPropertyError,
    _codegen,
    codec,
    instrument,
    projection,
)
from orm_ext._lazy import EntitySource
from orm_ext.entity_pb2 import Entity


class LazyThing(Model):
    s = StringProperty()
    t = TextProperty(compressed=True)
    i = IntegerProperty()
    f = FloatProperty()
    b = BooleanProperty()
    dt = DateTimeProperty()
    d = DateProperty()
    j = JsonProperty(compressed=True)
    by = BytesProperty()
    k = KeyProperty()
    tags = StringProperty(repeated=True)
    nums = IntegerProperty(repeated=True)


class AlwaysLazy(Model):
    _lazy = True
    title = StringProperty()
    body = TextProperty(compressed=True)


_text = st.text(max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_thing = st.fixed_dictionaries(
    {},
    optional={
        "s": st.none() | st.text(max_size=30),
        "t": st.none() | _text,
        "i": st.none() | st.integers(-(2**63), 2**63 - 1),
        "f": st.none() | st.floats(allow_nan=False),
        "b": st.none() | st.booleans(),
        "dt": st.none()
        | st.datetimes(datetime.datetime(1900, 1, 1), datetime.datetime(2200, 1, 1)),
        "d": st.none() | st.dates(datetime.date(1900, 1, 1), datetime.date(2200, 1, 1)),
        "j": _json,
        "by": st.none() | st.binary(max_size=30),
        "k": st.none() | st.builds(Key, st.just("LazyThing"), st.integers(1, 2**63 - 1)),
        "tags": st.lists(st.text(max_size=8), max_size=4),
        "nums": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_thing)
def test_every_property_read_lazily_equals_the_eager_decode(values):
    blob = codec.entity_to_pb(LazyThing(**values)).SerializeToString()
    eager = codec.pb_to_entity(LazyThing, blob)
    with orm_ext.lazy():
        lazy = codec.pb_to_entity(LazyThing, blob)
    assert isinstance(lazy._source, EntitySource)
    for name in LazyThing._properties:
        assert getattr(lazy, name) == getattr(eager, name), name


def _stored_values(store: orm_ext.Store, model: type[Model], key: Key) -> dict[str, bytes]:
    table = store.schema(model).table
    with store.engine.connect() as conn:
        blob = conn.execute(sa.select(table.c._pb).where(table.c._key_id == key.id())).scalar_one()
    msg = Entity.FromString(blob)
    return {name: value.SerializeToString() for name, value in msg.properties.items()}


def _break(store: orm_ext.Store, model: type[Model], key: Key, name: str) -> None:
    table = store.schema(model).table
    with store.engine.begin() as conn:
        blob = conn.execute(sa.select(table.c._pb).where(table.c._key_id == key.id())).scalar_one()
        msg = Entity.FromString(blob)
        msg.properties[name].blob_value = b"\x00 not zlib"
        conn.execute(
            table.update().where(table.c._key_id == key.id()).values(_pb=msg.SerializeToString())
        )


def _thing(**extra) -> LazyThing:
    values = dict(
        s="name",
        t="long " * 50,
        i=7,
        f=1.5,
        b=True,
        dt=datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
        d=datetime.date(2024, 5, 6),
        j={"a": [1, 2]},
        by=b"\x00\x01",
        k=Key("LazyThing", 3),
        tags=["x", "y"],
        nums=[1, 2],
    )
    values.update(extra)
    return LazyThing(**values)


def test_untouched_properties_are_never_decoded(store):
    key = _thing().put()
    _break(store, LazyThing, key, "t")
    with orm_ext.lazy():
        entity = key.get()
    assert (entity.s, entity.i) == ("name", 7)  # other reads work
    with pytest.raises(CorruptEntityError) as info:
        entity.t  # noqa: B018
    error = info.value
    assert (error.kind, error.key, error.property) == ("LazyThing", key, "t")
    assert "LazyThing" in str(error) and repr(key) in str(error) and "'t'" in str(error)


def test_put_of_a_lazy_entity_copies_untouched_properties_byte_for_byte(store):
    key = _thing().put()
    _break(store, LazyThing, key, "t")  # undecodable: only a raw copy can keep it
    before = _stored_values(store, LazyThing, key)
    with orm_ext.lazy():
        entity = key.get()
    entity.i = 8
    entity.put()
    after = _stored_values(store, LazyThing, key)
    assert set(after) == set(before)
    assert {n: v for n, v in after.items() if n != "i"} == {
        n: v for n, v in before.items() if n != "i"
    }
    assert after["i"] != before["i"]
    with orm_ext.lazy():
        assert key.get().i == 8


def test_lazy_entity_edited_and_saved_keeps_its_other_properties(store):
    key = _thing().put()
    with orm_ext.lazy():
        entity = key.get()
    entity.s = "renamed"
    entity.tags.append("z")
    entity.put()
    assert key.get().to_dict() == _thing(s="renamed", tags=["x", "y", "z"]).to_dict()


def test_concurrent_first_reads_decode_each_property_once(sqlite_store, monkeypatch):
    key = _thing().put()
    with orm_ext.lazy():
        entity = key.get()
    calls: list[str] = []
    real = _codegen.value_decoder

    def counting(prop):
        inner = real(prop)

        def decode(value):
            calls.append(prop._code_name)
            threading.Event().wait(0.01)  # widen the race window
            return inner(value)

        return decode

    monkeypatch.setattr(_codegen, "value_decoder", counting)
    barrier = threading.Barrier(12)
    seen: list[object] = []

    def reader() -> None:
        barrier.wait()
        seen.append(entity.j)

    threads = [threading.Thread(target=reader) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["j"]
    assert all(value is seen[0] for value in seen) and seen[0] == {"a": [1, 2]}


def test_to_dict_equality_and_repr_work_on_lazy_entities(sqlite_store):
    key = _thing().put()
    eager = key.get()
    with orm_ext.lazy():
        lazy = key.get()
    assert "name" in repr(lazy)
    assert lazy.to_dict() == eager.to_dict()
    assert lazy == eager


def test_populate_on_a_lazy_entity_validates_and_sets(sqlite_store):
    key = _thing().put()
    with orm_ext.lazy():
        entity = key.get()
    entity.populate(i=9, s="x")
    assert (entity.i, entity.s, entity.f) == (9, "x", 1.5)
    with pytest.raises(orm_ext.BadValueError):
        entity.populate(i="nine")


def test_model_lazy_attribute_makes_its_entities_lazy(sqlite_store):
    key = AlwaysLazy(title="a", body="b" * 100).put()
    entity = key.get()
    assert isinstance(entity._source, EntitySource) and "body" not in entity.__dict__
    assert entity.body == "b" * 100


def test_lazy_false_inside_lazy_block_decodes_eagerly(sqlite_store):
    key = _thing().put()
    with orm_ext.lazy(), orm_ext.lazy(False):
        entity = key.get()
    # Everything but the compressed values (which wait for a read, as in ndb) is decoded.
    assert entity.__dict__["s"] == "name" and entity.__dict__["i"] == 7
    assert "t" not in entity.__dict__ and entity.t == "long " * 50


def test_store_opened_lazy_reads_lazy_entities(tmp_path):
    store = orm_ext.Store(f"sqlite:///{tmp_path}/lazy.db", lazy=True)
    previous = orm_ext.set_store(store)
    try:
        key = _thing().put()
        entity = key.get()
        fetched = LazyThing.query().get()
        assert isinstance(entity._source, EntitySource) and isinstance(
            fetched._source, EntitySource
        )
        assert entity.s == "name"
    finally:
        orm_ext.set_store(previous)
        store.close()


def test_projection_rules_hold_for_lazy_entities(sqlite_store):
    key = _thing().put()
    with orm_ext.lazy(), projection(LazyThing, "s", "i"):
        entity = key.get()
    assert entity._projection == ("s", "i")
    assert entity.i == 7
    with pytest.raises(UnprojectedPropertyError):
        entity.t  # noqa: B018
    with pytest.raises(ProjectedEntityWriteError):
        entity.put()


def test_profiler_sees_which_properties_code_read_on_lazy_entities(sqlite_store):
    _thing().put()

    class Recorder:
        def __init__(self):
            self.reads: list[str] = []

        def decoded(self, batch):
            pass

        def read(self, batch, name):
            self.reads.append(name)

    recorder = Recorder()
    with orm_ext.lazy(), instrument.observe(recorder):
        entity = LazyThing.query().get()
        entity.s, entity.i, entity.s  # noqa: B018
    assert recorder.reads == ["s", "i"]


def test_first_read_on_one_entity_decodes_that_property_for_its_whole_batch(sqlite_store):
    orm_ext.put_multi([_thing(i=n) for n in range(5)])
    with orm_ext.lazy():
        entities = LazyThing.query().order(LazyThing.i).fetch()
    assert entities[0].i == 0
    # The rest got theirs in the same pass: plain attribute lookups from now on.
    assert [e.__dict__["i"] for e in entities] == [0, 1, 2, 3, 4]
    assert all("t" not in e.__dict__ for e in entities)


def test_corrupt_value_in_one_entity_of_a_lazy_batch_fails_only_that_entity(store):
    keys = orm_ext.put_multi([_thing(i=n) for n in range(3)])
    _break(store, LazyThing, keys[1], "t")
    with orm_ext.lazy():
        entities = orm_ext.get_multi(keys)
    assert entities[0].t == "long " * 50 and entities[2].t == "long " * 50
    with pytest.raises(CorruptEntityError) as info:
        entities[1].t  # noqa: B018
    assert (info.value.key, info.value.property) == (keys[1], "t")


def test_compressed_values_wait_for_their_first_read_even_when_eager(sqlite_store, monkeypatch):
    key = _thing().put()
    entity = key.get()
    assert "t" not in entity.__dict__ and "j" not in entity.__dict__
    assert entity.__dict__["s"] == "name"
    assert (entity.t, entity.j) == ("long " * 50, {"a": [1, 2]})


def test_decoded_entities_leave_no_reference_cycles(sqlite_store):
    # Entities, their sources and their batch's group must be freed by reference
    # counting alone: cycles would wait for the cyclic GC and hold whole pages.
    import gc

    orm_ext.put_multi([_thing(i=n) for n in range(5)])
    LazyThing.query().fetch()  # tables made, decoders generated
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        eager = LazyThing.query().fetch()
        eager[0].t  # noqa: B018  (a deferred value decoded for the batch)
        with orm_ext.lazy():
            lazy = LazyThing.query().fetch()
        lazy[1].s  # noqa: B018
        del eager, lazy
        assert gc.collect() == 0, gc.garbage[:5]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


@pytest.mark.parametrize("mode", ["eager", "lazy", "projected"])
def test_entities_pickle_and_deepcopy_with_their_values(sqlite_store, mode):
    import copy
    import pickle

    key = _thing().put()
    if mode == "lazy":
        with orm_ext.lazy():
            entity = key.get()
    elif mode == "projected":
        with projection(LazyThing, "s", "t"):
            entity = key.get()
    else:
        entity = key.get()  # its compressed and JSON values still wait for a read
    for clone in (pickle.loads(pickle.dumps(entity)), copy.deepcopy(entity)):
        assert clone._source is None and clone.key == key
        assert clone._projection == entity._projection
        assert clone.to_dict() == entity.to_dict()
    if mode == "projected":
        with pytest.raises(UnprojectedPropertyError):
            pickle.loads(pickle.dumps(entity)).i  # noqa: B018


def test_iter_decodes_each_batch_together(sqlite_store):
    orm_ext.put_multi([_thing(i=n) for n in range(4)])
    with orm_ext.lazy():
        it = LazyThing.query().order(LazyThing.i).iter(batch_size=4)
    first = next(it)
    assert first.i == 0
    assert [e.__dict__.get("i") for e in it] == [1, 2, 3]  # decoded with the first's column
