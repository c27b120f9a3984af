"""The data that travels along the pipeline: a scalar volume with its geometry, and progress events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

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
