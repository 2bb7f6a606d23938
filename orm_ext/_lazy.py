"""Entity sources: values that move into an entity when code first reads them.

One object per entity serves two jobs:

* **lazy** entities keep their parsed protobuf and decode a property on its
  first read (``with orm_ext.lazy():``, ``Model._lazy = True`` or
  ``connect(url, lazy=True)``); untouched properties are copied back as the
  original protobuf values when the entity is put, never decoded;
* **tracked** entities (a profiled request, see :mod:`orm_ext.instrument`)
  hold already-decoded values aside and report each property's first read.

Each property is decoded once even when threads race on a shared entity: a
lock per entity, and the value is published in the entity's ``__dict__``
only when complete.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from . import _codegen
from ._errors import CorruptEntityError

if TYPE_CHECKING:
    from .entity_pb2 import Entity
    from .instrument import DecodeBatch, Observer
    from .key import Key
    from .model import Model
    from .properties import Property

__all__ = ["EntitySource", "LazyGroup", "current_group", "lazy", "lazy_group", "lazy_wanted"]

_LAZY: ContextVar[bool | None] = ContextVar("orm_ext_lazy", default=None)


@contextmanager
def lazy(enabled: bool = True) -> Iterator[None]:
    """Entities read in this block decode each property on its first read.

    Code that reads 15 of 60 properties pays for about 15, without naming
    them. ``lazy(False)`` turns it off inside a lazy block. Inside
    ``projection(...)`` the projection still rules: only its properties can
    be decoded, and the entity is still read-only.

    Example:
        >>> with orm_ext.lazy():
        ...     videos = Video.query().fetch(50)   # parsed, not decoded
        >>> videos[0].title                        # decodes title only
    """
    token = _LAZY.set(enabled)
    try:
        yield
    finally:
        _LAZY.reset(token)


def lazy_wanted(model: type[Model], group: LazyGroup | None) -> bool:
    """Whether entities of *model* decoded now (in *group*'s batch) should be lazy."""
    chosen = _LAZY.get()
    if chosen is None:
        chosen = model._lazy
        if chosen is None:
            return group is not None and group.store_lazy
    return chosen


class LazyGroup:
    """Lazy entities decoded together (one batch of a query or get_multi).

    The first read of a property on any of them decodes that property for all
    of them, straight into each entity's ``__dict__``: code that loops over a
    page reading ``video.title`` pays one dispatch per property per batch,
    not one per entity, and later reads are plain attribute lookups.
    """

    __slots__ = (
        "batch",
        "done",
        "held",
        "lock",
        "members",
        "observer",
        "store_lazy",
        "tracked",
    )

    def __init__(self, *, store_lazy: bool = False, tracked: bool = False) -> None:
        # Weak references to the entities: they hold the group (through their
        # source), so strong ones would make cycles only the cyclic GC frees.
        self.members: list[weakref.ref[Model]] = []  # each one's source is its _source
        # Tracked entities with nothing left to decode: the group itself is their
        # source and holds their values here (no object per entity).
        self.held: list[tuple[weakref.ref[Model], dict[str, Any]]] = []
        self.done: set[str] = set()
        self.lock = threading.Lock()
        self.store_lazy = store_lazy  # read through a store opened with lazy=True
        self.tracked = tracked  # a profiler watches: values wait aside until first read
        self.batch: DecodeBatch | None = None
        self.observer: Observer | None = None

    def watch(self, batch: DecodeBatch, observer: Observer) -> None:
        """Report the first read of each property on this group's entities to *observer*."""
        self.batch, self.observer = batch, observer

    def report(self, name: str) -> None:
        """Tell the watching profiler, once per batch, that code read *name*."""
        batch = self.batch
        if batch is not None and name not in batch.read_names:
            # A read of a property the entity lacks counts too: the code wants it.
            batch.read_names.add(name)
            self.observer.read(batch, name)  # type: ignore[union-attr]

    def decode_column(self, prop: Property) -> None:
        """Decode *prop* on every member that lacks it (call with the lock held)."""
        decode = _codegen.value_decoder(prop)
        stored, name = prop._name, prop._code_name
        for ref in self.members:
            entity = ref()
            if entity is None:
                continue
            values = entity.__dict__
            source = values.get("_source")
            if (
                not isinstance(source, EntitySource)
                or name in values
                or (source.names is not None and name not in source.names)
            ):
                continue
            value = source.msg.properties.get(stored)  # type: ignore[union-attr]
            if value is None:
                continue  # written before the property existed: the default applies
            try:
                values[name] = decode(value)
            except Exception as exc:
                # Kept for that entity alone: its read raises, the others are fine.
                source.errors = {**(source.errors or {}), name: source.corrupt(name, exc)}
        self.done.add(name)

    def hand_over(self, name: str) -> None:
        """Move the decoded *name* from every member's pending values into its entity."""
        for ref, pending in self.held:
            if name in pending:
                entity = ref()
                if entity is not None:
                    entity.__dict__[name] = pending.pop(name)
        for ref in self.members:
            entity = ref()
            if entity is None:
                continue
            source = entity.__dict__.get("_source")
            pending = source.pending if isinstance(source, EntitySource) else None
            if pending is not None and name in pending:
                entity.__dict__[name] = pending.pop(name)

    def hold(self, entity: Model, values: dict[str, Any]) -> None:
        """Keep *entity*'s decoded *values* aside until their first read (tracking)."""
        self.held.append((weakref.ref(entity), values))
        entity.__dict__["_source"] = self

    def load(self, entity: Model, prop: Property) -> tuple[bool, Any]:
        """The source protocol for held entities: report the read, hand the column over."""
        name = prop._code_name
        self.report(name)
        values = entity.__dict__
        with self.lock:
            if name not in values:
                self.hand_over(name)
            if name in values:
                return True, values[name]
        return False, None

    def copy_raw(self, prop: Property, props: Any) -> bool:
        return False  # held values are decoded: they are encoded like any other


_GROUP: ContextVar[LazyGroup | None] = ContextVar("orm_ext_lazy_group", default=None)


def current_group() -> LazyGroup | None:
    """The group of the batch being decoded, if a store read is decoding one."""
    return _GROUP.get()


@contextmanager
def lazy_group(*, store_lazy: bool = False, tracked: bool = False) -> Iterator[LazyGroup]:
    """Entities built in this block (one store batch) share one :class:`LazyGroup`."""
    group = LazyGroup(store_lazy=store_lazy, tracked=tracked)
    token = _GROUP.set(group)
    try:
        yield group
    finally:
        _GROUP.reset(token)


class EntitySource:
    """Where an entity's not-yet-read values wait (see the module docstring)."""

    __slots__ = ("errors", "group", "key", "model", "msg", "names", "pending")

    def __init__(
        self,
        model: type[Model],
        key: Key | None,
        *,
        msg: Entity | None = None,
        names: frozenset[str] | None = None,
        pending: dict[str, Any] | None = None,
        entity: Model | None = None,
        group: LazyGroup | None = None,
    ) -> None:
        self.model = model
        self.key = key
        self.msg = msg  # lazy: the parsed protobuf
        self.names = names  # lazy inside a projection: the only decodable names
        self.pending = pending  # tracked: decoded values not handed over yet
        self.errors: dict[str, CorruptEntityError] | None = None
        if group is None:
            group = LazyGroup()  # decoded outside a store batch: a group of its own
        if entity is not None:
            group.members.append(weakref.ref(entity))
        self.group = group

    def load(self, entity: Model, prop: Property) -> tuple[bool, Any]:
        """Move *prop*'s value into *entity*; ``(False, None)`` if there is none here."""
        name = prop._code_name
        group = self.group
        group.report(name)
        values = entity.__dict__
        with group.lock:
            if name in values:  # decoded meanwhile (another thread, or the column)
                return True, values[name]
            pending = self.pending
            if pending is not None and name in pending:
                group.hand_over(name)
                return True, values[name]
            if self.msg is None or (self.names is not None and name not in self.names):
                return False, None
            if name not in group.done:
                group.decode_column(prop)
            if name in values:
                return True, values[name]
        if self.errors and name in self.errors:
            raise self.errors[name]
        return False, None

    def corrupt(self, name: str, exc: Exception) -> CorruptEntityError:
        """The error for property *name* of this entity failing to decode."""
        kind = self.model._get_kind()
        error = CorruptEntityError(
            f"decoding {kind} {self.key!r} property {name!r} on first read: the stored value "
            f"cannot be read ({exc!r}); rewrite the entity or fix the property's type",
            kind=kind,
            key=self.key,
            property=name,
        )
        error.__cause__ = exc
        return error

    def copy_raw(self, prop: Property, props: Any) -> bool:
        """Copy *prop*'s original protobuf value into the map *props*, undecoded."""
        if self.msg is None or (self.pending is not None and prop._code_name in self.pending):
            return False
        value = self.msg.properties.get(prop._name)
        if value is None:
            return False
        props[prop._name].CopyFrom(value)
        return True
