"""Fly-through movies and sheets: an MP4 (imageio-ffmpeg, H.264) or an animated GIF, written atomically, and a
contact sheet of frames. Frames are (H, W, 3) uint8. Command-line outputs only (here, not in io/, so the
Slicer module's worker path never needs imageio)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from MedColorLib.errors import MedColorError
from MedColorLib.io.atomic import atomic_path, check_destination

MOVIE_SUFFIXES = (".mp4", ".gif")


def write_movie(path: str | Path, frames: Sequence[np.ndarray], fps: float = 12.0) -> Path:
    """Write the frames as an MP4 or an animated GIF (by the suffix), atomically."""
    import imageio.v3 as iio

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MOVIE_SUFFIXES:
        raise MedColorError(f"cannot write {path}: unknown movie format; use .mp4 or .gif")
    if not frames:
        raise MedColorError("no frames to write")
    check_destination(path)
    stack = np.stack([np.ascontiguousarray(f[..., :3]) for f in frames])
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            iio.imwrite(tmp, stack, extension=".gif", duration=1000.0 / fps, loop=0)
        else:
            stack = _even(stack)   # H.264 in yuv420p needs even sizes
            iio.imwrite(tmp, stack, extension=".mp4", plugin="FFMPEG", fps=fps, codec="libx264",
                        pixelformat="yuv420p", macro_block_size=1)
    return path


def _even(stack: np.ndarray) -> np.ndarray:
    h, w = stack.shape[1] // 2 * 2, stack.shape[2] // 2 * 2
    return np.ascontiguousarray(stack[:, :h, :w])


def contact_sheet(frames: Sequence[np.ndarray], columns: int | None = None, gap: int = 4,
                  limit: int = 16) -> np.ndarray:
    """At most ``limit`` evenly chosen frames on a grid (H, W, 3) uint8, black gaps."""
    if not frames:
        raise MedColorError("no frames for a contact sheet")
    picks = np.unique(np.round(np.linspace(0, len(frames) - 1, min(limit, len(frames)))).astype(int))
    chosen = [np.asarray(frames[i])[..., :3] for i in picks]
    columns = columns or math.ceil(math.sqrt(len(chosen)))
    rows = math.ceil(len(chosen) / columns)
    h, w = chosen[0].shape[:2]
    sheet = np.zeros((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), np.uint8)
    for n, frame in enumerate(chosen):
        r, c = divmod(n, columns)
        sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = frame
    return sheet


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 4) -> np.ndarray:
    """Two (H, W, 3) frames left | right with a black gap."""
    h = max(left.shape[0], right.shape[0])
    out = np.zeros((h, left.shape[1] + gap + right.shape[1], 3), np.uint8)
    out[: left.shape[0], : left.shape[1]] = left[..., :3]
    out[: right.shape[0], left.shape[1] + gap:] = right[..., :3]
    return out
