"""Figures of a rendered frame, as a user would judge it: is the wall opaque, bright enough, tissue-coloured,
free of stripes? (H, W, 3) uint8 sRGB frames."""

from __future__ import annotations

import numpy as np

STRIPE_SIGMA_PX = 0.7


def frame_figures(rgb: np.ndarray, background: tuple[int, int, int] = (0, 0, 0)) -> dict:
    """opaque (fraction of pixels not the background colour), mean L*, hue angle (degrees, 0-360) and chroma
    of the mean CIELAB colour of the opaque pixels, and stripes (mean |Laplacian of L*| after a 0.7 px
    Gaussian, over the whole frame)."""
    from scipy import ndimage
    from skimage.color import rgb2lab

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3 or rgb.dtype != np.uint8:
        raise ValueError(f"a frame is (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    rgb = rgb[..., :3]
    opaque = np.any(rgb != np.asarray(background, np.uint8), axis=-1)
    lab = rgb2lab(rgb)
    lightness = lab[..., 0]
    stripes = float(np.abs(ndimage.laplace(ndimage.gaussian_filter(lightness, STRIPE_SIGMA_PX))).mean())
    if not opaque.any():
        return {"opaque": 0.0, "mean_L": 0.0, "hue_deg": None, "chroma": 0.0, "stripes": stripes}
    mean = lab[opaque].mean(axis=0)
    return {"opaque": float(opaque.mean()), "mean_L": float(mean[0]),
            "hue_deg": float(np.degrees(np.arctan2(mean[2], mean[1])) % 360.0),
            "chroma": float(np.hypot(mean[1], mean[2])), "stripes": stripes}
