"""What the App Engine ndb and google-cloud-ndb adapters share.

The two libraries descend from one design: the same ``Model``/``Property``
API (``_properties``, ``_code_name``, ``_projection``), the same write entry
points and the same tasklet model. This module holds the logic that is the
same in both, parameterised by what differs (the library's module prefix,
its ``model`` module and package, the adapter's error classes). It imports
neither library, so using one adapter never imports the other library.

What stays in :mod:`.appengine_ndb` and :mod:`.cloud_ndb` is what differs:
the error classes (their bases are the library's own), the decode seam, the
cache bypass, where a tasklet's captured context is kept and which methods
run its steps, and (App Engine) ``Context.put``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._base import Adapter, bad_name

__all__: list[str] = []

# wrapt's wrapper signature: (wrapped, instance, args, kwargs) -> result.
_Wrapper = Callable[[Any, Any, tuple, dict], Any]


# --- async: each tasklet runs in the context of the code that created it -----


def _entered_var(name: str) -> contextvars.ContextVar[contextvars.Context | None]:
    """The ContextVar that, inside a captured context, holds that context itself.

    It lets a nested tasklet step see it is already there (``Context.run``
    refuses to enter a context twice). Each adapter keeps its own, named
    after it.
    """
    return contextvars.ContextVar(name, default=None)


def _capture_context(
    entered: contextvars.ContextVar[contextvars.Context | None],
) -> contextvars.Context:
    """A copy of the caller's contextvars context, marked in *entered* as itself."""
    captured = contextvars.copy_context()
    captured.run(entered.set, captured)
    return captured


def _run_in_context(
    captured: contextvars.Context | None,
    entered: contextvars.ContextVar[contextvars.Context | None],
    wrapped: Callable[..., Any],
    args: tuple,
    kwargs: dict,
) -> Any:
    """Call ``wrapped(*args, **kwargs)`` inside *captured* (as is when None or already in it)."""
    if captured is None or entered.get() is captured:
        return wrapped(*args, **kwargs)
    return captured.run(wrapped, *args, **kwargs)


# --- caches --------------------------------------------------------------------


def _projected_kinds(active: Mapping[type, frozenset[str]], model_base: type) -> set[str]:
    """The datastore kinds of the *model_base* subclasses in the projection *active*."""
    return {
        cls._get_kind() for cls in active if isinstance(cls, type) and issubclass(cls, model_base)
    }


# --- read guard ----------------------------------------------------------------


def _code_names(entity: Any) -> tuple[str, ...]:
    """The attribute names of a projected *entity* (its ``_projection`` holds datastore names)."""
    props = type(entity)._properties
    return tuple(props[name]._code_name if name in props else name for name in entity._projection)


def _guard_get_value(library_error: type[Exception], error: type[Exception]) -> _Wrapper:
    """A wrapper for ``Property._get_value`` that re-raises *library_error* as *error*.

    Args:
        library_error: the library's own ``UnprojectedPropertyError``.
        error: our subclass of both it and :class:`orm_ext.UnprojectedPropertyError`.
    """

    def wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        try:
            return wrapped(*args, **kwargs)
        except library_error as err:
            if isinstance(err, error):
                raise
            entity = args[0] if args else kwargs["entity"]
            raise error(
                f"{type(entity).__name__}.{instance._code_name} is not in the projection "
                f"{_code_names(entity)!r}; add it to projection(...) or read the entity "
                "outside the context"
            ) from None

    return wrapper


# --- writes ------------------------------------------------------------------


def _write_error(error: type[Exception], operation: str, entity: Any) -> Exception:
    """The *error* raised when *operation* is given the projected *entity*."""
    return error(
        f"{operation}: {type(entity).__name__}(key={entity._key!r}) is a projected entity "
        f"holding only {_code_names(entity)!r}; writing it would drop the other properties, "
        "so nothing was written. Read it again outside the projection context and write that."
    )


def _refuse_projected_self(error: type[Exception], operation: str) -> _Wrapper:
    """A wrapper for a ``Model`` method that refuses a projected ``self``."""

    def wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        if instance is not None and instance._projection:
            raise _write_error(error, operation, instance)
        return wrapped(*args, **kwargs)

    return wrapper


def _refuse_projected_arg(error: type[Exception], operation: str) -> _Wrapper:
    """A wrapper for a function whose first argument, ``entity``, must not be projected."""

    def wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        entity = args[0] if args else kwargs["entity"]
        if getattr(entity, "_projection", None):
            raise _write_error(error, operation, entity)
        return wrapped(*args, **kwargs)

    return wrapper


def _refuse_projected_batch(error: type[Exception], operation: str) -> _Wrapper:
    """A wrapper for a function whose first argument, ``entities``, must hold no projected one."""

    def wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        entities, *rest = args or (kwargs.pop("entities"),)
        entities = list(entities)  # checked whole before the first one is queued or sent
        for entity in entities:
            if getattr(entity, "_projection", None):
                raise _write_error(error, operation, entity)
        return wrapped(entities, *rest, **kwargs)

    return wrapper


def _wrap_guards(
    wrap: Callable[[Any, str, _Wrapper], None],
    model_module: Any,
    package: Any,
    unprojected_error: type[Exception],
    write_error: type[Exception],
) -> None:
    """Install the guards both libraries take alike: the read guard and the common writes.

    The read guard is on ``Property._get_value``; the writes are the ``Model``
    puts and ``put_multi``/``put_multi_async``.

    Args:
        wrap: the adapter's ``PatchSet.wrap``.
        model_module: the library's ``model`` module.
        package: the library's ``ndb`` package, which re-exports ``put_multi``.
        unprojected_error: the adapter's ``UnprojectedPropertyError`` subclass.
        write_error: the adapter's ``ProjectedEntityWriteError`` subclass.
    """
    wrap(
        model_module,
        "Property._get_value",
        _guard_get_value(model_module.UnprojectedPropertyError, unprojected_error),
    )
    # Each alias is its own attribute (put = _put in ndb's class body), so each is wrapped.
    for name in ("_put", "put", "_put_async", "put_async"):
        wrap(model_module, f"Model.{name}", _refuse_projected_self(write_error, f"{name}()"))
    # The package binds its own names at import; wrapping only the model module misses them.
    for owner in (model_module, package):
        for name in ("put_multi", "put_multi_async"):
            wrap(owner, name, _refuse_projected_batch(write_error, f"{name}()"))


# --- the adapter ---------------------------------------------------------------


def _is_library_class(cls: type, prefix: str) -> bool:
    """Whether a class in *cls*'s MRO was defined in a module starting with *prefix*."""
    return any(
        (getattr(c, "__module__", "") or "").startswith(prefix) for c in getattr(cls, "__mro__", ())
    )


class _NdbAdapter(Adapter):
    """An adapter for one ndb library: model recognition and name resolution.

    Subclasses set :attr:`_library` (the library's module prefix) and
    :attr:`_model_module` (its ``model`` module), and implement
    :meth:`_datastore_name` and :meth:`_apply`.
    """

    _library: str
    _model_module: Any

    def handles(self, model: type) -> bool:
        return (
            isinstance(model, type)
            and _is_library_class(model, self._library)
            and issubclass(model, self._model_module.Model)
        )

    def property_names(self, model: type) -> Sequence[str]:
        return [p._code_name for p in model._properties.values()]

    def resolve(self, model: type, item: Any) -> str:
        valid = self.property_names(model)
        if isinstance(item, str):
            if item in valid:
                return item
        elif (
            isinstance(item, self._model_module.Property)
            and model._properties.get(self._datastore_name(item)) is item
        ):
            return item._code_name
        raise bad_name(model, item, valid)

    @staticmethod
    def _datastore_name(prop: Any) -> str:
        """*prop*'s datastore name as the key of ``Model._properties``."""
        raise NotImplementedError
