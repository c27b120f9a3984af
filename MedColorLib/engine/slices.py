"""Paper mode on 2-D slices: resize, rank-paired masks, two-stage optimisation, post-filter, imaging."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from MedColorLib.engine.color import luma_np
from MedColorLib.engine.correspondence import correspondence_chroma
from MedColorLib.engine.optimise import colorize_batch, gpu_numerics, initial_image, wants_correspondence
from MedColorLib.engine.device import resolve_device
from MedColorLib.errors import MedColorError
from MedColorLib.engine.imaging import compose, to_uint8
from MedColorLib.engine.masks import assign, fit_centres, one_hot
from MedColorLib.options import Options
from MedColorLib.engine.postfilter import postfilter
from MedColorLib.engine.vgg import VGGFeatures, load_vgg
from MedColorLib.types import CancelFn, ProgressFn, Stopwatch


@dataclass
class SliceResult:
    """Colour slices (B, H, W, 3) uint8 with the input's luma; the optimised (B, 3, S, S) colour; gamut mask;
    seconds per stage (correspondence, optimisation, imaging)."""

    rgb: np.ndarray
    optimised: torch.Tensor
    out_of_gamut: np.ndarray
    seconds: dict[str, float]


# networks kept for the life of the process once keep_networks() was called (batch workers: the weights are
# loaded once per worker, not once per volume); keyed by (weights, device, seed); LOADS counts real loads
_KEPT: dict[tuple[str, str, int], VGGFeatures] | None = None
_LOADS = [0]


def network(options: Options) -> VGGFeatures:
    """The frozen feature extractor for these options, on their device (the kept one, if kept)."""
    device = resolve_device(options.device)
    key = (options.weights, str(device), options.seed)
    if _KEPT is not None and key in _KEPT:
        return _KEPT[key]
    net = load_vgg(options.weights, device, options.seed)
    _LOADS[0] += 1
    if _KEPT is not None:
        _KEPT[key] = net
    return net


def keep_networks() -> None:
    """From now on this process keeps every network it loads (for long-lived workers that run many volumes)."""
    global _KEPT
    _KEPT = {} if _KEPT is None else _KEPT


def network_loads() -> int:
    """How many networks this process has loaded from their weights so far."""
    return _LOADS[0]


def check_reference(reference: np.ndarray, size: int) -> None:
    """A colour (h, w, 3) reference in [0, 1] with some chroma, large enough for the network."""
    if reference.ndim != 3 or reference.shape[-1] != 3:
        raise MedColorError(f"the reference must be an RGB image, got shape {reference.shape}")
    if not np.isfinite(reference).all():
        raise MedColorError("the reference contains NaN or infinite values")
    if np.ptp(reference, axis=-1).max() < 2 / 255:
        raise MedColorError("the reference is gray; a colour reference is needed")
    if min(reference.shape[:2]) < 16:
        raise MedColorError(f"the reference ({reference.shape[1]}x{reference.shape[0]}) is too small")


def check_gray(gray: np.ndarray) -> None:
    """(B, H, W) float gray in [0, 1], finite, at least 32 px a side."""
    if gray.ndim != 3:
        raise MedColorError(f"expected gray slices (B, H, W), got shape {gray.shape}")
    if not np.isfinite(gray).all():
        raise MedColorError("the input contains NaN or infinite values")
    if min(gray.shape[1:]) < 32:
        raise MedColorError(f"the image ({gray.shape[2]}x{gray.shape[1]}) is smaller than the 32 px VGG19 needs")


def resize_batch(a: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """(B, H, W[, 3]) array -> (B, C, size, size) float32 tensor, antialiased bilinear."""
    t = torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)
    t = t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]
    return F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False).to(device)


def slice_masks(gray_small: np.ndarray, ref_gray_small: np.ndarray, k: int,
                centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rank-paired masks (B, K, S, S) for targets (one centre set when given) and references (each its own)."""
    t = np.stack([one_hot(assign(g, centres if centres is not None else fit_centres(g, k)), k) for g in gray_small])
    r = np.stack([one_hot(assign(g, fit_centres(g, k)), k) for g in ref_gray_small])
    return t, r


def colorize_slices(net: VGGFeatures, gray: np.ndarray, references: np.ndarray | list[np.ndarray], options: Options,
                    *, centres: np.ndarray | None = None, start: torch.Tensor | None = None,
                    progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> SliceResult:
    """gray (B, H, W) float32 in [0, 1]; one (h, w, 3) reference per slice (or one for all).

    The paper per slice, batched: optimise at options.size, post-filter, imaging at the native size.
    """
    options.check()
    check_gray(gray)
    refs = [references] * len(gray) if isinstance(references, np.ndarray) and references.ndim == 3 else list(references)
    for r in refs:
        check_reference(r, options.size)
    device, s = next(net.parameters()).device, options.size
    clock = Stopwatch(torch.cuda.synchronize if device.type == "cuda" else None)
    gray_t = resize_batch(gray, s, device)
    ref_t = torch.cat([resize_batch(r[None], s, device) for r in refs])
    with clock("correspondence"), gpu_numerics():
        chroma = (correspondence_chroma(net, gray_t, ref_t, luma_weight=options.luma_weight())
                  if wants_correspondence(options, start) else None)
    if sum(options.iterations):
        with clock("optimisation"):
            mt, mr = slice_masks(gray_t[:, 0].cpu().numpy(), luma_np(ref_t.permute(0, 2, 3, 1).cpu().numpy()),
                                 options.k, centres)
            x = colorize_batch(net, gray_t, ref_t, torch.as_tensor(mt, device=device),
                               torch.as_tensor(mr, device=device), options, progress, cancel, start, chroma)
    else:  # the correspondence alone (or the given start): no masks, no targets, no steps
        x = (initial_image(gray_t, options.init, options.seed, chroma) if start is None else start).clamp(0, 1)
    with clock("imaging"):
        filtered = postfilter(x, gray_t) if options.postfilter else x
        full = torch.as_tensor(np.ascontiguousarray(gray), dtype=torch.float32, device=device)[:, None]
        rgb, oog = compose(filtered, full)
        result = SliceResult(to_uint8(rgb), x, oog[:, 0].cpu().numpy(), clock.seconds)
    return result
