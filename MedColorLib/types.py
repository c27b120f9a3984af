"""The data that travels along the pipeline: a scalar volume with its geometry, progress events, stage timings."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np


@dataclass(frozen=True)
class Volume:
    """A scalar image with exact geometry, in SimpleITK/ITK conventions.

    array: (K, J, I) for 3-D (numpy order of ``SimpleITK.GetArrayFromImage``) or (J, I) for 2-D.
    spacing, origin: per index axis (i, j, k), millimetres, LPS. direction: (3, 3), column n is the
    LPS direction of index axis n (i, j, k). modality: "CT", "MR", "US", ... or "" when unknown.
    """

    array: np.ndarray
    spacing: tuple[float, ...] = (1.0, 1.0, 1.0)
    origin: tuple[float, ...] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    modality: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """One progress event: stage name, units done out of total, and a human-readable message."""

    stage: str
    done: int
    total: int
    message: str = ""


ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]


class Stopwatch:
    """Wall-clock seconds per named stage, summed over repeats: ``with clock("read"): ...``.

    sync, when given, runs before each reading (``torch.cuda.synchronize``: GPU work is asynchronous).
    """

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.sync = sync

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        if self.sync:
            self.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.sync:
                self.sync()
            self.add({stage: time.perf_counter() - start})

    def add(self, seconds: dict[str, float]) -> None:
        for stage, s in seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + s


def peak_memory_mb() -> float | None:
    """Peak resident memory of this process so far, in MiB (None where the platform does not say: Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
