"""orm_ext.projection on google-cloud-ndb, offline.

The client runs with anonymous credentials and no emulator. The only stub is
the RPC layer: ``_datastore_api.make_call`` is replaced by a small in-memory
Datastore that answers lookup, run_query, begin_transaction, commit and
rollback with real ``datastore_v1`` protobufs (made by ndb's own
``_entity_to_protobuf``). Everything above it (batching, caches, tasklets,
query result handling, the decode seam) is google-cloud-ndb's own code.
"""

from __future__ import annotations

import importlib
import itertools
from collections import Counter
from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import ndb
from google.cloud.datastore_v1.types import datastore as datastore_pb2
from google.cloud.datastore_v1.types import entity as entity_pb2
from google.cloud.datastore_v1.types import query as query_pb2
from google.cloud.ndb import _datastore_api, global_cache, polymodel, tasklets
from google.cloud.ndb import exceptions as ndb_exceptions
from google.cloud.ndb import model as ndb_model

import orm_ext
from orm_ext import projection

adapter_module = importlib.import_module("orm_ext.adapters.cloud_ndb")
projection_module = importlib.import_module("orm_ext.projection")


class Address(ndb.Model):
    city = ndb.StringProperty()
    street = ndb.StringProperty()


class Clip(ndb.Model):
    title = ndb.StringProperty(name="t")  # attribute name differs from datastore name
    views = ndb.IntegerProperty()
    tags = ndb.StringProperty(repeated=True)
    description = ndb.TextProperty()
    rating = ndb.FloatProperty()
    address = ndb.StructuredProperty(Address)


class Owner(ndb.Model):
    name = ndb.StringProperty()
    email = ndb.StringProperty()


class Pet(polymodel.PolyModel):
    name = ndb.StringProperty()
    legs = ndb.IntegerProperty()


class Hound(Pet):
    breed = ndb.StringProperty()


class FakeDatastore:
    """Answers ndb's RPCs from a dict of real datastore_v1 Entity protobufs."""

    def __init__(self) -> None:
        self.entities: dict[bytes, entity_pb2.Entity] = {}
        self.calls: Counter[str] = Counter()
        self._ids = itertools.count(1)

    def make_call(self, rpc_name, request, retries=None, timeout=None, metadata=()):
        self.calls[rpc_name] += 1
        future = tasklets.Future(rpc_name)
        future.set_result(getattr(self, rpc_name)(request))
        return future

    def lookup(self, request):
        found, missing = [], []
        for key in request.keys:
            stored = self.entities.get(key._pb.SerializeToString())
            if stored is None:
                missing.append(query_pb2.EntityResult(entity=entity_pb2.Entity(key=key)))
            else:
                found.append(query_pb2.EntityResult(entity=stored))
        return datastore_pb2.LookupResponse(found=found, missing=missing)

    def run_query(self, request):
        kind = request.query.kind[0].name
        results = [
            query_pb2.EntityResult(entity=e, cursor=b"c%d" % i)
            for i, e in enumerate(self.entities.values())
            if e.key.path[-1].kind == kind
        ]
        return datastore_pb2.RunQueryResponse(
            batch=query_pb2.QueryResultBatch(
                entity_result_type=query_pb2.EntityResult.ResultType.FULL,
                entity_results=results,
                end_cursor=b"end",
                more_results=query_pb2.QueryResultBatch.MoreResultsType.NO_MORE_RESULTS,
            )
        )

    def begin_transaction(self, request):
        return datastore_pb2.BeginTransactionResponse(transaction=b"tx")

    def rollback(self, request):
        return datastore_pb2.RollbackResponse()

    def commit(self, request):
        results = []
        for mutation in request.mutations:
            entity = mutation.upsert or mutation.insert or mutation.update
            if not entity.key.path[-1].id and not entity.key.path[-1].name:
                entity.key.path[-1].id = next(self._ids)
            self.entities[entity.key._pb.SerializeToString()] = entity
            results.append(datastore_pb2.MutationResult(key=entity.key))
        return datastore_pb2.CommitResponse(mutation_results=results)

    def store(self, entity: ndb.Model) -> ndb.Key:
        """Store *entity* directly (no ndb write path) and return its key."""
        if entity.key is None:
            entity.key = ndb.Key(type(entity)._get_kind(), next(self._ids))
        entity._prepare_for_put()  # as put() does: fills PolyModel's class property
        pb = ndb_model._entity_to_protobuf(entity)
        self.entities[pb.key._pb.SerializeToString()] = pb
        return entity.key


@pytest.fixture
def datastore(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDatastore]:
    """A context with its context cache on, talking to the in-memory Datastore."""
    projection_module.install("cloud_ndb")  # as an app does at start-up
    fake = FakeDatastore()
    monkeypatch.setattr(_datastore_api, "make_call", fake.make_call)
    client = ndb.Client(project="protolens-test", credentials=AnonymousCredentials())
    with client.context(cache_policy=lambda key: True):
        yield fake


@pytest.fixture
def cached_globally(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDatastore]:
    """Like ``datastore`` plus an in-process global cache."""
    projection_module.install("cloud_ndb")
    fake = FakeDatastore()
    monkeypatch.setattr(_datastore_api, "make_call", fake.make_call)
    client = ndb.Client(project="protolens-test", credentials=AnonymousCredentials())
    with client.context(global_cache=global_cache._InProcessGlobalCache()):
        yield fake


def make_clip(i: int = 0, **overrides: object) -> Clip:
    values = dict(
        title=f"clip {i}",
        views=100 + i,
        tags=["math", f"t{i}"],
        description="long " * 20,
        rating=4.5,
        address=Address(city="Lyon", street=f"rue {i}"),
    )
    values.update(overrides)
    return Clip(**values)


def assert_projected(clip: Clip, i: int) -> None:
    assert clip.title == f"clip {i}"
    assert clip.views == 100 + i
    assert clip._projection == ("t", "views")
    assert set(clip._values) == {"t", "views"}
    with pytest.raises(orm_ext.UnprojectedPropertyError):
        clip.description  # noqa: B018


# --- the seam on real protobufs --------------------------------------------------


def test_seam_decodes_only_projected_properties_of_a_datastore_v1_entity(datastore) -> None:
    clip = make_clip(3)
    clip.key = ndb.Key("Clip", 7)
    pb = ndb_model._entity_to_protobuf(clip)
    assert isinstance(pb, entity_pb2.Entity)
    with projection(Clip, "title", "views"):
        decoded = ndb_model._entity_from_protobuf(pb)
    assert decoded.key == ndb.Key("Clip", 7)
    assert_projected(decoded, 3)


def test_seam_outside_a_projection_decodes_everything(datastore) -> None:
    clip = make_clip(3)
    clip.key = ndb.Key("Clip", 7)
    decoded = ndb_model._entity_from_protobuf(ndb_model._entity_to_protobuf(clip))
    assert decoded._projection == () and (decoded.address.city, decoded.address.street) == (
        "Lyon",
        "rue 3",
    )


def test_key_get_decodes_only_projected_properties(datastore) -> None:
    key = datastore.store(make_clip(1))
    with projection(Clip, "title", "views"):
        clip = key.get()
    assert_projected(clip, 1)


def test_get_multi_decodes_only_projected_properties(datastore) -> None:
    keys = [datastore.store(make_clip(i)) for i in range(3)]
    with projection(Clip, "title", "views"):
        clips = ndb.get_multi(keys)
    for i, clip in enumerate(clips):
        assert_projected(clip, i)


def test_query_fetch_decodes_only_projected_properties(datastore) -> None:
    for i in range(3):
        datastore.store(make_clip(i))
    with projection(Clip, "title", "views"):
        clips = sorted(Clip.query().fetch(), key=lambda c: c.views)
    for i, clip in enumerate(clips):
        assert_projected(clip, i)


def test_get_inside_transaction_decodes_only_projected_properties(datastore) -> None:
    key = datastore.store(make_clip(2))
    with projection(Clip, "title", "views"):
        clip = ndb.transaction(key.get)
    assert_projected(clip, 2)


def test_models_not_named_decode_fully(datastore) -> None:
    key = datastore.store(Owner(name="ann", email="a@x"))
    with projection(Clip, "title"):
        owner = key.get()
    assert owner._projection == () and owner.email == "a@x"


# --- the guard -----------------------------------------------------------------


def test_dropped_property_error_is_orm_ext_ndb_and_attribute_error(datastore) -> None:
    key = datastore.store(make_clip(0))
    with projection(Clip, "title", "views"):
        clip = key.get()
    with pytest.raises(orm_ext.UnprojectedPropertyError) as info:
        clip.rating  # noqa: B018
    assert isinstance(info.value, ndb_model.UnprojectedPropertyError)
    assert isinstance(info.value, AttributeError)
    assert "Clip.rating" in str(info.value)
    assert getattr(clip, "rating", "default") == "default"


# --- caches ------------------------------------------------------------------


def test_projected_get_is_not_served_from_the_context_cache(datastore) -> None:
    key = datastore.store(make_clip(0))
    full = key.get()  # now in the context cache
    with projection(Clip, "title", "views"):
        clip = key.get()
    assert clip is not full
    assert_projected(clip, 0)
    assert datastore.calls["lookup"] == 2


def test_projected_get_leaves_the_context_cache_untouched(datastore) -> None:
    key = datastore.store(make_clip(0))
    with projection(Clip, "title", "views"):
        key.get()
    assert key not in ndb.get_context().cache
    full = key.get()
    assert full._projection == () and full.rating == 4.5


def test_projected_query_neither_reads_nor_writes_the_context_cache(datastore) -> None:
    key = datastore.store(make_clip(0))
    full = key.get()
    with projection(Clip, "title", "views"):
        (clip,) = Clip.query().fetch()
    assert clip is not full
    assert_projected(clip, 0)
    assert ndb.get_context().cache[key] is full


def test_projected_get_is_not_served_from_the_global_cache(cached_globally) -> None:
    key = cached_globally.store(make_clip(0))
    key.get()  # fills the global cache
    assert cached_globally.calls["lookup"] == 1
    ndb.get_context().cache.clear()
    with projection(Clip, "title", "views"):
        clip = key.get()
    assert cached_globally.calls["lookup"] == 2
    assert_projected(clip, 0)


# --- async -----------------------------------------------------------------------


def test_get_async_issued_inside_and_resolved_outside_is_projected(datastore) -> None:
    key = datastore.store(make_clip(0))
    with projection(Clip, "title", "views"):
        future = key.get_async()
    assert_projected(future.result(), 0)


def test_get_async_issued_outside_and_resolved_inside_is_full(datastore) -> None:
    key = datastore.store(make_clip(0))
    future = key.get_async()
    with projection(Clip, "title", "views"):
        clip = future.result()
    assert clip._projection == () and clip.rating == 4.5
    assert ndb.get_context().cache[key] is clip


# --- writes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "write",
    [
        lambda c: c.put(),
        lambda c: c._put(),
        lambda c: c.put_async().result(),
        lambda c: c._put_async().result(),
        lambda c: ndb.put_multi([c]),
        lambda c: [f.result() for f in ndb.put_multi_async([c])],
        lambda c: ndb_model.put_multi([c]),
        lambda c: ndb.transaction(c.put),
    ],
    ids=[
        "put",
        "_put",
        "put_async",
        "_put_async",
        "put_multi",
        "put_multi_async",
        "model.put_multi",
        "transaction",
    ],
)
def test_every_put_path_refuses_a_projected_entity_and_sends_nothing(datastore, write) -> None:
    key = datastore.store(make_clip(0))
    stored = datastore.entities[key._key.to_protobuf()._pb.SerializeToString()]
    with projection(Clip, "title", "views"):
        clip = key.get()
    with pytest.raises(orm_ext.ProjectedEntityWriteError) as info:
        write(clip)
    assert isinstance(info.value, ndb_exceptions.BadRequestError)
    assert datastore.calls["commit"] == 0
    assert datastore.entities[key._key.to_protobuf()._pb.SerializeToString()] is stored


def test_put_multi_with_one_projected_entity_sends_none_of_the_batch(datastore) -> None:
    keys = [datastore.store(make_clip(i)) for i in range(2)]
    with projection(Clip, "title"):
        projected = keys[1].get()
    full = keys[0].get()
    full.views = 12345
    with pytest.raises(orm_ext.ProjectedEntityWriteError):
        ndb.put_multi([full, projected])
    assert datastore.calls["commit"] == 0


def test_full_put_inside_the_block_is_written(datastore) -> None:
    with projection(Clip, "title"):
        key = make_clip(0).put()
    assert datastore.calls["commit"] == 1
    ndb.get_context().cache.clear()
    assert key.get().rating == 4.5


# --- names, structured, repeated, PolyModel ----------------------------------------


def test_structured_and_repeated_properties_decode_whole(datastore) -> None:
    key = datastore.store(make_clip(0, tags=["c", "a", "b"]))
    with projection(Clip, "address", "tags"):
        clip = key.get()
    assert (clip.address.city, clip.address.street) == ("Lyon", "rue 0")
    assert clip.tags == ["c", "a", "b"]
    assert clip._projection == ("address", "tags")


def test_polymodel_entities_keep_their_subclass(datastore) -> None:
    key = datastore.store(Hound(name="rex", legs=4, breed="lab"))
    with projection(Pet, "name"):
        pet = key.get()
    assert type(pet) is Hound and pet.name == "rex"
    assert pet._projection == ("class", "name")
    with pytest.raises(orm_ext.UnprojectedPropertyError):
        pet.breed  # noqa: B018


def test_unknown_name_is_refused_with_a_suggestion() -> None:
    with pytest.raises(orm_ext.BadProjectionError, match="did you mean 'views'"):
        projection(Clip, "veiws")


# --- install / uninstall -------------------------------------------------------


def test_install_twice_then_uninstall_restores_every_original() -> None:
    adapter_module.ADAPTER.uninstall()
    originals = {
        "seam": ndb_model._entity_from_protobuf,
        "put": ndb_model.Model.__dict__["put"],
        "_put_async": ndb_model.Model.__dict__["_put_async"],
        "put_multi": ndb.put_multi,
    }
    projection_module.install("cloud_ndb")
    projection_module.install("cloud_ndb")
    assert ndb_model._entity_from_protobuf.__wrapped__ is originals["seam"]
    adapter_module.ADAPTER.uninstall()
    assert ndb_model._entity_from_protobuf is originals["seam"]
    assert ndb_model.Model.__dict__["put"] is originals["put"]
    assert ndb_model.Model.__dict__["_put_async"] is originals["_put_async"]
    assert ndb.put_multi is originals["put_multi"]
