"""Propagation of key-slice chroma to every slice through bilateral grids over (intensity, y, x).

Each key slice's chroma (as RGB offsets from its luma) is splatted into a grid whose cells span
``cell`` pixels and 1/``bins`` of the intensity range, then blurred. A slice between two key slices
reads both grids at (its own intensity, y, x) and blends them by distance along the slice axis, in
homogeneous coordinates so that the key slice that actually saw this tissue here dominates. The colour
therefore depends on position and intensity together (not on intensity alone, which would be a mere
transfer function); an intensity-only grid of all keys is a weak prior where no key saw a tissue nearby.
"""

from __future__ import annotations

import bisect

import torch
import torch.nn.functional as F

PRIOR_WEIGHT = 1e-3  # the global prior only matters where the local grids are (almost) empty


def splat(gray: torch.Tensor, offset: torch.Tensor, cell: float, bins: int) -> torch.Tensor:
    """gray (H, W) in [0, 1], offset (3, H, W) -> grid (4, bins+1, Gy, Gx): [offset * weight, weight], blurred."""
    h, w = gray.shape
    gy, gx = int(h / cell) + 2, int(w / cell) + 2
    yy, xx = torch.meshgrid(torch.arange(h, device=gray.device), torch.arange(w, device=gray.device), indexing="ij")
    iz = (gray * bins).round().long().clamp(0, bins)
    iy, ix = (yy / cell).round().long(), (xx / cell).round().long()
    flat = ((iz * gy + iy) * gx + ix).flatten()
    values = torch.cat([offset, torch.ones_like(gray)[None]]).flatten(1)          # (4, HW)
    grid = torch.zeros(4, (bins + 1) * gy * gx, device=gray.device, dtype=offset.dtype)
    grid.index_add_(1, flat, values)
    return _blur(grid.view(4, bins + 1, gy, gx))


def _blur(grid: torch.Tensor) -> torch.Tensor:
    """[1, 2, 1] / 4 along each grid axis (the standard bilateral-grid blur). grid (4, D, H, W)."""
    k = torch.tensor([0.25, 0.5, 0.25], dtype=grid.dtype, device=grid.device)
    x = grid[None]                                                                 # (1, 4, D, H, W)
    for dim in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + dim] = 3
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - dim)] = pad[2 * (2 - dim) + 1] = 1
        x = F.conv3d(F.pad(x, pad, mode="replicate"), k.view(shape).expand(4, 1, *shape[2:]).contiguous(), groups=4)
    return x[0]


def read(grid: torch.Tensor, gray: torch.Tensor, cell: float) -> torch.Tensor:
    """Trilinear read of grid (4, D, Gy, Gx) at every pixel's (intensity, y, x). gray (H, W) -> (4, H, W)."""
    h, w = gray.shape
    d, gy, gx = grid.shape[1:]
    yy, xx = torch.meshgrid(torch.arange(h, device=gray.device, dtype=gray.dtype),
                            torch.arange(w, device=gray.device, dtype=gray.dtype), indexing="ij")
    # grid_sample coordinates in [-1, 1] with align_corners=True: cell index / (size - 1) * 2 - 1
    coords = torch.stack([xx / cell / (gx - 1), yy / cell / (gy - 1), gray], -1) * 2 - 1   # (H, W, 3) = (x, y, z)
    out = F.grid_sample(grid[None], coords[None, None].to(grid.dtype), mode="bilinear", align_corners=True)
    return out[0, :, 0]


def smooth_keys(grids: list[torch.Tensor], passes: int = 1) -> list[torch.Tensor]:
    """[1, 2, 1] / 4 smoothing of the key grids along the slice axis (ends replicated), in homogeneous
    coordinates: the 3-D, intensity-guided chroma smoothing across key slices (a tissue absent from a
    neighbour's grid carries no weight there, so it is not diluted)."""
    for _ in range(passes):
        padded = [grids[0], *grids, grids[-1]]
        grids = [0.25 * a + 0.5 * b + 0.25 * c for a, b, c in zip(padded, padded[1:], padded[2:])]
    return grids


def prior(grids: list[torch.Tensor]) -> torch.Tensor:
    """Intensity-only grid (4, D, 1, 1) summed over all keys and positions, scaled to a weak prior."""
    total = torch.stack(grids).sum((0, 3, 4), keepdim=True)[0]
    return total / total[3:].max().clamp_min(1e-12) * PRIOR_WEIGHT


def neighbours(z: float, keys: list[float]) -> tuple[int, int, float]:
    """Indices of the key slices around z (sorted keys) and the blend weight t of the upper one."""
    if z <= keys[0]:
        return 0, 0, 0.0
    if z >= keys[-1]:
        return len(keys) - 1, len(keys) - 1, 0.0
    hi = bisect.bisect_right(keys, z)
    return hi - 1, hi, (z - keys[hi - 1]) / (keys[hi] - keys[hi - 1])


def blend(z: float, keys: list[float], grids: list[torch.Tensor], prior_grid: torch.Tensor,
          gray: torch.Tensor, cell: float) -> torch.Tensor:
    """Chroma offsets (3, H, W) for the slice at position z, from the two key grids around it."""
    lo, hi, t = neighbours(z, keys)
    # a trilinear read is linear in the grid values: reading the blended grid is blending the two reads, at
    # half the cost (the reads are most of the propagation's time)
    acc = read(grids[lo] if t == 0 else (1 - t) * grids[lo] + t * grids[hi], gray, cell)
    d = prior_grid.shape[1]
    acc = acc + prior_grid[:, (gray * (d - 1)).round().long().clamp(0, d - 1), 0, 0]
    return acc[:3] / acc[3:].clamp_min(1e-12)
