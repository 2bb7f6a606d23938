"""Properties: typed, validated attributes of a Model, layered as in ndb.

A value moves through three layers, each a method that subclasses may define
(every definition along the class's MRO runs, as in python-ndb):

``_validate(value)``
    type checks and coercion of the user's value (most derived class first);
``_to_base_type(value)`` / ``_from_base_type(value)``
    user value <-> base value (e.g. a dict <-> its JSON text);
``_db_set_value(pb_value, base)`` / ``_db_get_value(pb_value)``
    base value <-> the protobuf ``Value`` on the wire.

The built-in classes also emit inline decode source for the codec's generated
decoders (:mod:`orm_ext._codegen`), so the hot path makes no per-value call.
"""

from __future__ import annotations

import datetime
import functools
import json
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from ._errors import BadFilterError, BadValueError, UnprojectedPropertyError
from .entity_pb2 import Value
from .key import Key

if TYPE_CHECKING:
    from .model import Model
    from .query import FilterNode, PropertyOrder

__all__ = [
    "BooleanProperty",
    "BytesProperty",
    "DateProperty",
    "DateTimeProperty",
    "FloatProperty",
    "IntegerProperty",
    "JsonProperty",
    "KeyProperty",
    "Property",
    "StringProperty",
    "TextProperty",
]

# Meaning flags (orm_ext/entity.proto).
TEXT, JSON, COMPRESSED, DATE = 1, 2, 4, 8

_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_US_PER_DAY = 86_400_000_000
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# An indexed string must fit an index on every backend (MySQL's utf8mb4 key limit).
MAX_INDEXED_STRING = 500

_MISSING = object()


@functools.cache
def _chain(cls: type, name: str) -> tuple[Callable[..., Any], ...]:
    """Every definition of method *name* along *cls*'s MRO, most derived first."""
    return tuple(c.__dict__[name] for c in cls.__mro__ if name in c.__dict__)


class Property:
    """Base of every property.

    Args:
        name: the stored name, if it differs from the attribute name.
        indexed: give the property a real column, so queries can filter and
            order on it. Defaults to the class's choice (strings and numbers
            are indexed; Text, Json and Bytes are not).
        repeated: the value is a list of values.
        required: ``put()`` refuses None.
        default: the value when none was set (or the stored entity lacks it).
        choices: the only values allowed.
        validator: ``validator(prop, value)`` raises on a bad value or returns
            the value to store instead.
        verbose_name: a label for forms and admin pages.
    """

    _indexed_default = True
    _can_index = True
    _field = "string_value"  # the Value oneof field of the base type
    _counter = 0

    def __init__(
        self,
        name: str | None = None,
        *,
        indexed: bool | None = None,
        repeated: bool = False,
        required: bool = False,
        default: Any = None,
        choices: Iterable[Any] | None = None,
        validator: Callable[[Property, Any], Any] | None = None,
        verbose_name: str | None = None,
    ) -> None:
        if indexed and not self._can_index:
            raise BadValueError(
                f"{type(self).__name__}(indexed=True): this property type is never indexed; "
                "use StringProperty for a short indexed string"
            )
        if repeated and (required or default is not None):
            raise BadValueError(
                f"{type(self).__name__}(repeated=True): a repeated property takes no "
                "required= or default=; its default is the empty list"
            )
        self._name = name
        self._code_name: str | None = None
        self._indexed = self._indexed_default if indexed is None else bool(indexed)
        self._repeated = bool(repeated)
        self._required = bool(required)
        self._choices = frozenset(choices) if choices is not None else None
        self._validator = validator
        self._verbose_name = verbose_name
        self._model: type[Model] | None = None
        Property._counter += 1
        self._order = Property._counter
        if default is not None:
            default = self._do_validate(default)
        self._default = default

    # -- naming -----------------------------------------------------------------

    def __set_name__(self, owner: type, name: str) -> None:
        self._fix_up(owner, name)

    def _fix_up(self, owner: type, name: str) -> None:
        # Names are checked by MetaModel (_check_names): an error raised here would
        # reach the user wrapped in Python 3.11's "Error calling __set_name__" RuntimeError.
        self._code_name = name
        if self._name is None:
            self._name = name
        self._model = owner

    def _check_names(self) -> None:
        owner = self._model.__name__ if self._model else "?"
        name = self._code_name
        if name is not None and name.startswith("_"):
            raise BadValueError(
                f"{owner}.{name}: property names must not start with '_'; "
                "rename the attribute (or pass name=... to store it under another name)"
            )
        if self._name is not None and self._name.startswith("_"):
            raise BadValueError(
                f"{owner}.{name}: stored name {self._name!r} must not start with '_'; "
                "pass another name="
            )
        if name in ("key", "id"):
            # Model.key is the entity's key and Model(id=...) sets it: a property would hide them.
            raise BadValueError(
                f"{owner}.{name}: {name!r} is reserved for the entity's key; use another attribute "
                f"name and keep the stored name with name={name!r}, e.g. "
                f"{name}_ = StringProperty(name={name!r})"
            )

    def __repr__(self) -> str:
        owner = self._model.__name__ if self._model else "?"
        return f"{owner}.{self._code_name}"

    # -- attribute access -----------------------------------------------------------

    def __get__(self, instance: Model | None, owner: type) -> Any:
        # Only reached when the value is not in the instance's __dict__ (a
        # non-data descriptor), so a decoded value costs a plain dict lookup.
        if instance is None:
            return self
        source = instance._source
        if source is not None:
            found, value = source.load(instance, self)
            if found:
                return value
        return instance._missing_value(self)

    def _set_value(self, entity: Model, value: Any) -> None:
        projection = entity._projection
        if projection and self._code_name not in projection:
            raise UnprojectedPropertyError(
                f"setting {self!r}: it is not in the projection {projection!r}; "
                "read the entity outside projection(...) to change it"
            )
        if self._repeated:
            if value is None:
                value = []
            elif isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
                raise BadValueError(
                    f"setting {self!r} = {value!r}: a repeated property takes a list of values"
                )
            value = [self._do_validate(v, in_list=True) for v in value]
        else:
            value = self._do_validate(value)
        entity.__dict__[self._code_name] = value

    # -- validation and conversion ------------------------------------------------

    def _do_validate(self, value: Any, *, in_list: bool = False) -> Any:
        if value is None:
            if in_list:
                raise BadValueError(f"{self!r}: a repeated property's list must not contain None")
            return None
        for method in _chain(type(self), "_validate"):
            new = method(self, value)
            if new is not None:
                value = new
        if self._choices is not None and value not in self._choices:
            raise BadValueError(
                f"{self!r} = {value!r}: not one of the choices {sorted(self._choices, key=repr)!r}"
            )
        if self._validator is not None:
            new = self._validator(self, value)
            if new is not None:
                value = new
        return value

    def _validate(self, value: Any) -> Any:
        return None

    def _call_to_base_type(self, value: Any) -> Any:
        value = self._do_validate(value)
        for method in _chain(type(self), "_to_base_type"):
            new = method(self, value)
            if new is not None:
                value = new
        return value

    def _call_from_base_type(self, value: Any) -> Any:
        for method in reversed(_chain(type(self), "_from_base_type")):
            new = method(self, value)
            if new is not None:
                value = new
        return value

    def _to_base_type(self, value: Any) -> Any:
        return None

    def _from_base_type(self, value: Any) -> Any:
        return None

    # -- the wire --------------------------------------------------------------------

    def _db_set_value(self, pb: Value, base: Any) -> None:
        setattr(pb, self._field, base)

    def _db_get_value(self, pb: Value) -> Any:
        return getattr(pb, self._field)

    def _encode_into(self, pb: Value, value: Any) -> None:
        """Write *value* (a user value, or list for repeated) into *pb*."""
        if self._repeated:
            values = pb.array_value.values
            pb.array_value.SetInParent()
            for item in value:
                if item is None:
                    raise BadValueError(
                        f"{self!r}: a repeated property's list must not contain None"
                    )
                self._db_set_value(values.add(), self._call_to_base_type(item))
        elif value is None:
            pb.null_value = True
        else:
            self._db_set_value(pb, self._call_to_base_type(value))

    def _check_wire(self, pb: Value, kind: str | None) -> None:
        """Refuse a stored value of another wire type (it would read as a silent default)."""
        if kind is None or kind == self._field or kind == "null_value" or kind == "array_value":
            return
        if kind == "blob_value" and pb.meaning & COMPRESSED:
            return
        if _chain(type(self), "_db_get_value")[0].__module__ != __name__:
            return  # a user subclass reads the wire its own way
        raise BadValueError(
            f"{self!r}: the stored value is a {kind}, not a {self._field}; rewrite the entity"
        )

    def _decode_value(self, pb: Value) -> Any:
        """Read a user value (list for repeated) from *pb*: the generic path."""
        kind = pb.WhichOneof("value_type")
        self._check_wire(pb, kind)
        if self._repeated:
            if kind == "array_value":
                for v in pb.array_value.values:
                    self._check_wire(v, v.WhichOneof("value_type"))
                return [
                    self._call_from_base_type(self._db_get_value(v)) for v in pb.array_value.values
                ]
            if kind is None or kind == "null_value":
                return []
            # Written before the property became repeated: one value.
            return [self._call_from_base_type(self._db_get_value(pb))]
        if kind == "null_value" or kind is None:
            return None
        if kind == "array_value":
            # Written while the property was repeated: keep the first value.
            values = pb.array_value.values
            return self._call_from_base_type(self._db_get_value(values[0])) if values else None
        return self._call_from_base_type(self._db_get_value(pb))

    def _is_builtin(self) -> bool:
        # A user subclass may redefine any layer: then the generic path is the truth.
        return type(self).__module__ == __name__

    def _decode_source(self, v: str, out: str) -> list[str] | None:
        """Inline decode source for the codec's generated decoder, or None."""
        return None

    # -- queries ------------------------------------------------------------------------

    def _column_type(self) -> sa.types.TypeEngine:
        raise NotImplementedError

    def _to_column(self, base: Any) -> Any:
        """Base value -> the value stored in (and compared against) the index column."""
        return base

    def _from_column(self, col: Any) -> Any:
        return col

    def _filter_value(self, value: Any) -> Any:
        if value is None:
            return None
        return self._to_column(self._call_to_base_type(value))

    def _check_queryable(self, what: str) -> None:
        if not self._indexed:
            if not self._can_index:
                # indexed=True would be refused for this type: say what works instead.
                raise BadFilterError(
                    f"{what} on {self!r}: a {type(self).__name__} is never indexed; keep the "
                    "value to filter on in an indexed property of its own (e.g. a "
                    "StringProperty of up to 500 characters) and filter on that"
                )
            raise BadFilterError(
                f"{what} on {self!r}: the property is not indexed; declare it with indexed=True "
                "(entities written before that are indexed when next put)"
            )

    def _comparison(self, op: str, value: Any) -> FilterNode:
        from .query import FilterNode

        self._check_queryable(f"filter {self!r} {op} {value!r}")
        if value is None and op not in ("==", "!="):
            raise BadFilterError(
                f"filter {self!r} {op} None: None only compares with == and != "
                f"(None sorts before every value, so use {self!r} != None to exclude it)"
            )
        return FilterNode(self, op, self._filter_value(value))

    def __eq__(self, value: Any) -> FilterNode:  # type: ignore[override]
        return self._comparison("==", value)

    def __ne__(self, value: Any) -> FilterNode:  # type: ignore[override]
        return self._comparison("!=", value)

    def __lt__(self, value: Any) -> FilterNode:
        return self._comparison("<", value)

    def __le__(self, value: Any) -> FilterNode:
        return self._comparison("<=", value)

    def __gt__(self, value: Any) -> FilterNode:
        return self._comparison(">", value)

    def __ge__(self, value: Any) -> FilterNode:
        return self._comparison(">=", value)

    __hash__ = object.__hash__

    def IN(self, values: Iterable[Any]) -> FilterNode:
        """Filter: the property equals one of *values*."""
        from .query import FilterNode

        if isinstance(values, str | bytes | dict) or not isinstance(values, Iterable):
            raise BadFilterError(
                f"filter {self!r} IN {values!r}: IN takes a list of values, "
                f"e.g. {self!r}.IN([{values!r}])"
            )
        values = list(values)
        self._check_queryable(f"filter {self!r} IN {values!r}")
        return FilterNode(self, "in", [self._filter_value(v) for v in values])

    def __neg__(self) -> PropertyOrder:
        from .query import PropertyOrder

        return PropertyOrder(self, descending=True)

    def __pos__(self) -> PropertyOrder:
        from .query import PropertyOrder

        return PropertyOrder(self, descending=False)


def _null_checked(field: str, v: str, out: str, expr: str, *, first: bool = True) -> list[str]:
    """Inline decode of a scalar whose value is *expr* of ``r`` (the *field* read)."""
    return _scalar_source(
        [f"r = {v}.{field}"],
        [field],
        v,
        out,
        f"{out} = {expr}",
        (lambda: _null_checked(field, v, out, expr, first=False)) if first else None,
    )


def _scalar_source(
    read: list[str],
    fields: list[str],  # the expected field, then other conditions on w that are fine
    v: str,
    out: str,
    assign: str,
    redo: Callable[[], list[str]] | None,
) -> list[str]:
    """*read* binds ``r``; a truthy ``r`` is the value (*assign*), as fast as before.

    Only a falsy ``r`` pays for the wire type check: it is a stored falsy value,
    a None, the list written while the property was repeated (its first item,
    decoded again by *redo*), or a value of another wire type, which is an error
    (proto3 reads another oneof member's field as a falsy default).
    """
    kinds = f"w == {fields[0]!r}" + "".join(f" or ({f})" for f in fields[1:])
    lines = [
        *read,
        "if r:",
        f"    {assign}",
        "else:",
        f"    w = {v}.WhichOneof('value_type')",
        f"    if {kinds}:",
        f"        {assign}",
        "    elif w is None or w == 'null_value':",
        f"        {out} = None",
        "    elif w == 'array_value':",
    ]
    if redo is None:
        lines.append(f"        {out} = None")
    else:
        lines += [
            f"        if not {v}.array_value.values:",
            f"            {out} = None",
            "        else:",
            f"            {v} = {v}.array_value.values[0]",
            *("            " + line for line in redo()),
        ]
    return [
        *lines,
        "    else:",
        f"        raise TypeError(f'the stored value is a {{w}}, not a {fields[0]}')",
    ]


def _repeated_source(field: str, v: str, out: str, item: str) -> list[str]:
    """Inline decode of a repeated property whose items are *item* of ``x``.

    A non-empty list costs one truth test more than the bare comprehension; an
    empty one checks the wire type: a scalar written before the property became
    repeated reads as a one-item list, a value of another type is an error.
    """
    return [
        f"a = {v}.array_value.values",
        "if a:",
        f"    {out} = [{item} for x in a]",
        "else:",
        f"    w = {v}.WhichOneof('value_type')",
        f"    if w == {field!r}:",
        f"        x = {v}",
        f"        {out} = [{item}]",
        "    elif w is None or w == 'null_value' or w == 'array_value':",
        f"        {out} = []",
        "    else:",
        "        raise TypeError(f'the stored value is a {w}, not a " + field + "')",
    ]


class StringProperty(Property):
    """A short string, indexed by default (at most 500 characters when indexed)."""

    _column = sa.String(MAX_INDEXED_STRING)

    def _validate(self, value: Any) -> None:
        if not isinstance(value, str):
            raise BadValueError(f"{self!r} = {value!r}: expected a str, got {type(value).__name__}")
        if self._indexed and len(value) > MAX_INDEXED_STRING:
            raise BadValueError(
                f"{self!r} = {value[:20]!r}... ({len(value)} characters): an indexed string holds "
                f"at most {MAX_INDEXED_STRING}; use TextProperty or indexed=False for longer text"
            )

    def _column_type(self) -> sa.types.TypeEngine:
        return self._column

    def _decode_source(self, v: str, out: str) -> list[str] | None:
        if self._repeated:
            return _repeated_source("string_value", v, out, "x.string_value")
        return _null_checked("string_value", v, out, "r")


class _CompressibleProperty(Property):
    """Text, Json and Bytes: unindexed by default, optionally zlib-compressed."""

    _indexed_default = False
    _meaning = 0

    def __init__(self, name: str | None = None, *, compressed: bool = False, **kwargs: Any) -> None:
        self._compressed = bool(compressed)
        super().__init__(name, **kwargs)
        if self._compressed and self._indexed:
            raise BadValueError(
                f"{type(self).__name__}(compressed=True, indexed=True): a compressed value "
                "cannot be indexed; drop one of them"
            )

    def _db_set_value(self, pb: Value, base: Any) -> None:
        if self._compressed:
            raw = base.encode("utf-8") if isinstance(base, str) else base
            pb.blob_value = zlib.compress(raw, 6)
            pb.meaning = self._meaning | COMPRESSED
        else:
            setattr(pb, self._field, base)
            if self._meaning:
                pb.meaning = self._meaning

    _json = False

    def _decode_source(self, v: str, out: str, *, first: bool = True) -> list[str] | None:
        if self._repeated:
            return None
        text = self._field == "string_value"
        unzip = "_ZD(" + v + ".blob_value)" + (".decode()" if text else "")
        convert = "_JL(r)" if self._json else "r"
        # Honour how the value was written (compressed or not), not today's declaration.
        read = [f"if {v}.meaning & 4:", f"    r = {unzip}", "else:", f"    r = {v}.{self._field}"]
        return _scalar_source(
            read,
            [self._field, f"w == 'blob_value' and {v}.meaning & 4"],
            v,
            out,
            f"{out} = {convert}",
            (lambda: self._decode_source(v, out, first=False)) if first else None,  # type: ignore[arg-type,return-value]
        )

    def _db_get_value(self, pb: Value) -> Any:
        # Honour how the value was written, not how the property is declared now.
        if pb.meaning & COMPRESSED:
            raw = zlib.decompress(pb.blob_value)
            return raw.decode("utf-8") if self._field == "string_value" else raw
        return getattr(pb, self._field)


class TextProperty(_CompressibleProperty):
    """Long text: never indexed; ``compressed=True`` stores it zlib-compressed."""

    _can_index = False
    _meaning = TEXT

    def _validate(self, value: Any) -> None:
        if not isinstance(value, str):
            raise BadValueError(f"{self!r} = {value!r}: expected a str, got {type(value).__name__}")


class BytesProperty(_CompressibleProperty):
    """Raw bytes; unindexed by default (indexed values hold at most 500 bytes)."""

    _field = "blob_value"

    def _validate(self, value: Any) -> Any:
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        if not isinstance(value, bytes):
            raise BadValueError(f"{self!r} = {value!r}: expected bytes, got {type(value).__name__}")
        if self._indexed and len(value) > MAX_INDEXED_STRING:
            raise BadValueError(
                f"{self!r}: an indexed bytes value holds at most {MAX_INDEXED_STRING} bytes "
                f"(got {len(value)}); use indexed=False"
            )
        return None

    def _column_type(self) -> sa.types.TypeEngine:
        return sa.LargeBinary().with_variant(
            mysql.VARBINARY(MAX_INDEXED_STRING), "mysql", "mariadb"
        )


class JsonProperty(_CompressibleProperty):
    """Any JSON-serialisable value, stored as JSON text; never indexed.

    Args:
        json_type: if given, values must be instances of it (e.g. ``dict``).
    """

    _can_index = False
    _meaning = JSON
    _json = True

    def __init__(self, name: str | None = None, *, json_type: type | None = None, **kwargs: Any):
        self._json_type = json_type
        super().__init__(name, **kwargs)

    def _validate(self, value: Any) -> None:
        if self._json_type is not None and not isinstance(value, self._json_type):
            raise BadValueError(
                f"{self!r} = {value!r}: expected a {self._json_type.__name__}, "
                f"got {type(value).__name__}"
            )

    def _to_base_type(self, value: Any) -> str:
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise BadValueError(f"{self!r} = {value!r}: not JSON-serialisable ({exc})") from None

    def _from_base_type(self, value: Any) -> Any:
        return json.loads(value)


class IntegerProperty(Property):
    """A 64-bit signed integer, indexed by default."""

    _field = "integer_value"

    def _validate(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValueError(
                f"{self!r} = {value!r}: expected an int, got {type(value).__name__}"
            )
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise BadValueError(f"{self!r} = {value!r}: outside the 64-bit signed range")

    def _column_type(self) -> sa.types.TypeEngine:
        return sa.BigInteger()

    def _decode_source(self, v: str, out: str) -> list[str] | None:
        if self._repeated:
            return _repeated_source("integer_value", v, out, "x.integer_value")
        return _null_checked("integer_value", v, out, "r")


class FloatProperty(Property):
    """A double; ints are accepted and stored as floats."""

    _field = "double_value"

    def _validate(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadValueError(
                f"{self!r} = {value!r}: expected a float, got {type(value).__name__}"
            )
        return float(value)

    def _column_type(self) -> sa.types.TypeEngine:
        return sa.Float(53)

    def _decode_source(self, v: str, out: str) -> list[str] | None:
        if self._repeated:
            return _repeated_source("double_value", v, out, "x.double_value")
        return _null_checked("double_value", v, out, "r")


class BooleanProperty(Property):
    """True or False."""

    _field = "boolean_value"

    def _validate(self, value: Any) -> None:
        if not isinstance(value, bool):
            raise BadValueError(
                f"{self!r} = {value!r}: expected a bool, got {type(value).__name__}"
            )

    def _column_type(self) -> sa.types.TypeEngine:
        return sa.Boolean()

    def _decode_source(self, v: str, out: str) -> list[str] | None:
        if self._repeated:
            return _repeated_source("boolean_value", v, out, "x.boolean_value")
        return _null_checked("boolean_value", v, out, "r")


class DateTimeProperty(Property):
    """A datetime with microseconds, stored as UTC.

    Naive datetimes are taken as UTC and read back naive. Aware ones are
    converted to UTC; pass ``tzinfo=`` to read values back in that zone.

    Args:
        auto_now: set to the current time on every put.
        auto_now_add: set to the current time on the first put if unset.
        tzinfo: the zone values are returned in (aware); None returns naive UTC.
    """

    _field = "timestamp_value"

    def __init__(
        self,
        name: str | None = None,
        *,
        auto_now: bool = False,
        auto_now_add: bool = False,
        tzinfo: datetime.tzinfo | None = None,
        **kwargs: Any,
    ) -> None:
        self._auto_now = auto_now
        self._auto_now_add = auto_now_add
        self._tzinfo = tzinfo
        super().__init__(name, **kwargs)
        if (auto_now or auto_now_add) and self._repeated:
            raise BadValueError(f"{type(self).__name__}: auto_now cannot be repeated")

    def _validate(self, value: Any) -> None:
        if not isinstance(value, datetime.datetime):
            raise BadValueError(
                f"{self!r} = {value!r}: expected a datetime, got {type(value).__name__}"
            )

    def _to_base_type(self, value: datetime.datetime) -> datetime.datetime | None:
        if value.tzinfo is not None:
            return value.astimezone(datetime.UTC).replace(tzinfo=None)
        return None

    def _from_base_type(self, value: datetime.datetime) -> datetime.datetime | None:
        if self._tzinfo is not None:
            return value.replace(tzinfo=datetime.UTC).astimezone(self._tzinfo)
        return None

    def _db_set_value(self, pb: Value, base: datetime.datetime) -> None:
        delta = base - _EPOCH
        pb.timestamp_value = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    def _db_get_value(self, pb: Value) -> datetime.datetime:
        return _EPOCH + datetime.timedelta(0, 0, pb.timestamp_value)

    def _prepare_for_put(self, entity: Model) -> None:
        if self._auto_now or (self._auto_now_add and entity.__dict__.get(self._code_name) is None):
            now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
            entity.__dict__[self._code_name] = self._from_base_type(now) or now

    def _column_type(self) -> sa.types.TypeEngine:
        return sa.BigInteger()  # microseconds since the epoch: exact and portable

    def _to_column(self, base: datetime.datetime) -> int:
        delta = base - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    def _from_column(self, col: int) -> datetime.datetime:
        return self._call_from_base_type(_EPOCH + datetime.timedelta(0, 0, col))

    def _decode_source(self, v: str, out: str) -> list[str] | None:
        if self._tzinfo is not None:
            return None
        if self._repeated:
            return _repeated_source(
                "timestamp_value", v, out, "_EPOCH + _TD(0, 0, x.timestamp_value)"
            )
        return _null_checked("timestamp_value", v, out, "_EPOCH + _TD(0, 0, r)")


class DateProperty(Property):
    """A date (stored as midnight UTC of that day)."""

    _field = "timestamp_value"

    def _validate(self, value: Any) -> None:
        if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
            raise BadValueError(
                f"{self!r} = {value!r}: expected a date, got {type(value).__name__}"
            )

    def _db_set_value(self, pb: Value, base: datetime.date) -> None:
        pb.timestamp_value = (base.toordinal() - _EPOCH_ORDINAL) * _US_PER_DAY
        pb.meaning = DATE

    def _db_get_value(self, pb: Value) -> datetime.date:
        return datetime.date.fromordinal(_EPOCH_ORDINAL + pb.timestamp_value // _US_PER_DAY)

    def _column_type(self) -> sa.types.TypeEngine:
        return sa.BigInteger()

    def _to_column(self, base: datetime.date) -> int:
        return (base.toordinal() - _EPOCH_ORDINAL) * _US_PER_DAY

    def _from_column(self, col: int) -> datetime.date:
        return datetime.date.fromordinal(_EPOCH_ORDINAL + col // _US_PER_DAY)

    def _decode_source(self, v: str, out: str) -> list[str] | None:
        if self._repeated:
            return _repeated_source(
                "timestamp_value", v, out, "_DATE(_EPOCH_ORD + x.timestamp_value // _US_DAY)"
            )
        return _null_checked("timestamp_value", v, out, "_DATE(_EPOCH_ORD + r // _US_DAY)")


class KeyProperty(Property):
    """A :class:`~orm_ext.Key`, optionally restricted to one kind.

    Args:
        kind: the only kind allowed (a name or a Model class).
    """

    _field = "key_value"

    def __init__(self, name: str | None = None, *, kind: str | type | None = None, **kwargs: Any):
        if isinstance(kind, type):
            kind = kind._get_kind()
        self._kind = kind
        super().__init__(name, **kwargs)

    def _validate(self, value: Any) -> None:
        if not isinstance(value, Key):
            raise BadValueError(f"{self!r} = {value!r}: expected a Key, got {type(value).__name__}")
        if self._kind is not None and value.kind() != self._kind:
            raise BadValueError(f"{self!r} = {value!r}: expected a key of kind {self._kind!r}")
        if not value.is_complete():
            raise BadValueError(
                f"{self!r} = {value!r}: an incomplete key cannot be stored; put() it first"
            )

    def _db_set_value(self, pb: Value, base: Key) -> None:
        kv = pb.key_value
        kv.kind = base.kind()
        ident = base.id()
        if isinstance(ident, int):
            kv.id = ident
        else:
            kv.name = ident

    def _db_get_value(self, pb: Value) -> Key:
        kv = pb.key_value
        return Key._from_parts(kv.kind, kv.id if kv.WhichOneof("id_type") == "id" else kv.name)

    def _column_type(self) -> sa.types.TypeEngine:
        return sa.String(MAX_INDEXED_STRING)

    def _to_column(self, base: Key) -> str:
        ident = base.id()
        # Zero-padded ints keep numeric order among keys of one kind.
        tail = f"i{ident:020d}" if isinstance(ident, int) else f"s{ident}"
        return f"{base.kind()}:{tail}"

    def _from_column(self, col: str) -> Key:
        kind, _, tail = col.partition(":")
        return Key._from_parts(kind, int(tail[1:]) if tail[0] == "i" else tail[1:])
