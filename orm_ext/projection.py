"""Projection: decode only the properties a block of code reads.

The ORM-agnostic core. The active projection lives in a ContextVar, so each
thread and each asyncio task sees only its own; each ORM's adapter
(:mod:`orm_ext.adapters`) hooks that ORM's protobuf-to-entity seam and asks
:func:`names_for` whether the model being decoded is projected.

Example:
    >>> with projection(Video, "title", "views"):
    ...     videos = Video.query().fetch(50)   # only title and views decoded
    >>> videos[0].title
    'intro'
    >>> videos[0].description
    Traceback (most recent call last):
    UnprojectedPropertyError: Video.description is not in the projection ...
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any, TypeVar

from ._errors import BadProjectionError

__all__ = ["current", "install", "installed_adapters", "names_for", "projection", "uninstall"]

F = TypeVar("F", bound=Callable[..., Any])

_EMPTY: Mapping[type, frozenset[str]] = MappingProxyType({})
_ACTIVE: ContextVar[Mapping[type, frozenset[str]]] = ContextVar(
    "orm_ext_projection", default=_EMPTY
)


def current() -> Mapping[type, frozenset[str]]:
    """The active projection: model class -> attribute names (empty when none)."""
    return _ACTIVE.get()


def names_for(model: type) -> frozenset[str] | None:
    """The projected attribute names for *model* (or its nearest projected base), or None."""
    active = _ACTIVE.get()
    if not active:
        return None
    names = active.get(model)
    if names is not None:
        return names
    for base in model.__mro__[1:]:
        names = active.get(base)
        if names is not None:
            return names
    return None


class projection(contextlib.ContextDecorator):
    """Inside the block, reads of the named models decode only the named properties.

    Args:
        models: a model class followed by property names (strings or the
            property objects), or one dict ``{Model: [names], ...}``.

    Raises:
        BadProjectionError: a name is not a property of the model (with a
            did-you-mean), no name is given, or the class belongs to no ORM
            an adapter knows.

    Reading a left-out property of a projected entity raises
    :class:`~orm_ext.UnprojectedPropertyError` (an ``AttributeError``);
    writing a projected entity raises :class:`~orm_ext.ProjectedEntityWriteError`
    and writes nothing. Nested blocks: the inner one wins for the models it
    names, the outer one still holds for the others. Also usable as a
    decorator.

    Example:
        >>> with projection(Video, "title", Video.views):
        ...     top = Video.query().order(-Video.views).fetch(50)
        >>> with projection({Video: ["title"], Channel: ["name"]}):
        ...     ...
    """

    @staticmethod
    def install(*adapter_names: str) -> None:
        """Install the hooks at start-up; see :func:`orm_ext.projection.install`."""
        install(*adapter_names)

    @staticmethod
    def uninstall() -> None:
        """Remove every hook exactly; see :func:`orm_ext.projection.uninstall`."""
        uninstall()

    @staticmethod
    def installed_adapters() -> list[str]:
        """Names of the adapters whose hooks are installed."""
        return installed_adapters()

    def __init__(self, model: type | Mapping[type, Iterable[Any]], *names: Any) -> None:
        if isinstance(model, Mapping):
            if names:
                raise BadProjectionError(
                    "projection({...}, ...): with a dict, give the names inside it, "
                    "e.g. projection({Video: ['title'], Channel: ['name']})"
                )
            spec = {m: list(n) if not isinstance(n, str) else [n] for m, n in model.items()}
        else:
            spec = {model: list(names)}
        if not spec:
            raise BadProjectionError("projection({}): name at least one model and its properties")
        self._map: dict[type, frozenset[str]] = {}
        self._adapters = []
        from .adapters import adapter_for

        for model_cls, wanted in spec.items():
            adapter = adapter_for(model_cls)
            if not wanted:
                raise BadProjectionError(
                    f"projection({getattr(model_cls, '__name__', model_cls)}): name at least one "
                    f"property, e.g. projection({model_cls.__name__}, "
                    f"{next(iter(adapter.property_names(model_cls)), 'name')!r})"
                )
            self._map[model_cls] = frozenset(adapter.resolve(model_cls, item) for item in wanted)
            adapter.install()
            self._adapters.append(adapter)
        self._tokens: list[Token] = []

    @property
    def models(self) -> Mapping[type, frozenset[str]]:
        """The models and attribute names this projection names."""
        return MappingProxyType(self._map)

    def _recreate_cm(self) -> projection:
        # As a decorator, each call gets its own token stack (threads may share the function).
        clone = object.__new__(projection)
        clone._map, clone._adapters, clone._tokens = self._map, self._adapters, []
        return clone

    def __enter__(self) -> projection:
        outer = _ACTIVE.get()
        self._tokens.append(_ACTIVE.set(MappingProxyType({**outer, **self._map})))
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.reset(self._tokens.pop())

    def __repr__(self) -> str:
        inner = ", ".join(f"{m.__name__}: {sorted(n)!r}" for m, n in self._map.items())
        return f"projection({{{inner}}})"


def install(*adapter_names: str) -> None:
    """Install the projection hooks at start-up (as the seed did in appengine_config.py).

    With no names: the native adapter, plus the App Engine ndb and
    google-cloud-ndb adapters if the app has already imported that library.
    ``projection(...)`` installs what it needs on first use anyway; calling
    this early keeps the first projected request from paying for it.

    Args:
        adapter_names: any of ``"native"``, ``"appengine_ndb"``, ``"cloud_ndb"``.
    """
    from .adapters import LIBRARIES, get_adapter

    if not adapter_names:
        adapter_names = tuple(
            name for name, module in LIBRARIES.items() if module is None or module in sys.modules
        )
    for name in adapter_names:
        get_adapter(name).install()


def uninstall() -> None:
    """Remove every installed projection hook, restoring the original functions exactly."""
    from .adapters import installed

    for adapter in installed():
        adapter.uninstall()


def installed_adapters() -> list[str]:
    """Names of the adapters whose hooks are installed."""
    from .adapters import installed

    return [a.name for a in installed()]
