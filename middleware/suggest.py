"""Which ``projection(...)`` would pay off: decode rows and suggestions per call site.

A call site is the file:line of the user's code that ran the query. When the
entities decoded there went mostly unread, the suggestion is the exact
``with projection(Model, ...)`` line naming the properties that *were* read,
and the decode time it would save: the decode time times the share of
decoded properties left unread (decode cost grows with each decoded property).

Example:
    >>> suggestions(batches)
    [{'model': 'Video', 'site': 'views.py:12 in index', 'properties': ['title', 'views'],
      'saved_ms': 4.1, 'code': 'with projection(Video, "title", "views"):', ...}]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orm_ext.instrument import DecodeBatch

__all__ = ["UNREAD_SHARE", "decode_rows", "projection_line", "suggestions"]

# "Most decoded properties went unread": more than this share of them.
UNREAD_SHARE = 0.5


def projection_line(model: str, names: Iterable[str]) -> str:
    """The ``with projection(...)`` line for *model* and *names*.

    Example:
        >>> projection_line("Video", ["title", "views"])
        'with projection(Video, "title", "views"):'
    """
    args = ", ".join([model, *(f'"{n}"' for n in names)])
    return f"with projection({args}):"


def decode_rows(batches: Iterable[DecodeBatch]) -> list[dict[str, Any]]:
    """One row per (model, call site): entities, decode time, decoded and read properties.

    Rows come slowest first, as a reader of the table wants them.
    """
    groups: dict[tuple[type, str], list[DecodeBatch]] = {}
    for batch in batches:
        groups.setdefault((batch.model, batch.site), []).append(batch)
    rows = []
    for (model, site), group in groups.items():
        order = list(model._properties)
        decoded = {n for b in group for n in b.decoded}
        read = {n for b in group for n in b.read_names if n in model._properties}
        projected = [b.projected for b in group if b.projected is not None]
        rows.append(
            {
                "model": model.__name__,
                "kind": model._get_kind(),
                "site": site,
                "operations": sorted({b.operation for b in group}),
                "batches": len(group),
                "entities": sum(b.entities for b in group),
                "ms": round(sum(b.seconds for b in group) * 1000, 3),
                "properties": len(order),
                "decoded": [n for n in order if n in decoded],
                "read": [n for n in order if n in read],
                "projected": sorted({n for p in projected for n in p}) if projected else None,
            }
        )
    rows.sort(key=lambda r: -r["ms"])
    return rows


def suggestions(batches: Iterable[DecodeBatch]) -> list[dict[str, Any]]:
    """Suggestions for call sites whose unprojected decodes went mostly unread.

    Projected call sites get none (they already chose); call sites whose
    entities were never read get none either (a projection names at least one
    property, and unread entities usually mean a keys-only query would do).
    """
    out = []
    for row in decode_rows(batches):
        if row["projected"] is not None or not row["read"] or not row["decoded"]:
            continue
        unread = 1 - len(row["read"]) / len(row["decoded"])
        if unread <= UNREAD_SHARE:
            continue
        out.append(
            {
                "model": row["model"],
                "site": row["site"],
                "properties": row["read"],
                "decoded": len(row["decoded"]),
                "entities": row["entities"],
                "decode_ms": row["ms"],
                "saved_ms": round(row["ms"] * unread, 3),
                "code": projection_line(row["model"], row["read"]),
            }
        )
    out.sort(key=lambda s: -s["saved_ms"])
    return out
