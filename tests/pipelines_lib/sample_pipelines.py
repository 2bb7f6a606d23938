"""Pipelines the tests start; imported by the worker subprocess by path."""

from __future__ import annotations

import json
import os
import time

import pipelines_lib
from pipelines_lib import After, Collect, InOrder, Pipeline, SoftRetryPipeline


def work(ids: list[int]) -> int:
    """The fixed small piece of work each batch does (the bench uses it too)."""
    total = 0
    for i in ids:
        total += sum(range(i % 50))
    return total


class Batch(Pipeline):
    max_attempts = 3
    backoff_seconds = 0.05

    def run(self, ids: list[int]) -> list[int]:
        work(ids)
        return [i * 2 for i in ids]


class FanOut(Pipeline):
    """The seed's shape: one child per `per` ids, then collect every output."""

    def run(self, n_ids: int, per: int) -> object:
        ids = list(range(n_ids))
        futures = []
        for start in range(0, n_ids, per):
            futures.append((yield Batch(ids[start : start + per])))
        yield Collect(*futures)


class Square(Pipeline):
    def run(self, x: int) -> int:
        return x * x


class Add(Pipeline):
    def run(self, a: int, b: int, extra: list | None = None) -> int:
        return a + b + sum(extra or [])


class SumOfSquares(Pipeline):
    """Futures as positional, keyword and nested arguments."""

    def run(self, a: int, b: int, c: int) -> object:
        fa = yield Square(a)
        fb = yield Square(b)
        fc = yield Square(c)
        yield Add(fa, b=fb, extra=[fc])


class Stamp(Pipeline):
    """Sleeps, then returns when it ran, so tests can check ordering."""

    def run(self, tag: str, sleep: float = 0.0) -> dict:
        start = time.time()
        time.sleep(sleep)
        return {"tag": tag, "start": start, "end": time.time()}


class AfterParent(Pipeline):
    def run(self) -> object:
        first = yield Stamp("first", 0.3)
        with After(first):
            second = yield Stamp("second")
        free = yield Stamp("free")
        yield Collect(first, second, free)


class InOrderParent(Pipeline):
    def run(self) -> object:
        futures = []
        with InOrder():
            for tag in ("a", "b", "c"):
                futures.append((yield Stamp(tag, 0.1)))
        yield Collect(*futures)


class AlwaysFails(SoftRetryPipeline):
    max_attempts = 3
    backoff_seconds = 0.05
    backoff_factor = 2.0
    default_output = "fallback"

    def run(self, note: str) -> None:
        raise RuntimeError(f"quota exceeded for {note}")


class SoftParent(Pipeline):
    def run(self, n: int) -> object:
        futures = []
        for i in range(n):
            futures.append((yield Batch([i])))
        futures.append((yield AlwaysFails("youtube")))
        yield Collect(*futures)


class HardFails(Pipeline):
    max_attempts = 2
    backoff_seconds = 0.05

    def run(self) -> None:
        time.sleep(0.4)  # so the slow sibling is surely running when the root aborts
        raise ValueError("bad data")


class HardParent(Pipeline):
    def run(self) -> object:
        yield Stamp("slow", 1.5)
        bad = yield HardFails()
        with After(bad):
            yield Stamp("never")


class Flaky(Pipeline):
    """Fails until its last attempt; returns what it saw of its attempts."""

    max_attempts = 3
    backoff_seconds = 0.05

    def run(self) -> dict:
        if not self.is_final_attempt:
            raise OSError(f"flaky attempt {self.current_attempt}")
        return {"attempt": self.current_attempt, "final": self.is_final_attempt}


class Backoff(Pipeline):
    """Fails twice; the stored error timestamps let a test measure the waits."""

    max_attempts = 3
    backoff_seconds = 0.3
    backoff_factor = 2.0

    def run(self, log_path: str) -> str:
        with open(log_path, "a") as f:
            f.write(f"{time.time()}\n")
        if self.current_attempt < 3:
            raise OSError("not yet")
        return "ok"


class RetrySignal(Pipeline):
    max_attempts = 2
    backoff_seconds = 30.0  # the countdown given to retry() must win over this

    def run(self) -> int:
        if self.current_attempt == 1:
            self.retry("not ready yet", countdown=0.1)
        return self.current_attempt


class Recorder(Pipeline):
    """Appends each finalized() call to a file: its id, outcome, output, children."""

    def run(self, path: str, sleep: float = 0.0) -> str:
        time.sleep(sleep)
        return "leaf"

    def finalized(self) -> None:
        record = {
            "id": self.pipeline_id,
            "outcome": self.outcome,
            "output": self.output,
            "children": [c.status for c in self.children],
        }
        with open(self.args[0], "a") as f:
            f.write(json.dumps(record) + "\n")


class RecorderParent(Recorder):
    def run(self, path: str, sleep: float = 0.0) -> object:
        yield Recorder(path, sleep)
        yield AlwaysFails("x")


class Slow(Pipeline):
    """A batch that takes a while, so a SIGKILL lands mid-run; counts its runs in a file."""

    max_attempts = 3
    backoff_seconds = 0.05

    def run(self, i: int, sleep: float, runs_dir: str) -> int:
        with open(os.path.join(runs_dir, str(i)), "a") as f:
            f.write("run\n")
        time.sleep(sleep)
        return i


class SlowFanOut(Pipeline):
    def run(self, n: int, sleep: float, runs_dir: str) -> object:
        futures = []
        for i in range(n):
            futures.append((yield Slow(i, sleep, runs_dir)))
        yield Collect(*futures)


class Limited(Pipeline):
    """Enters a shared rate limit and returns when it got in."""

    def run(self, name: str, per_second: float) -> float:
        with pipelines_lib.rate_limit(name, per_second=per_second):
            return time.time()


class LimitedFanOut(Pipeline):
    def run(self, name: str, n: int, per_second: float) -> object:
        futures = []
        for _ in range(n):
            futures.append((yield Limited(name, per_second)))
        yield Collect(*futures)


class OneShotSlowFinalized(SoftRetryPipeline):
    """One attempt; its finalized() takes *sleep* seconds and appends a line to *path*."""

    max_attempts = 1

    def run(self, path: str, sleep: float) -> str:
        return "ran"

    def finalized(self) -> None:
        time.sleep(self.args[1])
        with open(self.args[0], "a") as f:
            f.write(f"{self.outcome}\n")
