"""Queries: filters, orders, fetch, iteration in batches, keyset cursors."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ._errors import BadCursorError, BadFilterError, BadQueryError, CorruptEntityError
from ._lazy import _LAZY
from ._schema import KEY_ID, KEY_NAME, PB, KindSchema
from .instrument import fetch_all
from .key import Key
from .projection import _ACTIVE as _PROJECTION

if TYPE_CHECKING:
    from .model import Model
    from .store import Store

__all__ = [
    "AND",
    "OR",
    "ConjunctionNode",
    "Cursor",
    "DisjunctionNode",
    "FilterNode",
    "PropertyOrder",
    "Query",
    "QueryIterator",
]

_OPS = {"==", "!=", "<", "<=", ">", ">=", "in"}


class Node:
    """A filter expression node."""

    def _compile(self, schema: KindSchema) -> sa.ColumnElement[bool]:
        raise NotImplementedError


class FilterNode(Node):
    """``prop <op> value``; built by comparing a property: ``Video.views > 10``."""

    def __init__(self, prop: Any, op: str, value: Any) -> None:
        if op not in _OPS:
            raise BadFilterError(
                f"filter {prop!r} {op} ...: unknown operator; use one of {sorted(_OPS)}"
            )
        self.prop, self.op, self.value = prop, op, value

    def __repr__(self) -> str:
        return f"FilterNode({self.prop!r}, {self.op!r}, {self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FilterNode) and (self.prop, self.op, self.value) == (
            other.prop,
            other.op,
            other.value,
        )

    __hash__ = object.__hash__

    def _compile(self, schema: KindSchema) -> sa.ColumnElement[bool]:
        prop, op, value = self.prop, self.op, self.value
        if prop._code_name == "key" and prop._name == "__key__":
            return _key_filter(schema, op, value)
        model = schema.model
        if model._properties.get(prop._code_name) is not prop and not _inherited(model, prop):
            raise BadFilterError(
                f"filter {prop!r} {op} {value!r} on a {model.__name__} query: the property "
                f"belongs to another model; use {model.__name__}'s own properties"
            )
        if prop._repeated:
            side = schema.side[prop._code_name]
            inner = _compare(side.c.value, op, value)
            return sa.exists().where(side.c[KEY_ID] == schema.table.c[KEY_ID], inner)
        return _compare(schema.column(prop), op, value)


def _inherited(model: type[Model], prop: Any) -> bool:
    return any(p is prop for p in model._properties.values())


def _compare(col: sa.ColumnElement, op: str, value: Any) -> sa.ColumnElement[bool]:
    if op == "in":
        if None in value:  # IN [..., None] also matches the entities whose value is None
            return sa.or_(col.in_([v for v in value if v is not None]), col.is_(None))
        return col.in_(value)
    if value is None:
        if op == "==":
            return col.is_(None)
        if op == "!=":
            return col.is_not(None)
        raise BadFilterError(f"filter {op} None: None only compares with == and !=")
    if op == "==":
        return col == value
    if op == "!=":
        return sa.or_(col != value, col.is_(None))  # ndb: None differs from every value
    return {"<": col < value, "<=": col <= value, ">": col > value, ">=": col >= value}[op]


def _key_filter(schema: KindSchema, op: str, value: Any) -> sa.ColumnElement[bool]:
    table = schema.table
    keys = value if op == "in" else [value]
    for key in keys:
        if key.kind() != schema.kind:
            raise BadFilterError(f"filter on key: {key!r} is not of kind {schema.kind!r}")
    if op == "in":
        ids = [k.id() for k in keys if isinstance(k.id(), int)]
        names = [k.id() for k in keys if isinstance(k.id(), str)]
        return schema.keys_condition(ids, names)
    ident = value.id()
    name = table.c[KEY_NAME]
    if isinstance(ident, str):
        if op not in ("==", "!="):
            raise BadFilterError(
                f"filter key {op} {value!r}: string ids compare only with == and !="
            )
        # != keeps the int-keyed entities, whose name is NULL.
        return name == ident if op == "==" else sa.or_(name != ident, name.is_(None))
    # An int id is never a named entity's internal row id.
    if op == "!=":
        return sa.or_(table.c[KEY_ID] != ident, name.is_not(None))
    return sa.and_(_compare(table.c[KEY_ID], op, ident), name.is_(None))


class ConjunctionNode(Node):
    """All of the filters (``AND(a, b)``)."""

    def __init__(self, *nodes: Node) -> None:
        self.nodes = nodes

    def _compile(self, schema: KindSchema) -> sa.ColumnElement[bool]:
        return sa.and_(*(n._compile(schema) for n in self.nodes))

    def __repr__(self) -> str:
        return f"AND{self.nodes!r}"


class DisjunctionNode(Node):
    """Any of the filters (``OR(a, b)``)."""

    def __init__(self, *nodes: Node) -> None:
        self.nodes = nodes

    def _compile(self, schema: KindSchema) -> sa.ColumnElement[bool]:
        return sa.or_(*(n._compile(schema) for n in self.nodes))

    def __repr__(self) -> str:
        return f"OR{self.nodes!r}"


def AND(*nodes: Node) -> ConjunctionNode:
    """All of *nodes*."""
    return ConjunctionNode(*_check_nodes(nodes, "AND"))


def OR(*nodes: Node) -> DisjunctionNode:
    """Any of *nodes*."""
    return DisjunctionNode(*_check_nodes(nodes, "OR"))


def _check_nodes(nodes: Sequence[Any], where: str) -> Sequence[Node]:
    for node in nodes:
        if not isinstance(node, Node):
            raise BadFilterError(
                f"{where}({node!r}): not a filter; compare a property, e.g. Video.views > 10"
            )
    return nodes


class PropertyOrder:
    """One sort key: ``Video.views`` (ascending) or ``-Video.views`` (descending)."""

    def __init__(self, prop: Any, descending: bool = False) -> None:
        self.prop, self.descending = prop, descending

    def __neg__(self) -> PropertyOrder:
        return PropertyOrder(self.prop, not self.descending)

    def __repr__(self) -> str:
        return f"{'-' if self.descending else ''}{self.prop!r}"


class Cursor:
    """An opaque, url-safe position in a query's results (keyset, not offset).

    ``str(cursor)`` / ``Cursor(urlsafe=...)`` round-trip it through a URL.
    """

    def __init__(
        self,
        values: Sequence[Any] | None = None,
        *,
        urlsafe: str | bytes | None = None,
        _fingerprint: str = "",
    ) -> None:
        if urlsafe is not None:
            try:
                text = urlsafe.decode("ascii") if isinstance(urlsafe, bytes) else urlsafe
                raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
                doc = json.loads(raw)
                values, _fingerprint = doc["v"], doc["f"]
                if not isinstance(values, list):
                    raise ValueError
                values = [_from_json(v) for v in values]
            except (ValueError, KeyError, TypeError, AttributeError):
                raise BadCursorError(
                    f"Cursor(urlsafe={urlsafe!r}): not a cursor; pass exactly what "
                    "fetch_page() or urlsafe() returned"
                ) from None
        self.values = list(values or [])
        self.fingerprint = _fingerprint

    def urlsafe(self) -> str:
        values = [_to_json(v) for v in self.values]
        raw = json.dumps({"v": values, "f": self.fingerprint}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")

    __str__ = urlsafe

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cursor) and (self.values, self.fingerprint) == (
            other.values,
            other.fingerprint,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Cursor(urlsafe={self.urlsafe()!r})"


def _to_json(value: Any) -> Any:
    # An indexed BytesProperty's column value: JSON has no bytes.
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b": base64.urlsafe_b64encode(bytes(value)).decode("ascii")}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.urlsafe_b64decode(value["b"])
    return value


class Query:
    """A query over one kind. Immutable: ``filter()`` and ``order()`` return new queries.

    Args:
        model: the Model class.
        filters: filter nodes, all of which must hold.
        orders: sort keys.
        projection: ndb's official projection: names of indexed scalar
            properties read from their columns (entities come back read-only).
        keys_only: return keys, not entities.
        store: the store to read (default: the default store at run time).
    """

    def __init__(
        self,
        model: type[Model],
        *,
        filters: Sequence[Node] = (),
        orders: Sequence[PropertyOrder] = (),
        projection: Sequence[Any] | None = None,
        keys_only: bool = False,
        store: Store | None = None,
    ) -> None:
        self.model = model
        self.filters = tuple(_check_nodes(filters, f"{model.__name__}.query"))
        self.orders = tuple(orders)
        self.projection = tuple(self._projection_names(projection)) if projection else None
        self.keys_only = keys_only
        self._store = store

    def _copy(self, **changes: Any) -> Query:
        args = {
            "filters": self.filters,
            "orders": self.orders,
            "projection": self.projection,
            "keys_only": self.keys_only,
            "store": self._store,
        }
        args.update(changes)
        return Query(self.model, **args)

    def __repr__(self) -> str:
        return f"Query({self.model.__name__}, filters={self.filters!r}, orders={self.orders!r})"

    def _projection_names(self, projection: Sequence[Any]) -> list[str]:
        names = []
        for item in projection:
            name = item if isinstance(item, str) else getattr(item, "_code_name", None)
            prop = self.model._properties.get(name) if name else None
            if prop is None:
                raise self.model._unknown_property(
                    str(item), f"query(projection={list(projection)!r})"
                )
            if not prop._indexed or prop._repeated:
                raise BadQueryError(
                    f"query(projection=[{name!r}]): official projection reads index columns, so "
                    f"only indexed scalar properties fit; {prop!r} is "
                    f"{'repeated' if prop._repeated else 'unindexed'}. Use "
                    f"orm_ext.projection({self.model.__name__}, {name!r}) instead"
                )
            names.append(name)
        return names

    @property
    def store(self) -> Store:
        from .store import get_store

        return self._store or get_store()

    def filter(self, *filters: Node) -> Query:
        """A query with these filters added."""
        return self._copy(filters=self.filters + tuple(_check_nodes(filters, "filter")))

    def order(self, *orders: Any) -> Query:
        """A query with these sort keys added (``-prop`` sorts descending)."""
        parsed = []
        for item in orders:
            order = item if isinstance(item, PropertyOrder) else PropertyOrder(item)
            prop = order.prop
            if getattr(prop, "_name", None) != "__key__":
                if self.model._properties.get(getattr(prop, "_code_name", None)) is not prop:
                    raise BadQueryError(
                        f"{self.model.__name__}.query().order({item!r}): not a property of "
                        f"{self.model.__name__}"
                    )
                if not prop._indexed or prop._repeated:
                    raise BadQueryError(
                        f"order({item!r}): only indexed scalar properties can be sorted on; "
                        f"{prop!r} is {'repeated' if prop._repeated else 'unindexed'}"
                    )
            parsed.append(order)
        return self._copy(orders=self.orders + tuple(parsed))

    # -- SQL ---------------------------------------------------------------------------------

    def _sort_columns(self, schema: KindSchema) -> list[tuple[sa.ColumnElement, bool]]:
        cols = []
        for order in self.orders:
            if getattr(order.prop, "_name", None) == "__key__":
                cols.append((schema.table.c[KEY_ID], order.descending))
            else:
                cols.append((schema.column(order.prop), order.descending))
        if not any(c is schema.table.c[KEY_ID] for c, _ in cols):
            cols.append((schema.table.c[KEY_ID], False))  # a unique tiebreaker
        return cols

    def _fingerprint(self) -> str:
        spec = repr([(repr(o.prop), o.descending) for o in self.orders]) + self.model._get_kind()
        return hashlib.sha1(spec.encode()).hexdigest()[:12]

    def _select(
        self,
        schema: KindSchema,
        dialect: str,
        *,
        cursor: Cursor | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[sa.Select, list[sa.ColumnElement]]:
        table = schema.table
        sort = self._sort_columns(schema)
        sort_cols = [c for c, _ in sort]
        if self.keys_only:
            cols = [table.c[KEY_ID], table.c[KEY_NAME]]
        elif self.projection:
            cols = [table.c[KEY_ID], table.c[KEY_NAME]] + [
                schema.column(self.model._properties[n]) for n in self.projection
            ]
        else:
            cols = [table.c[KEY_ID], table.c[KEY_NAME], table.c[PB]]
        extra = [c for c in sort_cols if not any(c is x for x in cols)]
        stmt = sa.select(*cols, *extra)
        conds = [f._compile(schema) for f in self.filters]
        if cursor is not None:
            conds.append(_after(sort, cursor.values))
        if conds:
            stmt = stmt.where(*conds)
        for col, desc in sort:
            expr = col.desc() if desc else col.asc()
            if dialect == "postgresql" and col is not table.c[KEY_ID]:
                # MySQL and SQLite sort NULL lowest; make PostgreSQL agree.
                expr = expr.nulls_last() if desc else expr.nulls_first()
            stmt = stmt.order_by(expr)
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        return stmt, sort_cols

    def _cursor_from_row(self, row: sa.Row, positions: list[int]) -> Cursor:
        return Cursor([row[i] for i in positions], _fingerprint=self._fingerprint())

    def _check_cursor(self, cursor: Cursor | str | bytes | None) -> Cursor | None:
        if cursor is None:
            return None
        if not isinstance(cursor, Cursor):
            cursor = Cursor(urlsafe=cursor)
        schema_len = len(self.orders) + (
            0 if any(getattr(o.prop, "_name", None) == "__key__" for o in self.orders) else 1
        )
        if cursor.fingerprint != self._fingerprint() or len(cursor.values) != schema_len:
            raise BadCursorError(
                f"{self!r}: the cursor belongs to a query with another kind or order; "
                "resume with a cursor from this same query"
            )
        return cursor

    # -- running -------------------------------------------------------------------------------

    def _run(
        self, *, limit: int | None, offset: int, cursor: Cursor | None
    ) -> tuple[list[Any], list[Cursor]]:
        store = self.store
        schema = store.schema(self.model)
        with store.connection() as conn:
            stmt, sort_cols = self._select(
                schema, conn.dialect.name, cursor=cursor, limit=limit, offset=offset
            )
            result = conn.execute(stmt)
            positions = _positions(result.keys(), sort_cols)
            rows = fetch_all(result)
        return rows, positions  # type: ignore[return-value]

    def _materialize(self, rows: Sequence[sa.Row]) -> list[Any]:
        kind = self.model._get_kind()
        if self.keys_only:
            return [Key._from_parts(kind, i if n is None else n) for i, n, *_ in rows]
        if self.projection:
            return [self._projected_entity(row) for row in rows]
        return self.store.decode_rows(self.model, rows, "query")

    def _projected_entity(self, row: sa.Row) -> Model:
        model = self.model
        entity = model.__new__(model)
        values = entity.__dict__
        for i, name in enumerate(self.projection or ()):
            col = row[2 + i]
            values[name] = None if col is None else model._properties[name]._from_column(col)
        values["_key"] = Key._from_parts(model._get_kind(), row[0] if row[1] is None else row[1])
        values["_projection"] = self.projection
        return entity

    def fetch(self, limit: int | None = None, *, offset: int = 0, **options: Any) -> list[Any]:
        """Run the query; up to *limit* results after skipping *offset*.

        ``keys_only=True`` or ``projection=[...]`` may be given here too.
        """
        query = self._with_options(options)
        _check_limit(limit, offset)
        rows, _ = query._run(limit=limit, offset=offset, cursor=None)
        return query._materialize(rows)

    def _with_options(self, options: dict[str, Any]) -> Query:
        unknown = set(options) - {"keys_only", "projection"}
        if unknown:
            raise BadQueryError(
                f"fetch(): unknown options {sorted(unknown)}; use keys_only= or projection="
            )
        return self._copy(**options) if options else self

    def get(self, **options: Any) -> Any:
        """The first result, or None."""
        results = self.fetch(1, **options)
        return results[0] if results else None

    def count(self, limit: int | None = None) -> int:
        """How many entities match (at most *limit* if given)."""
        _check_limit(limit, 0)
        store = self.store
        schema = store.schema(self.model)
        inner = sa.select(schema.table.c[KEY_ID])
        conds = [f._compile(schema) for f in self.filters]
        if conds:
            inner = inner.where(*conds)
        if limit is not None:
            inner = inner.limit(limit)
        with store.connection() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(inner.subquery())
            ).scalar_one()

    def fetch_page(
        self, page_size: int, start_cursor: Cursor | str | None = None, **options: Any
    ) -> tuple[list[Any], Cursor | None, bool]:
        """One page: ``(results, cursor, more)``.

        Pages are keyset-paginated on the sort key plus the entity key, so
        they neither skip nor repeat entities when rows are inserted meanwhile.
        ``cursor`` is where the page ended (None for an empty page); pass it as
        ``start_cursor`` for the next page.
        """
        query = self._with_options(options)
        _check_limit(page_size, 0)
        if page_size < 1:
            # A page of 0 would report "more" with no cursor to get there: a loop forever.
            raise BadQueryError(f"fetch_page({page_size!r}): the page size must be an int >= 1")
        cursor = query._check_cursor(start_cursor)
        rows, positions = query._run(limit=page_size + 1, offset=0, cursor=cursor)
        more = len(rows) > page_size
        rows = rows[:page_size]
        end = query._cursor_from_row(rows[-1], positions) if rows else None
        return query._materialize(rows), end, more

    def iter(
        self, *, batch_size: int = 100, start_cursor: Cursor | str | None = None, **options: Any
    ) -> QueryIterator:
        """Iterate lazily, reading *batch_size* rows at a time."""
        return QueryIterator(
            self._with_options(options), batch_size=batch_size, start_cursor=start_cursor
        )

    def __iter__(self) -> Iterator[Any]:
        return self.iter()


def _check_limit(limit: int | None, offset: int) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise BadQueryError(f"fetch(limit={limit!r}): the limit must be an int >= 0 or None")
    if not isinstance(offset, int) or offset < 0:
        raise BadQueryError(f"fetch(offset={offset!r}): the offset must be an int >= 0")


def _positions(names: Sequence[str], sort_cols: list[sa.ColumnElement]) -> list[int]:
    names = list(names)
    return [names.index(c.name) for c in sort_cols]


def _after(
    sort: list[tuple[sa.ColumnElement, bool]], values: Sequence[Any]
) -> sa.ColumnElement[bool]:
    """Rows strictly after *values* in the order *sort* (NULL sorts lowest)."""
    disjuncts = []
    for i, (col, desc) in enumerate(sort):
        eqs = [_equal(c, v) for (c, _), v in zip(sort[:i], values[:i])]
        disjuncts.append(sa.and_(*eqs, _beyond(col, desc, values[i])))
    return sa.or_(*disjuncts)


def _equal(col: sa.ColumnElement, value: Any) -> sa.ColumnElement[bool]:
    return col.is_(None) if value is None else col == value


def _beyond(col: sa.ColumnElement, desc: bool, value: Any) -> sa.ColumnElement[bool]:
    if not desc:
        return col.is_not(None) if value is None else col > value
    if value is None:
        return sa.false()
    return sa.or_(col < value, col.is_(None))


class _Failed:
    """A row of a batch that could not be decoded: raised when its turn comes."""

    __slots__ = ("error",)

    def __init__(self, error: CorruptEntityError) -> None:
        self.error = error


class QueryIterator:
    """Iterates a query batch by batch; knows the cursor after each result.

    Each batch is decoded as a whole (lazy entities of a batch share their
    column decodes), with the projection and lazy mode that were active where
    the iterator was made, so a block that made it governs every batch. A
    result that cannot be decoded raises from ``next()`` after the iterator has
    moved past it, so the caller may skip it and go on (see
    :func:`orm_ext.resilient_query`).
    """

    def __init__(
        self, query: Query, *, batch_size: int = 100, start_cursor: Cursor | str | None = None
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise BadQueryError(
                f"iter(batch_size={batch_size!r}): the batch size must be an int >= 1"
            )
        self.query = query
        self.batch_size = batch_size
        self._cursor = query._check_cursor(start_cursor)
        self._items: list[tuple[sa.Row, Any]] = []  # (row, entity or _Failed), last first
        self._positions: list[int] = []
        self._exhausted = False
        self._modes = (_PROJECTION.get(), _LAZY.get())

    def __iter__(self) -> QueryIterator:
        return self

    def cursor_after(self) -> Cursor | None:
        """The position after the last result returned (or skipped)."""
        return self._cursor

    def _fill(self) -> None:
        rows, self._positions = self.query._run(
            limit=self.batch_size, offset=0, cursor=self._cursor
        )
        if len(rows) < self.batch_size:
            self._exhausted = True
        projection_token = _PROJECTION.set(self._modes[0])
        lazy_token = _LAZY.set(self._modes[1])
        try:
            try:
                items = self.query._materialize(rows)
            except CorruptEntityError:
                items = [self._decode_alone(row) for row in rows]
        finally:
            _LAZY.reset(lazy_token)
            _PROJECTION.reset(projection_token)
        self._items = list(reversed(list(zip(rows, items))))

    def _decode_alone(self, row: sa.Row) -> Any:
        # Only after a batch failed: find the bad rows, keep the good ones.
        try:
            return self.query._materialize([row])[0]
        except CorruptEntityError as exc:
            return _Failed(exc)

    def has_next(self) -> bool:
        """Whether another result follows (may read the next batch)."""
        if not self._items and not self._exhausted:
            self._fill()
        return bool(self._items)

    def __next__(self) -> Any:
        if not self.has_next():
            raise StopIteration
        row, item = self._items.pop()
        self._cursor = self.query._cursor_from_row(row, self._positions)
        if isinstance(item, _Failed):
            raise item.error
        return item

    def next_key(self) -> Key | None:
        """The key of the next result without decoding it (None at the end)."""
        if not self.has_next():
            return None
        row = self._items[-1][0]
        return Key._from_parts(self.query.model._get_kind(), row[0] if row[1] is None else row[1])
