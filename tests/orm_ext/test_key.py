"""Key: construction rules, accessors, url-safe round trip, ordering, store shortcuts."""

from __future__ import annotations

import pickle

import pytest

import orm_ext
from orm_ext import BadValueError, Key, KindError, Model, StringProperty


class KeyThing(Model):
    name = StringProperty()


def test_key_accepts_model_class_as_kind():
    assert Key(KeyThing, 3).kind() == "KeyThing"


def test_key_accessors_split_int_and_str_ids():
    int_key, str_key = Key("KeyThing", 7), Key("KeyThing", "seven")
    assert (int_key.id(), int_key.integer_id(), int_key.string_id()) == (7, 7, None)
    assert (str_key.id(), str_key.integer_id(), str_key.string_id()) == ("seven", None, "seven")


def test_key_without_id_is_incomplete():
    assert not Key("KeyThing").is_complete()
    assert Key("KeyThing", 1).is_complete()


@pytest.mark.parametrize(
    "ident",
    [0, -1, 2**63, True, 1.5, b"x", ""],
    ids=["zero", "neg", "big", "bool", "float", "bytes", "empty"],
)
def test_key_refuses_bad_id_naming_it(ident):
    with pytest.raises(BadValueError) as exc:
        Key("KeyThing", ident)
    assert repr(ident) in str(exc.value)


def test_key_accepts_int64_max_id():
    assert Key("KeyThing", 2**63 - 1).id() == 2**63 - 1


@pytest.mark.parametrize("kind", ["", None, 5])
def test_key_refuses_bad_kind(kind):
    with pytest.raises(BadValueError, match="kind"):
        Key(kind, 1)


@pytest.mark.parametrize("ident", [1, 2**63 - 1, "name", "ünï 𝄞 code", "a\x00b", "i12"])
def test_urlsafe_round_trips(ident):
    key = Key("KeyThing", ident)
    text = key.urlsafe()
    assert text.isascii() and "=" not in text and "/" not in text and "+" not in text
    assert Key(urlsafe=text) == key
    assert Key(urlsafe=text.encode()) == key


@pytest.mark.parametrize("text", ["", "not a key", "@@@", Key("KeyThing", "x").urlsafe()[:-3]])
def test_urlsafe_refuses_garbage(text):
    with pytest.raises(BadValueError, match="url-safe"):
        Key(urlsafe=text)


def test_urlsafe_refuses_encoded_invalid_id():
    import base64

    text = base64.urlsafe_b64encode(b"KeyThing\x00i-5").decode()
    with pytest.raises(BadValueError, match="-5"):
        Key(urlsafe=text)


def test_urlsafe_with_kind_is_refused():
    with pytest.raises(BadValueError, match="one or the other"):
        Key("KeyThing", urlsafe=Key("KeyThing", 1).urlsafe())


def test_incomplete_key_has_no_urlsafe():
    with pytest.raises(BadValueError, match="incomplete"):
        Key("KeyThing").urlsafe()


def test_keys_equal_and_hash_by_kind_and_id():
    assert Key("KeyThing", 1) == Key(KeyThing, 1)
    assert Key("KeyThing", 1) != Key("KeyThing", 2)
    assert Key("KeyThing", 1) != Key("Other", 1)
    assert Key("KeyThing", 1) != Key("KeyThing", "1")
    assert len({Key("KeyThing", 1), Key(KeyThing, 1), Key("KeyThing", "1")}) == 2


def test_keys_sort_by_kind_then_int_ids_before_names():
    keys = [Key("B", 1), Key("A", "b"), Key("A", 10), Key("A", "a"), Key("A", 2)]
    assert sorted(keys) == [Key("A", 2), Key("A", 10), Key("A", "a"), Key("A", "b"), Key("B", 1)]


def test_key_pickles():
    key = Key("KeyThing", "x")
    assert pickle.loads(pickle.dumps(key)) == key


def test_key_repr_shows_kind_and_id():
    assert repr(Key("KeyThing", "x")) == "Key('KeyThing', 'x')"


def test_model_class_of_unknown_kind_says_what_to_import():
    with pytest.raises(KindError, match="import the module"):
        Key("NoSuchKindAnywhere", 1).model_class()


def test_key_model_class_finds_registered_model():
    assert Key("KeyThing", 1).model_class() is KeyThing


def test_key_get_and_delete_use_default_store(sqlite_store):
    key = KeyThing(name="n").put()
    assert key.get().name == "n"
    key.delete()
    assert key.get() is None
    key.delete()  # deleting a missing key is fine
    assert orm_ext.get_store() is sqlite_store


@pytest.mark.parametrize("text", [b"\xff\xfe", "ключ"])
def test_urlsafe_refuses_non_ascii_with_bad_value_error(text):
    with pytest.raises(BadValueError, match="url-safe"):
        Key(urlsafe=text)
