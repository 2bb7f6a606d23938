"""The codec: entity <-> protobuf. ``pb_to_entity`` is THE decode seam.

Every read path of the store (get, get_multi, every query) turns stored bytes
into an entity through :func:`pb_to_entity`, looked up as a module attribute
at each batch, so the projection adapter can wrap it with wrapt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf.message import DecodeError

from . import _codegen
from ._errors import CorruptEntityError
from ._lazy import EntitySource, current_group, lazy_wanted
from .entity_pb2 import Entity
from .key import Key

if TYPE_CHECKING:
    from .model import Model

__all__ = ["build_entity", "entity_to_pb", "parse_entity", "pb_to_entity"]

M = TypeVar("M", bound="Model")


def entity_to_pb(entity: Model) -> Entity:
    """Encode *entity* (every property, None as a null value) as an ``Entity`` message.

    The message carries the key when it is complete; the store's key columns
    are what identify a stored entity (a first put's id is allocated on insert).

    Raises:
        BadValueError: a value does not fit its property.
    """
    pb = Entity()
    key = entity._key
    pb.key.kind = type(entity)._get_kind()
    if key is not None and key.id() is not None:
        ident = key.id()
        if isinstance(ident, int):
            pb.key.id = ident
        else:
            pb.key.name = ident
    props = pb.properties
    values = entity.__dict__
    source = entity._source
    for name, prop in type(entity)._properties.items():
        if name in values:
            prop._encode_into(props[prop._name], values[name])
        elif source is not None and source.copy_raw(prop, props):
            continue  # untouched lazy value: its original bytes, not a decode
        else:
            prop._encode_into(props[prop._name], getattr(entity, name))
    return pb


def parse_entity(model_class: type[Model], pb: bytes | Entity, key: Key | None = None) -> Entity:
    """Parse stored bytes into an ``Entity`` message, naming the entity if they are corrupt."""
    if isinstance(pb, Entity):
        return pb
    try:
        return Entity.FromString(pb)
    except (DecodeError, TypeError) as exc:
        kind = model_class._get_kind()
        raise CorruptEntityError(
            f"decoding {kind} {key!r}: its stored protobuf is corrupt ({exc}); "
            "rewrite or delete the entity",
            kind=kind,
            key=key,
        ) from exc


def _key_of(msg: Entity, kind: str) -> Key | None:
    which = msg.key.WhichOneof("id_type")
    if which is None:
        return None
    return Key._from_parts(kind, msg.key.id if which == "id" else msg.key.name)


def _corrupt_value(
    model_class: type[Model],
    msg: Entity,
    names: frozenset[str] | None,
    key: Key | None,
    exc: Exception,
) -> CorruptEntityError:
    # Find the property that failed with the generic path: rare, so slow is fine.
    kind = model_class._get_kind()
    culprit = None
    for name, prop in model_class._properties.items():
        if names is not None and name not in names:
            continue
        value = msg.properties.get(prop._name)
        if value is None:
            continue
        try:
            prop._decode_value(value)
        except Exception:
            culprit = name
            break
    where = f" property {culprit!r}" if culprit else ""
    return CorruptEntityError(
        f"decoding {kind} {key!r}{where}: the stored value cannot be read ({exc!r}); "
        "rewrite the entity or fix the property's type",
        kind=kind,
        key=key,
        property=culprit,
    )


def build_entity(
    model_class: type[M],
    pb: bytes | Entity,
    key: Key | None = None,
    *,
    names: frozenset[str] | None = None,
) -> M:
    """Build a *model_class* instance from *pb*, decoding only *names* (None: all).

    With *names*, the entity is projected: its ``_projection`` lists them (in
    declaration order), reading any other property raises and writing it is
    refused.
    """
    if type(pb) is bytes:
        try:
            msg = Entity.FromString(pb)
        except DecodeError:
            msg = parse_entity(model_class, pb, key)  # raises, naming the entity
    else:
        msg = parse_entity(model_class, pb, key)
    if key is None:
        key = _key_of(msg, model_class._get_kind())
    entity = model_class.__new__(model_class)
    values = entity.__dict__
    group = current_group()
    if lazy_wanted(model_class, group):
        # Keep the parsed message; each property decodes on its first read.
        values["_key"] = key
        values["_source"] = EntitySource(
            model_class, key, msg=msg, names=names, entity=entity, group=group
        )
        if names is not None:
            values["_projection"] = _codegen.projection_names(model_class, names)
        return entity
    tracked = group is not None and group.tracked
    decoded: dict[str, Any] = {} if tracked else values
    try:
        deferred = _codegen.decoder_for(model_class, names)(msg.properties, decoded)
    except Exception as exc:
        raise _corrupt_value(model_class, msg, names, key, exc) from exc
    values["_key"] = key  # the decoder of a projection also set _projection
    if tracked:
        # A profiler watches: the values wait aside, so each first read is seen.
        if names is not None:
            values["_projection"] = decoded.pop("_projection")
        if not deferred:
            group.hold(entity, decoded)  # type: ignore[union-attr]
            return entity
    if deferred:
        # Compressed and JSON values wait in the message until first read.
        values["_source"] = EntitySource(
            model_class,
            key,
            msg=msg,
            names=frozenset(deferred),
            pending=decoded if tracked else None,
            entity=entity,
            group=group,
        )
    return entity


def pb_to_entity(model_class: type[M], pb: bytes | Entity, key: Key | None = None) -> M:
    """Decode stored bytes (or a parsed ``Entity``) into a *model_class* instance.

    This is the seam the projection extension hooks: while a projection is
    active for *model_class*, the hooked version decodes only its properties.

    Args:
        model_class: the Model subclass to build.
        pb: the stored protobuf bytes, or a parsed ``Entity`` message.
        key: the entity's key if the caller knows it (the store does); else
            it is read from the message.

    Raises:
        CorruptEntityError: the bytes or a value cannot be decoded.
    """
    return build_entity(model_class, pb, key)
