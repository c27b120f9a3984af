"""The paper's loss terms on batches; every function returns one value per image, shape (B,)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from MedColorLib.engine.gram import MaskSupport, support_gram


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lc: 0.5 * mean((F[O] - F[I])^2) over (C, h, w). f, target: (B, C, h, w)."""
    return 0.5 * (f - target).pow(2).flatten(1).mean(1)


def colour_loss(f: torch.Tensor, support: MaskSupport, ref_gram: torch.Tensor) -> torch.Tensor:
    """One layer of Lcolor: sum_k 0.5 * mean((G_k[O] - G_k[S])^2) * mean(M_target,k). -> (B,)."""
    diff = support_gram(f, support) - ref_gram
    return (0.5 * diff.pow(2).flatten(2).mean(2) * support.mean).sum(1)


def luma_loss(y_out: torch.Tensor, y_in: torch.Tensor, l1_mix: float) -> torch.Tensor:
    """LY = (1/2D) (aY |IY - OY|_1 + (1 - aY) |IY - OY|_2^2), D = pixels. y_*: (B, 1, H, W)."""
    d = (y_in - y_out).flatten(1)
    return (l1_mix * d.abs().sum(1) + (1 - l1_mix) * d.pow(2).sum(1)) / (2 * d.shape[1])


def chroma_loss(cbcr: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lmatch: mean((CbCr[O] - CbCr[correspondence])^2) over (2, H, W). cbcr, target: (B, 2, H, W). -> (B,)."""
    return (cbcr - target).pow(2).flatten(1).mean(1)


def swap_loss(f: torch.Tensor, swapped: torch.Tensor) -> torch.Tensor:
    """Lswap for one layer: mean((F[O] - swapped)^2) over (C, h, w). -> (B,)."""
    return (f - swapped).pow(2).flatten(1).mean(1)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation as in the authors' code: summed squared neighbour differences. x: (B, C, H, W)."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).sum(1)
    dw = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).sum(1)
    return dh + dw


def _patches(f: torch.Tensor, size: int = 3) -> torch.Tensor:
    """(C, h, w) -> (P, C, size, size) all stride-1 patches, P = (h-size+1)(w-size+1)."""
    c = f.shape[0]
    cols = F.unfold(f[None], size)                                       # (1, C*s*s, P)
    return cols[0].T.reshape(-1, c, size, size)


def swap_indices(target: torch.Tensor, match: torch.Tensor, size: int = 3, chunk: int = 2048) -> torch.Tensor:
    """For every size x size patch of target (C, H, W), the index of the most correlated patch of match (C, h, w).

    Reference patches are normalised over the whole size x size x C patch (Chen & Schmidt's style swap,
    the correct form; the authors' code normalised per channel and used stride-3 patches). The
    correlation is a convolution with the patches as kernels, in chunks to bound memory.
    Returns (H-size+1, W-size+1) int64 indices into the stride-1 patches of match, row-major.
    """
    kernels = _patches(match, size)
    kernels = kernels / kernels.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None, None]
    best = idx = None
    for start in range(0, kernels.shape[0], chunk):
        score, arg = F.conv2d(target[None], kernels[start:start + chunk])[0].max(0)  # (H', W')
        if best is None:
            best, idx = score, arg
        else:
            better = score > best
            best, idx = torch.where(better, score, best), torch.where(better, arg + start, idx)
    return idx


def style_swap(target: torch.Tensor, match: torch.Tensor, source: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Swapped feature map (C, H, W): each target patch replaced by the source patch at the best-matching
    position of match (match and source have the same shape); overlaps averaged (the transposed
    convolution of a one-hot map divided by the overlap count, written as fold to bound memory)."""
    idx = swap_indices(target, match, size)
    picked = _patches(source, size)[idx.flatten()]                       # (H'W', C, s, s)
    out_size = target.shape[-2:]
    summed = F.fold(picked.flatten(1).T[None], out_size, size)           # (1, C, H, W)
    ones = torch.ones(1, size * size, picked.shape[0], dtype=source.dtype, device=source.device)
    overlap = F.fold(ones, out_size, size)                               # (1, 1, H, W)
    return (summed / overlap.clamp_min(1))[0]
