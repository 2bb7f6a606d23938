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

__all__ = ["EntitySource", "LazyGroup", "lazy", "lazy_group", "lazy_wanted"]

_LAZY: ContextVar[bool | None] = ContextVar("orm_ext_lazy", default=None)
# Set by a store opened with lazy=True around its own reads.
STORE_LAZY: ContextVar[bool] = ContextVar("orm_ext_store_lazy", default=False)


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


def lazy_wanted(model: type[Model]) -> bool:
    """Whether entities of *model* decoded now should be lazy."""
    chosen = _LAZY.get()
    if chosen is None:
        chosen = model._lazy
        if chosen is None:
            chosen = STORE_LAZY.get()
    return bool(chosen)


class LazyGroup:
    """Lazy entities decoded together (one batch of a query or get_multi).

    The first read of a property on any of them decodes that property for all
    of them, straight into each entity's ``__dict__``: code that loops over a
    page reading ``video.title`` pays one dispatch per property per batch,
    not one per entity, and later reads are plain attribute lookups.
    """

    __slots__ = ("done", "lock", "members")

    def __init__(self) -> None:
        self.members: list[tuple[Model, EntitySource]] = []
        self.done: set[str] = set()
        self.lock = threading.Lock()

    def decode_column(self, prop: Property) -> None:
        """Decode *prop* on every member that lacks it (call with the lock held)."""
        decode = _codegen.value_decoder(prop)
        stored, name = prop._name, prop._code_name
        for entity, source in self.members:
            values = entity.__dict__
            if name in values or (source.names is not None and name not in source.names):
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


_GROUP: ContextVar[LazyGroup | None] = ContextVar("orm_ext_lazy_group", default=None)


@contextmanager
def lazy_group() -> Iterator[None]:
    """Lazy entities built in this block share one :class:`LazyGroup`."""
    token = _GROUP.set(LazyGroup())
    try:
        yield
    finally:
        _GROUP.reset(token)


class EntitySource:
    """Where an entity's not-yet-read values wait (see the module docstring)."""

    __slots__ = (
        "batch",
        "errors",
        "group",
        "key",
        "model",
        "msg",
        "names",
        "observer",
        "pending",
    )

    def __init__(
        self,
        model: type[Model],
        key: Key | None,
        *,
        msg: Entity | None = None,
        names: frozenset[str] | None = None,
        pending: dict[str, Any] | None = None,
        entity: Model | None = None,
    ) -> None:
        self.model = model
        self.key = key
        self.msg = msg  # lazy: the parsed protobuf
        self.names = names  # lazy inside a projection: the only decodable names
        self.pending = pending  # tracked: decoded values not handed over yet
        self.errors: dict[str, CorruptEntityError] | None = None
        self.batch: DecodeBatch | None = None
        self.observer: Observer | None = None
        group = _GROUP.get() if msg is not None else None
        if group is None:
            group = LazyGroup()
        if entity is not None:
            group.members.append((entity, self))
        self.group = group

    def watch(self, batch: DecodeBatch, observer: Observer) -> None:
        """Report first reads of this entity's properties to *observer*."""
        self.batch, self.observer = batch, observer

    def load(self, entity: Model, prop: Property) -> tuple[bool, Any]:
        """Move *prop*'s value into *entity*; ``(False, None)`` if there is none here."""
        name = prop._code_name
        batch = self.batch
        if batch is not None and name not in batch.read_names:
            # A read of a property the entity lacks counts too: the code wants it.
            batch.read_names.add(name)
            self.observer.read(batch, name)  # type: ignore[union-attr]
        values = entity.__dict__
        group = self.group
        with group.lock:
            if name in values:  # decoded meanwhile (another thread, or the column)
                return True, values[name]
            pending = self.pending
            if pending is not None and name in pending:
                value = values[name] = pending.pop(name)
                return True, value
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
