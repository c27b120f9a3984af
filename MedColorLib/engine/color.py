"""Colour-space helpers: BT.601 luma / YCbCr (via kornia) on (B, 3, H, W) tensors in [0, 1]."""

from __future__ import annotations

import numpy as np
import torch
from kornia.color import rgb_to_ycbcr

LUMA = (0.299, 0.587, 0.114)  # BT.601, the paper's Y


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 1, H, W) BT.601 luma."""
    r, g, b = rgb.unbind(1)  # weights as Python numbers: no host-to-device copy, so it can run in a CUDA graph capture
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def luma_np(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB array -> (...) BT.601 luma, float64."""
    return np.asarray(rgb, dtype=np.float64) @ np.asarray(LUMA)


def chroma_np(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> (..., 2) centred (Cb, Cr) in [-0.5, 0.5], float32 (kornia's BT.601 YCbCr)."""
    rgb = np.asarray(rgb, np.float32)
    flat = torch.as_tensor(np.ascontiguousarray(rgb.reshape(-1, 3).T)).view(3, -1, 1)  # (3, N, 1) image
    cbcr = rgb_to_ycbcr(flat)[1:, :, 0].T.numpy() - 0.5
    return cbcr.reshape(*rgb.shape[:-1], 2)


def with_luma(rgb: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the luma of (B, 3, H, W) RGB by y (B, 1, H, W), keeping its chroma.

    Pixels that leave the RGB cube get their chroma scaled toward gray just enough to fit, so the
    luma stays exactly y. Returns (rgb in [0, 1], out-of-gamut mask (B, 1, H, W) before the fix).
    """
    gray = y.expand(-1, 3, -1, -1)
    offset = rgb - luma(rgb)  # chroma's contribution per channel: R-Y, G-Y, B-Y (zero luma)
    # largest s in [0, 1] with gray + s * offset inside [0, 1] for every channel
    room = torch.where(offset > 0, (1 - gray) / offset.clamp_min(1e-12), gray / (-offset).clamp_min(1e-12))
    room = torch.where(offset.abs() < 1e-12, torch.ones_like(room), room)
    scale = room.amin(1, keepdim=True).clamp(0, 1)
    return (gray + scale * offset).clamp(0, 1), scale < 1
