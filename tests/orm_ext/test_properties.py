"""Properties: type checks, defaults, required, choices, validators, repeated, options."""

from __future__ import annotations

import datetime

import pytest

from orm_ext import (
    BadFilterError,
    BadValueError,
    BooleanProperty,
    BytesProperty,
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


def _lower(prop, value):
    return value.lower()


def _no_spaces(prop, value):
    if " " in value:
        raise BadValueError(f"{prop!r} = {value!r}: no spaces allowed")


class PropThing(Model):
    s = StringProperty()
    t = TextProperty()
    i = IntegerProperty()
    f = FloatProperty()
    b = BooleanProperty()
    dt = DateTimeProperty()
    d = DateProperty()
    j = JsonProperty()
    by = BytesProperty()
    k = KeyProperty(kind="PropThing")
    tags = StringProperty(repeated=True)
    color = StringProperty(choices=["red", "green"])
    slug = StringProperty(validator=_lower)
    word = StringProperty(validator=_no_spaces)
    count = IntegerProperty(default=7)
    title = StringProperty(required=True)
    stamp = DateTimeProperty(auto_now=True)
    created = DateTimeProperty(auto_now_add=True)
    typed = JsonProperty(json_type=dict)


WRONG = [
    ("s", 5),
    ("t", b"bytes"),
    ("i", "5"),
    ("i", True),
    ("i", 1.5),
    ("f", "1.0"),
    ("f", False),
    ("b", 1),
    ("dt", datetime.date(2020, 1, 1)),
    ("d", datetime.datetime(2020, 1, 1)),
    ("by", "text"),
    ("k", "PropThing:1"),
    ("tags", "not-a-list"),
    ("typed", [1, 2]),
]


@pytest.mark.parametrize(("name", "value"), WRONG, ids=[f"{n}={v!r}" for n, v in WRONG])
def test_wrong_type_raises_bad_value_error_naming_property_and_value(name, value):
    with pytest.raises(BadValueError) as exc:
        PropThing(**{name: value})
    assert f"PropThing.{name}" in str(exc.value)
    assert repr(value)[:20] in str(exc.value)


def test_wrong_type_on_attribute_set_keeps_old_value():
    thing = PropThing(i=1)
    with pytest.raises(BadValueError):
        thing.i = "2"
    assert thing.i == 1


@pytest.mark.parametrize("value", [-(2**63), 2**63 - 1])
def test_integer_accepts_int64_edges(value):
    assert PropThing(i=value).i == value


@pytest.mark.parametrize("value", [-(2**63) - 1, 2**63])
def test_integer_refuses_beyond_int64(value):
    with pytest.raises(BadValueError, match="64-bit"):
        PropThing(i=value)


def test_float_accepts_int_and_stores_float():
    value = PropThing(f=3).f
    assert value == 3.0 and type(value) is float


def test_bytes_accepts_bytearray_as_bytes():
    value = PropThing(by=bytearray(b"ab")).by
    assert value == b"ab" and type(value) is bytes


def test_indexed_string_refuses_more_than_500_characters_and_says_the_fix():
    PropThing(s="x" * 500)
    with pytest.raises(BadValueError, match="TextProperty"):
        PropThing(s="x" * 501)


def test_text_holds_long_strings():
    assert PropThing(t="x" * 100_000).t == "x" * 100_000


def test_key_property_refuses_other_kind():
    with pytest.raises(BadValueError, match="kind 'PropThing'"):
        PropThing(k=Key("Other", 1))


def test_key_property_refuses_incomplete_key():
    with pytest.raises(BadValueError, match="incomplete"):
        PropThing(k=Key("PropThing"))


def test_json_refuses_unserialisable_value_on_put(sqlite_store):
    thing = PropThing(title="x", j={"a": object()})
    with pytest.raises(BadValueError, match="JSON"):
        thing.put()
    assert PropThing.query().count() == 0


def test_default_applies_when_unset():
    assert PropThing().count == 7


def test_default_does_not_apply_when_set_to_none():
    assert PropThing(count=None).count is None


def test_repeated_default_is_a_fresh_empty_list():
    a, b = PropThing(), PropThing()
    a.tags.append("x")
    assert a.tags == ["x"] and b.tags == []


def test_repeated_accepts_tuple_and_validates_each_item():
    assert PropThing(tags=("a", "b")).tags == ["a", "b"]
    with pytest.raises(BadValueError, match="expected a str"):
        PropThing(tags=["a", 2])


def test_repeated_refuses_none_item():
    with pytest.raises(BadValueError, match="None"):
        PropThing(tags=["a", None])


def test_repeated_none_means_empty_list():
    assert PropThing(tags=None).tags == []


def test_choices_accept_listed_value():
    assert PropThing(color="red").color == "red"


def test_choices_refuse_other_value_listing_choices():
    with pytest.raises(BadValueError, match=r"'purple'.*\['green', 'red'\]"):
        PropThing(color="purple")


def test_validator_return_value_replaces_value():
    assert PropThing(slug="HeLLo").slug == "hello"


def test_validator_error_propagates_and_value_stays_unset():
    thing = PropThing()
    with pytest.raises(BadValueError, match="no spaces"):
        thing.word = "a b"
    assert thing.word is None


def test_required_property_refuses_put_when_none_and_writes_nothing(sqlite_store):
    with pytest.raises(BadValueError, match="required property 'title'"):
        PropThing(s="x").put()
    assert PropThing.query().count() == 0


def test_auto_now_sets_time_on_every_put(sqlite_store):
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    thing = PropThing(title="x", stamp=datetime.datetime(2000, 1, 1))
    thing.put()
    assert thing.stamp >= before


def test_auto_now_add_keeps_first_value(sqlite_store):
    first = datetime.datetime(2001, 2, 3, 4, 5, 6, 7)
    thing = PropThing(title="x", created=first)
    thing.put()
    thing.put()
    assert thing.key.get().created == first


def test_auto_now_add_fills_unset_value(sqlite_store):
    thing = PropThing(title="x")
    thing.put()
    assert isinstance(thing.key.get().created, datetime.datetime)


def test_bad_default_is_refused_at_declaration():
    with pytest.raises(BadValueError, match="expected an int"):
        IntegerProperty(default="seven")


def test_repeated_refuses_default_and_required():
    with pytest.raises(BadValueError, match="repeated"):
        StringProperty(repeated=True, default=["a"])
    with pytest.raises(BadValueError, match="repeated"):
        StringProperty(repeated=True, required=True)


@pytest.mark.parametrize("cls", [TextProperty, JsonProperty])
def test_never_indexed_types_refuse_indexed_true(cls):
    with pytest.raises(BadValueError, match="never indexed"):
        cls(indexed=True)


def test_compressed_and_indexed_bytes_are_refused():
    with pytest.raises(BadValueError, match="compressed"):
        BytesProperty(compressed=True, indexed=True)


def test_property_name_with_underscore_is_refused():
    with pytest.raises(BadValueError, match="must not start with '_'"):

        class Underscored(Model):
            _hidden = StringProperty()


def test_duplicate_stored_names_are_refused():
    with pytest.raises(BadValueError, match="share the stored name"):

        class Clash(Model):
            a = StringProperty("x")
            b = StringProperty("x")


def test_filter_on_unindexed_property_says_how_to_fix():
    class Unindexed(Model):
        note = StringProperty(indexed=False)

    with pytest.raises(BadFilterError, match="indexed=True"):
        Unindexed.note == "x"  # noqa: B015


@pytest.mark.parametrize("name", ["t", "j"])
def test_filter_on_never_indexed_type_does_not_advise_indexed_true(name):
    # TextProperty(indexed=True) is itself refused: the advice must be something that works.
    with pytest.raises(BadFilterError, match="is never indexed") as info:
        getattr(PropThing, name) == "x"  # noqa: B015
    assert "indexed=True" not in str(info.value)


def test_filter_value_is_validated_against_property_type():
    with pytest.raises(BadValueError, match=r"PropThing\.i = "):
        PropThing.i == "x"  # noqa: B015


@pytest.mark.parametrize("values", ["ab", b"ab", {"a": 1}])
def test_in_refuses_a_bare_string_or_mapping(values):
    with pytest.raises(BadFilterError, match="IN"):
        PropThing.s.IN(values)


def test_in_accepts_any_iterable_of_values():
    assert PropThing.s.IN(x for x in ["a", "b"]).value == ["a", "b"]


def test_property_repr_names_model_and_attribute():
    assert repr(PropThing.slug) == "PropThing.slug"


def test_stored_name_with_underscore_is_refused():
    with pytest.raises(BadValueError, match="stored name '_x'"):

        class UnderscoredStored(Model):
            x = StringProperty("_x")
