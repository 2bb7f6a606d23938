"""The pipelines_lib exception tree.

One root, :class:`Error`. Every specific failure also subclasses the built-in
exception callers already catch (``except TimeoutError`` around :func:`wait`,
``except KeyError`` around :func:`status`). Control-flow signals (:class:`Retry`)
sit apart from failures, as Celery's ``Retry`` does: raising one is not a bug
in the pipeline and is logged without a traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ControlFlowSignal",
    "Error",
    "PipelineImportError",
    "PipelineNotFound",
    "PipelineTimeout",
    "Retry",
    "SerializationError",
    "UsageError",
]


class Error(Exception):
    """Root of every error pipelines_lib raises."""


class ConfigurationError(Error, ValueError):
    """The broker, state database or another setting cannot be used as given."""


class UsageError(Error, TypeError):
    """The library was called in a way it does not support (yielded a non-pipeline...)."""


class SerializationError(Error, TypeError):
    """Arguments or an output cannot be stored as JSON."""


class PipelineImportError(Error, ImportError):
    """A pipeline class cannot be found by its import path."""


class PipelineNotFound(Error, KeyError):
    """No pipeline record has the given id."""

    def __str__(self) -> str:
        # KeyError.__str__ would show the message in quotes.
        return str(self.args[0]) if self.args else ""


class PipelineTimeout(Error, TimeoutError):
    """:func:`pipelines_lib.wait` gave up before the pipeline ended."""


class ControlFlowSignal(Error):
    """Base of the exceptions a pipeline raises to steer the engine, not to fail."""


class Retry(ControlFlowSignal):
    """Raised by :meth:`Pipeline.retry` to ask for another attempt.

    It still counts as an attempt (as Celery's ``Retry`` counts against
    ``max_retries``); when no attempt is left it becomes the pipeline's failure.

    Args:
        reason: Why the attempt is retried; logged and stored as the error text.
        countdown: Seconds to wait before the next attempt; ``None`` uses the
            pipeline's backoff.
    """

    def __init__(self, reason: str = "retry requested", countdown: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.countdown = countdown
