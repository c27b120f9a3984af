"""Cameras along a fly-through path: evenly spaced stations on the smoothed path, each looking ahead along it.

Points are RAS millimetres, (N, 3) float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from MedColorLib.errors import MedColorError
from MedColorLib.pipeline.lumen_path import smooth_polyline

LOOK_AHEAD_MM = 12.0
SMOOTH_MM = 3.0
TURN_SMOOTH_FRAMES = 1.5     # view directions are smoothed over about this many frames (no jumps at turns)
ANTERIOR = np.array([0.0, 1.0, 0.0])
SUPERIOR = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Camera:
    """One station: position and focal point (RAS mm), view-up (unit), view angle (degrees)."""

    position: tuple
    focal_point: tuple
    view_up: tuple
    view_angle: float


def path_length_mm(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(np.asarray(points, np.float64), axis=0), axis=1).sum())


def cameras_along(points: np.ndarray, frames: int, view_angle: float = 80.0,
                  look_ahead_mm: float = LOOK_AHEAD_MM) -> list[Camera]:
    """``frames`` cameras evenly spaced along the smoothed path, each looking ``look_ahead_mm`` ahead along it
    (past the end: on along the last direction), view-up toward the patient's anterior (or superior)."""
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) < 2 or not np.isfinite(points).all():
        raise MedColorError("a fly-through path needs at least two finite 3-D points")
    if frames < 1:
        raise MedColorError(f"--frames must be at least 1, got {frames}")
    if not 1.0 <= view_angle <= 179.0:
        raise MedColorError(f"the view angle must be between 1 and 179 degrees, got {view_angle:g}")
    path = smooth_polyline(points, SMOOTH_MM, 0.5)
    run = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    if run[-1] < 1.0:
        raise MedColorError(f"the fly-through path is only {run[-1]:.2f} mm long; give a longer path")
    stations = np.linspace(0.0, run[-1], frames + 1)[:-1] if frames > 1 else np.array([0.0])
    where = lambda s: np.stack([np.interp(s, run, path[:, c]) for c in range(3)], axis=-1)  # noqa: E731
    positions = where(stations)
    ahead = where(np.minimum(stations + look_ahead_mm, run[-1]))
    tail = path[-1] - path[max(0, len(path) - 1 - int(2 * look_ahead_mm))]
    directions = ahead - positions
    short = np.linalg.norm(directions, axis=1) < 1e-3 * look_ahead_mm
    directions[short] = tail if np.linalg.norm(tail) > 1e-9 else path[-1] - path[0]
    directions = _smooth_directions(directions, TURN_SMOOTH_FRAMES)
    return [Camera(tuple(p), tuple(p + look_ahead_mm * d), tuple(_view_up(d)), float(view_angle))
            for p, d in zip(positions, directions)]


def _smooth_directions(directions: np.ndarray, sigma_frames: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    if len(unit) > 2 and sigma_frames > 0:
        smooth = gaussian_filter1d(unit, sigma_frames, axis=0, mode="nearest")
        norms = np.linalg.norm(smooth, axis=1, keepdims=True)
        unit = np.where(norms > 0.2, smooth / np.maximum(norms, 1e-12), unit)   # a reversal keeps its own
    return unit


def _view_up(direction: np.ndarray) -> np.ndarray:
    """The patient's anterior, made orthogonal to the view direction (superior when looking along A-P)."""
    for up in (ANTERIOR, SUPERIOR):
        orthogonal = up - np.dot(up, direction) * direction
        if np.linalg.norm(orthogonal) > 0.3:
            return orthogonal / np.linalg.norm(orthogonal)
    return np.array([1.0, 0.0, 0.0])


def ras_to_index(volume, points_ras: np.ndarray) -> np.ndarray:
    """(N, 3) RAS mm -> (N, 3) continuous (i, j, k) voxel indices of ``volume`` (a Volume, LPS geometry)."""
    lps = np.asarray(points_ras, np.float64) * np.array([-1.0, -1.0, 1.0])
    matrix = np.asarray(volume.direction, np.float64) @ np.diag(np.asarray(volume.spacing[:3], np.float64))
    return np.linalg.solve(matrix, (lps - np.asarray(volume.origin[:3], np.float64)).T).T


def check_inside(volume, points_ras: np.ndarray) -> None:
    """MedColorError naming the first point of the path that lies outside the volume."""
    index = ras_to_index(volume, points_ras)
    size = np.asarray(volume.array.shape[::-1], np.float64)       # (I, J, K)
    outside = np.flatnonzero(((index < -0.5) | (index > size - 0.5)).any(axis=1))
    if outside.size:
        n = int(outside[0])
        x, y, z = (float(v) for v in np.asarray(points_ras)[n])
        raise MedColorError(f"the path leaves the volume at point {n + 1} of {len(index)} (RAS {x:.1f}, {y:.1f}, "
                            f"{z:.1f} mm); give points inside the scan (RAS, or LPS with --points-space lps)")
