"""Progress for the command line: a live tqdm bar on a terminal, one line per stage anywhere else (a log file,
a pipe, CI), so that a log holds a readable line per stage instead of thousands of carriage-return updates."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from MedColorLib.types import Progress


class ProgressBar:
    """Callable ProgressFn; a new stage resets the bar (or ends the previous stage's line). A context manager."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = not quiet and _is_terminal(self.stream)
        self.bar = tqdm(total=0, file=self.stream, dynamic_ncols=True, leave=True) if self.live else None
        self.stage: str | None = None
        self.last: Progress | None = None
        # a stage runs from the previous stage's last event to its own last one (events may come only at the end)
        self.began = self.last_time = time.perf_counter()

    def __call__(self, p: Progress) -> None:
        if p.stage != self.stage:
            self._end_stage()
            self.stage, self.began = p.stage, self.last_time
            if self.bar is not None:
                self.bar.reset(total=p.total)
                self.bar.set_description(p.stage)
        self.last, self.last_time = p, time.perf_counter()
        if self.bar is not None:
            self.bar.n = p.done
            self.bar.set_postfix_str(p.message, refresh=False)
            self.bar.refresh()

    def _end_stage(self) -> None:
        """Off a terminal: the stage that just ended, as one line with its last count and message and its time."""
        if self.live or self.quiet or self.last is None:
            return
        p, seconds = self.last, self.last_time - self.began
        count = f" {p.done}/{p.total}" if p.total > 1 else ""
        message = f" {p.message}" if p.message else ""
        print(f"{p.stage}:{count}{message} ({seconds:.1f} s)", file=self.stream, flush=True)
        self.last = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self._end_stage()
        if self.bar is not None:
            self.bar.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without isatty
        return False
