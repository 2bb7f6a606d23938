"""Model: construction, populate, to_dict, equality, repr, kinds, unknown names."""

from __future__ import annotations

import pytest

from orm_ext import (
    BadValueError,
    IntegerProperty,
    JsonProperty,
    Key,
    Model,
    StringProperty,
    TextProperty,
)


class ModelThing(Model):
    title = StringProperty()
    views = IntegerProperty(default=0)
    tags = StringProperty(repeated=True)
    body = TextProperty()


class ModelRenamed(Model):
    title = StringProperty("t")

    @classmethod
    def _get_kind(cls):
        return "ModelRenamedKind"


class ModelBase(Model):
    _abstract = True
    owner = StringProperty()


class ModelChild(ModelBase):
    extra = JsonProperty()


def test_constructor_sets_values():
    thing = ModelThing(title="a", views=3, tags=["x"])
    assert (thing.title, thing.views, thing.tags, thing.body) == ("a", 3, ["x"], None)


def test_constructor_unknown_property_suggests_close_name():
    with pytest.raises(
        BadValueError, match=r"ModelThing has no property 'tittle'; did you mean 'title'\?"
    ):
        ModelThing(tittle="a")


def test_unknown_property_on_class_suggests_close_name():
    with pytest.raises(AttributeError, match=r"'veiws'.*did you mean 'views'\?"):
        ModelThing.veiws  # noqa: B018


def test_unknown_property_in_filter_suggests_close_name():
    with pytest.raises(AttributeError, match="did you mean 'title'"):
        ModelThing.query(ModelThing.titel == "a")


def test_hasattr_on_class_still_works_for_missing_names():
    assert not hasattr(ModelThing, "nothing_like_this")
    assert not hasattr(ModelThing, "__nothing__")


def test_id_argument_makes_key_of_own_kind():
    assert ModelThing(id="x").key == Key("ModelThing", "x")


def test_key_and_id_together_are_refused():
    with pytest.raises(BadValueError, match="one, not both"):
        ModelThing(key=Key("ModelThing", 1), id=1)


def test_key_of_other_kind_is_refused():
    with pytest.raises(BadValueError, match="kind must be 'ModelThing'"):
        ModelThing(key=Key("Other", 1))


def test_new_entity_has_no_key():
    assert ModelThing().key is None


def test_get_kind_override_names_the_kind():
    assert ModelRenamed(id=1).key.kind() == "ModelRenamedKind"
    assert Key("ModelRenamedKind", 1).model_class() is ModelRenamed


def test_subclass_inherits_properties():
    assert list(ModelChild._properties) == ["owner", "extra"]
    assert ModelChild(owner="o").owner == "o"


def test_abstract_base_is_not_registered():
    assert "ModelBase" not in Model._kind_map
    assert Model._kind_map["ModelChild"] is ModelChild


def test_populate_sets_several_and_validates():
    thing = ModelThing()
    thing.populate(title="a", views=2)
    assert (thing.title, thing.views) == ("a", 2)
    with pytest.raises(BadValueError):
        thing.populate(views="x")


def test_to_dict_gives_every_property_with_defaults():
    assert ModelThing(title="a").to_dict() == {"title": "a", "views": 0, "tags": [], "body": None}


def test_to_dict_include_and_exclude():
    thing = ModelThing(title="a", views=1)
    assert thing.to_dict(include=["views"]) == {"views": 1}
    assert thing.to_dict(exclude=["tags", "body"]) == {"title": "a", "views": 1}


def test_equality_by_key_and_values():
    assert ModelThing(id=1, title="a") == ModelThing(id=1, title="a")
    assert ModelThing(id=1, title="a") != ModelThing(id=2, title="a")
    assert ModelThing(id=1, title="a") != ModelThing(id=1, title="b")


def test_entities_of_different_models_are_not_equal():
    assert ModelChild(owner="a") != ModelThing(title="a")


def test_entities_are_unhashable():
    with pytest.raises(TypeError):
        hash(ModelThing())


def test_repr_shows_key_and_values_truncated():
    text = repr(ModelThing(id=5, title="a", body="x" * 100))
    assert text.startswith("ModelThing(key=Key('ModelThing', 5), title='a', views=0")
    assert "..." in text and "x" * 70 not in text


def test_delattr_resets_property_to_none():
    thing = ModelThing(title="a")
    del thing.title
    assert thing.title is None


def test_stored_name_differs_from_attribute(sqlite_store):
    key = ModelRenamed(title="x").put()
    assert key.get().title == "x"
    assert ModelRenamed.query(ModelRenamed.title == "x").count() == 1


def test_get_by_id_reads_entity(sqlite_store):
    key = ModelThing(title="a").put()
    assert ModelThing.get_by_id(key.id()).title == "a"
    assert ModelThing.get_by_id(10**6) is None


@pytest.mark.parametrize("name", ["key", "id"])
def test_property_named_like_the_key_is_refused_with_the_way_out(name):
    with pytest.raises(BadValueError, match=rf"reserved for the entity's key.*name={name!r}"):
        type("ModelReservedName", (Model,), {name: StringProperty()})
