"""What an adapter knows about its ORM: the decode seam, the caches, the writes."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from .._errors import BadProjectionError
from ._patches import PatchSet

__all__ = ["Adapter", "bad_name"]


def bad_name(model: type, item: Any, valid: Sequence[str]) -> BadProjectionError:
    """The error for a projection name *item* that *model* does not have."""
    shown = item if isinstance(item, str) else repr(item)
    close = difflib.get_close_matches(str(shown), list(valid), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return BadProjectionError(
        f"projection({model.__name__}, {shown!r}): {model.__name__} has no property {shown!r}; "
        f"{hint}its properties are {sorted(valid)!r}"
    )


class Adapter:
    """Installs an ORM's projection hooks with wrapt and removes them exactly.

    Subclasses set :attr:`name`, implement :meth:`handles`,
    :meth:`property_names`, :meth:`resolve` and :meth:`_apply` (which calls
    ``self._patches.wrap(...)`` for every seam, cache and write path).
    """

    name = "?"

    def __init__(self) -> None:
        self._patches = PatchSet(self.name)

    def handles(self, model: type) -> bool:
        """Whether *model* belongs to this adapter's ORM (must not import the ORM)."""
        raise NotImplementedError

    def property_names(self, model: type) -> Sequence[str]:
        """Attribute names a projection of *model* may name."""
        raise NotImplementedError

    def resolve(self, model: type, item: Any) -> str:
        """A projection item (a name or a property object) -> attribute name.

        Raises:
            BadProjectionError: *item* is not a property of *model*.
        """
        raise NotImplementedError

    @property
    def installed(self) -> bool:
        """Whether the hooks are in place."""
        return self._patches.active

    def install(self) -> None:
        """Apply the hooks; a second call does nothing."""
        if not self._patches.active:
            try:
                self._apply()
            except BaseException:
                self._patches.undo()  # never leave half the hooks in place
                raise

    def uninstall(self) -> None:
        """Remove the hooks, restoring exactly what was there before."""
        self._patches.undo()

    def _apply(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} installed={self.installed}>"
