"""Deep-feature correspondence: each target pixel takes the chroma of the reference pixel whose gray VGG
features (conv1_1..conv4_1, each L2-normalised, plus the luma itself) are nearest.

Both sides are matched as gray images, as in the swap term: colour cannot be compared with gray. Measured on
the ground-truth benchmark (docs/ground_truth.md) with the medical VGG16, this chroma is closer to the true
colours than every classical transfer and than the paper's optimisation started from it.

The 960 feature channels are projected on the reference samples' leading principal components before the
search: the nearest-neighbour search then costs MATCH_DIMS / 960 of the full one, and no full-size stack of
every channel is ever held (measured: same Delta E_ab against the truth; bench/README.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_ycbcr, ycbcr_to_rgb

from MedColorLib.engine.color import luma
from MedColorLib.engine.vgg import VGGFeatures

MATCH_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1")
REFERENCE_SAMPLES = 4096   # reference positions searched (evenly spaced); 2048 of 9216 cost +0.1 Delta E
MATCH_DIMS = 64            # principal components of the normalised features kept for the search
CHUNK = 4096               # target rows per distance block: bounds memory at CHUNK x samples floats
# scale of the luma beside the unit-norm feature vector in the search (Options.luma_match): 1 by default; 8 where
# equal luma means equal tissue, a CT in the window its library CT reference was rendered in (docs/method.md:
# measured on truths with calibrated luma, 1 -> 8 takes Delta E_ab 8.14 -> 7.32 in 2-D and 2.36 -> 2.07 on the
# volume; on real MR, whose intensities are not calibrated to the reference's, 8 turned grey matter CSF-blue)
CALIBRATED_LUMA_WEIGHT = 8.0


def _layer_weight() -> float:
    return len(MATCH_LAYERS) ** -0.5   # every layer's unit vector weighs the same; their sum has unit norm


def sample_positions(shape: tuple[int, int], samples: int, device: torch.device) -> torch.Tensor:
    """(M,) flat indices of at most `samples` evenly spaced pixels of an (h, w) image."""
    total = shape[0] * shape[1]
    if total <= samples:
        return torch.arange(total, device=device)
    return torch.linspace(0, total - 1, samples, device=device).long()


def _at(maps: torch.Tensor, flat: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, h, w) maps read bilinearly at the flat pixel indices of a (H, W) image -> (M, C); the same values
    as F.interpolate(..., size, bilinear, align_corners=False) taken at those pixels."""
    height, width = size
    y, x = (flat // width).to(maps.dtype), (flat % width).to(maps.dtype)
    grid = torch.stack([(2 * x + 1) / width - 1, (2 * y + 1) / height - 1], -1)         # (M, 2) as (x, y)
    out = F.grid_sample(maps[None], grid[None, None], mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].T


@torch.no_grad()
def reference_keys(net: VGGFeatures, reference: torch.Tensor, samples: int = REFERENCE_SAMPLES
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """reference (3, h, w) in [0, 1] -> (features (M, 960), luma (M, 1), (Cb, Cr) (M, 2)) at M sampled pixels."""
    gray = luma(reference[None])
    size = tuple(gray.shape[-2:])
    flat = sample_positions(size, samples, reference.device)
    maps = net(gray.expand(-1, 3, -1, -1), MATCH_LAYERS)
    feats = torch.cat([F.normalize(_at(maps[n][0], flat, size), dim=1) for n in MATCH_LAYERS], 1) * _layer_weight()
    chroma = rgb_to_ycbcr(reference[None])[0, 1:].flatten(1)[:, flat].T
    return feats, gray.flatten()[flat][:, None], chroma


def principal_axes(keys: torch.Tensor, dims: int = MATCH_DIMS) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, C) samples -> (mean (C,), basis (C, d)): the leading principal directions, d = min(dims, C)."""
    mean = keys.mean(0)
    centred = (keys - mean).double()                 # float64: eigh of a Gram is sensitive to rounding
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    basis = vectors[:, -min(dims, keys.shape[1]):].flip(1)
    # eigenvectors are defined up to sign: fix it, so the same input gives the same bytes everywhere
    basis = basis * torch.sign(basis[basis.abs().argmax(0), torch.arange(basis.shape[1])])
    return mean, basis.to(keys.dtype)


@torch.no_grad()
def target_features(maps: dict[str, torch.Tensor], size: tuple[int, int], mean: torch.Tensor,
                    basis: torch.Tensor) -> torch.Tensor:
    """One image's feature maps {layer: (1, C, h, w)} -> (H * W, d) projected normalised features at size (H, W);
    one layer at full size at a time."""
    out, start = -(mean @ basis).expand(size[0] * size[1], -1).clone(), 0
    for name in MATCH_LAYERS:
        f = F.interpolate(maps[name], size=size, mode="bilinear", align_corners=False)[0]   # (C, H, W)
        f = F.normalize(f.flatten(1), dim=0).T * _layer_weight()                             # (HW, C)
        out += f @ basis[start:start + f.shape[1]]
        start += f.shape[1]
    return out


def nearest(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """(N, C) query, (M, C) keys -> (N,) index of the nearest key (Euclidean), in CHUNK-row blocks."""
    return torch.cat([torch.cdist(q, keys).argmin(1) for q in query.split(CHUNK)])


@torch.no_grad()
def correspondence_chroma(net: VGGFeatures, gray: torch.Tensor, reference: torch.Tensor,
                          samples: int = REFERENCE_SAMPLES, luma_weight: float = 1.0) -> torch.Tensor:
    """gray (B, 1, H, W), reference (B or 1, 3, h, w) in [0, 1] -> (B, 2, H, W) (Cb, Cr) in [0, 1] (kornia YCbCr).
    ``luma_weight`` scales the luma beside the unit-norm features in the search.

    One network pass for the whole batch (on a GPU the batch is the unit of work); a reference repeated along the
    batch is analysed once."""
    out, cached = [], None
    maps = net(gray.expand(-1, 3, -1, -1), MATCH_LAYERS)
    size = tuple(gray.shape[-2:])
    for b in range(len(gray)):
        ref = reference[min(b, len(reference) - 1)]
        if cached is None or not torch.equal(ref, cached[0]):
            feats, ref_luma, chroma = reference_keys(net, ref, samples)
            mean, basis = principal_axes(feats)
            cached = (ref, torch.cat([(feats - mean) @ basis, ref_luma * luma_weight], 1), chroma, mean, basis)
        _, keys, chroma, mean, basis = cached
        own = {name: m[b:b + 1] for name, m in maps.items()}
        query = torch.cat([target_features(own, size, mean, basis), gray[b].flatten()[:, None] * luma_weight], 1)
        out.append(chroma[nearest(query, keys)].T.reshape(2, *gray.shape[-2:]))
    return torch.stack(out)


def with_chroma(gray: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luma and (B, 2, H, W) (Cb, Cr) -> (B, 3, H, W) RGB clipped to [0, 1]."""
    return ycbcr_to_rgb(torch.cat([gray, chroma], 1)).clamp(0, 1)
