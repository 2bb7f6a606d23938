"""Tables: one per kind, plus a side table per indexed repeated property.

``Video`` gets a table ``Video`` with the key columns ``_key_id`` (allocated
by the database) and ``_key_name`` (for string ids), one column per indexed
scalar property (named after its stored name), and the ``_pb`` blob holding
every property. ``Video.tags`` (indexed, repeated) gets ``Video__tags`` with
one row per value.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from .properties import MAX_INDEXED_STRING, Property

if TYPE_CHECKING:
    from .model import Model

KEY_ID, KEY_NAME, PB = "_key_id", "_key_name", "_pb"

_ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: a rowid alias
_PB_TYPE = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


class KindSchema:
    """The tables of one model class, created (or extended) on first use."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self.kind = model._get_kind()
        self.metadata = sa.MetaData()
        columns = [
            sa.Column(KEY_ID, _ID_TYPE, primary_key=True, autoincrement=True),
            sa.Column(KEY_NAME, sa.String(MAX_INDEXED_STRING), nullable=True, unique=True),
            sa.Column(PB, _PB_TYPE, nullable=False),
        ]
        self.scalar: dict[str, Property] = {}
        self.repeated: dict[str, Property] = {}
        for prop in model._properties.values():
            if not prop._indexed:
                continue
            if prop._repeated:
                self.repeated[prop._code_name] = prop
            else:
                self.scalar[prop._code_name] = prop
                columns.append(
                    sa.Column(prop._name, prop._column_type(), nullable=True, index=True)
                )
        # AUTOINCREMENT: SQLite would otherwise hand a deleted entity's id to the next
        # new one, so a stale Key would read another entity (PostgreSQL and MariaDB
        # never reuse ids either).
        self.table = sa.Table(self.kind, self.metadata, *columns, sqlite_autoincrement=True)
        self.side: dict[str, sa.Table] = {}
        for name, prop in self.repeated.items():
            self.side[name] = sa.Table(
                f"{self.kind}__{prop._name}",
                self.metadata,
                sa.Column(KEY_ID, _ID_TYPE, nullable=False, index=True),
                sa.Column("value", prop._column_type(), nullable=True, index=True),
            )
        self._ready = False
        self._lock = threading.Lock()

    def keys_condition(self, ids: list[int], names: list[str]) -> sa.ColumnElement[bool]:
        """Rows of these int ids and names: an int id never matches a named row's _key_id."""
        table = self.table
        return sa.or_(
            sa.and_(table.c[KEY_ID].in_(ids), table.c[KEY_NAME].is_(None)),
            table.c[KEY_NAME].in_(names),
        )

    def column(self, prop: Property) -> sa.ColumnElement:
        return self.table.c[prop._name]

    def ensure(self, engine: sa.Engine) -> None:
        """Create missing tables and add missing index columns (once per process)."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            with engine.begin() as conn:
                self.create(conn)
            self._ready = True

    def create(self, conn: sa.Connection) -> None:
        """Create missing tables and add missing index columns on *conn* (in its transaction)."""
        self.metadata.create_all(conn, checkfirst=True)
        # A property indexed after the table was made: add its column, as ndb
        # would start indexing it (entities written before are indexed when re-put).
        existing = {c["name"] for c in sa.inspect(conn).get_columns(self.kind)}
        missing = [c for c in self.table.columns if c.name not in existing]
        for column in missing:
            ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
            table = conn.dialect.identifier_preparer.quote(self.kind)
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {ddl}")
            for index in self.table.indexes:
                if any(c is column for c in index.columns):
                    index.create(conn, checkfirst=True)
