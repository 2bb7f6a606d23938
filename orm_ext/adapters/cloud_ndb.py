"""The adapter for ``google-cloud-ndb`` (Cloud Datastore / Firestore in Datastore mode).

Three hooks, each installed with wrapt and undone exactly:

* **Decode.** ``google.cloud.ndb.model._entity_from_protobuf`` (looked up as a
  module attribute by ``key.py`` and ``_datastore_query.py``). A
  ``datastore_v1`` Entity keeps its properties in a protobuf *map*, so a
  projected model's entity is built from a map lookup per wanted name: only
  those values are converted (by google-cloud-datastore's own value helpers)
  and handed to ndb's own ``_entity_from_ds_entity``; the other properties
  are never read.
* **Caches.** Inside a projection, ``Key.get_async`` of a projected kind runs
  with ``use_cache=False, use_global_cache=False`` for that one call (the read
  path only; ``_use_cache``/``_use_global_cache`` are left alone for put and
  delete), and a query result of a projected kind is decoded without looking
  in or writing to the context cache (stock google-cloud-ndb would cache it).
* **Writes.** ``put``/``_put``/``put_async``/``_put_async`` (aliases, each
  guarded) and ``put_multi``/``put_multi_async`` refuse a projected entity
  (stock google-cloud-ndb writes the partial entity) before anything is sent.

Async: a tasklet's first step runs at once but later steps run from the event
loop; the adapter runs every step of a tasklet in a copy of the ``contextvars``
context of the code that created it, so a read issued inside a projection is
decoded under it wherever it is resolved.
"""

from __future__ import annotations

import contextvars
from typing import Any

from .._errors import ProjectedEntityWriteError, UnprojectedPropertyError
from ..projection import current, names_for
from ._ndb_common import (
    _capture_context,
    _entered_var,
    _NdbAdapter,
    _projected_kinds,
    _run_in_context,
    _wrap_guards,
)

try:
    from google.cloud import ndb as _ndb_package
    from google.cloud.datastore import helpers as _helpers
    from google.cloud.datastore_v1.types import entity as _entity_pb2
    from google.cloud.ndb import _datastore_query
    from google.cloud.ndb import exceptions as _exceptions
    from google.cloud.ndb import key as _key
    from google.cloud.ndb import model as _model
    from google.cloud.ndb import polymodel as _polymodel
    from google.cloud.ndb import tasklets as _tasklets
except ImportError as err:  # pragma: no cover - only without the library
    raise ImportError(
        "orm_ext.adapters.cloud_ndb needs google-cloud-ndb; install it with "
        "`pip install 'protolens[cloud-ndb]'`"
    ) from err

__all__ = [
    "ADAPTER",
    "CloudNdbAdapter",
    "CloudNdbProjectedEntityWriteError",
    "CloudNdbUnprojectedPropertyError",
]


class CloudNdbUnprojectedPropertyError(UnprojectedPropertyError, _model.UnprojectedPropertyError):
    """A dropped property was read; caught by ``except`` of either library's error."""


class CloudNdbProjectedEntityWriteError(ProjectedEntityWriteError, _exceptions.BadRequestError):
    """A projected entity was written; ndb's ``BadRequestError`` catches it too."""


# --- async: each tasklet runs in the context of the code that created it -----

_ENTERED = _entered_var("orm_ext_cloud_ndb_entered")
# Set while ndb decodes an official projection query's result: leave it to ndb.
_FULL: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "orm_ext_cloud_ndb_full", default=False
)


def _capture_tasklet_context(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    wrapped(*args, **kwargs)
    instance._orm_ext_context = _capture_context(_ENTERED)


def _advance_in_context(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    captured = getattr(instance, "_orm_ext_context", None)
    return _run_in_context(captured, _ENTERED, wrapped, args, kwargs)


# --- decode ------------------------------------------------------------------


class _Plan:
    """Which datastore names to convert for one model class under one projection."""

    __slots__ = ("cls", "dotted_heads", "names", "projection")

    def __init__(self, cls: type, names: frozenset[str]) -> None:
        by_code = {p._code_name: p for p in cls._properties.values()}
        heads = {by_code[name]._name for name in names}
        if issubclass(cls, _polymodel.PolyModel):
            heads.add(cls.class_._name)  # without it ndb hands back the root class
        self.cls = cls
        self.names = tuple(sorted(heads))
        self.projection = self.names
        # Structured properties may be stored the legacy way, as dotted names.
        self.dotted_heads = tuple(
            by_code[name]._name
            for name in names
            if isinstance(by_code[name], _model.StructuredProperty)
        )

    def wanted(self, props: Any) -> list[str]:
        found = [name for name in self.names if name in props]
        if self.dotted_heads:
            prefixes = tuple(f"{head}." for head in self.dotted_heads)
            found += [name for name in props if name.startswith(prefixes)]
        return found

    def decode(self, pb: Any) -> Any:
        key = _helpers.key_from_protobuf(pb.key) if pb.HasField("key") else None
        props = pb.properties
        values: dict[str, Any] = {}
        meanings: dict[str, Any] = {}
        excluded: list[str] = []
        for name in self.wanted(props):
            value_pb = props[name]
            value = _helpers._get_value_from_value_pb(value_pb)
            values[name] = value
            is_list = isinstance(value, list)
            meaning = _helpers._get_meaning(value_pb, is_list=is_list)
            if meaning is not None:
                meanings[name] = (meaning, value)
            if is_list:
                if value and value_pb.array_value.values[0].exclude_from_indexes:
                    excluded.append(name)
            elif value_pb.exclude_from_indexes:
                excluded.append(name)
        ds_entity = _helpers.Entity(key=key, exclude_from_indexes=excluded)
        ds_entity.update(values)
        ds_entity._meanings.update(meanings)
        entity = _model._entity_from_ds_entity(ds_entity, model_class=self.cls)
        entity._projection = self.projection
        return entity


_PLANS: dict[tuple[type, frozenset[str]], _Plan] = {}


def _model_class(pb: Any) -> type | None:
    """The model class *pb* decodes to (PolyModel: the stored subclass), or None."""
    path = pb.key.path
    if not len(path):
        return None
    cls = _model.Model._kind_map.get(path[-1].kind)
    if cls is not None and issubclass(cls, _polymodel.PolyModel):
        class_pb = pb.properties.get(cls.class_._name)
        if class_pb is not None:
            class_names = _helpers._get_value_from_value_pb(class_pb)
            if isinstance(class_names, list) and class_names:
                cls = _model.Model._kind_map.get(class_names[-1], cls)
    return cls


def _entity_from_protobuf(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    if not current() or _FULL.get():
        return wrapped(*args, **kwargs)
    pb = args[0] if args else kwargs["protobuf"]
    if isinstance(pb, _entity_pb2.Entity):
        pb = pb._pb
    cls = _model_class(pb)
    names = names_for(cls) if cls is not None else None
    if names is None:
        return wrapped(*args, **kwargs)
    plan = _PLANS.get((cls, names))
    if plan is None:
        plan = _PLANS[(cls, names)] = _Plan(cls, names)
    return plan.decode(pb)


# --- caches ------------------------------------------------------------------


def _key_get_async(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    active = current()
    if not active or instance.kind() not in _projected_kinds(active, _model.Model):
        return wrapped(*args, **kwargs)
    options = kwargs.get("_options")
    if options is not None:
        kwargs["_options"] = options.copy(use_cache=False, use_global_cache=False)
    else:
        kwargs.update(use_cache=False, use_global_cache=False)
        kwargs.pop("use_memcache", None)  # its deprecated synonym
    return wrapped(*args, **kwargs)


def _result_entity(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    active = current()
    if not active:
        return wrapped(*args, **kwargs)
    if instance.result_type == _datastore_query.RESULT_TYPE_PROJECTION:
        official = contextvars.copy_context()
        official.run(_FULL.set, True)
        return official.run(wrapped, *args, **kwargs)
    if instance.result_type == _datastore_query.RESULT_TYPE_FULL:
        pb = instance.result_pb.entity
        if pb.key.path[-1].kind in _projected_kinds(active, _model.Model):
            # Decoded under the projection; the context cache is neither read nor written.
            return _model._entity_from_protobuf(pb)
    return wrapped(*args, **kwargs)


# --- the adapter ---------------------------------------------------------------


class CloudNdbAdapter(_NdbAdapter):
    """Projection for google-cloud-ndb models (``google.cloud.ndb``)."""

    name = "cloud_ndb"
    _library = "google.cloud.ndb"
    _model_module = _model

    @staticmethod
    def _datastore_name(prop: Any) -> str:
        return prop._name

    def _apply(self) -> None:
        wrap = self._patches.wrap
        wrap(_model, "_entity_from_protobuf", _entity_from_protobuf)
        wrap(_key, "Key.get_async", _key_get_async)
        wrap(_datastore_query, "_Result.entity", _result_entity)
        wrap(_tasklets, "_TaskletFuture.__init__", _capture_tasklet_context)
        wrap(_tasklets, "_TaskletFuture._advance_tasklet", _advance_in_context)
        _wrap_guards(
            wrap,
            _model,
            _ndb_package,
            CloudNdbUnprojectedPropertyError,
            CloudNdbProjectedEntityWriteError,
        )


ADAPTER = CloudNdbAdapter()
