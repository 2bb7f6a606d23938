"""A plain-text progress bar on stderr (no dependency; redraws only on a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``[#########-----------]  450/4000  seeding videos`` on one line.

    On a terminal the line is redrawn in place; elsewhere (logs, pipes, tests)
    a line is printed at each tenth of the way, so captured output stays short.

    Args:
        label: What is being counted.
        total: The count at 100 %.
        stream: Where to write; default stderr.

    Example:
        >>> bar = Progress("seeding videos", 4000)
        >>> bar.update(450)
        >>> bar.close()
    """

    width = 30

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(int(total), 1)
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.done = 0
        self._last_tenth = -1
        self._last_printed: tuple[int, str] | None = None
        self._closed = False

    def update(self, done: int, note: str = "") -> None:
        """Show *done* of the total (and an optional *note*)."""
        self.done = min(max(int(done), 0), self.total)
        tenth = self.done * 10 // self.total
        if self.tty:
            self.stream.write("\r" + self._line(note))
            self.stream.flush()
        elif tenth != self._last_tenth:
            self._print(note)
        self._last_tenth = tenth

    def close(self, note: str = "") -> None:
        """Draw the final state and end the line."""
        if self._closed:
            return
        self._closed = True
        if self.tty:
            self.stream.write("\r" + self._line(note) + "\n")
        elif self._last_printed != (self.done, note):
            self._print(note)
        self.stream.flush()

    def _print(self, note: str) -> None:
        self.stream.write(self._line(note) + "\n")
        self.stream.flush()
        self._last_printed = (self.done, note)

    def _line(self, note: str) -> str:
        filled = self.done * self.width // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        digits = len(str(self.total))
        text = f"[{bar}] {self.done:>{digits}}/{self.total} {self.label}"
        text += f" ({time.monotonic() - self.start:.1f}s)"
        return f"{text}  {note}" if note else text
