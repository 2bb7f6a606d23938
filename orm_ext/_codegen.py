"""Generated per-model decoders: the lean per-value path of every read.

For each (model, set of wanted names) one function is generated and cached
on the model class: it looks up each wanted stored name in the entity's
``map<string, Value>`` and converts the value inline, with no per-value call,
no ``WhichOneof`` unless a falsy value might be a stored None, and no
dispatch on type. Properties a user subclass redefined fall back to their
generic ``_decode_value``.
"""

from __future__ import annotations

import datetime
import json
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .properties import (
    _EPOCH,
    _EPOCH_ORDINAL,
    _US_PER_DAY,
    JsonProperty,
    Property,
    _CompressibleProperty,
)

if TYPE_CHECKING:
    from .model import Model

# Fills the dict; returns the names of values left compressed (deferred), if any.
Decoder = Callable[[Any, dict[str, Any]], list[str] | None]

_NAMESPACE = {
    "_EPOCH": _EPOCH,
    "_TD": datetime.timedelta,
    "_DATE": datetime.date.fromordinal,
    "_EPOCH_ORD": _EPOCH_ORDINAL,
    "_US_DAY": _US_PER_DAY,
    "_ZD": zlib.decompress,
    "_JL": json.JSONDecoder().decode,  # json.loads minus its argument checks
}


def decoder_for(model: type[Model], names: frozenset[str] | None = None) -> Decoder:
    """The decoder of *model* for attribute *names* (None: every property)."""
    cache = model.__dict__["_decoders"]
    decoder = cache.get(names)
    if decoder is None:
        props = model._properties
        wanted = props.values() if names is None else [props[n] for n in props if n in names]
        decoder = cache[names] = _generate(model, wanted, projected=names is not None)
    return decoder


def _deferrable(prop: Property) -> bool:
    return isinstance(prop, _CompressibleProperty) and not prop._repeated


def value_decoder(prop: Property) -> Callable[[Any], Any]:
    """A function decoding one stored ``Value`` of *prop* (lazy first reads), cached on it."""
    decoder = prop.__dict__.get("_value_decoder")
    if decoder is None:
        body = prop._decode_source("v", "x") if prop._is_builtin() else None
        if body is None:
            decoder = prop._decode_value
        else:
            source = "def decode_value(v):\n" + "".join(f"    {line}\n" for line in body)
            source += "    return x\n"
            namespace: dict[str, Any] = dict(_NAMESPACE)
            exec(compile(source, f"<orm_ext value decoder for {prop!r}>", "exec"), namespace)
            decoder = namespace["decode_value"]
        prop.__dict__["_value_decoder"] = decoder
    return decoder


def projection_names(model: type[Model], names: frozenset[str]) -> tuple[str, ...]:
    """*names* in declaration order: a projected entity's ``_projection``."""
    return tuple(n for n in model._properties if n in names)


def _generate(model: type[Model], props: Iterable[Property], *, projected: bool) -> Decoder:
    props = list(props)
    lines = ["def decode(props, d):", "    g = props.get"]
    namespace: dict[str, Any] = dict(_NAMESPACE)
    if projected:
        # A projected entity says what it holds, in declaration order (ndb's attribute).
        namespace["_PROJECTION"] = projection_names(model, frozenset(p._code_name for p in props))
        lines.append("    d['_projection'] = _PROJECTION")
    deferring = False
    for i, prop in enumerate(props):
        out = f"d[{prop._code_name!r}]"
        body = prop._decode_source("v", out) if prop._is_builtin() else None
        if body is None:
            namespace[f"P{i}"] = prop
            body = [f"{out} = P{i}._decode_value(v)"]
        elif not projected and _deferrable(prop):
            # (A projection names what the code reads: converting it now is cheaper.)
            # As in ndb, costly conversions wait for a read: a compressed value stays
            # compressed and a JSON value stays text until code reads it; the entity's
            # source converts it then (for its whole batch).
            if isinstance(prop, JsonProperty):
                body = [f"D.append({prop._code_name!r})"]
            else:
                body = ["if v.meaning & 4:", f"    D.append({prop._code_name!r})", "else:"] + [
                    f"    {line}" for line in body
                ]
            deferring = True
        lines.append(f"    v = g({prop._name!r})")
        lines.append("    if v is not None:")
        lines.extend(f"        {line}" for line in body)
    if deferring:
        lines.insert(2, "    D = []")
        lines.append("    return D")
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<orm_ext decoder for {model.__name__}>", "exec")
    exec(code, namespace)
    decoder = namespace["decode"]
    decoder.__source__ = source
    return decoder
