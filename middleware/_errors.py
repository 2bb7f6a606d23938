"""The profiler's errors: one root, each also the built-in callers already catch."""

from __future__ import annotations

__all__ = ["ConfigurationError", "Error"]


class Error(Exception):
    """Root of every error the profiler raises."""


class ConfigurationError(Error, ValueError):
    """A setting or argument is wrong; the message says how to fix it."""
