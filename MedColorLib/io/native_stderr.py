"""What C++ libraries (ITK, GDCM, MetaIO, niftilib) print straight onto the process's stderr, captured while
they run: the one line a user reads stays medcolor's own, and the captured text can explain it."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

_KEEP_BYTES = 1 << 16


@contextmanager
def captured() -> Iterator[list[str]]:
    """Redirect file descriptor 2 to a temporary file; on exit restore it and fill the yielded list with the
    non-empty lines written meanwhile. Without a usable descriptor 2 nothing is redirected."""
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read(_KEEP_BYTES).decode("utf-8", "replace")
            lines.extend(ln.strip() for ln in text.splitlines() if ln.strip())


def reason(lines: list[str]) -> str:
    """The informative captured line (an ERROR line if any, else the first), or ''."""
    flagged = [ln for ln in lines if "error" in ln.lower() or "failed" in ln.lower()]
    return (flagged or lines or [""])[0]
