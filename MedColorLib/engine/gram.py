"""Masked Gram matrices of feature maps (the colour loss's statistics), dense and on the masks' supports."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


def masked_gram(f: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Gram of F * M_k normalised by C*h*w*mean(M_k) (Deep Photo Style Transfer). -> (B, K, C, C).

    f: (B, C, h, w); masks: (B, K, h, w). An empty mask gives a zero Gram, as in the authors' code.
    The dense form: every pixel in every mask's product (GPUs, and the reference's Grams).
    """
    b, c, h, w = f.shape
    flat = masks.flatten(2)                                              # (B, K, hw)
    norm = (c * h * w * flat.mean(2)).clamp_min(1e-8)                    # (B, K)
    weight = (flat.square() / norm[..., None]).transpose(1, 2).contiguous()  # (B, hw, K): (F M_k)^T (F M_k) / n_k
    return _WeightedGram.apply(_pixels(f).view(b, h * w, c), weight).view(b, -1, c, c)


class _WeightedGram(torch.autograd.Function):
    """G_k = X^T diag(W_k) X for X (B, N, C) and weights W (B, N, K) -> (B, K*C, C), the K Grams stacked.

    One product per image over the (N, K*C) weighted copies, and in the backward one product with the
    K symmetrised gradients side by side: contiguous, pixel-major tensors throughout (channels-last
    features), where broadcasting masks over (B, K, C, h, w) had run in slow strided kernels on GPUs.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        weighted = (x[:, :, None, :] * weight[..., None]).view(b, n, -1)   # (B, N, K*C)
        ctx.save_for_backward(x, weight)
        return weighted.transpose(1, 2) @ x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        b, n, c = x.shape
        k = weight.shape[-1]
        g = grad.view(b, k, c, c)
        sym = (g + g.transpose(-1, -2)).permute(0, 2, 1, 3).reshape(b, c, k * c)  # [S_1 ... S_K] side by side
        per_mask = (x @ sym).view(b, n, k, c)                                      # X S_k for every k
        return (per_mask * weight[..., None]).sum(2), None


@dataclass
class MaskSupport:
    """The pixels where each mask is non-zero, so a Gram touches only them (at the shallow layers, where most
    pixels are, the masks overlap only at edges).

    index: (N,) flat indices into the batch's pixels (b * h * w + pixel) for every (image, mask) pair
    in turn; weight: (N,) the mask values there; sizes: N split per (image, mask), row-major over
    (B, K), long ones padded to a multiple of PAD with weight-0 rows; mean: (B, K) mask means.
    """

    index: torch.Tensor
    weight: torch.Tensor
    sizes: list[int]
    mean: torch.Tensor
    masks: torch.Tensor  # the dense (B, K, h, w) masks, for the dense form on GPUs


# oneDNN's Y^T Y runs 2-3x faster when a long row count is a multiple of 64 (C >= 128; bench/README.md);
# short parts are left as they are, where padding would add more work than it saves
PAD, PAD_FROM = 64, 1024


def mask_support(masks: torch.Tensor) -> MaskSupport:
    """(B, K, h, w) masks -> their supports; computed once, the masks do not change during optimisation."""
    b, k = masks.shape[:2]
    flat = masks.flatten(2)                                              # (B, K, hw)
    hw = flat.shape[-1]
    index, weight = [], []
    for i in range(b):
        for j in range(k):
            pixels = torch.nonzero(flat[i, j] > 0).flatten()
            pad = pixels.new_zeros(-len(pixels) % PAD if len(pixels) >= PAD_FROM else 0)  # weight-0 rows add nothing
            index.append(torch.cat([pixels, pad]) + i * hw)
            weight.append(torch.cat([flat[i, j][pixels], flat.new_zeros(len(pad))]))
    return MaskSupport(torch.cat(index), torch.cat(weight), [len(i) for i in index], flat.mean(2), masks)


def support_gram(f: torch.Tensor, support: MaskSupport) -> torch.Tensor:
    """masked_gram(f, masks) computed on the masks' supports only: about K times fewer operations. -> (B, K, C, C).

    On a GPU the dense form (masked_gram) is used: a padded, batched support form measured no faster
    there, and a scatter-add backward would be nondeterministic (bench/README.md).
    """
    if f.device.type != "cpu":
        return masked_gram(f, support.masks)
    b, c, h, w = f.shape
    norm = (c * h * w * support.mean).clamp_min(1e-8)                     # (B, K)
    # the normalisation folded into the row weights: (w / sqrt(n))^2 summed = Gram / n, with no pass over the Grams
    weight = support.weight * norm.rsqrt().flatten().repeat_interleave(torch.as_tensor(support.sizes, device=f.device))
    return _SupportGram.apply(f, support.index, weight, support.sizes).view(b, -1, c, c)


class _SupportGram(torch.autograd.Function):
    """Y_p^T Y_p for each part p, Y_p = the part's rows of f's pixels (N_p, C) times its mask values: (P, C, C).

    One function rather than autograd over gather, scale, split and stack: no (N, C) concatenations
    and no temporaries the size of the whole batch (at batch 4 those are fresh allocations of tens of MB,
    page-faulted on every iteration); the gradient comes back dense in f's layout, so autograd can add
    the next layer's gradient to it in place. Backward: dY_p = Y_p (dG + dG^T), times the mask values,
    scattered back.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        pixels = _pixels(f)
        parts = [pixels.index_select(0, i).mul_(v[:, None]) for i, v in zip(index.split(sizes), weight.split(sizes))]
        ctx.parts, ctx.index, ctx.weight, ctx.sizes, ctx.shape = parts, index, weight, sizes, f.shape
        return torch.stack([xtx(y) for y in parts])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        out = torch.empty(ctx.shape, dtype=grad.dtype, device=grad.device, memory_format=torch.channels_last).zero_()
        pixels = _pixels(out)
        sym = grad + grad.transpose(1, 2)
        for y, i, v, s in zip(ctx.parts, ctx.index.split(ctx.sizes), ctx.weight.split(ctx.sizes), sym):
            pixels.index_add_(0, i, linear(y, s).mul_(v[:, None]))
        return out, None, None, None


def _pixels(f: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B*h*w, C); a view when f is channels-last (the engine's layout)."""
    return f.permute(0, 2, 3, 1).reshape(-1, f.shape[1])


def _onednn(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and len(x) > 0 and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled


def xtx(y: torch.Tensor) -> torch.Tensor:
    """(N, C) -> (C, C) Y^T Y.

    On the CPU it is the weight gradient of a 1x1 convolution, which oneDNN runs at convolution speed:
    2-3x the BLAS product at these tall, narrow shapes on the machines measured (bench/README.md).
    """
    if not _onednn(y):
        return y.T @ y
    n, c = y.shape
    image = y.view(1, n, 1, c).permute(0, 3, 1, 2)                       # (1, C, N, 1) channels-last: no copy
    weight = y.new_empty(c, c, 1, 1)
    dw = torch.ops.aten.convolution_backward(image, image, weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                                             [False, True, False])[1]
    return dw.reshape(c, c)


def linear(y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(N, C), (D, C) -> (N, D) Y W^T (F.linear without bias); on the CPU a 1x1 convolution (oneDNN), as in xtx."""
    if not _onednn(y):
        return y @ w.T
    n, c = y.shape
    out = F.conv2d(y.view(1, n, 1, c).permute(0, 3, 1, 2), w.reshape(len(w), c, 1, 1))  # (1, D, N, 1)
    return out.permute(0, 2, 3, 1).reshape(n, len(w))
