"""Quality figures for a colorized image: numpy in, float out (see ALGORITHM.md, "Evaluation").

Shapes: ``output_rgb`` / ``rgb`` / ``reference_rgb`` are (H, W, 3) float RGB in [0, 1]; ``input_gray``
is (H, W) float in [0, 1] with the output's H, W. Gray conversion is BT.601 luma; chroma is centred
(Cb, Cr) in [-0.5, 0.5] (color.chroma_np). Bad input raises MedColorError.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.measure import shannon_entropy
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from MedColorLib.baselines.transfers import check_gray, check_rgb
from MedColorLib.engine.color import chroma_np, luma_np
from MedColorLib.errors import MedColorError
from MedColorLib.engine.masks import paired_masks


def _pair(output_rgb: np.ndarray, input_gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated (gray(output), input) as float32 (H, W) arrays of the same size."""
    out, gray = check_rgb(output_rgb, "output"), check_gray(input_gray, "input")
    if out.shape[:2] != gray.shape:
        raise MedColorError(f"output {out.shape} and input {gray.shape} differ in size; resize one to the other")
    # float32 on both sides: luma of R = G = B is the input itself up to float64 round-off
    return luma_np(out).astype(np.float32), gray.astype(np.float32)


def ssim_gray(output_rgb: np.ndarray, input_gray: np.ndarray) -> float:
    """SSIM between gray(output) and the input, data_range 1 (the paper's structure measure)."""
    y, gray = _pair(output_rgb, input_gray)
    return float(structural_similarity(y, gray, data_range=1.0))


def psnr_gray(output_rgb: np.ndarray, input_gray: np.ndarray) -> float:
    """PSNR (dB) between gray(output) and the input, data_range 1; ``inf`` when they are identical."""
    y, gray = _pair(output_rgb, input_gray)
    if mean_squared_error(gray, y) == 0:
        return math.inf
    return float(peak_signal_noise_ratio(gray, y, data_range=1.0))


def chroma_distance(output_rgb: np.ndarray, input_gray: np.ndarray, reference_rgb: np.ndarray,
                    k: int = 4, centres: np.ndarray | None = None) -> float:
    """Sum over rank-paired intensity clusters, weighted by target pixel fraction, of the Gaussian W2 (Fréchet)
    distance between output (Cb, Cr) in target cluster i and reference (Cb, Cr) in reference cluster i (chroma units).
    """
    _, gray = _pair(output_rgb, input_gray)
    ref = check_rgb(reference_rgb, "reference")
    if centres is not None and len(centres) != k:
        raise MedColorError(f"got {len(centres)} shared centres but k={k}; pass k=len(centres)")
    t_masks, r_masks = paired_masks(gray, luma_np(ref), k, centres)
    out_c, ref_c = chroma_np(output_rgb).astype(np.float64), chroma_np(ref).astype(np.float64)
    total = 0.0
    for t_mask, r_mask in zip(t_masks.astype(bool), r_masks.astype(bool)):
        if t_mask.any():
            r = ref_c[r_mask] if r_mask.any() else np.zeros((1, 2))
            total += t_mask.mean() * _frechet_2d(out_c[t_mask], r)
    return float(total)


def _frechet_2d(a: np.ndarray, b: np.ndarray) -> float:
    """W2 distance between Gaussians fitted to (N, 2) a and (M, 2) b; tr sqrt(Sa Sb) in 2-D closed form."""
    sa, sb = np.cov(a.T, bias=True).reshape(2, 2), np.cov(b.T, bias=True).reshape(2, 2)
    cross = math.sqrt(max(np.trace(sa @ sb) + 2 * math.sqrt(max(np.linalg.det(sa) * np.linalg.det(sb), 0)), 0))
    d2 = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa) + np.trace(sb) - 2 * cross
    return math.sqrt(max(float(d2), 0.0))


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk 2003 colourfulness M on the 0-255 scale; 0 for any gray image."""
    x = check_rgb(rgb, "image") * 255
    rg, yb = x[..., 0] - x[..., 1], 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def entropy(rgb_or_gray: np.ndarray) -> float:
    """Shannon entropy (bits) of the 8-bit gray image ((H, W, 3) is converted by BT.601 luma)."""
    arr = np.asarray(rgb_or_gray)
    gray = luma_np(check_rgb(arr, "image")) if arr.ndim == 3 else check_gray(arr, "image")
    return float(shannon_entropy(np.round(np.clip(gray, 0, 1) * 255).astype(np.uint8)))


def default_air_mask(gray: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """(H, W) bool: pixels darker than threshold (air/background on a [0, 1] window)."""
    return check_gray(gray, "input") < threshold


def air_chroma(rgb: np.ndarray, air_mask: np.ndarray) -> float:
    """Mean chroma magnitude sqrt(Cb^2 + Cr^2) (centred, 0..~0.7) inside the (H, W) bool mask; 0 if it is empty."""
    x, mask = check_rgb(rgb, "image"), np.asarray(air_mask, dtype=bool)
    if mask.shape != x.shape[:2]:
        raise MedColorError(f"air mask {mask.shape} and image {x.shape} differ in size; pass an (H, W) mask")
    return float(np.hypot(*np.moveaxis(chroma_np(x)[mask], -1, 0)).mean()) if mask.any() else 0.0


def out_of_gamut_fraction(mask: np.ndarray) -> float:
    """Fraction of True pixels in a bool out-of-gamut mask (any shape); 0 for an empty mask."""
    m = np.asarray(mask, dtype=bool)
    return float(m.mean()) if m.size else 0.0


def fsim(output_rgb: np.ndarray, input_gray: np.ndarray) -> float:
    """FSIM (piq, gray vs gray) between gray(output) and the input; 1 for identical images."""
    import piq  # optional test dependency, imported only when asked for

    y, gray = (torch.from_numpy(np.clip(a, 0, 1))[None, None] for a in _pair(output_rgb, input_gray))
    return float(piq.fsim(y, gray, data_range=1.0, chromatic=False))


def summary(output_rgb: np.ndarray, input_gray: np.ndarray, reference_rgb: np.ndarray,
            air_mask: np.ndarray | None = None, centres: np.ndarray | None = None) -> dict[str, float | None]:
    """The standard figures as a JSON-safe dict; a non-finite value (PSNR of identical images) becomes None."""
    mask = default_air_mask(input_gray) if air_mask is None else air_mask
    figures = {
        "ssim_gray": ssim_gray(output_rgb, input_gray),
        "psnr_gray": psnr_gray(output_rgb, input_gray),
        "chroma_distance": chroma_distance(output_rgb, input_gray, reference_rgb, centres=centres),
        "colourfulness": colourfulness(output_rgb),
        "entropy": entropy(output_rgb),
        "air_chroma": air_chroma(output_rgb, mask),
    }
    return {name: (value if math.isfinite(value) else None) for name, value in figures.items()}
