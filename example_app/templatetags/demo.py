"""Template filters of the demo pages: ``thousands`` and ``duration``."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def thousands(value: Any) -> str:
    """``1234567`` -> ``1,234,567`` (other values unchanged)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


@register.filter
def duration(seconds: Any) -> str:
    """``754`` -> ``12:34``."""
    if not isinstance(seconds, int):
        return ""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
