"""Model: the entity base class, with ndb's shape on protolens's store."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from ._errors import BadValueError, KindError, UnknownPropertyError, UnprojectedPropertyError
from .key import Key
from .properties import Property

if TYPE_CHECKING:
    from .query import FilterNode, PropertyOrder, Query

__all__ = ["Model"]


class _ModelKey:
    """``Model.key``: the entity's key on instances; usable in filters and orders on the class."""

    _code_name = "key"
    _name = "__key__"
    _repeated = False
    _indexed = True

    def __get__(self, instance: Model | None, owner: type) -> Any:
        if instance is None:
            self._model = owner
            return self
        return instance._key

    def __set__(self, instance: Model, value: Key | None) -> None:
        if value is not None:
            if not isinstance(value, Key):
                raise BadValueError(
                    f"setting {type(instance).__name__}.key = {value!r}: expected a Key"
                )
            if value.kind() != instance._get_kind():
                raise BadValueError(
                    f"setting {type(instance).__name__}.key = {value!r}: the kind must be "
                    f"{instance._get_kind()!r}"
                )
        object.__setattr__(instance, "_key", value)

    def _filter_value(self, value: Any) -> Any:
        if not isinstance(value, Key):
            raise BadValueError(f"filter on key: expected a Key, got {value!r}")
        return value

    def _cmp(self, op: str, value: Any) -> FilterNode:
        from .query import FilterNode

        return FilterNode(self, op, self._filter_value(value))

    def __eq__(self, value: Any) -> FilterNode:  # type: ignore[override]
        return self._cmp("==", value)

    def __ne__(self, value: Any) -> FilterNode:  # type: ignore[override]
        return self._cmp("!=", value)

    def __lt__(self, value: Any) -> FilterNode:
        return self._cmp("<", value)

    def __le__(self, value: Any) -> FilterNode:
        return self._cmp("<=", value)

    def __gt__(self, value: Any) -> FilterNode:
        return self._cmp(">", value)

    def __ge__(self, value: Any) -> FilterNode:
        return self._cmp(">=", value)

    __hash__ = object.__hash__

    def IN(self, values: Iterable[Key]) -> FilterNode:
        from .query import FilterNode

        return FilterNode(self, "in", [self._filter_value(v) for v in values])

    def __neg__(self) -> PropertyOrder:
        from .query import PropertyOrder

        return PropertyOrder(self, descending=True)

    def __repr__(self) -> str:
        return "Model.key"


class MetaModel(type):
    """Collects a Model's properties (own and inherited) and registers its kind."""

    def __init__(cls, name: str, bases: tuple[type, ...], classdict: dict[str, Any]) -> None:
        super().__init__(name, bases, classdict)
        props: dict[str, Property] = {}
        for base in reversed(cls.__mro__[1:]):
            props.update(getattr(base, "_properties", {}))
        own = [(n, p) for n, p in classdict.items() if isinstance(p, Property)]
        for attr, prop in sorted(own, key=lambda item: item[1]._order):
            prop._check_names()
            props[attr] = prop
        cls._properties = props
        by_stored: dict[str, Property] = {}
        for prop in props.values():
            if prop._name in by_stored:
                raise BadValueError(
                    f"{name}: properties {by_stored[prop._name]!r} and {prop!r} share the stored "
                    f"name {prop._name!r}; give one of them another name="
                )
            by_stored[prop._name] = prop
        cls._by_stored_name = by_stored
        cls._decoders = {}
        if not classdict.get("_abstract", False):
            Model._kind_map[cls._get_kind()] = cls

    def __getattr__(cls, name: str) -> Any:
        # Only reached when normal lookup failed: ``Video.tittle == "x"`` in a filter.
        props = cls.__dict__.get("_properties")
        if name.startswith("_") or props is None:
            raise AttributeError(f"type object {cls.__name__!r} has no attribute {name!r}")
        close = difflib.get_close_matches(name, list(props), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"its properties are {list(props)!r}"
        raise UnknownPropertyError(
            f"{cls.__name__}.{name}: {cls.__name__} has no property {name!r}; {hint}"
        )


class Model(metaclass=MetaModel):
    """Base class of entities: subclass it and declare properties.

    Keyword arguments set properties; ``id=`` or ``key=`` set the key.

    Example:
        >>> class Video(Model):
        ...     title = StringProperty(required=True)
        ...     views = IntegerProperty(default=0)
        >>> v = Video(title="intro", views=3)
        >>> v.views
        3
    """

    _abstract = True
    _kind_map: ClassVar[dict[str, type[Model]]] = {}
    _properties: ClassVar[dict[str, Property]]
    _by_stored_name: ClassVar[dict[str, Property]]
    _decoders: ClassVar[dict[Any, Any]]

    # Instance state lives in __dict__: property values under their attribute
    # names, plus these (class-level defaults keep fresh instances cheap).
    _key: Key | None = None
    _projection: tuple[str, ...] = ()
    _source: Any = None  # lazy/tracked decode source (see orm_ext._lazy)
    # Decode lazily (True), eagerly (False), or as the context / store says (None).
    _lazy: ClassVar[bool | None] = None

    key = _ModelKey()

    def __init__(self, *, key: Key | None = None, id: int | str | None = None, **values: Any):
        if key is not None and id is not None:
            raise BadValueError(f"{type(self).__name__}(key=..., id=...): pass one, not both")
        if id is not None:
            key = Key(self._get_kind(), id)
        if key is not None:
            self.key = key
        self.populate(**values)

    @classmethod
    def _get_kind(cls) -> str:
        """The kind name; the class name unless overridden (as in ndb)."""
        return cls.__name__

    @classmethod
    def _lookup_model(cls, kind: str) -> type[Model]:
        try:
            return cls._kind_map[kind]
        except KeyError:
            raise KindError(
                f"no Model class for kind {kind!r}; import the module that defines it "
                "before reading entities of that kind"
            ) from None

    @classmethod
    def _unknown_property(cls, name: str, operation: str) -> BadValueError:
        close = difflib.get_close_matches(name, list(cls._properties), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return BadValueError(f"{operation}: {cls.__name__} has no property {name!r}{hint}")

    # -- values ------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        prop = type(self)._properties.get(name)
        if prop is None:
            object.__setattr__(self, name, value)
        else:
            prop._set_value(self, value)

    def __delattr__(self, name: str) -> None:
        prop = type(self)._properties.get(name)
        if prop is None:
            object.__delattr__(self, name)
        else:
            prop._set_value(self, None)

    def _missing_value(self, prop: Property) -> Any:
        """A property's value when neither the instance nor its source holds one."""
        name = prop._code_name
        projection = self._projection
        if projection and name not in projection:
            raise UnprojectedPropertyError(
                f"{type(self).__name__}.{name} is not in the projection {projection!r}; "
                "add it to projection(...) or read the entity outside the context"
            )
        if prop._repeated:
            value: Any = []
            self.__dict__[name] = value
            return value
        return prop._default

    def populate(self, **values: Any) -> None:
        """Set several properties at once, validating each.

        Raises:
            BadValueError: a name is not a property, or a value does not fit.
        """
        props = type(self)._properties
        for name, value in values.items():
            prop = props.get(name)
            if prop is None:
                raise self._unknown_property(name, f"{type(self).__name__}(..., {name}=...)")
            prop._set_value(self, value)

    def to_dict(
        self, *, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """The property values as a dict (a projected entity gives only its projection)."""
        names = list(self._projection or type(self)._properties)
        if include is not None:
            wanted = set(include)
            names = [n for n in names if n in wanted]
        if exclude is not None:
            unwanted = set(exclude)
            names = [n for n in names if n not in unwanted]
        return {name: getattr(self, name) for name in names}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Model)
        return (
            self._key == other._key
            and self._projection == other._projection
            and self.to_dict() == other.to_dict()
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __getstate__(self) -> dict[str, Any]:
        # Pickle and deepcopy take the values, not the decode source (it holds a
        # lock and the parsed protobuf): decode what is still waiting first.
        if self._source is not None:
            values = self.__dict__
            for name, prop in type(self)._properties.items():
                if name not in values and (not self._projection or name in self._projection):
                    prop.__get__(self, type(self))
        return {k: v for k, v in self.__dict__.items() if k != "_source"}

    def __repr__(self) -> str:
        parts = [] if self._key is None else [f"key={self._key!r}"]
        if self._projection:
            parts.append(f"_projection={self._projection!r}")
        for name, value in self.to_dict().items():
            text = repr(value)
            parts.append(f"{name}={text if len(text) <= 60 else text[:57] + '...'}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # -- persistence ---------------------------------------------------------------------

    def _prepare_for_put(self) -> None:
        """Fill auto values and check required ones; raises before anything is written."""
        for prop in type(self)._properties.values():
            prepare = getattr(prop, "_prepare_for_put", None)
            if prepare is not None:
                prepare(self)
            if prop._required and getattr(self, prop._code_name) is None:
                raise BadValueError(
                    f"put() of {type(self).__name__}: required property {prop._code_name!r} "
                    "is None; set it before putting"
                )

    def put(self) -> Key:
        """Write the entity to the default store; returns its (now complete) key."""
        from .store import get_store

        return get_store().put(self)

    @classmethod
    def get_by_id(cls, id: int | str) -> Model | None:
        """Read the entity of this kind with this id, or None."""
        from .store import get_store

        return get_store().get(Key(cls._get_kind(), id))

    @classmethod
    def query(cls, *filters: FilterNode, **options: Any) -> Query:
        """A query over this kind; see :class:`~orm_ext.Query`.

        Example:
            >>> Video.query(Video.views > 10).order(-Video.views).fetch(50)
        """
        from .query import Query

        return Query(cls, filters=filters, **options)
