"""The adapter for orm_ext's own store.

Decode seam: :func:`orm_ext.codec.pb_to_entity` (every get, get_multi and
query goes through it, looked up per batch). Caches: the native store keeps
none (no identity map, context cache or query cache), so no projected entity
can be cached or served from one. Writes: every write path funnels into
:meth:`orm_ext.Store.put_multi`, which refuses entities with a ``_projection``
before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import codec
from ..model import Model
from ..projection import names_for
from ._base import Adapter, bad_name

__all__ = ["ADAPTER", "NativeAdapter"]


def _projected_pb_to_entity(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    if kwargs:
        return _call_with_keywords(wrapped, args, kwargs)
    names = names_for(args[0])
    if names is None:
        return wrapped(*args)
    return codec.build_entity(*args, names=names)


def _call_with_keywords(wrapped: Any, args: tuple, kwargs: dict) -> Any:
    # The store always passes positionally; callers using keywords take this slower path.
    bound = dict(zip(("model_class", "pb", "key"), args)) | kwargs
    names = names_for(bound["model_class"])
    if names is None:
        return wrapped(*args, **kwargs)
    return codec.build_entity(bound["model_class"], bound["pb"], bound.get("key"), names=names)


class NativeAdapter(Adapter):
    """Projection for :class:`orm_ext.Model` entities."""

    name = "native"

    def handles(self, model: type) -> bool:
        return isinstance(model, type) and issubclass(model, Model)

    def property_names(self, model: type) -> Sequence[str]:
        return list(model._properties)

    def resolve(self, model: type, item: Any) -> str:
        props = model._properties
        if isinstance(item, str):
            if item in props:
                return item
        elif props.get(getattr(item, "_code_name", None)) is item:
            return item._code_name
        raise bad_name(model, item, list(props))

    def _apply(self) -> None:
        self._patches.wrap(codec, "pb_to_entity", _projected_pb_to_entity)


ADAPTER = NativeAdapter()
