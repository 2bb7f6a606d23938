"""The framework-free profiler: decide, record, finish (store, log, headers).

The Django and WSGI middlewares are thin shells around :class:`Profiler`:
they decide whether a request is profiled, activate a
:class:`~middleware.recorder.Recording` around the app, and hand it back to
:meth:`Profiler.finish` once the response is complete.

Example:
    >>> profiler = Profiler(sample_rate=0.01)
    >>> if profiler.sampled():
    ...     rec = profiler.start("GET", "/videos")
    ...     with rec.active():
    ...         body = app()
    ...     profile = profiler.finish(rec, status=200)
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

import orm_ext

from ._errors import ConfigurationError
from .recorder import Recording
from .render import log_fields, log_message
from .sql import watch_engine
from .stores import ProfileStore, make_store

__all__ = ["DEFAULT_PREFIX", "PROFILE_HEADER", "Profiler", "logger"]

logger = logging.getLogger("protolens.profiler")

DEFAULT_PREFIX = "/_protolens/"
# Response header carrying the profile's URL; the same name opts in on a request.
PROFILE_HEADER = "X-Protolens-Profile"


class Profiler:
    """Sampling, recording and keeping profiles, for any web framework.

    Args:
        sample_rate: share of requests profiled at random, 0.0 to 1.0.
        prefix: URL path under which profiles are served (ends with "/").
        store: where profiles go: None or "memory", a SQLAlchemy URL, or an
            object with ``save``/``load`` (see :mod:`middleware.stores`).
        max_profiles: bound of the store.
        show_sql_params: keep SQL parameters in profiles (they hold user data).
        engines: extra SQLAlchemy engines to time besides the default
            ``orm_ext`` store's.

    Raises:
        ConfigurationError: a value is out of range.

    Example:
        >>> Profiler(sample_rate=0.05, store="sqlite:///profiles.db")
    """

    def __init__(
        self,
        *,
        sample_rate: float = 0.0,
        prefix: str = DEFAULT_PREFIX,
        store: Any = None,
        max_profiles: int | None = None,
        show_sql_params: bool = False,
        engines: Iterable[sa.Engine] = (),
    ) -> None:
        if not isinstance(sample_rate, int | float) or not 0.0 <= sample_rate <= 1.0:
            raise ConfigurationError(
                f"The profiler's sample rate is {sample_rate!r}; set it to a number from 0.0 "
                "(profile only requests that opt in) to 1.0 (profile every request)."
            )
        if not isinstance(prefix, str) or not prefix.startswith("/") or not prefix.endswith("/"):
            raise ConfigurationError(
                f"The profiler's prefix is {prefix!r}; set it to a URL path that starts and ends "
                "with '/', such as '/_protolens/'."
            )
        if max_profiles is not None and (
            not isinstance(max_profiles, int) or isinstance(max_profiles, bool) or max_profiles < 1
        ):
            raise ConfigurationError(
                f"The profiler's max_profiles is {max_profiles!r}; set it to a whole number of "
                "profiles to keep, 1 or more (or leave it out: 100 in memory, 1000 in SQL)."
            )
        self.sample_rate = float(sample_rate)
        self.prefix = prefix
        self.store: ProfileStore = make_store(store, max_profiles=max_profiles)
        self.show_sql_params = bool(show_sql_params)
        self.engines = tuple(engines)

    def sampled(self) -> bool:
        """Whether this request falls in the random sample."""
        rate = self.sample_rate
        return rate > 0.0 and (rate >= 1.0 or random.random() < rate)

    def start(self, method: str, path: str) -> Recording:
        """A new recording for a request (activate it with ``rec.active()``)."""
        # Engines are watched on first profiled use: unprofiled traffic never pays for it.
        for engine in self.engines:
            watch_engine(engine)
        store = _default_store()
        if store is not None:
            watch_engine(store.engine)
        return Recording(method=method, path=path, show_sql_params=self.show_sql_params)

    def url(self, rec: Recording, script_name: str = "") -> str:
        """The path of *rec*'s profile page."""
        return f"{script_name.rstrip('/')}{self.prefix}{rec.id}/"

    def finish(
        self, rec: Recording, *, status: int | None, url: str, **extra: Any
    ) -> dict[str, Any]:
        """Stop *rec*, store its profile, log one line; returns the profile."""
        rec.stop()
        profile = rec.to_profile(status=status, url=url, **extra)
        try:
            self.store.save(profile)
        except Exception:
            # A broken profile store must not break the site it profiles.
            logger.exception("protolens: could not store profile %s", rec.id)
        if logger.isEnabledFor(logging.INFO):
            fields = log_fields(profile, url)
            logger.info(log_message(fields), extra={"protolens": fields})
        return profile


def _default_store() -> orm_ext.Store | None:
    try:
        return orm_ext.get_store()
    except orm_ext.Error:
        return None
