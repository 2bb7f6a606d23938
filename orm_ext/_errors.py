"""The orm_ext exception tree.

One root, :class:`Error`; every specific error also subclasses the built-in
exception callers already catch, so ``except AttributeError`` around
``getattr`` keeps working for projected entities and ``except ValueError``
catches bad input.
"""

from __future__ import annotations

__all__ = [
    "BadCursorError",
    "BadFilterError",
    "BadProjectionError",
    "BadQueryError",
    "BadValueError",
    "CorruptEntityError",
    "Error",
    "KindError",
    "ProjectedEntityWriteError",
    "ResilientQueryError",
    "UnknownPropertyError",
    "UnprojectedPropertyError",
]


class Error(Exception):
    """Root of every error orm_ext raises."""


class BadValueError(Error, ValueError):
    """A value does not fit its property (wrong type, missing, not in choices)."""


class KindError(Error, LookupError):
    """No model class is registered for a kind."""


class BadQueryError(Error, ValueError):
    """A query cannot be built as written."""


class BadFilterError(BadQueryError):
    """A filter names an unknown or unindexed property, or a bad operator."""


class BadCursorError(BadQueryError):
    """A cursor is malformed or belongs to a differently ordered query."""


class CorruptEntityError(Error, ValueError):
    """A stored entity's protobuf cannot be decoded.

    Attributes:
        kind: the entity's kind.
        key: the entity's :class:`~orm_ext.Key` when known.
        property: the property being decoded when known.
    """

    def __init__(self, message: str, *, kind: str, key: object = None, property: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.key = key
        self.property = property


class UnknownPropertyError(Error, AttributeError):
    """A model class was asked for a property it does not have (``Video.tittle``)."""


class BadProjectionError(Error, ValueError):
    """A projection names a property the model does not have."""


class UnprojectedPropertyError(Error, AttributeError):
    """A projected entity was asked for a property its projection left out."""


class ProjectedEntityWriteError(Error, ValueError):
    """A projected (partial) entity was passed to a write; nothing was written."""


class ResilientQueryError(Error, RuntimeError):
    """A resilient query crossed its failure threshold.

    Attributes:
        skipped: every item skipped so far (see :class:`~orm_ext.SkippedItem`).
    """

    def __init__(self, message: str, skipped: list | None = None):
        super().__init__(message)
        self.skipped = list(skipped or [])
