"""What users subclass: Pipeline, SoftRetryPipeline, and what a generator run() yields.

A generator ``run`` does not wait for its children: each ``yield child`` returns
a :class:`Future` at once, and the whole set of children is stored when the
generator ends (so a failed attempt leaves no half-spawned children behind).
A future passed as an argument to another child makes that child wait for it
and receive its output; :class:`After` and :class:`InOrder` order children
without passing outputs.
"""

from __future__ import annotations

import contextvars
import dataclasses
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from pipelines_lib import _codec
from pipelines_lib._errors import Retry, UsageError

if TYPE_CHECKING:
    from pipelines_lib._status import PipelineStatus

__all__ = ["After", "Collect", "Future", "InOrder", "Pipeline", "SoftRetryPipeline"]


class Future:
    """The output of a yielded child, to pass as an argument to later children.

    Attributes:
        pipeline_id: Id of the child whose output this is.
    """

    __slots__ = ("name", "pipeline_id")

    def __init__(self, pipeline_id: str, name: str):
        self.pipeline_id = pipeline_id
        self.name = name

    def __repr__(self) -> str:
        return f"<Future of {self.name} {self.pipeline_id}>"

    def __bool__(self) -> bool:
        # `if future:` inside run() is a bug: the value does not exist yet.
        raise UsageError(
            f"{self!r} has no value inside run(); pass it as an argument to a child "
            "pipeline, which receives the output."
        )


class Pipeline:
    """A unit of work; subclass it and define ``run``.

    A plain ``run`` returns the output (JSON values). A generator ``run``
    yields child pipelines and gets a :class:`Future` for each; the output of
    the last child yielded becomes this pipeline's output.

    Attributes:
        max_attempts: Attempts before the pipeline fails (App Engine's default, 3).
        backoff_seconds: Wait before the second attempt.
        backoff_factor: Each further wait is multiplied by this.
        pipeline_id: This pipeline's id (set when it runs).
        root_pipeline_id: Id of the tree's root.
        current_attempt: 1 on the first attempt.
        outcome: In ``finalized``: ``done``, ``failed`` or ``aborted``.
        output: In ``finalized``: the output that was recorded.

    Example:
        >>> class Square(Pipeline):
        ...     def run(self, x):
        ...         return x * x
        >>> class SumSquares(Pipeline):
        ...     def run(self, xs):
        ...         squares = []
        ...         for x in xs:
        ...             squares.append((yield Square(x)))
        ...         yield Sum(*squares)            # waits for every Square
        >>> pid = SumSquares([1, 2, 3]).start()  # doctest: +SKIP
    """

    max_attempts: ClassVar[int] = 3
    backoff_seconds: ClassVar[float] = 15.0
    backoff_factor: ClassVar[float] = 2.0
    # A final failure of a soft pipeline is recorded, not propagated (SoftRetryPipeline).
    _pl_soft: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args
        self.kwargs = kwargs
        self.pipeline_id: str | None = None
        self.root_pipeline_id: str | None = None
        self.current_attempt = 0
        self.outcome: str | None = None
        self.output: Any = None
        self._max_attempts = self.max_attempts

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.pipeline_id})"

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """The work; return the output or yield children (override this)."""
        raise NotImplementedError(f"{type(self).__name__} must define run()")

    def finalized(self) -> None:
        """Called once after this pipeline and all its children ended (override this).

        Runs for success, soft failure and abort alike; ``self.outcome``,
        ``self.output`` and ``self.children`` tell which. Under worker crashes
        it may run again (at least once), so keep it idempotent.
        """

    @property
    def is_final_attempt(self) -> bool:
        """Whether a failure now is the last one (no attempt left)."""
        return self.current_attempt >= self._max_attempts

    @property
    def was_aborted(self) -> bool:
        """In ``finalized``: whether the tree was aborted before this pipeline completed."""
        return self.outcome == "aborted"

    @property
    def children(self) -> list[PipelineStatus]:
        """In ``finalized``: the children's statuses, in the order they were yielded."""
        from pipelines_lib._status import status

        if self.pipeline_id is None:
            return []
        return list(status(self.pipeline_id).children)

    def retry(self, reason: str = "retry requested", countdown: float | None = None) -> None:
        """Stop this attempt and try again (counts as an attempt, logged without traceback).

        Args:
            reason: Why; stored as the error text.
            countdown: Seconds before the next attempt; ``None`` uses the backoff.

        Raises:
            Retry: Always.

        Example:
            >>> class Poll(Pipeline):
            ...     def run(self, url):
            ...         if not ready(url):
            ...             self.retry("not ready yet", countdown=2.5)
        """
        raise Retry(reason, countdown)

    def start(self, queue: str | None = None) -> str:
        """Store this pipeline as the root of a new tree and publish its first task.

        Args:
            queue: Celery queue for the whole tree; default the configured queue.

        Returns:
            The pipeline id, for :func:`status`, :func:`wait` and :func:`abort`.

        Example:
            >>> pid = SumSquares([1, 2, 3]).start()  # doctest: +SKIP
            >>> pipelines_lib.wait(pid, timeout=60).output  # doctest: +SKIP
            14
        """
        from pipelines_lib._engine import start_root

        return start_root(self, queue)


class SoftRetryPipeline(Pipeline):
    """A pipeline whose final failure is swallowed: it ends ``failed``, the tree carries on.

    Each failed attempt is logged with its traceback, pipeline id and attempt
    number and retried with backoff; after the last one the pipeline ends
    ``failed`` with output ``default_output`` and its parent and siblings go on.

    Example:
        >>> class FetchVideos(SoftRetryPipeline):
        ...     max_attempts = 5
        ...     backoff_seconds = 1.0
        ...     default_output = []
        ...     def run(self, ids):
        ...         with pipelines_lib.rate_limit("youtube", per_second=10):
        ...             return fetch(ids)
    """

    default_output: ClassVar[Any] = None
    _pl_soft = True


class Collect(Pipeline):
    """Yield ``Collect(*futures)`` to gather many futures' outputs into one list.

    Example:
        >>> class Parent(Pipeline):
        ...     def run(self, batches):
        ...         futures = []
        ...         for b in batches:
        ...             futures.append((yield Child(b)))
        ...         yield Collect(*futures)   # the parent's output: [out1, out2, ...]
    """

    # Its run() cannot fail, but its worker can die mid-run; a lost attempt counts, so
    # with a single attempt one SIGKILL would fail the Collect and abort the whole tree.
    max_attempts = 3
    backoff_seconds = 1.0

    def run(self, *values: Any) -> list:
        return list(values)


@dataclasses.dataclass
class ChildSpec:
    """A yielded child, as the engine stores it."""

    pipeline: Pipeline
    pipeline_id: str
    class_path: str
    args: str
    kwargs: str
    deps: list[str]


class _Frame:
    """The children a generator run() has yielded so far, and the ordering in force."""

    def __init__(self, parent: Pipeline):
        self.parent = parent
        self.children: list[ChildSpec] = []
        self.after: list[tuple[Future, ...]] = []
        self.in_order: list[InOrder] = []

    def add(self, child: Any) -> Future:
        if not isinstance(child, Pipeline):
            raise UsageError(
                f"{type(self.parent).__name__}.run() yielded {child!r}; yield Pipeline "
                "instances (or Collect(*futures)), and return plain values instead."
            )
        if child.pipeline_id is not None:
            raise UsageError(
                f"{type(self.parent).__name__}.run() yielded {child!r} twice; yield a new "
                "instance for each child."
            )
        name = type(child).__name__
        path = _codec.class_path(type(child))
        child_id = uuid.uuid4().hex
        args, kwargs, deps = _codec.encode_args(
            f"{type(self.parent).__name__} yielding {name}", child.args, child.kwargs, Future
        )
        for group in self.after:
            deps.extend(f.pipeline_id for f in group)
        deps.extend(o.last.pipeline_id for o in self.in_order if o.last is not None)
        future = Future(child_id, name)
        for order in self.in_order:
            order.last = future
        child.pipeline_id = child_id
        # Dedupe but keep order: a future passed twice is one dependency.
        self.children.append(
            ChildSpec(child, child_id, path, args, kwargs, list(dict.fromkeys(deps)))
        )
        return future


_frame: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar("pl_frame", default=None)


def _current_frame(what: str) -> _Frame:
    frame = _frame.get()
    if frame is None:
        raise UsageError(
            f"{what} used outside a generator run(); use it inside the run() of a pipeline "
            "that yields children."
        )
    return frame


class After:
    """Children yielded inside ``with After(*futures):`` wait for those futures.

    Their outputs are not passed; pass a future as an argument for that.

    Example:
        >>> class Report(Pipeline):
        ...     def run(self):
        ...         load = yield LoadData()
        ...         with After(load):
        ...             yield BuildIndex()     # starts once LoadData ended
    """

    def __init__(self, *futures: Future):
        for f in futures:
            if not isinstance(f, Future):
                raise UsageError(f"After({f!r}): pass the futures that `yield child` returned.")
        self.futures = futures

    def __enter__(self) -> After:
        _current_frame("After(...)").after.append(self.futures)
        return self

    def __exit__(self, *exc: object) -> None:
        _current_frame("After(...)").after.pop()


class InOrder:
    """Children yielded inside ``with InOrder():`` run one after another.

    Example:
        >>> class Migrate(Pipeline):
        ...     def run(self, steps):
        ...         with InOrder():
        ...             for s in steps:
        ...                 yield Step(s)       # each waits for the one before
    """

    def __init__(self) -> None:
        self.last: Future | None = None

    def __enter__(self) -> InOrder:
        _current_frame("InOrder()").in_order.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _current_frame("InOrder()").in_order.remove(self)
