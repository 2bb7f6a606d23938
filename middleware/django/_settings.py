"""``settings.PROTOLENS_PROFILER``: read once, checked, shared by middleware and views.

The parsed configuration (and with it the profile store) is cached and
dropped when tests change the setting with ``override_settings``.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.http import HttpRequest
from django.utils.module_loading import import_string

from .._errors import ConfigurationError
from ..profiler import DEFAULT_PREFIX, PROFILE_HEADER, Profiler
from . import is_staff

__all__ = ["DEFAULTS", "Config", "get_config"]


DEFAULTS: dict[str, Any] = {
    "ENABLED": True,
    "SAMPLE_RATE": 0.0,
    "AUTHORIZE": is_staff,
    "ALWAYS_FOR": is_staff,
    "HEADER": PROFILE_HEADER,
    "PREFIX": DEFAULT_PREFIX,
    "SHOW_SQL_PARAMS": False,
    "STORE": "memory",
    "MAX_PROFILES": None,
    "BADGE": True,
    "ENGINES": (),
}


@dataclass(frozen=True)
class Config:
    """The checked settings."""

    enabled: bool
    profiler: Profiler
    authorize: Callable[[HttpRequest], bool] | None
    always_for: Callable[[HttpRequest], bool] | None
    header_key: str | None
    badge: bool


_cache: dict[str, Config] = {}
_lock = threading.Lock()


def get_config() -> Config:
    """The configuration from ``settings.PROTOLENS_PROFILER`` (parsed on first use).

    Raises:
        ConfigurationError: an unknown key or a bad value, with the fix.
    """
    config = _cache.get("config")
    if config is None:
        with _lock:
            config = _cache.get("config")
            if config is None:
                config = _cache["config"] = _parse(getattr(settings, "PROTOLENS_PROFILER", {}))
    return config


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == "PROTOLENS_PROFILER":
        _cache.clear()


setting_changed.connect(_reset)


def _parse(raw: Any) -> Config:
    if not isinstance(raw, dict):
        raise ConfigurationError(
            f"settings.PROTOLENS_PROFILER is {raw!r}; set it to a dict such as "
            "{'SAMPLE_RATE': 0.01}, or leave it out for the defaults."
        )
    for key in raw:
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), DEFAULTS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigurationError(
                f"settings.PROTOLENS_PROFILER has an unknown key {key!r}{hint}; use only "
                f"{', '.join(DEFAULTS)}."
            )
    opts = {**DEFAULTS, **raw}
    header = opts["HEADER"]
    return Config(
        enabled=bool(opts["ENABLED"]),
        profiler=Profiler(
            sample_rate=opts["SAMPLE_RATE"],
            prefix=opts["PREFIX"],
            store=opts["STORE"],
            max_profiles=opts["MAX_PROFILES"],
            show_sql_params=opts["SHOW_SQL_PARAMS"],
            engines=opts["ENGINES"],
        ),
        authorize=_callable("AUTHORIZE", opts["AUTHORIZE"]),
        always_for=_callable("ALWAYS_FOR", opts["ALWAYS_FOR"]),
        header_key=None if not header else "HTTP_" + header.upper().replace("-", "_"),
        badge=bool(opts["BADGE"]),
    )


def _callable(key: str, value: Any) -> Callable[[HttpRequest], bool] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ConfigurationError(
                f"settings.PROTOLENS_PROFILER[{key!r}] is {value!r}, which cannot be imported "
                f"({exc}); set it to the dotted path of a function taking the request, such as "
                "'middleware.django.is_staff', or to None."
            ) from None
    if not callable(value):
        raise ConfigurationError(
            f"settings.PROTOLENS_PROFILER[{key!r}] is {value!r}, which is not callable; set it to "
            "a function taking the request and returning True or False, or to None."
        )
    return value
