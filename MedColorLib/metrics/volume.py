"""Quality figures of a colorized volume: inter-slice flicker, context (chroma spread at equal intensity),
fidelity between two colorizations.

Shapes: slices along the axial axis already moved to axis 0. ``rgb`` (S, H, W, 3) uint8 (or float in
[0, 1]; an RGBA array's alpha is ignored), ``gray`` (S, H, W) float windowed intensity in [0, 1],
``tissue`` (S, H, W) bool. Chroma is centred (Cb, Cr) as in color.chroma_np; distances are Euclidean
in the (Cb, Cr) plane (0-1 scale, a fully saturated colour is about 0.5 from gray).
"""

from __future__ import annotations

import numpy as np

from MedColorLib.engine.color import chroma_np
from MedColorLib.errors import MedColorError


def chroma(rgb: np.ndarray) -> np.ndarray:
    """(..., 3|4) RGB(A) uint8 or float [0, 1] -> (..., 2) float32 centred (Cb, Cr)."""
    rgb = np.asarray(rgb)
    if rgb.ndim < 2 or rgb.shape[-1] not in (3, 4):
        raise MedColorError(f"expected RGB(A) values (..., 3|4), got shape {rgb.shape}")
    return chroma_np(rgb[..., :3].astype(np.float32) / (255 if rgb.dtype == np.uint8 else 1))


def _check(rgb: np.ndarray, *masks: np.ndarray) -> None:
    for m in masks:
        if np.shape(m) != np.shape(rgb)[:-1]:
            raise MedColorError(f"mask/intensity {np.shape(m)} does not match colour {np.shape(rgb)}")


def flicker(rgb: np.ndarray, gray: np.ndarray, tissue: np.ndarray, max_delta: float = 0.02) -> float:
    """Mean |chroma change| between adjacent slices over voxels in tissue on both slices whose windowed
    intensity changes by less than max_delta (unchanged tissue); NaN when no voxel qualifies."""
    _check(rgb, gray, tissue)
    if len(rgb) < 2:
        raise MedColorError("flicker needs at least two slices")
    total, count = 0.0, 0
    prev_c, prev_g, prev_t = chroma(rgb[0]), np.asarray(gray[0], np.float32), np.asarray(tissue[0], bool)
    for z in range(1, len(rgb)):                      # slice by slice: no (S, H, W, 2) float copy
        c, g, t = chroma(rgb[z]), np.asarray(gray[z], np.float32), np.asarray(tissue[z], bool)
        keep = prev_t & t & (np.abs(g - prev_g) < max_delta)
        total += float(np.linalg.norm(c[keep] - prev_c[keep], axis=-1).sum())
        count += int(keep.sum())
        prev_c, prev_g, prev_t = c, g, t
    return total / count if count else float("nan")


def context_spread(rgb: np.ndarray, gray: np.ndarray, tissue: np.ndarray, bins: int = 32,
                   min_voxels: int = 50, detrend: bool = True) -> float:
    """Mean over intensity bins (``bins`` over [0, 1], at least min_voxels tissue voxels) of the RMS
    distance of chroma to the bin's chroma model; 0 for a pure intensity -> colour transfer function.

    The bin's model is its mean chroma, or with detrend an affine fit of chroma on intensity inside the
    bin, so that the slope of a transfer function across the bin width does not count as spread.
    NaN when no bin is populated enough.
    """
    _check(rgb, gray, tissue)
    mask = np.asarray(tissue, bool)
    c, g = chroma(np.asarray(rgb)[mask]).astype(np.float64), np.asarray(gray)[mask].astype(np.float64)
    index = np.clip((g * bins).astype(int), 0, bins - 1)
    spreads = [_bin_spread(c[index == b], g[index == b], detrend)
               for b in range(bins) if (index == b).sum() >= min_voxels]
    return float(np.mean(spreads)) if spreads else float("nan")


def _bin_spread(c: np.ndarray, g: np.ndarray, detrend: bool) -> float:
    """RMS distance of (N, 2) chroma to its mean, or to its least-squares affine fit on (N,) intensity."""
    if detrend and np.ptp(g) > 0:
        design = np.stack([np.ones_like(g), g - g.mean()], 1)
        coef, *_ = np.linalg.lstsq(design, c, rcond=None)
        residual = c - design @ coef
    else:
        residual = c - c.mean(0)
    return float(np.sqrt((residual ** 2).sum(1).mean()))


def fidelity(rgb_a: np.ndarray, rgb_b: np.ndarray, tissue: np.ndarray) -> float:
    """Mean chroma distance between two colorizations of the same slices inside tissue (0 = identical).
    rgb_a, rgb_b (..., 3|4) of one shape, tissue their (...) bool; NaN for an empty mask."""
    if np.shape(rgb_a)[:-1] != np.shape(rgb_b)[:-1]:
        raise MedColorError(f"colorizations differ in shape: {np.shape(rgb_a)} vs {np.shape(rgb_b)}")
    _check(rgb_a, tissue)
    mask = np.asarray(tissue, bool)
    if not mask.any():
        return float("nan")
    a, b = chroma(np.asarray(rgb_a)[mask]), chroma(np.asarray(rgb_b)[mask])
    return float(np.linalg.norm(a - b, axis=-1).mean())
