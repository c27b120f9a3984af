"""The paper's loss terms on batches; every function returns one value per image, shape (B,)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lc: 0.5 * mean((F[O] - F[I])^2) over (C, h, w). f, target: (B, C, h, w)."""
    return 0.5 * (f - target).pow(2).flatten(1).mean(1)


class _Gram(torch.autograd.Function):
    """X @ X^T for X (..., C, N) with the symmetric backward dX = (dG + dG^T) X: one product instead of the
    two that autograd's matmul backward computes."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x @ x.transpose(-1, -2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return (grad + grad.transpose(-1, -2)) @ x


def gram(x: torch.Tensor) -> torch.Tensor:
    """(..., C, N) -> (..., C, C) Gram matrix X X^T."""
    return _Gram.apply(x)


def masked_gram(f: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Gram of F * M_k normalised by C*h*w*mean(M_k) (Deep Photo Style Transfer). -> (B, K, C, C).

    f: (B, C, h, w); masks: (B, K, h, w). An empty mask gives a zero Gram, as in the authors' code.
    """
    b, c, h, w = f.shape
    fm = (f.unsqueeze(1) * masks.unsqueeze(2)).flatten(3)               # (B, K, C, hw)
    norm = (c * h * w * masks.flatten(2).mean(2)).clamp_min(1e-8)        # (B, K)
    return gram(fm) / norm[..., None, None]                               # (B, K, C, C)


@dataclass
class MaskSupport:
    """The pixels where each mask is non-zero, so a Gram touches only them (masks barely overlap).

    index: (N,) flat indices into the batch's pixels (b * h * w + pixel) for every (image, mask) pair
    in turn; weight: (N,) the mask values there; sizes: N split per (image, mask), row-major over
    (B, K); mean: (B, K) mask means.
    """

    index: torch.Tensor
    weight: torch.Tensor
    sizes: list[int]
    mean: torch.Tensor
    masks: torch.Tensor  # the dense (B, K, h, w) masks, for devices where one batched product is faster


def mask_support(masks: torch.Tensor) -> MaskSupport:
    """(B, K, h, w) masks -> their supports; computed once, the masks do not change during optimisation."""
    b, k = masks.shape[:2]
    flat = masks.flatten(2)                                              # (B, K, hw)
    hw = flat.shape[-1]
    index = [torch.nonzero(flat[i, j] > 0).flatten() + i * hw for i in range(b) for j in range(k)]
    weight = [flat[i, j][index[i * k + j] - i * hw] for i in range(b) for j in range(k)]
    return MaskSupport(torch.cat(index), torch.cat(weight), [len(i) for i in index], flat.mean(2), masks)


def support_gram(f: torch.Tensor, support: MaskSupport) -> torch.Tensor:
    """masked_gram(f, masks) computed on the masks' supports only: about K times fewer operations. -> (B, K, C, C).

    On a GPU the B*K small products cost more in launches than they save: there one dense batched
    product is used instead (measured in bench/bench_engine.py).
    """
    if f.device.type != "cpu":
        return masked_gram(f, support.masks)
    b, c, h, w = f.shape
    pixels = f.permute(0, 2, 3, 1).reshape(b * h * w, c)                 # (B*hw, C): tall-skinny for A^T A
    fm = pixels.index_select(0, support.index) * support.weight[:, None]  # (N, C)
    grams = torch.stack([gram(part.T) for part in fm.split(support.sizes)])
    norm = (c * h * w * support.mean).clamp_min(1e-8)
    return grams.view(b, -1, c, c) / norm[..., None, None]


def colour_loss(f: torch.Tensor, support: MaskSupport, ref_gram: torch.Tensor) -> torch.Tensor:
    """One layer of Lcolor: sum_k 0.5 * mean((G_k[O] - G_k[S])^2) * mean(M_target,k). -> (B,)."""
    diff = support_gram(f, support) - ref_gram
    return (0.5 * diff.pow(2).flatten(2).mean(2) * support.mean).sum(1)


def luma_loss(y_out: torch.Tensor, y_in: torch.Tensor, l1_mix: float) -> torch.Tensor:
    """LY = (1/2D) (aY |IY - OY|_1 + (1 - aY) |IY - OY|_2^2), D = pixels. y_*: (B, 1, H, W)."""
    d = (y_in - y_out).flatten(1)
    return (l1_mix * d.abs().sum(1) + (1 - l1_mix) * d.pow(2).sum(1)) / (2 * d.shape[1])


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
