"""The codec: entity -> protobuf -> bytes -> entity is the identity; corrupt bytes say where.

Runs without a database: these are properties of entity_to_pb / pb_to_entity alone.
"""

from __future__ import annotations

import datetime
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    StringProperty,
    TextProperty,
)
from orm_ext.codec import entity_to_pb, pb_to_entity
from orm_ext.entity_pb2 import Entity

PLUS_5 = datetime.timezone(datetime.timedelta(hours=5, minutes=30))


class CodecThing(Model):
    s = StringProperty()
    t = TextProperty()
    tz = TextProperty(compressed=True)
    i = IntegerProperty()
    f = FloatProperty()
    b = BooleanProperty()
    dt = DateTimeProperty()
    dta = DateTimeProperty(tzinfo=PLUS_5)
    d = DateProperty()
    j = JsonProperty()
    jz = JsonProperty(compressed=True)
    by = BytesProperty()
    byz = BytesProperty(compressed=True)
    k = KeyProperty()
    rs = StringProperty(repeated=True)
    ri = IntegerProperty(repeated=True)
    rf = FloatProperty(repeated=True)
    rb = BooleanProperty(repeated=True)
    rdt = DateTimeProperty(repeated=True)
    rd = DateProperty(repeated=True)
    rj = JsonProperty(repeated=True)
    rby = BytesProperty(repeated=True)
    rk = KeyProperty(repeated=True)
    rtz = TextProperty(repeated=True, compressed=True)


INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text()
FLOATS = st.floats(allow_nan=False)
DATETIMES = st.datetimes(
    min_value=datetime.datetime(1, 1, 1),
    max_value=datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
)
AWARE = st.datetimes(
    min_value=datetime.datetime(2, 1, 1),
    max_value=datetime.datetime(9998, 12, 31),
    timezones=st.sampled_from(
        [datetime.UTC, PLUS_5, datetime.timezone(datetime.timedelta(hours=-8))]
    ),
)
JSON = st.recursive(
    st.none() | st.booleans() | INT64 | FLOATS.filter(lambda x: abs(x) != float("inf")) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
KEYS = st.builds(
    Key, st.sampled_from(["CodecThing", "Other"]), st.integers(1, 2**63 - 1) | st.text(min_size=1)
)

SCALARS = {
    "s": st.text(max_size=500),
    "t": TEXT,
    "tz": TEXT,
    "i": INT64,
    "f": FLOATS,
    "b": st.booleans(),
    "dt": DATETIMES,
    "dta": AWARE,
    "d": st.dates(),
    "j": JSON,
    "jz": JSON,
    "by": st.binary(),
    "byz": st.binary(),
    "k": KEYS,
}
REPEATED = {
    "rs": st.text(max_size=500),
    "ri": INT64,
    "rf": FLOATS,
    "rb": st.booleans(),
    "rdt": DATETIMES,
    "rd": st.dates(),
    "rj": JSON.filter(lambda x: x is not None),
    "rby": st.binary(),
    "rk": KEYS,
    "rtz": TEXT,
}

ENTITY_VALUES = st.fixed_dictionaries(
    {},
    optional={
        **{name: st.none() | strategy for name, strategy in SCALARS.items()},
        **{name: st.lists(strategy, max_size=4) for name, strategy in REPEATED.items()},
    },
)


def _round_trip(entity: Model) -> Model:
    data = entity_to_pb(entity).SerializeToString()
    return pb_to_entity(type(entity), data)


@settings(max_examples=50, deadline=None)
@given(values=ENTITY_VALUES, ident=st.integers(1, 2**63 - 1) | st.text(min_size=1))
def test_entity_round_trips_through_bytes(values, ident):
    entity = CodecThing(id=ident, **values)
    back = _round_trip(entity)
    assert back == entity
    assert back.key == Key("CodecThing", ident)


@settings(max_examples=50, deadline=None)
@given(value=AWARE)
def test_aware_datetime_reads_back_as_same_instant_in_declared_zone(value):
    back = _round_trip(CodecThing(id=1, dta=value))
    assert back.dta == value
    assert back.dta.utcoffset() == PLUS_5.utcoffset(None)


@settings(max_examples=50, deadline=None)
@given(value=AWARE)
def test_aware_datetime_reads_back_naive_utc_without_tzinfo(value):
    back = _round_trip(CodecThing(id=1, dt=value))
    assert back.dt.tzinfo is None
    assert back.dt == value.astimezone(datetime.UTC).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("s", "mixed ünïcødé 𝄞 😀 中文"),
        ("t", "\x00 nul and astral 𐍈"),
        ("tz", "long " * 1000),
        ("i", -(2**63)),
        ("i", 2**63 - 1),
        ("i", 0),
        ("f", 0.0),
        ("f", -1.5e308),
        ("f", float("inf")),
        ("b", False),
        ("dt", datetime.datetime(1970, 1, 1)),
        ("dt", datetime.datetime(2024, 2, 29, 23, 59, 59, 999999)),
        ("dt", datetime.datetime(1, 1, 1)),
        ("dt", datetime.datetime(9999, 12, 31, 23, 59, 59, 999999)),
        ("d", datetime.date(1969, 12, 31)),
        ("d", datetime.date(1, 1, 1)),
        ("j", {"a": [1, 2.5, None, True, "𝄞"]}),
        ("j", ""),
        ("jz", [0]),
        ("by", b""),
        ("byz", bytes(range(256))),
        ("k", Key("Other", "𝄞")),
        ("rs", ["", "a"]),
        ("ri", [0, -1]),
        ("rb", [False, True]),
    ],
    ids=lambda x: repr(x)[:20],
)
def test_edge_value_round_trips_exactly(name, value):
    back = _round_trip(CodecThing(id=1, **{name: value}))
    assert getattr(back, name) == value
    assert type(getattr(back, name)) is type(value)


@pytest.mark.parametrize("name", list(SCALARS))
def test_none_round_trips_as_none(name):
    assert getattr(_round_trip(CodecThing(id=1, **{name: None})), name) is None


def test_falsy_values_are_not_read_as_none():
    back = _round_trip(CodecThing(id=1, s="", i=0, f=0.0, b=False, by=b"", t=""))
    assert (back.s, back.i, back.f, back.b, back.by, back.t) == ("", 0, 0.0, False, b"", "")


def test_compressed_text_is_stored_compressed():
    pb = entity_to_pb(CodecThing(id=1, tz="abc" * 1000))
    assert len(pb.properties["tz"].blob_value) < 100
    assert zlib.decompress(pb.properties["tz"].blob_value) == b"abc" * 1000


def test_value_written_uncompressed_reads_under_compressed_declaration():
    pb = Entity()
    pb.key.kind, pb.key.id = "CodecThing", 1
    pb.properties["tz"].string_value = "plain"
    assert pb_to_entity(CodecThing, pb.SerializeToString()).tz == "plain"


def test_property_missing_from_stored_entity_reads_default():
    class CodecDefaults(Model):
        a = StringProperty()

    data = entity_to_pb(CodecDefaults(id=1, a="x")).SerializeToString()

    class CodecDefaults(Model):  # the same kind, a property added later
        a = StringProperty()
        n = IntegerProperty(default=42)
        tags = StringProperty(repeated=True)

    back = pb_to_entity(CodecDefaults, data)
    assert (back.a, back.n, back.tags) == ("x", 42, [])


def _pb(**props) -> bytes:
    pb = Entity()
    pb.key.kind, pb.key.id = "CodecThing", 9
    for name, setter in props.items():
        setter(pb.properties[name])
    return pb.SerializeToString()


def test_garbage_bytes_raise_corrupt_entity_naming_kind_and_key():
    with pytest.raises(CorruptEntityError) as exc:
        pb_to_entity(CodecThing, b"\xff\xff\xff garbage", Key("CodecThing", 9))
    assert exc.value.kind == "CodecThing" and exc.value.key == Key("CodecThing", 9)
    assert "CodecThing" in str(exc.value) and "Key('CodecThing', 9)" in str(exc.value)


def test_invalid_zlib_in_compressed_text_raises_at_first_read_naming_the_property():
    def bad_zlib(v):
        v.blob_value = b"not zlib"
        v.meaning = 1 | 4

    # Compressed values stay compressed until read (as in ndb), so the error waits too.
    entity = pb_to_entity(CodecThing, _pb(tz=bad_zlib), Key("CodecThing", 9))
    with pytest.raises(CorruptEntityError) as exc:
        entity.tz  # noqa: B018
    assert exc.value.property == "tz"
    assert "'tz'" in str(exc.value) and "Key('CodecThing', 9)" in str(exc.value)


def test_invalid_json_raises_at_first_read_naming_the_property():
    def bad_json(v):
        v.string_value = "{not json"

    # JSON stays text until read (as in ndb), so the error waits for the read too.
    entity = pb_to_entity(CodecThing, _pb(j=bad_json))
    with pytest.raises(CorruptEntityError) as exc:
        entity.j  # noqa: B018
    assert exc.value.property == "j"


WRONG_TYPE = [
    ("s", lambda v: setattr(v, "integer_value", 5)),
    ("i", lambda v: setattr(v, "string_value", "5")),
    ("f", lambda v: setattr(v, "string_value", "x")),
    ("b", lambda v: setattr(v, "integer_value", 1)),
    ("dt", lambda v: setattr(v, "string_value", "2020")),
    ("d", lambda v: setattr(v, "boolean_value", True)),
    ("k", lambda v: setattr(v, "integer_value", 3)),
    ("by", lambda v: setattr(v, "double_value", 1.0)),
    ("t", lambda v: setattr(v, "integer_value", 7)),
]


@pytest.mark.parametrize(("name", "setter"), WRONG_TYPE, ids=[n for n, _ in WRONG_TYPE])
def test_value_of_wrong_wire_type_raises_corrupt_entity_naming_property(name, setter):
    with pytest.raises(CorruptEntityError) as exc:
        pb_to_entity(CodecThing, _pb(**{name: setter}), Key("CodecThing", 9))
    assert exc.value.property == name
    assert f"'{name}'" in str(exc.value)


@pytest.mark.parametrize("name", ["rs", "ri", "rdt", "rd", "rk", "rb", "rf"])
def test_scalar_written_before_property_became_repeated_reads_as_one_item_list(name):
    scalar = name[1:] if name != "rk" else "k"
    value = getattr(_round_trip(CodecThing(id=1, **{scalar: SAMPLE[scalar]})), scalar)
    data = entity_to_pb(CodecThing(id=1, **{scalar: value})).properties[scalar]

    def copy(v):
        v.CopyFrom(data)

    assert getattr(pb_to_entity(CodecThing, _pb(**{name: copy})), name) == [value]


@pytest.mark.parametrize("name", ["s", "i", "dt", "d", "k", "b", "f"])
def test_list_written_while_property_was_repeated_reads_its_first_item(name):
    items = [SAMPLE[name], SAMPLE2[name]]
    data = entity_to_pb(CodecThing(id=1, **{"r" + name: items})).properties["r" + name]

    def copy(v):
        v.CopyFrom(data)

    assert getattr(pb_to_entity(CodecThing, _pb(**{name: copy})), name) == items[0]


SAMPLE = {
    "s": "a",
    "i": 5,
    "dt": datetime.datetime(2020, 1, 2, 3, 4, 5, 6),
    "d": datetime.date(2020, 1, 2),
    "k": Key("Other", 4),
    "b": True,
    "f": 2.5,
}
SAMPLE2 = {
    "s": "b",
    "i": 6,
    "dt": datetime.datetime(2021, 1, 2),
    "d": datetime.date(2021, 1, 2),
    "k": Key("Other", "x"),
    "b": False,
    "f": 3.5,
}


def test_uncompressed_blob_in_text_property_is_corrupt():
    def blob(v):
        v.blob_value = b"raw"

    with pytest.raises(CorruptEntityError) as exc:
        pb_to_entity(CodecThing, _pb(t=blob))
    assert exc.value.property == "t"


def test_generated_decoder_and_generic_path_agree_on_every_property():
    entity = CodecThing(id=1, s="", i=0, rs=["a"], tz="", j=None, d=datetime.date(1970, 1, 1))
    pb = entity_to_pb(entity)
    generic = {
        name: prop._decode_value(pb.properties[prop._name])
        for name, prop in CodecThing._properties.items()
    }
    assert pb_to_entity(CodecThing, pb.SerializeToString()).to_dict() == generic
