"""Keys: a kind plus an integer id (allocated by the database) or a string name."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from ._errors import BadValueError

if TYPE_CHECKING:
    from .model import Model

__all__ = ["Key"]

_INT64_MAX = 2**63 - 1


class Key:
    """An entity's key: ``Key("Video", 42)`` or ``Key(Video, "intro")``.

    A key with no id is *incomplete*: ``put()`` completes it with an id the
    database allocates.

    Args:
        kind: a kind name or a :class:`~orm_ext.Model` subclass.
        id: a positive int, a non-empty str, or None for an incomplete key.
        urlsafe: instead of kind and id, the string :meth:`urlsafe` returned.

    Example:
        >>> k = Key("Video", 42)
        >>> Key(urlsafe=k.urlsafe()) == k
        True
    """

    __slots__ = ("_id", "_kind")

    def __init__(
        self,
        kind: str | type[Model] | None = None,
        id: int | str | None = None,
        *,
        urlsafe: str | bytes | None = None,
    ) -> None:
        if urlsafe is not None:
            if kind is not None or id is not None:
                raise BadValueError("Key(urlsafe=...) takes no kind or id; pass one or the other")
            kind, id = _parse_urlsafe(urlsafe)
        if isinstance(kind, type):
            kind = kind._get_kind()
        if not isinstance(kind, str) or not kind:
            raise BadValueError(
                f"Key(kind={kind!r}): the kind must be a non-empty str or a Model class"
            )
        if id is not None:
            if isinstance(id, bool) or not isinstance(id, int | str):
                raise BadValueError(
                    f"Key({kind!r}, {id!r}): the id must be an int or a str, not {type(id).__name__}"
                )
            if isinstance(id, int) and not 0 < id <= _INT64_MAX:
                raise BadValueError(f"Key({kind!r}, {id!r}): an int id must be in 1..2**63-1")
            if isinstance(id, str) and not id:
                raise BadValueError(f"Key({kind!r}, ''): a str id must not be empty")
        self._kind = kind
        self._id = id

    @classmethod
    def _from_parts(cls, kind: str, id: int | str | None) -> Key:
        # The decode path builds thousands of keys from trusted columns: skip validation.
        key = object.__new__(cls)
        key._kind = kind
        key._id = id
        return key

    def kind(self) -> str:
        """The kind name."""
        return self._kind

    def id(self) -> int | str | None:
        """The int id or str name; None for an incomplete key."""
        return self._id

    def integer_id(self) -> int | None:
        """The id if it is an int, else None."""
        return self._id if isinstance(self._id, int) else None

    def string_id(self) -> str | None:
        """The id if it is a str, else None."""
        return self._id if isinstance(self._id, str) else None

    def is_complete(self) -> bool:
        """Whether the key has an id."""
        return self._id is not None

    def urlsafe(self) -> str:
        """A URL-safe string for this key; ``Key(urlsafe=...)`` reverses it."""
        if self._id is None:
            raise BadValueError(f"{self!r}.urlsafe(): an incomplete key has no url-safe form")
        tag = "i" if isinstance(self._id, int) else "s"
        raw = f"{self._kind}\x00{tag}{self._id}".encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def model_class(self) -> type[Model]:
        """The Model class registered for this key's kind."""
        from .model import Model

        return Model._lookup_model(self._kind)

    def get(self) -> Model | None:
        """Read the entity with this key from the default store, or None."""
        from .store import get_store

        return get_store().get(self)

    def delete(self) -> None:
        """Delete the entity with this key from the default store (missing is fine)."""
        from .store import get_store

        get_store().delete(self)

    def _sort_tuple(self) -> tuple[Any, ...]:
        idv = self._id
        return (self._kind, 0 if idv is None else 1 if isinstance(idv, int) else 2, idv or 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Key):
            return NotImplemented
        return self._kind == other._kind and self._id == other._id

    def __lt__(self, other: Key) -> bool:
        if not isinstance(other, Key):
            return NotImplemented
        return self._sort_tuple() < other._sort_tuple()

    def __hash__(self) -> int:
        return hash((self._kind, self._id))

    def __repr__(self) -> str:
        return f"Key({self._kind!r}, {self._id!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Key._from_parts, (self._kind, self._id))


def _parse_urlsafe(value: str | bytes) -> tuple[str, int | str]:
    try:
        text = value.decode("ascii") if isinstance(value, bytes) else value
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        kind, rest = raw.split("\x00", 1)
        tag, body = rest[0], rest[1:]
        if tag == "i":
            return kind, int(body)
        if tag == "s":
            return kind, body
    except (ValueError, IndexError, UnicodeDecodeError):
        pass
    raise BadValueError(
        f"Key(urlsafe={value!r}): not a key's url-safe form; pass exactly what Key.urlsafe() returned"
    )
