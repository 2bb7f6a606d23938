"""A rate limiter shared by every worker: ``with rate_limit("youtube", per_second=10):``.

A token bucket in its GCRA form: the bucket keeps one number, the time the
next call may start ("theoretical arrival time"). Each caller reserves the
next slot atomically and sleeps until it. On Redis the reservation is a Lua
script using the server's clock; elsewhere it is one UPDATE in the state
database (clocks of the workers then need to agree, as NTP makes them).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

import sqlalchemy as sa

from pipelines_lib import _config
from pipelines_lib._errors import ConfigurationError
from pipelines_lib._schema import rates
from pipelines_lib._store import Store, get_store

__all__ = ["rate_limit", "reserve"]

_KEY_PREFIX = "pipelines_lib:rate:"

# Returns the seconds to wait, as a string (Redis truncates Lua numbers to integers).
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX',
           math.ceil((new_tat - now) * 1000) + 1000)
local wait = tat - now - (burst - 1) * interval
if wait < 0 then wait = 0 end
return string.format('%.6f', wait)
"""

_lock = threading.Lock()
_clients: dict[tuple[str, int], object] = {}
_stores: dict[tuple[str, int], Store] = {}


def _redis(url: str):
    import redis

    key = (url, os.getpid())
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = redis.Redis.from_url(url)
            client._pl_script = client.register_script(_LUA)
            _clients[key] = client
        return client


def _sql_store(url: str) -> Store:
    if url == _config.get_settings().state_url:
        return get_store()
    key = (url, os.getpid())
    with _lock:
        if key not in _stores:
            _stores[key] = Store(url)
        return _stores[key]


def _reserve_sql(store: Store, name: str, interval: float, burst: int) -> float:
    for _ in range(5):
        now = time.time()
        try:
            with store.write() as conn:
                # One UPDATE takes the slot and locks the row until commit.
                res = conn.execute(
                    sa.update(rates)
                    .where(rates.c.name == name)
                    .values(tat=sa.case((rates.c.tat > now, rates.c.tat), else_=now) + interval)
                )
                if res.rowcount == 0:
                    conn.execute(sa.insert(rates).values(name=name, tat=now + interval))
                    return 0.0
                new_tat = conn.execute(
                    sa.select(rates.c.tat).where(rates.c.name == name)
                ).scalar_one()
        except sa.exc.IntegrityError:
            continue  # another process inserted the bucket first; take a slot in it
        start_at = new_tat - interval
        return max(start_at - now - (burst - 1) * interval, 0.0)
    raise RuntimeError(f"rate_limit({name!r}): could not create the bucket row")


def reserve(name: str, per_second: float, burst: int = 1) -> float:
    """Reserve the next slot of bucket *name*; the seconds to wait before using it.

    Args:
        name: The shared resource (one bucket per name for all workers).
        per_second: Calls allowed per second.
        burst: Calls that may start at once after a quiet spell.

    Returns:
        Seconds until the reserved slot (0 when free now).

    Example:
        >>> delay = pipelines_lib.reserve("youtube", per_second=10)  # doctest: +SKIP
    """
    if not isinstance(per_second, int | float) or per_second <= 0:
        raise ConfigurationError(
            f"rate_limit({name!r}, per_second={per_second!r}): per_second must be a positive "
            "number of calls per second."
        )
    if not isinstance(burst, int) or burst < 1:
        raise ConfigurationError(
            f"rate_limit({name!r}, burst={burst!r}): burst must be a whole number >= 1."
        )
    interval = 1.0 / per_second
    url = _config.get_settings().limiter_url
    if url.startswith("redis"):
        client = _redis(url)
        return float(client._pl_script(keys=[_KEY_PREFIX + name], args=[interval, burst]))
    return _reserve_sql(_sql_store(url), name, interval, burst)


@contextlib.contextmanager
def rate_limit(name: str, per_second: float, burst: int = 1) -> Iterator[None]:
    """Enter the block no more than *per_second* times a second across all workers.

    Args:
        name: The shared resource, e.g. ``"youtube"``.
        per_second: Calls allowed per second, for every worker together.
        burst: Calls that may start at once after a quiet spell (default 1).

    Raises:
        ConfigurationError: *per_second* or *burst* is not positive.

    Example:
        >>> with pipelines_lib.rate_limit("youtube", per_second=10):  # doctest: +SKIP
        ...     response = fetch(video_id)
    """
    delay = reserve(name, per_second, burst)
    if delay > 0:
        time.sleep(delay)
    yield
