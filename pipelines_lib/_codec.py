"""Arguments and outputs as JSON, futures as markers, pipeline classes by import path."""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pipelines_lib._errors import PipelineImportError, SerializationError

__all__ = ["class_path", "decode", "dump_output", "encode_args", "load_class"]

# A future inside stored arguments; resolved to the producing pipeline's output.
_MARK = "__pl_future__"

_classes: dict[str, type] = {}
_classes_lock = threading.Lock()


def encode_args(
    what: str, args: tuple, kwargs: Mapping[str, Any], future_type: type
) -> tuple[str, str, list[str]]:
    """JSON text of *args* and *kwargs*, and the ids of the futures found in them."""
    found: list[str] = []

    def default(value: Any) -> Any:
        if isinstance(value, future_type):
            found.append(value.pipeline_id)
            return {_MARK: value.pipeline_id}
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    try:
        args_text = json.dumps(list(args), default=default, separators=(",", ":"))
        kwargs_text = json.dumps(dict(kwargs), default=default, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what}: arguments {args!r} {dict(kwargs)!r} cannot be stored as JSON ({exc}); "
            "pass JSON values (str, int, float, bool, None, lists, dicts with str keys) "
            "or futures, and load anything bigger inside run()."
        ) from None
    return args_text, kwargs_text, found


def has_futures(text: str) -> bool:
    """Whether stored arguments hold a future (cheap text test before any query)."""
    return _MARK in text


def decode(text: str, outputs: Mapping[str, Any] | None = None) -> Any:
    """Stored JSON back to values; futures become their pipeline's output (None if unknown)."""
    if outputs is None or _MARK not in text:
        return json.loads(text)

    def hook(obj: dict) -> Any:
        if len(obj) == 1 and _MARK in obj:
            return outputs.get(obj[_MARK])
        return obj

    return json.loads(text, object_hook=hook)


def dump_output(what: str, value: Any) -> str:
    """JSON text of a pipeline's output."""
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what}: output {value!r} cannot be stored as JSON ({exc}); return JSON values "
            "(str, int, float, bool, None, lists, dicts with str keys)."
        ) from None


def class_path(cls: type) -> str:
    """``module:QualName`` of a pipeline class, checked to be importable by a worker."""
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise PipelineImportError(
            f"{cls.__name__}: pipeline classes are found by import path and {module}:"
            f"{qualname} cannot be imported by a worker; define the class at the top level "
            "of an importable module."
        )
    return f"{module}:{qualname}"


def load_class(path: str) -> type:
    """The class at ``module:QualName``, importing its module on first use."""
    cls = _classes.get(path)
    if cls is not None:
        return cls
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise PipelineImportError(
            f"loading pipeline class {path!r}: {exc}; install or put the module on the "
            "worker's PYTHONPATH (the worker imports it on demand)."
        ) from exc
    with _classes_lock:
        _classes[path] = obj
    return obj


def overrides(cls: type, base: type, name: str) -> bool:
    """Whether *cls* defines its own *name* rather than *base*'s (skip no-op hooks)."""
    method: Callable | None = getattr(cls, name, None)
    return method is not None and method is not getattr(base, name)
