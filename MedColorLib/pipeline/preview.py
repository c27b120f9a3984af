"""A picture a person can judge at a glance: axial, coronal and sagittal slices, gray above colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from MedColorLib import prepare
from MedColorLib.types import Volume

PANEL = 256  # px, the longer side of each panel


def _world_axis_to_numpy(direction: np.ndarray, world: int) -> int:
    """The numpy axis of a (K, J, I) array whose index axis points most along LPS world axis (0 L, 1 P, 2 S)."""
    return 2 - int(np.argmax(np.abs(np.asarray(direction)[world, :])))


def _panel(image: np.ndarray, aspect: float) -> Image.Image:
    """(H, W[, 3]) uint8 -> PIL image resized to PANEL px with the physical aspect (row/column spacing)."""
    h, w = image.shape[:2]
    height, width = h * aspect, w
    scale = PANEL / max(height, width)
    return Image.fromarray(image).resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)


def _spacing_of(volume: Volume, numpy_axis: int) -> float:
    return float(volume.spacing[2 - numpy_axis])


def montage(volume: Volume, rgba: np.ndarray, window: tuple[float, float]) -> Image.Image:
    """The volume windowed by (low, high) above rgba (K, J, I, 4) in its layout -> 2 x 3 panel image."""
    panels = []
    for world in (2, 1, 0):  # axial (S), coronal (P), sagittal (L)
        axis = _world_axis_to_numpy(volume.direction, world)
        view = prepare.slice_view(volume.direction, axis)
        mid = volume.array.shape[axis] // 2
        gray_u8 = np.round(prepare.apply_window(prepare.take_slice(volume.array, axis, mid), *window) * 255).astype(np.uint8)
        g = prepare.to_display(gray_u8, view)
        c = prepare.to_display(prepare.take_slice(rgba, axis, mid), view)[..., :3]
        rows_axis, cols_axis = [a for a in range(3) if a != axis]
        if view.transpose:
            rows_axis, cols_axis = cols_axis, rows_axis
        aspect = _spacing_of(volume, rows_axis) / _spacing_of(volume, cols_axis)
        panels.append((_panel(np.ascontiguousarray(g), aspect), _panel(np.ascontiguousarray(c), aspect)))
    width = sum(p[0].width for p in panels) + 4 * (len(panels) - 1)
    height = max(p[0].height for p in panels) * 2 + 4
    sheet = Image.new("RGB", (width, height))
    x = 0
    for g, c in panels:
        sheet.paste(g.convert("RGB"), (x, 0))
        sheet.paste(c, (x, height // 2 + 2))
        x += g.width + 4
    return sheet


def write_preview(path: str | Path, volume: Volume, rgba: np.ndarray, window: tuple[float, float]) -> Path:
    """Write the montage as PNG (atomically); window: the (low, high) used for the colour volume."""
    from MedColorLib.io.pictures import write_image_2d
    return write_image_2d(path, np.asarray(montage(volume, rgba, window)))
