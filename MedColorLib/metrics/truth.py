"""Figures of a colorization against the true colour image it was made from (the ground-truth benchmark).

A real colour image X is turned gray (BT.601 luma), colorized from another image, and the output O is
compared with X itself. Shapes: ``output_rgb`` and ``truth_rgb`` are (H, W, 3) float RGB in [0, 1] of the
same size. CIELAB is scikit-image's (sRGB, D65); chroma error is measured over (a*, b*) only, because
every method under test keeps (or should keep) the input's luma. Bad input raises MedColorError.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.color import rgb2lab

from MedColorLib.baselines.transfers import check_rgb
from MedColorLib.engine.color import luma_np
from MedColorLib.errors import MedColorError
from MedColorLib.metrics.image import air_chroma, colourfulness, default_air_mask, ssim_gray


def _same_size(output_rgb: np.ndarray, truth_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated (output, truth) float64 RGB of one size."""
    out, truth = check_rgb(output_rgb, "output"), check_rgb(truth_rgb, "truth")
    if out.shape != truth.shape:
        raise MedColorError(f"output {out.shape} and truth {truth.shape} differ in size; resize one to the other")
    return out, truth


def chroma_error_map(output_rgb: np.ndarray, truth_rgb: np.ndarray) -> np.ndarray:
    """(H, W) per-pixel Delta E over chroma, sqrt(da*^2 + db*^2), CIELAB units."""
    out, truth = _same_size(output_rgb, truth_rgb)
    d = rgb2lab(out)[..., 1:] - rgb2lab(truth)[..., 1:]
    return np.hypot(d[..., 0], d[..., 1])


def delta_e_ab(output_rgb: np.ndarray, truth_rgb: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean Delta E_ab over chroma (a*, b*) against the truth, optionally inside an (H, W) bool mask (0 if empty)."""
    err = chroma_error_map(output_rgb, truth_rgb)
    if mask is None:
        return float(err.mean())
    m = np.asarray(mask, dtype=bool)
    if m.shape != err.shape:
        raise MedColorError(f"mask {m.shape} and images {err.shape} differ in size; pass an (H, W) mask")
    return float(err[m].mean()) if m.any() else 0.0


def colourfulness_ratio(output_rgb: np.ndarray, truth_rgb: np.ndarray) -> float | None:
    """Hasler-Süsstrunk colourfulness of the output over the truth's (1 = as colourful); None for a gray truth."""
    out, truth = _same_size(output_rgb, truth_rgb)
    reference = colourfulness(truth)
    return colourfulness(out) / reference if reference > 1e-9 else None


def truth_summary(output_rgb: np.ndarray, truth_rgb: np.ndarray, out_of_gamut: float | None = None) -> dict:
    """The benchmark's figures as a JSON-safe dict. The gray input is gray(truth); ``out_of_gamut`` is the
    engine's fraction of pixels whose chroma was scaled to fit the RGB cube (None for methods without one)."""
    out, truth = _same_size(output_rgb, truth_rgb)
    gray = luma_np(truth).clip(0, 1)
    air = default_air_mask(gray)
    figures = {
        "delta_e_ab": delta_e_ab(out, truth),
        "delta_e_tissue": delta_e_ab(out, truth, ~air),
        "colourfulness_ratio": colourfulness_ratio(out, truth),
        "ssim_gray": ssim_gray(out, gray),
        "air_chroma": air_chroma(out, air),
        "out_of_gamut": out_of_gamut,
    }
    return {k: (v if v is None or math.isfinite(v) else None) for k, v in figures.items()}
