"""The benchmarks' shared shape: 60 mixed properties, 15 of them wanted.

The seed's query fetched 50 entities of over 60 properties while the code
needed 15. This module builds that shape twice, once as an orm_ext model and
once as a 60-column SQLAlchemy ORM table (the peer a user would pick
instead), fills both with the same values, and times callables side by side.
"""

from __future__ import annotations

import datetime
import random
import statistics
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy import orm

import orm_ext
from orm_ext import (
    BooleanProperty,
    DateTimeProperty,
    FloatProperty,
    IntegerProperty,
    JsonProperty,
    Model,
    StringProperty,
    TextProperty,
)

# (prefix, how many, wanted) — the mix of a wide analytics entity.
MIX = [
    ("s", 20, 5),  # short strings
    ("i", 10, 3),  # ints
    ("f", 8, 2),  # floats
    ("b", 5, 1),  # bools
    ("d", 6, 2),  # datetimes
    ("j", 4, 1),  # json blobs
    ("t", 3, 0),  # long compressed text
    ("r", 4, 1),  # repeated strings
]
NAMES = [f"{p}{k:02d}" for p, n, _ in MIX for k in range(n)]
WANTED = [f"{p}{k:02d}" for p, _, w in MIX for k in range(w)]
assert len(NAMES) == 60 and len(WANTED) == 15

_PROPS = {
    "s": lambda: StringProperty(),
    "i": lambda: IntegerProperty(),
    "f": lambda: FloatProperty(),
    "b": lambda: BooleanProperty(),
    "d": lambda: DateTimeProperty(),
    "j": lambda: JsonProperty(),
    "t": lambda: TextProperty(compressed=True),
    "r": lambda: StringProperty(repeated=True),
}

WideVideo = type("WideVideo", (Model,), {n: _PROPS[n[0]]() for n in NAMES})
NarrowVideo = type("NarrowVideo", (Model,), {n: _PROPS[n[0]]() for n in WANTED})
# The same 60 properties with the long text stored plainly, as the peer stores it.
PlainVideo = type(
    "PlainVideo",
    (Model,),
    {n: TextProperty() if n[0] == "t" else _PROPS[n[0]]() for n in NAMES},
)


class Base(orm.DeclarativeBase):
    pass


_COLUMNS = {
    "s": lambda: sa.Column(sa.String(500)),
    "i": lambda: sa.Column(sa.BigInteger),
    "f": lambda: sa.Column(sa.Float(53)),
    "b": lambda: sa.Column(sa.Boolean),
    "d": lambda: sa.Column(sa.DateTime),
    "j": lambda: sa.Column(sa.JSON),
    "t": lambda: sa.Column(sa.Text),
    "r": lambda: sa.Column(sa.JSON),
}
WideRow = type(
    "WideRow",
    (Base,),
    {"__tablename__": "wide_row", "id": sa.Column(sa.Integer, primary_key=True)}
    | {n: _COLUMNS[n[0]]() for n in NAMES},
)


def values(rng: random.Random) -> dict[str, object]:
    """One entity's values: realistic sizes, the same for both stores."""
    base = datetime.datetime(2024, 1, 1)
    out: dict[str, object] = {}
    for name in NAMES:
        kind = name[0]
        if kind == "s":
            out[name] = f"{name} value {rng.randrange(10**6)}"
        elif kind == "i":
            out[name] = rng.randrange(10**9)
        elif kind == "f":
            out[name] = rng.random() * 1000
        elif kind == "b":
            out[name] = rng.random() < 0.5
        elif kind == "d":
            out[name] = base + datetime.timedelta(microseconds=rng.randrange(10**13))
        elif kind == "j":
            out[name] = {"daily": [rng.randrange(1000) for _ in range(14)], "source": name}
        elif kind == "t":
            out[name] = " ".join(f"word{rng.randrange(5000)}" for _ in range(300))
        else:
            out[name] = [f"tag{rng.randrange(100)}" for _ in range(5)]
    return out


def fill(url: str, count: int = 50, seed: int = 7) -> tuple[orm_ext.Store, sa.Engine]:
    """A fresh store and peer engine on *url* holding the same *count* entities."""
    store = orm_ext.connect(url)
    store.drop_all()
    rng = random.Random(seed)
    rows = [values(rng) for _ in range(count)]
    orm_ext.put_multi([WideVideo(**r) for r in rows])
    orm_ext.put_multi([NarrowVideo(**{n: r[n] for n in WANTED}) for r in rows])
    orm_ext.put_multi([PlainVideo(**r) for r in rows])
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    with orm.Session(engine) as session:
        session.add_all([WideRow(**r) for r in rows])
        session.commit()
    return store, engine


def side_by_side(
    variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 20
) -> dict[str, float]:
    """Median seconds per call of each variant, run interleaved so noise hits all alike."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def peer_full(engine: sa.Engine) -> Callable[[], list]:
    def run() -> list:
        # A fresh session each time: the identity map must not serve cached rows.
        with orm.Session(engine) as session:
            return session.scalars(sa.select(WideRow).limit(50)).all()

    return run


def peer_load_only(engine: sa.Engine) -> Callable[[], list]:
    cols = [getattr(WideRow, n) for n in WANTED]

    def run() -> list:
        with orm.Session(engine) as session:
            return session.scalars(sa.select(WideRow).options(orm.load_only(*cols)).limit(50)).all()

    return run
