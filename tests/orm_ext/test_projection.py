"""orm_ext.projection: decode only the named properties, guard the rest, refuse writes."""

from __future__ import annotations

import asyncio
import threading

import pytest
import sqlalchemy as sa

import orm_ext
from orm_ext import (
    BadProjectionError,
    IntegerProperty,
    Model,
    ProjectedEntityWriteError,
    StringProperty,
    TextProperty,
    UnprojectedPropertyError,
    codec,
    projection,
)
from orm_ext.entity_pb2 import Entity


class ProjVideo(Model):
    title = StringProperty(required=True)
    views = IntegerProperty(default=0)
    tags = StringProperty(repeated=True)
    description = TextProperty(compressed=True)


class ProjChannel(Model):
    name = StringProperty()
    subscribers = IntegerProperty()


def _seed(n: int = 3) -> list[orm_ext.Key]:
    return orm_ext.put_multi(
        [
            ProjVideo(title=f"v{i}", views=i, tags=[f"t{i}"], description="long text " * 20)
            for i in range(n)
        ]
    )


def _corrupt_views(store: orm_ext.Store, key: orm_ext.Key) -> None:
    """Store a string where the int 'views' belongs, so any decode of it raises."""
    table = store.schema(ProjVideo).table
    with store.engine.begin() as conn:
        blob = conn.execute(sa.select(table.c._pb).where(table.c._key_id == key.id())).scalar_one()
        msg = Entity.FromString(blob)
        msg.properties["views"].string_value = "not an int"
        conn.execute(
            table.update().where(table.c._key_id == key.id()).values(_pb=msg.SerializeToString())
        )


# -- what gets decoded -----------------------------------------------------------------


def test_projected_fetch_never_decodes_unnamed_properties(store):
    keys = _seed(2)
    _corrupt_views(store, keys[0])
    with pytest.raises(orm_ext.CorruptEntityError):
        ProjVideo.query().fetch()  # a full decode reads the broken views
    with projection(ProjVideo, "title", "tags"):
        videos = ProjVideo.query().order(ProjVideo.title).fetch()
    assert [(v.title, v.tags) for v in videos] == [("v0", ["t0"]), ("v1", ["t1"])]


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda keys: ProjVideo.query().order(ProjVideo.views).fetch(), id="fetch"),
        pytest.param(lambda keys: [ProjVideo.query().order(ProjVideo.views).get()], id="get"),
        pytest.param(lambda keys: list(ProjVideo.query().iter(batch_size=1)), id="iter"),
        pytest.param(lambda keys: ProjVideo.query().fetch_page(5)[0], id="fetch_page"),
        pytest.param(lambda keys: [keys[0].get()], id="Key.get"),
        pytest.param(lambda keys: orm_ext.get_multi(keys), id="get_multi"),
        pytest.param(lambda keys: [ProjVideo.get_by_id(keys[0].id())], id="get_by_id"),
    ],
)
def test_every_read_path_is_projected(sqlite_store, read):
    keys = _seed(2)
    with projection(ProjVideo, "title"):
        entities = read(keys)
    assert entities and all(e._projection == ("title",) for e in entities)
    assert entities[0].title == "v0"
    with pytest.raises(UnprojectedPropertyError):
        entities[0].views  # noqa: B018


def test_models_not_named_decode_fully_inside_the_block(sqlite_store):
    _seed(1)
    ProjChannel(name="khan", subscribers=5).put()
    with projection(ProjVideo, "title"):
        channel = ProjChannel.query().get()
    assert channel._projection == ()
    assert (channel.name, channel.subscribers) == ("khan", 5)


def test_reads_outside_the_block_are_full(sqlite_store):
    (key,) = _seed(1)
    with projection(ProjVideo, "title"):
        key.get()
    video = key.get()
    assert video._projection == ()
    assert video.description == "long text " * 20


def test_property_objects_name_the_same_projection_as_strings(sqlite_store):
    _seed(1)
    with projection(ProjVideo, ProjVideo.title, ProjVideo.views):
        video = ProjVideo.query().get()
    assert video._projection == ("title", "views")


def test_dict_form_projects_several_models(sqlite_store):
    _seed(1)
    ProjChannel(name="khan", subscribers=5).put()
    with projection({ProjVideo: ["views"], ProjChannel: ["name"]}):
        video, channel = ProjVideo.query().get(), ProjChannel.query().get()
    assert video._projection == ("views",) and channel._projection == ("name",)


def test_projected_property_missing_from_stored_entity_gives_default(sqlite_store):
    # Written before 'views' existed: the protobuf simply lacks it.
    msg = codec.entity_to_pb(ProjVideo(title="old"))
    del msg.properties["views"]
    table = sqlite_store.schema(ProjVideo).table
    with sqlite_store.engine.begin() as conn:
        conn.execute(table.insert().values(_pb=msg.SerializeToString(), title="old"))
    with projection(ProjVideo, "title", "views"):
        video = ProjVideo.query().get()
    assert (video.title, video.views) == ("old", 0)


def test_key_is_always_present_on_projected_entities(sqlite_store):
    (key,) = _seed(1)
    with projection(ProjVideo, "views"):
        video = ProjVideo.query().get()
    assert video.key == key


# -- the access guard ---------------------------------------------------------------------


def test_reading_an_unprojected_property_raises_attribute_error_naming_it(sqlite_store):
    _seed(1)
    with projection(ProjVideo, "title", "views"):
        video = ProjVideo.query().get()
    with pytest.raises(UnprojectedPropertyError) as info:
        video.description  # noqa: B018
    assert isinstance(info.value, AttributeError) and isinstance(info.value, orm_ext.Error)
    message = str(info.value)
    assert "ProjVideo.description" in message and "('title', 'views')" in message
    assert "projection(" in message  # the way out


def test_hasattr_and_getattr_default_behave_on_projected_entities(sqlite_store):
    _seed(1)
    with projection(ProjVideo, "title"):
        video = ProjVideo.query().get()
    assert not hasattr(video, "views")
    assert getattr(video, "views", "fallback") == "fallback"
    assert hasattr(video, "title")


def test_setting_an_unprojected_property_raises(sqlite_store):
    _seed(1)
    with projection(ProjVideo, "title"):
        video = ProjVideo.query().get()
    with pytest.raises(UnprojectedPropertyError):
        video.views = 3
    video.title = "renamed"  # a projected one may change (but not be written)
    assert video.title == "renamed"


def test_to_dict_of_a_projected_entity_holds_only_the_projection(sqlite_store):
    _seed(1)
    with projection(ProjVideo, "title", "views"):
        video = ProjVideo.query().get()
    assert video.to_dict() == {"title": "v0", "views": 0}


# -- writes -----------------------------------------------------------------------------


def _stored(store: orm_ext.Store) -> list[tuple]:
    table = store.schema(ProjVideo).table
    with store.engine.connect() as conn:
        return conn.execute(sa.select(table.c._key_id, table.c._pb).order_by(table.c._key_id)).all()


def test_put_of_a_projected_entity_is_refused_and_writes_nothing(store):
    _seed(1)
    before = _stored(store)
    with projection(ProjVideo, "title"):
        video = ProjVideo.query().get()
    video.title = "changed"
    with pytest.raises(ProjectedEntityWriteError) as info:
        video.put()
    assert "nothing was written" in str(info.value)
    assert _stored(store) == before


def test_batch_mixing_projected_and_full_entities_writes_nothing(store):
    _seed(2)
    before = _stored(store)
    with projection(ProjVideo, "title"):
        projected = ProjVideo.query().get()
    fresh = ProjVideo(title="new")
    with pytest.raises(ProjectedEntityWriteError):
        orm_ext.put_multi([fresh, projected])
    assert _stored(store) == before
    assert fresh.key is None


def test_delete_by_key_of_a_projected_entity_is_allowed(sqlite_store):
    (key,) = _seed(1)
    with projection(ProjVideo, "title"):
        video = key.get()
    video.key.delete()
    assert key.get() is None


def test_official_projection_entities_behave_the_same(sqlite_store):
    _seed(1)
    official = ProjVideo.query(projection=["title", "views"]).get()
    with projection(ProjVideo, "title", "views"):
        ours = ProjVideo.query().get()
    assert official._projection == ours._projection == ("title", "views")
    assert official.to_dict() == ours.to_dict()
    for entity in (official, ours):
        with pytest.raises(UnprojectedPropertyError):
            entity.description  # noqa: B018
        with pytest.raises(ProjectedEntityWriteError):
            entity.put()


# -- bad projections ----------------------------------------------------------------------


def test_unknown_name_raises_at_entry_with_did_you_mean():
    with pytest.raises(BadProjectionError) as info:
        projection(ProjVideo, "tittle")
    assert "did you mean 'title'?" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_property_of_another_model_is_refused():
    with pytest.raises(BadProjectionError):
        projection(ProjVideo, ProjChannel.name)


def test_projection_without_names_is_refused():
    with pytest.raises(BadProjectionError, match="name at least one property"):
        projection(ProjVideo)


def test_projection_of_a_non_model_is_refused():
    with pytest.raises(BadProjectionError, match="not a model class"):
        projection(dict, "title")


# -- contexts -------------------------------------------------------------------------------


def test_nested_inner_wins_for_its_models_outer_holds_for_others(sqlite_store):
    _seed(1)
    ProjChannel(name="khan", subscribers=5).put()
    with projection({ProjVideo: ["title"], ProjChannel: ["name"]}):
        with projection(ProjVideo, "views"):
            inner_video, inner_channel = ProjVideo.query().get(), ProjChannel.query().get()
        outer_video = ProjVideo.query().get()
    assert inner_video._projection == ("views",)
    assert inner_channel._projection == ("name",)
    assert outer_video._projection == ("title",)


def test_decorator_form_projects_each_call(sqlite_store):
    _seed(1)

    @projection(ProjVideo, "title")
    def titles() -> list:
        return ProjVideo.query().fetch()

    assert titles()[0]._projection == ("title",)
    assert ProjVideo.query().get()._projection == ()


def test_threads_see_only_their_own_projection(sqlite_store):
    _seed(3)
    results: dict[int, set] = {}
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        seen = set()
        for _ in range(20):
            if i % 2:
                with projection(ProjVideo, "title"):
                    seen.update(v._projection for v in ProjVideo.query().fetch())
            else:
                seen.update(v._projection for v in ProjVideo.query().fetch())
        results[i] = seen

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == ({("title",)} if i % 2 else {()}) for i in range(8))


def test_asyncio_tasks_interleaving_see_only_their_own_projection(sqlite_store):
    _seed(2)

    async def reader(projected: bool) -> set:
        seen = set()
        for _ in range(10):
            if projected:
                with projection(ProjVideo, "views"):
                    await asyncio.sleep(0)  # let the other task run inside this block
                    seen.update(v._projection for v in ProjVideo.query().fetch())
            else:
                await asyncio.sleep(0)
                seen.update(v._projection for v in ProjVideo.query().fetch())
        return seen

    async def main() -> list:
        return await asyncio.gather(reader(True), reader(False), reader(True))

    assert asyncio.run(main()) == [{("views",)}, {()}, {("views",)}]


# -- install / uninstall ------------------------------------------------------------------


def test_install_twice_then_uninstall_restores_the_original_function(sqlite_store):
    projection.uninstall()
    original = codec.pb_to_entity
    projection.install()
    projection.install()
    assert codec.pb_to_entity is not original
    # Installed once: one wrapper around the original, not two stacked.
    assert codec.pb_to_entity.__wrapped__ is original
    projection.uninstall()
    assert codec.pb_to_entity is original
    assert projection.installed_adapters() == []


def test_projection_installs_its_adapter_on_first_use(sqlite_store):
    projection.uninstall()
    assert "native" not in projection.installed_adapters()
    projection(ProjVideo, "title")
    assert "native" in projection.installed_adapters()


def test_iterator_keeps_the_projection_active_where_it_was_made(sqlite_store):
    _seed(3)
    with projection(ProjVideo, "title"):
        it = ProjVideo.query().order(ProjVideo.views).iter(batch_size=1)
        first = next(it)
    rest = list(it)  # later batches, read after the block
    assert [v._projection for v in [first, *rest]] == [("title",)] * 3


def test_iterator_made_outside_a_projection_stays_full_inside_one(sqlite_store):
    _seed(2)
    it = ProjVideo.query().iter(batch_size=1)
    with projection(ProjVideo, "title"):
        videos = list(it)
    assert [v._projection for v in videos] == [(), ()]
