"""Adapters: one per ORM, each hooking that ORM's decode seam, caches and writes.

``projection(Model, ...)`` finds the adapter from the model class. An
adapter module is imported only when a model of its ORM shows up, so neither
ndb library is imported unless used.
"""

from __future__ import annotations

import importlib

from .._errors import BadProjectionError
from ._base import Adapter, bad_name

__all__ = ["LIBRARIES", "Adapter", "adapter_for", "bad_name", "get_adapter", "installed"]

# adapter name -> the module prefix of the ORM it serves (None: our own).
LIBRARIES: dict[str, str | None] = {
    "native": None,
    "appengine_ndb": "google.appengine.ext.ndb",
    "cloud_ndb": "google.cloud.ndb",
}

_loaded: dict[str, Adapter] = {}


def get_adapter(name: str) -> Adapter:
    """The adapter called *name* (imports its module on first use)."""
    if name not in LIBRARIES:
        raise BadProjectionError(
            f"projection adapter {name!r}: unknown; choose one of {sorted(LIBRARIES)}"
        )
    adapter = _loaded.get(name)
    if adapter is None:
        adapter = _loaded[name] = importlib.import_module(f"{__name__}.{name}").ADAPTER
    return adapter


def adapter_for(model: type) -> Adapter:
    """The adapter for *model*'s ORM.

    Raises:
        BadProjectionError: no adapter knows *model*.
    """
    if isinstance(model, type):
        modules = {getattr(c, "__module__", "") or "" for c in model.__mro__}
        for name, prefix in LIBRARIES.items():
            if prefix is None or any(m == prefix or m.startswith(prefix + ".") for m in modules):
                adapter = get_adapter(name)
                if adapter.handles(model):
                    return adapter
    raise BadProjectionError(
        f"projection({model!r}): not a model class of a supported ORM; pass an orm_ext.Model, "
        "App Engine ndb.Model or google-cloud-ndb Model subclass"
    )


def installed() -> list[Adapter]:
    """The adapters whose hooks are in place."""
    return [a for a in _loaded.values() if a.installed]
