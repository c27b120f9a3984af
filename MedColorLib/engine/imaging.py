"""The imaging step: bring the optimised colour to the input's size, keep the input's luma exactly."""

from __future__ import annotations

import numpy as np
import torch

from MedColorLib.engine.color import with_luma
from MedColorLib.engine.postfilter import upsample


def compose(rgb_small: torch.Tensor, gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """rgb_small (B, 3, h, w), gray (B, 1, H, W) in [0, 1] -> (rgb (B, 3, H, W) in [0, 1], out-of-gamut mask).

    Only the chroma of rgb_small survives; the luma is the input's, so structure is preserved by
    construction (paper, imaging module).
    """
    return with_luma(upsample(rgb_small, tuple(gray.shape[-2:])), gray)


def to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float in [0, 1] -> (B, H, W, 3) uint8, rounded."""
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
