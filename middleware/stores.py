"""Where finished profiles are kept: bounded memory (default) or a SQL table.

Both stores keep at most ``max_profiles`` profiles, dropping the oldest, so a
profiler left on never grows without bound. Profiles are JSON documents
(:meth:`middleware.Recording.to_profile`); ids are unguessable.

Example:
    >>> store = make_store("sqlite:///profiles.db", max_profiles=500)
    >>> store.save(profile); store.load(profile["id"])["total_ms"]
    12.5
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from ._errors import ConfigurationError

__all__ = ["MemoryStore", "ProfileStore", "SQLStore", "make_store", "valid_id"]

_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def valid_id(profile_id: str) -> bool:
    """Whether *profile_id* has the shape of an id we issue (anything else is a 404)."""
    return bool(_ID.match(profile_id))


@runtime_checkable
class ProfileStore(Protocol):
    """What a profile store implements."""

    def save(self, profile: dict[str, Any]) -> None:
        """Keep *profile* (a JSON-ready dict with an ``id``)."""

    def load(self, profile_id: str) -> dict[str, Any] | None:
        """The profile with *profile_id*, or None."""


class MemoryStore:
    """The last ``max_profiles`` profiles of this process, in memory.

    Example:
        >>> store = MemoryStore(max_profiles=2)
    """

    def __init__(self, max_profiles: int = 100) -> None:
        self.max_profiles = max_profiles
        self._profiles: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def save(self, profile: dict[str, Any]) -> None:
        with self._lock:
            self._profiles[profile["id"]] = profile
            while len(self._profiles) > self.max_profiles:
                self._profiles.popitem(last=False)

    def load(self, profile_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._profiles.get(profile_id)

    def __len__(self) -> int:
        return len(self._profiles)


class SQLStore:
    """Profiles in a table ``protolens_profiles`` of any SQLAlchemy database.

    Use it when several processes serve the site (a profile recorded by one
    worker is then viewable through any other).

    Example:
        >>> store = SQLStore("postgresql+psycopg://app@db/app", max_profiles=1000)
    """

    def __init__(self, url: str | sa.Engine, max_profiles: int = 1000) -> None:
        self.engine = url if isinstance(url, sa.Engine) else sa.create_engine(url)
        self.max_profiles = max_profiles
        meta = sa.MetaData()
        self.table = sa.Table(
            "protolens_profiles",
            meta,
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("id", sa.String(64), nullable=False, unique=True),
            sa.Column("data", sa.Text, nullable=False),
        )
        meta.create_all(self.engine)
        self._saves = 0

    def save(self, profile: dict[str, Any]) -> None:
        table = self.table
        with self.engine.begin() as conn:
            conn.execute(sa.insert(table).values(id=profile["id"], data=json.dumps(profile)))
            self._saves += 1
            # Trim now and then, not on every save: one DELETE per tenth of the bound.
            if self._saves % max(1, self.max_profiles // 10) == 0:
                newest = sa.select(table.c.seq).order_by(table.c.seq.desc())
                cutoff = conn.execute(newest.offset(self.max_profiles).limit(1)).scalar()
                if cutoff is not None:
                    conn.execute(sa.delete(table).where(table.c.seq <= cutoff))

    def load(self, profile_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            data = conn.execute(
                sa.select(self.table.c.data).where(self.table.c.id == profile_id)
            ).scalar()
        return None if data is None else json.loads(data)


def make_store(spec: Any, *, max_profiles: int | None = None) -> ProfileStore:
    """A store from a setting: None or ``"memory"``, a SQLAlchemy URL, or a store object.

    Raises:
        ConfigurationError: *spec* is none of these.
    """
    if spec is None or spec == "memory":
        return MemoryStore(max_profiles or 100)
    if isinstance(spec, str | sa.Engine):
        return SQLStore(spec, max_profiles or 1000)
    if isinstance(spec, ProfileStore):
        return spec
    raise ConfigurationError(
        f"The profile store setting {spec!r} is not understood; set it to 'memory', to a "
        "SQLAlchemy URL such as 'sqlite:///profiles.db', or to an object with save(profile) "
        "and load(profile_id) methods."
    )
