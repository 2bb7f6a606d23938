"""orm_ext.projection on App Engine ndb, against the real testbed.

Every test runs with a fresh datastore_v3 stub (strongly consistent), a fresh
memcache stub and a fresh ndb Context whose context cache and memcache are ON,
as in production.
"""

from __future__ import annotations

import datetime
import importlib
from collections.abc import Iterator

import pytest
from google.appengine.api import datastore_errors, memcache
from google.appengine.datastore import datastore_stub_util
from google.appengine.ext import ndb, testbed
from google.appengine.ext.ndb import context as ndb_context
from google.appengine.ext.ndb import eventloop, polymodel, tasklets
from google.appengine.ext.ndb import model as ndb_model

import orm_ext
from orm_ext import projection

adapter_module = importlib.import_module("orm_ext.adapters.appengine_ndb")
projection_module = importlib.import_module("orm_ext.projection")


class Address(ndb.Model):
    city = ndb.StringProperty()
    street = ndb.StringProperty()


class Video(ndb.Model):
    title = ndb.StringProperty(name="t")  # attribute name differs from datastore name
    views = ndb.IntegerProperty()
    tags = ndb.StringProperty(repeated=True)
    description = ndb.TextProperty()
    rating = ndb.FloatProperty()
    published = ndb.DateTimeProperty()
    address = ndb.StructuredProperty(Address)
    added_later = ndb.StringProperty(default="fallback")


class Channel(ndb.Model):
    name = ndb.StringProperty()
    owner = ndb.StringProperty()


class Animal(polymodel.PolyModel):
    name = ndb.StringProperty()
    legs = ndb.IntegerProperty()


class Dog(Animal):
    breed = ndb.StringProperty()


class Cat(Animal):
    lives = ndb.IntegerProperty()


WHEN = datetime.datetime(2024, 5, 6, 7, 8, 9)


@pytest.fixture(autouse=True)
def ndb_testbed() -> Iterator[ndb_context.Context]:
    """A testbed with datastore and memcache stubs and a caching ndb Context.

    The adapter is installed first, as an app does at start-up: a tasklet
    created before install() has no issuing context to carry.
    """
    projection_module.install("appengine_ndb")
    bed = testbed.Testbed()
    bed.setup_env(overwrite=True, app_id="protolens-test")
    bed.activate()
    bed.init_datastore_v3_stub(
        consistency_policy=datastore_stub_util.PseudoRandomHRConsistencyPolicy(probability=1)
    )
    bed.init_memcache_stub()
    ctx = ndb_context.Context(conn=ndb_model.make_connection())
    tasklets.set_context(ctx)
    try:
        yield ctx
    finally:
        while eventloop.get_event_loop().run1():
            pass
        tasklets.set_context(None)
        bed.deactivate()


def make_video(i: int = 0, **overrides: object) -> Video:
    values = dict(
        title=f"video {i}",
        views=100 + i,
        tags=["math", f"t{i}"],
        description="long " * 50,
        rating=4.5,
        published=WHEN,
        address=Address(city="Paris", street=f"rue {i}"),
    )
    values.update(overrides)
    return Video(**values)


def put_videos(n: int = 3) -> list[ndb.Key]:
    keys = ndb.put_multi([make_video(i) for i in range(n)])
    ndb.get_context().clear_cache()
    return keys


def assert_projected(video: Video, i: int) -> None:
    """title and views exact, the rest dropped (not decoded, and guarded)."""
    assert video.title == f"video {i}"
    assert video.views == 100 + i
    assert video._projection == ("t", "views")
    assert set(video._values) == {b"t", b"views"}
    with pytest.raises(orm_ext.UnprojectedPropertyError):
        video.description  # noqa: B018


def memcache_value(key: ndb.Key) -> object:
    return memcache.get(ndb_context.Context._memcache_prefix + key.urlsafe())


# --- every read path decodes only the projection -----------------------------


def test_query_fetch_decodes_only_projected_properties() -> None:
    put_videos()
    with projection(Video, "title", "views"):
        videos = Video.query().order(Video.views).fetch()
    for i, video in enumerate(videos):
        assert_projected(video, i)


def test_query_iter_decodes_only_projected_properties() -> None:
    put_videos()
    with projection(Video, "title", "views"):
        videos = list(Video.query().order(Video.views).iter(batch_size=2))
    assert len(videos) == 3
    for i, video in enumerate(videos):
        assert_projected(video, i)


def test_query_fetch_page_decodes_only_projected_properties() -> None:
    put_videos(5)
    with projection(Video, "title", "views"):
        first, cursor, more = Video.query().order(Video.views).fetch_page(2)
        second, _, _ = Video.query().order(Video.views).fetch_page(2, start_cursor=cursor)
    assert more
    for i, video in enumerate(first + second):
        assert_projected(video, i)


def test_key_get_decodes_only_projected_properties() -> None:
    keys = put_videos()
    with projection(Video, "title", "views"):
        video = keys[1].get()
    assert_projected(video, 1)


def test_get_multi_decodes_only_projected_properties() -> None:
    keys = put_videos()
    with projection(Video, "title", "views"):
        videos = ndb.get_multi(keys)
    for i, video in enumerate(videos):
        assert_projected(video, i)


def test_get_inside_transaction_decodes_only_projected_properties() -> None:
    keys = put_videos()
    with projection(Video, "title", "views"):
        video = ndb.transaction(lambda: keys[2].get())
    assert_projected(video, 2)


def test_ancestor_query_inside_transaction_decodes_only_projected_properties() -> None:
    parent = Channel(name="c", owner="o").put()
    make_video(0, parent=parent).put()
    with projection(Video, "title", "views"):
        videos = ndb.transaction(lambda: Video.query(ancestor=parent).fetch())
    assert_projected(videos[0], 0)


def test_models_not_named_decode_fully_inside_projection() -> None:
    key = Channel(name="c", owner="o").put()
    ndb.get_context().clear_cache()
    with projection(Video, "title"):
        channel = key.get()
        channels = Channel.query().fetch()
    assert channel._projection == () and channel.owner == "o"
    assert channels[0]._projection == () and channels[0].owner == "o"


def test_reads_after_the_block_decode_fully() -> None:
    keys = put_videos()
    with projection(Video, "title", "views"):
        Video.query().fetch()
    video = keys[0].get()
    fetched = Video.query().order(Video.views).fetch()[0]
    for full in (video, fetched):
        assert full._projection == ()
        assert full.description == "long " * 50
        assert full.address == Address(city="Paris", street="rue 0")


def test_projected_property_missing_from_stored_entity_gives_default() -> None:
    key = make_video(0)
    key._values.pop(b"added_later", None)
    key = key.put()
    ndb.get_context().clear_cache()
    with projection(Video, "title", "added_later"):
        video = key.get()
    assert video.added_later == "fallback"


# --- the guard -----------------------------------------------------------------


def test_dropped_property_error_is_orm_ext_ndb_and_attribute_error() -> None:
    key = put_videos(1)[0]
    with projection(Video, "title", "views"):
        video = key.get()
    with pytest.raises(orm_ext.UnprojectedPropertyError) as info:
        video.rating  # noqa: B018
    assert isinstance(info.value, ndb.UnprojectedPropertyError)
    assert isinstance(info.value, AttributeError)
    assert "Video.rating" in str(info.value) and "'title'" in str(info.value)
    assert getattr(video, "rating", "default") == "default"
    assert not hasattr(video, "tags")


def test_projected_entity_refuses_assignment() -> None:
    key = put_videos(1)[0]
    with projection(Video, "title"):
        video = key.get()
    with pytest.raises(ndb_model.ReadonlyPropertyError):
        video.views = 3


# --- caches ------------------------------------------------------------------


def test_projected_get_is_not_served_from_the_context_cache() -> None:
    key = put_videos(1)[0]
    full = key.get()  # now in the context cache
    with projection(Video, "title", "views"):
        video = key.get()
    assert video is not full
    assert_projected(video, 0)


def test_projected_get_is_not_served_from_memcache() -> None:
    key = put_videos(1)[0]
    key.get()  # fills memcache
    assert memcache_value(key) is not None
    ndb.get_context().clear_cache()
    with projection(Video, "title", "views"):
        video = key.get()
    assert_projected(video, 0)


def test_projected_get_leaves_context_cache_and_memcache_untouched() -> None:
    key = put_videos(1)[0]
    with projection(Video, "title", "views"):
        key.get()
        ndb.get_multi([key])
    assert key not in ndb.get_context()._cache
    assert memcache_value(key) is None


def test_projected_query_leaves_context_cache_untouched() -> None:
    key = put_videos(1)[0]
    with projection(Video, "title", "views"):
        Video.query().fetch()
    assert key not in ndb.get_context()._cache


def test_projected_query_is_not_served_from_the_context_cache() -> None:
    key = put_videos(1)[0]
    full = key.get()
    with projection(Video, "title", "views"):
        video = Video.query().get()
    assert video is not full and video.key == key
    assert_projected(video, 0)


def test_full_entity_read_after_the_block_is_cached_in_full() -> None:
    key = put_videos(1)[0]
    with projection(Video, "title", "views"):
        key.get()
    video = key.get()
    cached = ndb.get_context()._cache[key]
    assert cached is video and cached._projection == ()
    assert memcache_value(key) is not None
    ndb.get_context().clear_cache()
    assert key.get().description == "long " * 50  # the memcache copy is full


def test_full_put_inside_the_block_leaves_no_stale_cache() -> None:
    key = put_videos(1)[0]
    key.get()  # cached in context cache and memcache
    with projection(Video, "title"):
        fresh = make_video(0, views=999)
        fresh.key = key
        fresh.put()
    ndb.get_context().clear_cache()
    assert key.get().views == 999


# --- async: projected when issued inside ---------------------------------------


def test_get_async_issued_inside_and_resolved_outside_is_projected() -> None:
    key = put_videos(1)[0]
    with projection(Video, "title", "views"):
        future = key.get_async()
    assert_projected(future.get_result(), 0)


def test_get_async_issued_outside_and_resolved_inside_is_full() -> None:
    key = put_videos(1)[0]
    future = key.get_async()
    with projection(Video, "title", "views"):
        video = future.get_result()
    assert video._projection == () and video.description == "long " * 50
    assert ndb.get_context()._cache[key] is video


def test_fetch_async_issued_inside_and_resolved_outside_is_projected() -> None:
    put_videos()
    with projection(Video, "title", "views"):
        future = Video.query().order(Video.views).fetch_async()
    for i, video in enumerate(future.get_result()):
        assert_projected(video, i)


def test_fetch_async_issued_outside_and_resolved_inside_is_full() -> None:
    put_videos()
    future = Video.query().order(Video.views).fetch_async()
    with projection(Video, "title", "views"):
        videos = future.get_result()
    assert all(v._projection == () and v.rating == 4.5 for v in videos)


def test_projected_and_full_gets_in_one_batch_keep_their_own_shape() -> None:
    keys = put_videos(2)
    with projection(Video, "title", "views"):
        inside = keys[0].get_async()
    outside = keys[1].get_async()
    assert_projected(inside.get_result(), 0)
    assert outside.get_result().description == "long " * 50


# --- writes --------------------------------------------------------------------


def _put(video: Video) -> object:
    return video.put()


def _put_alias(video: Video) -> object:
    return video._put()


def _put_async(video: Video) -> object:
    return video.put_async().get_result()


def _put_async_alias(video: Video) -> object:
    return video._put_async().get_result()


def _put_multi(video: Video) -> object:
    return ndb.put_multi([video])


def _put_multi_async(video: Video) -> object:
    return [f.get_result() for f in ndb.put_multi_async([video])]


def _model_put_multi(video: Video) -> object:
    return ndb_model.put_multi([video])


def _context_put(video: Video) -> object:
    return ndb.get_context().put(video).get_result()


def _put_in_transaction(video: Video) -> object:
    return ndb.transaction(video.put)


@pytest.mark.parametrize(
    "write",
    [
        _put,
        _put_alias,
        _put_async,
        _put_async_alias,
        _put_multi,
        _put_multi_async,
        _model_put_multi,
        _context_put,
        _put_in_transaction,
    ],
)
def test_every_put_path_refuses_a_projected_entity_and_writes_nothing(write) -> None:
    key = put_videos(1)[0]
    with projection(Video, "title", "views"):
        video = key.get()
    with pytest.raises(orm_ext.ProjectedEntityWriteError) as info:
        write(video)
    assert isinstance(info.value, datastore_errors.BadRequestError)  # ndb's own contract
    while eventloop.get_event_loop().run1():
        pass
    ndb.get_context().clear_cache()
    stored = key.get(use_memcache=False)
    assert stored.description == "long " * 50 and stored.tags == ["math", "t0"]


def test_put_multi_with_one_projected_entity_writes_none_of_the_batch() -> None:
    keys = put_videos(2)
    with projection(Video, "title"):
        projected = keys[1].get()
    full = keys[0].get()
    full.views = 12345
    with pytest.raises(orm_ext.ProjectedEntityWriteError):
        ndb.put_multi([full, projected])
    while eventloop.get_event_loop().run1():
        pass
    ndb.get_context().clear_cache()
    assert keys[0].get(use_memcache=False).views == 100


def test_official_projection_entity_raises_the_same_write_error() -> None:
    put_videos(1)
    official = Video.query(projection=[Video.views]).get()
    with pytest.raises(orm_ext.ProjectedEntityWriteError):
        official.put()


# --- names, structured, repeated, PolyModel --------------------------------------


def test_attribute_names_map_to_datastore_names() -> None:
    key = put_videos(1)[0]
    with projection(Video, "title"):
        video = key.get()
    assert video.title == "video 0"
    assert video._projection == ("t",)


def test_property_objects_name_the_projection() -> None:
    key = put_videos(1)[0]
    with projection(Video, Video.title, Video.views):
        video = key.get()
    assert_projected(video, 0)


def test_unknown_name_is_refused_with_a_suggestion() -> None:
    with pytest.raises(orm_ext.BadProjectionError, match="did you mean 'title'"):
        projection(Video, "tittle")


def test_structured_property_is_projected_whole_by_its_head_name() -> None:
    key = put_videos(1)[0]
    with projection(Video, "address"):
        video = key.get()
    assert video.address == Address(city="Paris", street="rue 0")
    assert video.address._projection == ()
    with pytest.raises(orm_ext.UnprojectedPropertyError):
        video.title  # noqa: B018


def test_repeated_property_keeps_every_value_in_order() -> None:
    key = make_video(0, tags=["c", "a", "b"]).put()
    empty = make_video(1, tags=[]).put()
    ndb.get_context().clear_cache()
    with projection(Video, "tags"):
        assert key.get().tags == ["c", "a", "b"]
        assert empty.get().tags == []


def test_polymodel_entities_keep_their_subclass() -> None:
    Dog(name="rex", legs=4, breed="lab").put()
    Cat(name="tom", legs=4, lives=9).put()
    ndb.get_context().clear_cache()
    with projection(Animal, "name"):
        animals = sorted(Animal.query().fetch(), key=lambda a: a.name)
    assert [type(a) for a in animals] == [Dog, Cat]
    assert [a.name for a in animals] == ["rex", "tom"]
    assert all(a._projection == ("class", "name") for a in animals)
    with pytest.raises(orm_ext.UnprojectedPropertyError):
        animals[0].legs  # noqa: B018


def test_polymodel_projection_of_one_subclass_leaves_siblings_full() -> None:
    Dog(name="rex", legs=4, breed="lab").put()
    Cat(name="tom", legs=4, lives=9).put()
    ndb.get_context().clear_cache()
    with projection(Dog, "breed"):
        animals = {a.name if not a._projection else a.breed: a for a in Animal.query().fetch()}
    assert animals["lab"]._projection == ("breed", "class")
    assert animals["tom"].lives == 9 and animals["tom"]._projection == ()


# --- install / uninstall -------------------------------------------------------


def test_install_twice_then_uninstall_restores_every_original() -> None:
    adapter = adapter_module.ADAPTER
    adapter.uninstall()
    originals = {
        "pb_to_entity": ndb_model.ModelAdapter.__dict__["pb_to_entity"],
        "put": ndb_model.Model.__dict__["put"],
        "_put_async": ndb_model.Model.__dict__["_put_async"],
        "get": ndb_context.Context.__dict__["get"],
        "put_multi": ndb.put_multi,
    }
    projection_module.install("appengine_ndb")
    projection_module.install("appengine_ndb")
    assert ndb_model.ModelAdapter.__dict__["pb_to_entity"].__wrapped__ is originals["pb_to_entity"]
    adapter.uninstall()
    assert ndb_model.ModelAdapter.__dict__["pb_to_entity"] is originals["pb_to_entity"]
    assert ndb_model.Model.__dict__["put"] is originals["put"]
    assert ndb_model.Model.__dict__["_put_async"] is originals["_put_async"]
    assert ndb_context.Context.__dict__["get"] is originals["get"]
    assert ndb.put_multi is originals["put_multi"]
    assert ndb_model.Model.put is ndb_model.Model._put


def test_projection_installs_the_adapter_on_first_use() -> None:
    adapter_module.ADAPTER.uninstall()
    projection(Video, "title")
    assert "appengine_ndb" in projection_module.installed_adapters()
