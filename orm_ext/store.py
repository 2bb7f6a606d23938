"""The store: SQLAlchemy engine, tables per kind, puts, gets, deletes, transactions."""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from time import perf_counter
from typing import Any

import sqlalchemy as sa

from . import codec
from ._errors import BadValueError, Error, ProjectedEntityWriteError
from ._lazy import lazy_group
from ._schema import KEY_ID, KEY_NAME, PB, KindSchema
from .instrument import _OBSERVER, fetch_all, track
from .key import Key
from .model import Model

__all__ = ["Store", "connect", "get_store", "transaction"]

_default_store: Store | None = None
_default_lock = threading.Lock()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside a writer (the demo's worker and web server).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Store:
    """Entities of every kind in one SQLAlchemy database.

    Args:
        url: any SQLAlchemy URL (``sqlite:///app.db``,
            ``postgresql+psycopg://...``, ``mysql+pymysql://...``) or an Engine.
        lazy: entities read through this store decode each property on first
            read (see :func:`orm_ext.lazy`).
        **engine_options: passed to :func:`sqlalchemy.create_engine`.

    Attributes:
        engine: the SQLAlchemy Engine behind the store.
    """

    def __init__(self, url: str | sa.Engine, *, lazy: bool = False, **engine_options: Any) -> None:
        self.lazy = lazy
        if isinstance(url, sa.Engine):
            self.engine = url
        else:
            engine_options.setdefault("pool_pre_ping", True)  # survive a database restart
            if str(url).startswith("sqlite"):
                engine_options.setdefault("connect_args", {"timeout": 30})
            self.engine = sa.create_engine(url, **engine_options)
            if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (
                None,
                "",
                ":memory:",
            ):
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._schemas: dict[type[Model], KindSchema] = {}
        self._schemas_lock = threading.Lock()
        self._tx: ContextVar[sa.Connection | None] = ContextVar(
            f"orm_ext_tx_{id(self)}", default=None
        )
        # Schemas whose tables the current (SQLite) transaction created.
        self._tx_ensured: ContextVar[set[KindSchema] | None] = ContextVar(
            f"orm_ext_tx_ensured_{id(self)}", default=None
        )

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- plumbing ------------------------------------------------------------------------

    def schema(self, model: type[Model]) -> KindSchema:
        """The tables of *model*, created on first use."""
        schema = self._schemas.get(model)
        if schema is None:
            with self._schemas_lock:
                schema = self._schemas.get(model)
                if schema is None:
                    schema = KindSchema(model)
                    self._schemas[model] = schema
        if not schema._ready:
            conn = self._tx.get()
            if conn is not None and conn.dialect.name == "sqlite":
                # SQLite locks the whole database for the transaction's writes, so DDL
                # on another connection would wait for it forever: create the tables
                # in the transaction, and call them ready only once it commits.
                ensured = self._tx_ensured.get()
                if ensured is not None and schema not in ensured:
                    schema.create(conn)
                    ensured.add(schema)
                return schema
            schema.ensure(self.engine)
        return schema

    @contextlib.contextmanager
    def connection(self) -> Iterator[sa.Connection]:
        """A connection in a transaction: the current one inside ``transaction()``."""
        conn = self._tx.get()
        if conn is not None:
            yield conn
            return
        with self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """Run the block in one database transaction; nested use joins the outer one.

        An exception leaving the outermost block rolls everything back.
        """
        if self._tx.get() is not None:
            yield self._tx.get()  # type: ignore[misc]
            return
        ensured: set[KindSchema] = set()
        with self.engine.begin() as conn:
            token = self._tx.set(conn)
            ensured_token = self._tx_ensured.set(ensured)
            try:
                yield conn
            finally:
                self._tx_ensured.reset(ensured_token)
                self._tx.reset(token)
        for schema in ensured:  # committed: their tables now exist for everyone
            schema._ready = True

    def in_transaction(self) -> bool:
        """Whether the current context is inside ``transaction()``."""
        return self._tx.get() is not None

    def drop_all(self) -> None:
        """Drop every table in the database (tests and demos only)."""
        meta = sa.MetaData()
        meta.reflect(self.engine)
        meta.drop_all(self.engine)
        with self._schemas_lock:
            self._schemas.clear()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- writes -----------------------------------------------------------------------

    def put(self, entity: Model) -> Key:
        """Write one entity; returns its key (allocated for a new entity)."""
        return self.put_multi([entity])[0]

    def put_multi(self, entities: Sequence[Model]) -> list[Key]:
        """Write entities in one transaction; returns their keys in order.

        Every entity is checked and encoded before anything is written, so a
        bad one (wrong type, projected, missing required value) writes nothing.

        Raises:
            ProjectedEntityWriteError: an entity is projected (partial).
            BadValueError: an entity is not a Model or a value does not fit.
        """
        entities = list(entities)
        for entity in entities:
            if not isinstance(entity, Model):
                raise BadValueError(f"put_multi: {entity!r} is not a Model instance")
            if entity._projection:
                raise ProjectedEntityWriteError(
                    f"put of {type(entity).__name__} {entity._key!r}: it is projected to "
                    f"{entity._projection!r}, so writing it would erase the other properties; "
                    "read it outside projection(...) to change it (nothing was written)"
                )
        # The same complete key twice in one batch: the last one wins, as a second put would.
        last = {e._key: i for i, e in enumerate(entities) if e._key is not None and e._key.id()}
        groups: dict[type[Model], list[tuple[int, Model, dict[str, Any]]]] = defaultdict(list)
        keys: list[Key | None] = [None] * len(entities)
        for i, entity in enumerate(entities):
            entity._prepare_for_put()
            row = self._row(entity)
            if entity._key is not None and last.get(entity._key, i) != i:
                keys[i] = entity._key
                continue
            groups[type(entity)].append((i, entity, row))
        with self.connection() as conn:
            for model, items in groups.items():
                for i, key in self._write_kind(conn, model, items):
                    keys[i] = key
        for i, entity in enumerate(entities):
            object.__setattr__(entity, "_key", keys[i])
        return keys  # type: ignore[return-value]

    def _row(self, entity: Model) -> dict[str, Any]:
        row: dict[str, Any] = {PB: codec.entity_to_pb(entity).SerializeToString()}
        schema = self.schema(type(entity))
        for name, prop in schema.scalar.items():
            value = getattr(entity, name)
            row[prop._name] = None if value is None else prop._filter_value(value)
        for name, prop in schema.repeated.items():
            row[f"__side__{name}"] = [prop._filter_value(v) for v in getattr(entity, name)]
        return row

    def _write_kind(
        self,
        conn: sa.Connection,
        model: type[Model],
        items: list[tuple[int, Model, dict[str, Any]]],
    ) -> list[tuple[int, Key]]:
        schema = self.schema(model)
        table = schema.table
        kind = schema.kind
        out: list[tuple[int, Key]] = []
        # String ids keep the _key_id they already have, so a re-put does not move the row.
        names = [
            e._key.id() for _, e, _ in items if e._key is not None and isinstance(e._key.id(), str)
        ]
        existing: dict[str, int] = {}
        if names:
            found = conn.execute(
                sa.select(table.c[KEY_NAME], table.c[KEY_ID]).where(table.c[KEY_NAME].in_(names))
            )
            existing = dict(found.all())
        with_id: list[tuple[int, dict[str, Any], Key]] = []
        new: list[tuple[int, dict[str, Any], str | None]] = []
        for i, entity, row in items:
            key = entity._key
            ident = None if key is None else key.id()
            if isinstance(ident, int):
                with_id.append((i, {**row, KEY_ID: ident, KEY_NAME: None}, key))  # type: ignore[arg-type]
            elif isinstance(ident, str) and ident in existing:
                with_id.append((i, {**row, KEY_ID: existing[ident], KEY_NAME: ident}, key))  # type: ignore[arg-type]
            else:
                new.append((i, {**row, KEY_NAME: ident}, ident))
        side_rows: list[tuple[int, dict[str, Any]]] = []
        if with_id:
            ids = [row[KEY_ID] for _, row, _ in with_id]
            taken = conn.execute(
                sa.select(table.c[KEY_ID], table.c[KEY_NAME]).where(
                    table.c[KEY_ID].in_([k.id() for _, _, k in with_id if k.integer_id()]),
                    table.c[KEY_NAME].is_not(None),
                )
            ).first()
            if taken is not None:
                # Overwriting the row would silently delete the named entity.
                raise BadValueError(
                    f"put of {Key._from_parts(kind, taken[0])!r}: that id is the row id of "
                    f"{Key._from_parts(kind, taken[1])!r} in this kind's table; let the "
                    "database allocate int ids (Key without id) or use a str id "
                    "(nothing was written)"
                )
            conn.execute(sa.delete(table).where(table.c[KEY_ID].in_(ids)))
            for side in schema.side.values():
                conn.execute(sa.delete(side).where(side.c[KEY_ID].in_(ids)))
            conn.execute(sa.insert(table), [_main_columns(row) for _, row, _ in with_id])
            for i, row, key in with_id:
                out.append((i, key))
                side_rows.append((row[KEY_ID], row))
            if conn.dialect.name == "postgresql":
                self._bump_sequence(conn, kind)
        if new:
            result = conn.execute(
                sa.insert(table).returning(table.c[KEY_ID], sort_by_parameter_order=True),
                [_main_columns(row) for _, row, _ in new],
            )
            for (i, row, name), new_id in zip(new, result.scalars().all()):
                out.append((i, Key._from_parts(kind, new_id if name is None else name)))
                side_rows.append((new_id, row))
        for name, side in schema.side.items():
            values = [
                {KEY_ID: key_id, "value": v}
                for key_id, row in side_rows
                for v in row[f"__side__{name}"]
            ]
            if values:
                conn.execute(sa.insert(side), values)
        return out

    @staticmethod
    def _bump_sequence(conn: sa.Connection, kind: str) -> None:
        # Ids given by the caller do not advance PostgreSQL's sequence: move it past them.
        quoted = conn.dialect.identifier_preparer.quote(kind)
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{quoted}', '{KEY_ID}'), "
            f"GREATEST((SELECT MAX({KEY_ID}) FROM {quoted}), 1))"
        )

    def delete(self, key: Key) -> None:
        """Delete the entity with *key* (a missing one is fine)."""
        self.delete_multi([key])

    def delete_multi(self, keys: Iterable[Key]) -> None:
        """Delete the entities with *keys* in one transaction."""
        by_kind = _group_keys(keys, "delete_multi")
        with self.connection() as conn:
            for model, group in by_kind.items():
                schema = self.schema(model)
                table = schema.table
                ids = [k.id() for k in group if isinstance(k.id(), int)]
                names = [k.id() for k in group if isinstance(k.id(), str)]
                cond = schema.keys_condition(ids, names)
                if schema.side:
                    found = conn.execute(sa.select(table.c[KEY_ID]).where(cond)).scalars().all()
                    for side in schema.side.values():
                        conn.execute(sa.delete(side).where(side.c[KEY_ID].in_(found)))
                conn.execute(sa.delete(table).where(cond))

    # -- reads --------------------------------------------------------------------------

    def decode_rows(self, model: type[Model], rows: Sequence[Any], operation: str) -> list[Model]:
        """Entities from rows of ``(_key_id, _key_name, _pb, ...)``, through the decode seam.

        The seam is looked up once per batch, so a hook installed meanwhile
        applies to the next batch. A profiler's observer, if active, hears of
        the batch; a store opened with ``lazy=True`` makes its entities lazy.
        """
        decode = codec.pb_to_entity
        kind = model._get_kind()
        observer = _OBSERVER.get()
        # One group per batch: lazy entities decode column by column, and a
        # profiler's entities report first reads once per batch.
        with lazy_group(store_lazy=self.lazy, tracked=observer is not None) as group:
            start = perf_counter()
            entities = [
                decode(model, r[2], Key._from_parts(kind, r[0] if r[1] is None else r[1]))
                for r in rows
            ]
            if observer is not None:
                track(observer, model, entities, perf_counter() - start, operation, group)
        return entities

    def get(self, key: Key) -> Model | None:
        """Read the entity with *key*, or None."""
        return self.get_multi([key])[0]

    def get_multi(self, keys: Sequence[Key]) -> list[Model | None]:
        """Read entities by key; a missing key gives None in its place."""
        keys = list(keys)
        found: dict[Key, Model] = {}
        with self.connection() as conn:
            for model, group in _group_keys(keys, "get_multi").items():
                schema = self.schema(model)
                table = schema.table
                ids = [k.id() for k in group if isinstance(k.id(), int)]
                names = [k.id() for k in group if isinstance(k.id(), str)]
                stmt = sa.select(table.c[KEY_ID], table.c[KEY_NAME], table.c[PB]).where(
                    schema.keys_condition(ids, names)
                )
                rows = fetch_all(conn.execute(stmt))
                for entity in self.decode_rows(model, rows, "get"):
                    found[entity._key] = entity
        return [found.get(k) for k in keys]


def _main_columns(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("__side__")}


def _group_keys(keys: Iterable[Key], operation: str) -> dict[type[Model], list[Key]]:
    groups: dict[type[Model], list[Key]] = defaultdict(list)
    for key in keys:
        if not isinstance(key, Key) or not key.is_complete():
            raise BadValueError(f"{operation}: {key!r} is not a complete Key")
        groups[Model._lookup_model(key.kind())].append(key)
    return groups


def connect(
    url: str | sa.Engine, *, default: bool = True, lazy: bool = False, **engine_options: Any
) -> Store:
    """Open a :class:`Store` on *url* and (by default) make it the default store.

    Example:
        >>> store = orm_ext.connect("sqlite:///app.db")
        >>> store.engine.dialect.name
        'sqlite'
    """
    global _default_store
    store = Store(url, lazy=lazy, **engine_options)
    if default:
        with _default_lock:
            _default_store = store
    return store


def get_store() -> Store:
    """The default store (the last one :func:`connect` opened)."""
    store = _default_store
    if store is None:
        raise Error(
            "no store is connected; call orm_ext.connect('sqlite:///app.db') (any SQLAlchemy "
            "URL) at start-up"
        )
    return store


def set_store(store: Store | None) -> Store | None:
    """Replace the default store (None clears it); returns the previous one."""
    global _default_store
    with _default_lock:
        previous, _default_store = _default_store, store
    return previous


@contextlib.contextmanager
def transaction() -> Iterator[sa.Connection]:
    """``with orm_ext.transaction():`` — one transaction on the default store."""
    with get_store().transaction() as conn:
        yield conn


def put_multi(entities: Sequence[Model]) -> list[Key]:
    """Write entities to the default store in one transaction."""
    return get_store().put_multi(entities)


def get_multi(keys: Sequence[Key]) -> list[Model | None]:
    """Read entities by key from the default store (None for missing)."""
    return get_store().get_multi(keys)


def delete_multi(keys: Iterable[Key]) -> None:
    """Delete entities by key from the default store."""
    get_store().delete_multi(keys)
