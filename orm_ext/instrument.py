"""Instrumentation for profilers: decode time per batch, and which properties code reads.

Nothing here costs anything while no observer is active: the store checks one
ContextVar per batch. While an observer is active (one profiled request),
each decoded batch is timed and reported, and its entities are *tracked*:
their values wait in a side table and move into the entity on first read,
which reports the read once, then costs nothing more.

Example:
    >>> class Printer:
    ...     def decoded(self, batch): print(batch.model.__name__, len(batch.entities))
    ...     def read(self, batch, name): print("read", name)
    >>> with observe(Printer()):
    ...     Video.query().fetch(3)
    Video 3
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol

from ._lazy import LazyGroup

if TYPE_CHECKING:
    from .model import Model

__all__ = ["DecodeBatch", "Observer", "current_observer", "observe"]

# An entity's own state in its __dict__, beside the property values.
_ENTITY_STATE = ("_key", "_projection", "_source")

_OBSERVER: ContextVar[Observer | None] = ContextVar("orm_ext_observer", default=None)

# Frames inside these packages are not "the user's code" for call sites.
_INTERNAL = ("orm_ext", "sqlalchemy", "wrapt", "middleware", "contextlib", "django", "asgiref")


class Observer(Protocol):
    """What a profiler implements to hear about decoding."""

    def decoded(self, batch: DecodeBatch) -> None:
        """A batch of entities was decoded."""

    def read(self, batch: DecodeBatch, name: str) -> None:
        """Code read property *name* of an entity of *batch* for the first time."""

    # Optional: ``fetched(seconds)`` hears how long fetching a batch's rows took
    # (row transfer happens after the statement ran, which SQL events do not see).


@dataclass(eq=False)
class DecodeBatch:
    """One decode of entities of one model at one call site.

    Attributes:
        model: the Model class.
        entities: how many entities were decoded.
        seconds: wall time of the decode.
        projected: the projection's names, or None for a full decode.
        decoded: the attribute names decoded (the projection, or every property).
        site: ``"file.py:123 in func"`` of the first frame outside orm_ext.
        operation: ``"query"``, ``"get"``, ...
        read_names: the names code read so far, on any entity of the batch.
    """

    model: type
    entities: int
    seconds: float
    projected: frozenset[str] | None
    decoded: tuple[str, ...]
    site: str
    operation: str
    read_names: set[str] = field(default_factory=set)


def fetch_all(result: Any) -> list[Any]:
    """``result.all()``, timed for the active observer (if it has ``fetched``)."""
    observer = _OBSERVER.get()
    fetched = getattr(observer, "fetched", None) if observer is not None else None
    if fetched is None:
        return result.all()
    start = perf_counter()
    rows = result.all()
    fetched(perf_counter() - start)
    return rows


def current_observer() -> Observer | None:
    """The active observer, or None."""
    return _OBSERVER.get()


@contextlib.contextmanager
def observe(observer: Observer) -> Iterator[Observer]:
    """Report decodes in this context (thread / asyncio task) to *observer*."""
    token = _OBSERVER.set(observer)
    try:
        yield observer
    finally:
        _OBSERVER.reset(token)


def call_site() -> str:
    """``file:line in function`` of the innermost frame outside library code."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.split(".", 1)[0] not in _INTERNAL:
            code = frame.f_code
            return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
        frame = frame.f_back
    return "?"


def track(
    observer: Observer,
    model: type[Model],
    entities: list[Any],
    seconds: float,
    operation: str,
    group: LazyGroup | None = None,
) -> None:
    """Report a decoded batch to *observer* and make its entities report first reads.

    Entities the store decoded in *group* already hold their values aside;
    any other entity (one a custom hook built) has its values moved aside here.
    """
    from .projection import names_for

    projected = names_for(model)
    props = model._properties
    batch = DecodeBatch(
        model=model,
        entities=len(entities),
        seconds=seconds,
        projected=projected,
        decoded=tuple(n for n in props if projected is None or n in projected),
        site=call_site(),
        operation=operation,
    )
    if group is None:
        group = LazyGroup(tracked=True)
    group.watch(batch, observer)
    for entity in entities:
        if entity is None:
            continue
        source = entity._source
        if source is group or (
            source is not None and source.group is group and source.pending is not None
        ):
            continue  # decoded by the store for this batch: its values already wait aside
        values = entity.__dict__
        kept = {k: values.pop(k) for k in _ENTITY_STATE if k in values}
        object.__setattr__(entity, "__dict__", kept)
        if source is None:
            group.hold(entity, values)
        else:
            source.pending = {**(source.pending or {}), **values}
            if source.group is not group:
                source.group.watch(batch, observer)
    observer.decoded(batch)
