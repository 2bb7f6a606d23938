"""Patches applied with wrapt, kept so they can be undone exactly.

wrapt stacks a second wrapper on a second ``wrap_function_wrapper`` call
instead of refusing it, so installing twice would decode twice. A PatchSet
applies each (owner, attribute) once and remembers the original object found
there, so :meth:`PatchSet.undo` puts back exactly what it replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import wrapt

__all__ = ["PatchSet"]


class PatchSet:
    """A set of wrapt patches applied and undone together."""

    def __init__(self, name: str) -> None:
        self.name = name
        # (parent object, attribute, original, whether parent held it in its own __dict__)
        self._applied: list[tuple[Any, str, Any, bool]] = []
        self._lock = threading.RLock()

    @property
    def active(self) -> bool:
        """Whether any patch is applied."""
        return bool(self._applied)

    def wrap(self, owner: Any, path: str, wrapper: Callable[..., Any]) -> None:
        """Wrap ``owner.<path>`` (dotted, e.g. ``"ModelAdapter.pb_to_entity"``) with *wrapper*.

        *wrapper* has wrapt's signature ``(wrapped, instance, args, kwargs)``.
        Wrapping the same attribute twice in one set is a no-op.
        """
        with self._lock:
            parent, attribute, original = wrapt.resolve_path(owner, path)
            for p, a, _, _ in self._applied:
                if p is parent and a == attribute:
                    return
            own = attribute in getattr(parent, "__dict__", {})
            wrapt.wrap_function_wrapper(owner, path, wrapper)
            self._applied.append((parent, attribute, original, own))

    def undo(self) -> None:
        """Restore every patched attribute to the object it held before, newest first."""
        with self._lock:
            while self._applied:
                parent, attribute, original, own = self._applied.pop()
                if own:
                    setattr(parent, attribute, original)
                else:
                    # It was inherited: remove the wrapper so lookup finds the base's again.
                    delattr(parent, attribute)
