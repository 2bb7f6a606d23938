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

__all__ = ["EntitySource", "lazy", "lazy_wanted"]

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


class EntitySource:
    """Where an entity's not-yet-read values wait (see the module docstring)."""

    __slots__ = ("batch", "key", "lock", "model", "msg", "names", "observer", "pending")

    def __init__(
        self,
        model: type[Model],
        key: Key | None,
        *,
        msg: Entity | None = None,
        names: frozenset[str] | None = None,
        pending: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.key = key
        self.msg = msg  # lazy: the parsed protobuf
        self.names = names  # lazy inside a projection: the only decodable names
        self.pending = pending  # tracked: decoded values not handed over yet
        self.batch: DecodeBatch | None = None
        self.observer: Observer | None = None
        self.lock = threading.Lock()

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
        with self.lock:
            if name in values:  # another thread got here first
                return True, values[name]
            pending = self.pending
            if pending is not None and name in pending:
                value = pending.pop(name)
            elif self.msg is not None and (self.names is None or name in self.names):
                found = self._decode(prop)
                if not found:
                    return False, None
                value = found[0]
            else:
                return False, None
            values[name] = value
        return True, value

    def _decode(self, prop: Property) -> tuple[Any] | tuple[()]:
        value = self.msg.properties.get(prop._name)  # type: ignore[union-attr]
        if value is None:
            return ()  # written before the property existed: the default applies
        try:
            return (_codegen.value_decoder(prop)(value),)
        except Exception as exc:
            kind = self.model._get_kind()
            raise CorruptEntityError(
                f"decoding {kind} {self.key!r} property {prop._code_name!r} on first read: the "
                f"stored value cannot be read ({exc!r}); rewrite the entity or fix the property's type",
                kind=kind,
                key=self.key,
                property=prop._code_name,
            ) from exc

    def copy_raw(self, prop: Property, props: Any) -> bool:
        """Copy *prop*'s original protobuf value into the map *props*, undecoded."""
        if self.msg is None or (self.pending is not None and prop._code_name in self.pending):
            return False
        value = self.msg.properties.get(prop._name)
        if value is None:
            return False
        props[prop._name].CopyFrom(value)
        return True
