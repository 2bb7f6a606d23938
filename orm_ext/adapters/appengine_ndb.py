"""The adapter for App Engine ndb (PyPI ``appengine-python-standard``).

Three hooks, each installed with wrapt and undone exactly:

* **Decode.** ``ModelAdapter.pb_to_entity`` is the seam every get, get_multi,
  query, fetch_page and transaction read goes through. For a projected model it
  builds the entity itself from only the wanted ``property``/``raw_property``
  entries, calling each property's own ``_deserialize``; no filtered copy of the
  protobuf is made (the copy loop was the largest cost of the obvious approach).
* **Caches.** Inside a projection, ``Context.get`` of a projected kind neither
  reads nor writes the context cache or memcache: the key goes to a batcher of
  our own (so ``get_multi`` is still one RPC) whose decode runs under the
  projection. ``_use_cache``/``_use_memcache`` are left alone because ``put``
  and ``delete`` consult them too. Queries already refuse to cache entities
  that have a ``_projection``.
* **Writes.** ``put``/``_put``/``put_async``/``_put_async`` (class-level
  aliases, each guarded), ``Context.put`` and the module's ``put_multi`` and
  ``put_multi_async`` refuse a projected entity before anything is queued.

Async: ndb runs a tasklet's first step later, from the event loop, so the
projection active when code *issues* a read is not the one active when it is
decoded. The adapter gives each tasklet a copy of the ``contextvars`` context
of the code that created it (as asyncio does for tasks) and runs every step of
it there: a ``get_async`` issued inside a projection comes back projected even
when resolved outside, and one issued outside comes back full.
"""

from __future__ import annotations

import contextvars
import weakref
from typing import Any

from .._errors import ProjectedEntityWriteError, UnprojectedPropertyError
from ..projection import current, names_for
from ._ndb_common import (
    _capture_context,
    _entered_var,
    _NdbAdapter,
    _projected_kinds,
    _refuse_projected_arg,
    _run_in_context,
    _wrap_guards,
)

try:
    from google.appengine.api import datastore_errors
    from google.appengine.datastore import entity_bytes_pb2
    from google.appengine.ext import ndb as _ndb_package
    from google.appengine.ext.ndb import context as _context
    from google.appengine.ext.ndb import model as _model
    from google.appengine.ext.ndb import polymodel as _polymodel
    from google.appengine.ext.ndb import tasklets as _tasklets
except ImportError as err:  # pragma: no cover - only without the library
    raise ImportError(
        "orm_ext.adapters.appengine_ndb needs App Engine ndb; install it with "
        "`pip install 'protolens[appengine]'` (appengine-python-standard, urllib3<2)"
    ) from err

__all__ = [
    "ADAPTER",
    "AppEngineNdbAdapter",
    "NdbProjectedEntityWriteError",
    "NdbUnprojectedPropertyError",
]

_INDEX_VALUE = entity_bytes_pb2.Property.INDEX_VALUE


class NdbUnprojectedPropertyError(UnprojectedPropertyError, _model.UnprojectedPropertyError):
    """A dropped property was read; caught by ``except`` of either library's error."""


class NdbProjectedEntityWriteError(ProjectedEntityWriteError, datastore_errors.BadRequestError):
    """A projected entity was written; ndb's own ``BadRequestError`` catches it too."""


# --- async: each tasklet runs in the context of the code that created it -----

# generator -> the contextvars.Context captured when its tasklet was created.
_TASKLET_CONTEXT: weakref.WeakKeyDictionary[Any, contextvars.Context] = weakref.WeakKeyDictionary()
_ENTERED = _entered_var("orm_ext_ndb_entered")
# Set in the context of ndb's own batches: decode fully whatever is active.
_FULL: contextvars.ContextVar[bool] = contextvars.ContextVar("orm_ext_ndb_full", default=False)


def _capture_tasklet_context(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    gen = args[0] if args else kwargs["gen"]
    _TASKLET_CONTEXT[gen] = _capture_context(_ENTERED)
    return wrapped(*args, **kwargs)


def _step_in_context(gen_index: int) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        gen = args[gen_index] if len(args) > gen_index else kwargs["gen"]
        return _run_in_context(_TASKLET_CONTEXT.get(gen), _ENTERED, wrapped, args, kwargs)

    return wrapper


# --- decode ------------------------------------------------------------------


class _Plan:
    """How to decode one model class under one projection (cached per pair)."""

    __slots__ = ("cls", "decided", "heads", "projection")

    def __init__(self, cls: type, names: frozenset[str]) -> None:
        by_code = {p._code_name: p for p in cls._properties.values()}
        heads: dict[str, Any] = {}
        for name in names:
            prop = by_code[name]
            heads[prop._name.decode("utf-8")] = prop
        if issubclass(cls, _polymodel.PolyModel):
            # Without its class property ndb would hand back the root class.
            class_prop = cls.class_
            heads[class_prop._name.decode("utf-8")] = class_prop
        self.cls = cls
        self.heads = heads
        # ndb's own projection holds datastore names; heads keep structured values whole.
        self.projection = tuple(sorted(heads))
        # protobuf property name -> the Property that decodes it, or None to skip it.
        self.decided: dict[str, Any] = dict(heads)

    def _decide(self, name: str) -> Any:
        head, dot, _ = name.partition(".")
        prop = self.heads.get(head) if dot else None
        self.decided[name] = prop
        return prop

    def decode(self, pb: Any, key: Any) -> Any:
        """The entity of *pb* holding only the projected properties.

        One pass over the protobuf's entries; each wanted one goes to its
        Property's own ``_deserialize`` (repeated values append, structured
        ones rebuild their sub-entity), the rest are skipped unread.
        """
        ent = self.cls()
        if key is not None and (key.id() or key.parent()):
            ent._key = key
        decided = self.decided
        try:
            for p in pb.property:
                prop = decided[p.name]
                if prop is not None:
                    prop._deserialize(ent, p)
            for p in pb.raw_property:
                prop = decided[p.name]
                if prop is not None:
                    prop._deserialize(ent, p)
        except KeyError:
            # A name this plan has not met yet (the first entities of a kind):
            # learn every name, then decode afresh.
            learned = False
            for plist in (pb.property, pb.raw_property):
                for p in plist:
                    if p.name not in decided:
                        self._decide(p.name)
                        learned = True
            if not learned:
                raise  # the KeyError came from a property's own decoding
            return self.decode(pb, key)
        ent._projection = self.projection
        return ent


_PLANS: dict[tuple[type, frozenset[str]], _Plan] = {}
_STOCK_FROM_PB = {_model.Model._from_pb.__func__, _polymodel.PolyModel._from_pb.__func__}


def _plan(cls: type, names: frozenset[str]) -> _Plan | None:
    plan = _PLANS.get((cls, names))
    if plan is None:
        if cls._from_pb.__func__ not in _STOCK_FROM_PB:
            return None  # a model with its own decoding keeps it
        plan = _PLANS[(cls, names)] = _Plan(cls, names)
    return plan


def _poly_class(root: type, pb: Any) -> type:
    class_name = root.class_._name.decode("utf-8")
    values = tuple(
        p.value.stringValue
        for plist in (pb.property, pb.raw_property)
        for p in plist
        if p.name == class_name
    )
    return root._class_map.get(values, root)


def _pb_to_entity(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    if not current() or _FULL.get():
        return wrapped(*args, **kwargs)
    pb = args[0] if args else kwargs["pb"]
    if not len(pb.key.path.element) or (
        len(pb.property) and pb.property[0].meaning == _INDEX_VALUE
    ):
        return wrapped(*args, **kwargs)  # no key, or ndb's own projection query
    key = _model.Key(reference=pb.key)
    cls = _model.Model._kind_map.get(key.kind(), instance.default_model)
    if cls is None:
        return wrapped(*args, **kwargs)  # let ndb raise its KindError
    if issubclass(cls, _polymodel.PolyModel):
        cls = _poly_class(cls, pb)
    names = names_for(cls)
    plan = _plan(cls, names) if names is not None else None
    if plan is None:
        return wrapped(*args, **kwargs)
    entity = plan.decode(pb, key)
    if instance.want_pbs:
        entity._orig_pb = pb
    return entity


# --- caches: projected gets skip the context cache and memcache ---------------


class _ProjectedGetBatcher(_context.AutoBatcher):
    """ndb's AutoBatcher, one queue per (options, projection).

    Each queue's batch starts in the context of the first get that joined it,
    so its decode sees that projection wherever the event loop is pumped.
    """

    def __init__(self, ctx: Any) -> None:
        ref = weakref.ref(ctx)
        # The queue key is (options, projection); ndb's own tasklet gets the options.
        super().__init__(
            lambda todo, key: ref()._get_tasklet(todo, key[0]), ctx._get_batcher._limit
        )
        self._issuers: dict[Any, contextvars.Context] = {}

    def add(self, arg: Any, options: Any = None) -> Any:
        if options not in self._queues:
            self._issuers[options] = contextvars.copy_context()
        return super().add(arg, options)

    def run_queue(self, options: Any, todo: Any) -> None:
        self._issuers.pop(options).run(super().run_queue, options, todo)


_BATCHERS: weakref.WeakKeyDictionary[Any, _ProjectedGetBatcher] = weakref.WeakKeyDictionary()


def _batcher(ctx: Any) -> _ProjectedGetBatcher:
    batcher = _BATCHERS.get(ctx)
    if batcher is None:
        batcher = _BATCHERS[ctx] = _ProjectedGetBatcher(ctx)
    return batcher


@_tasklets.tasklet
def _projected_get(ctx: Any, key: Any, ctx_options: dict) -> Any:
    options = _context._make_ctx_options(ctx_options)
    if not ctx._use_datastore(key, options):
        raise _tasklets.Return(None)
    entity = yield _batcher(ctx).add(key, (options, frozenset(current().items())))
    raise _tasklets.Return(entity)


def _context_get(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    active = current()
    if not active:
        return wrapped(*args, **kwargs)
    key, *rest = args or (kwargs.pop("key"),)
    if rest or key.kind() not in _projected_kinds(active, _model.Model):
        return wrapped(key, *rest, **kwargs)
    return _projected_get(instance, key, kwargs)


def _stock_run_queue(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    # ndb's own batches hold reads issued outside any projection (inside one,
    # projected kinds go to _ProjectedGetBatcher); they start from the event
    # loop, perhaps while a block is active: decode them fully.
    if isinstance(instance, _ProjectedGetBatcher) or not current():
        return wrapped(*args, **kwargs)
    full = contextvars.copy_context()
    full.run(_FULL.set, True)
    return full.run(wrapped, *args, **kwargs)


# --- the adapter ---------------------------------------------------------------


class AppEngineNdbAdapter(_NdbAdapter):
    """Projection for App Engine ndb models (``google.appengine.ext.ndb``)."""

    name = "appengine_ndb"
    _library = "google.appengine.ext.ndb"
    _model_module = _model

    @staticmethod
    def _datastore_name(prop: Any) -> str:
        return prop._name.decode("utf-8")  # App Engine ndb keeps it as bytes

    def _apply(self) -> None:
        wrap = self._patches.wrap
        wrap(_model, "ModelAdapter.pb_to_entity", _pb_to_entity)
        wrap(_context, "Context.get", _context_get)
        wrap(_context, "AutoBatcher.run_queue", _stock_run_queue)
        wrap(_tasklets, "_State.add_generator", _capture_tasklet_context)
        wrap(_tasklets, "Future._help_tasklet_along", _step_in_context(2))
        wrap(_tasklets, "Future._on_rpc_completion", _step_in_context(3))
        _wrap_guards(
            wrap, _model, _ndb_package, NdbUnprojectedPropertyError, NdbProjectedEntityWriteError
        )
        wrap(
            _context,
            "Context.put",
            _refuse_projected_arg(NdbProjectedEntityWriteError, "Context.put()"),
        )


ADAPTER = AppEngineNdbAdapter()
