"""The paper's post-filter: a local affine colour model against the gray guide, smoothed edge-aware."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import box_blur, joint_bilateral_blur


def local_affine(rgb: torch.Tensor, guide: torch.Tensor, radius: int = 1, eps: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel fit rgb ~ a * guide + b in (2r+1)^2 windows with ridge eps (the guided filter's model).

    rgb (B, 3, H, W), guide (B, 1, H, W) in [0, 1]. Returns a, b, each (B, 3, H, W).
    """
    k = (2 * radius + 1, 2 * radius + 1)
    mean_i, mean_p = box_blur(guide, k), box_blur(rgb, k)
    cov = box_blur(guide * rgb, k) - mean_i * mean_p
    var = box_blur(guide * guide, k) - mean_i * mean_i
    a = cov / (var + eps)
    return a, mean_p - a * mean_i


def postfilter(rgb: torch.Tensor, guide: torch.Tensor, radius: int = 15, sigma_space: float = 5.0,
               sigma_color: float = 0.1, eps: float = 1e-3) -> torch.Tensor:
    """Local affine fit (3x3, ridge eps), coefficients smoothed by a joint bilateral filter guided by the
    input (radius, spatial sigma in px, range sigma on a 0-1 scale), then reconstructed. (B, 3, H, W)."""
    a, b = local_affine(rgb, guide, 1, eps)
    size = 2 * radius + 1
    # kornia accepts a 1-channel guide for 6 channels; on the CPU it loops over taps (no unfolded windows)
    smoothed = joint_bilateral_blur(torch.cat([a, b], 1), guide, (size, size), sigma_color,
                                    (sigma_space, sigma_space), border_type="reflect")
    a, b = smoothed[:, :3], smoothed[:, 3:]
    return a * guide + b  # not clipped: the imaging step maps gamut while keeping the luma


def upsample(rgb: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) to size (H, W)."""
    if tuple(rgb.shape[-2:]) == tuple(size):
        return rgb
    return F.interpolate(rgb, size=size, mode="bilinear", align_corners=False)
