"""The one data path for volumes: prepare -> reference -> centres -> engine -> volume strategy -> imaging.

Modes: ``paper`` colorizes every slice as the paper does (its own k-means centres, slices batched);
``volume`` colours a few key slices by the deep-feature correspondence under one reference (and, with
``refine``, the paper's loss stack from there under one set of intensity centres), then propagates their
chroma to every slice through bilateral grids (propagate.py); ``preview`` colours the key slices by
per-cluster chroma matching, with no network. The report holds seconds per stage and the peak memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from MedColorLib import prepare
from MedColorLib.engine.color import luma, with_luma
from MedColorLib.errors import CancelledError
from MedColorLib.engine.masks import fit_centres
from MedColorLib.options import LIMITS, Options
from MedColorLib.pipeline.propagate import blend, prior, smooth_keys, splat
from MedColorLib.io.report import provenance
from MedColorLib.types import CancelFn, Progress, ProgressFn, Stopwatch, Volume, peak_memory_mb

GRID_CELLS = 24      # bilateral grid: cells across the larger slice side
# and along the windowed intensity, per mode: as fine as the key slices' colours are. Volume truth, mean Delta E_ab:
# volume (deep-feature colours) 2.49 with 24 bins, 2.36 with 48 (8 HU a bin in the CT soft-tissue window), 2.34
# with 64; flicker 0.0031 -> 0.0034 (the truth's own: 0.0061). Preview (4 flat per-cluster colours) needs the
# coarser grid's smoothing across intensity: 2.99 with 24 bins, 3.70 with 48.
GRID_BINS = {"volume": 48, "preview": 24}
PAPER_BATCH = 8      # slices per engine batch in paper mode


@dataclass
class ColorResult:
    """rgba: (K, J, I, 4) uint8 in the input's array layout and geometry; report: provenance and figures."""

    rgba: np.ndarray
    report: dict


def colorize_volume(volume: Volume, options: Options, *, reference: np.ndarray | None = None,
                    library: str | Path | None = None, library_set: str | None = None,
                    library_tags: dict[str, str] | None = None, window: str | tuple | None = None,
                    progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> ColorResult:
    """Colorize a scalar volume (never modified). Give a reference (h, w, 3) RGB in [0, 1] or a library."""
    t0 = time.perf_counter()
    options = replace(options).check()
    clock = Stopwatch(torch.cuda.synchronize if torch.cuda.is_available() and options.device != "cpu" else None)
    notify = progress or (lambda p: None)
    with clock("prepare"):
        axis = prepare.check_volume(volume)
        low, high, window_name = prepare.choose_window(volume, window)
        # slices in display orientation (as the references and Slicer show them), float32 in [0, 1]
        view = prepare.slice_view(volume.direction, axis)
        gray, air = display_slices(volume.array, axis, view, low, high)
    notify(Progress("prepare", 1, 1, f"{len(gray)} slices, window {low:g}..{high:g}"))
    with clock("reference"):
        ref, ref_info = _reference(gray, reference, library, library_set, library_tags, volume)
    notify(Progress("reference", 1, 1, str(ref_info.get("path", ""))))
    options = with_luma_match(options, ref_info, (low, high))
    if options.mode == "paper":
        rgb, net_label, device = _paper(gray, ref, options, notify, cancel, clock)
        keys: list[int] = list(range(len(gray)))
    else:
        rgb, keys, net_label, device = _keys_and_propagate(gray, air, ref, options, notify, cancel, clock)
    with clock("assemble"):
        rgba = _raw_rgba(rgb, gray, air, volume.array.shape, axis, view)
    report = provenance(options, net_label, device, ref_info, window={"low": low, "high": high, "name": window_name},
                        slice_axis=int(axis), key_slices=keys)
    with clock("metrics"):
        report["metrics"] = figures(gray, rgb, air, ref, options.k)
    report["seconds"] = time.perf_counter() - t0
    report["seconds_per_slice"] = report["seconds"] / len(gray)
    report["timing"] = {stage: round(s, 3) for stage, s in clock.seconds.items()}
    report["peak_memory_mb"] = peak_memory_mb()
    return ColorResult(rgba, report)


def display_slices(array: np.ndarray, axis: int, view: prepare.SliceView, low: float,
                   high: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) float32 windowed slices in display orientation and their (N, H, W) bool air masks, filled
    slice by slice (no whole-volume copies)."""
    first = prepare.to_display(prepare.take_slice(array, axis, 0), view)
    gray = np.empty((array.shape[axis], *first.shape), np.float32)
    air = np.empty(gray.shape, bool)
    for i, raw in enumerate(prepare.iter_slices(array, axis)):
        gray[i] = prepare.apply_window(prepare.to_display(raw, view), low, high)
        air[i] = prepare.air_mask(gray[i])
    return gray, air


def _raw_rgba(rgb: np.ndarray, gray: np.ndarray, air: np.ndarray, shape: tuple[int, ...], axis: int,
              view: prepare.SliceView) -> np.ndarray:
    """Display-oriented (N, H, W, 3) colour, with alpha = windowed gray (0 in air), written slice by slice
    into a (K, J, I, 4) uint8 array in the input's layout."""
    out = np.empty((*shape, 4), np.uint8)
    slices = np.moveaxis(out, axis, 0)                                   # a view: writing it fills out
    for i in range(len(rgb)):
        shown = prepare.to_display(slices[i], view)                       # the output slice, display-oriented view
        shown[..., :3] = rgb[i]
        shown[..., 3] = np.where(air[i], 0, np.round(gray[i] * 255))
    return out


def figures(gray: np.ndarray, rgb: np.ndarray, air: np.ndarray, ref: np.ndarray, k: int, samples: int = 5) -> dict:
    """Quality figures averaged over a few tissue slices: gray SSIM/PSNR, chroma distance, air chroma."""
    from MedColorLib.metrics import image as metrics
    rows = [metrics.summary(rgb[i] / 255.0, gray[i], ref, air_mask=air[i]) for i in key_slice_indices(air, samples)]
    keys = ("ssim_gray", "psnr_gray", "chroma_distance", "air_chroma", "colourfulness")
    return {key: _mean([r[key] for r in rows]) for key in keys} | {"sampled_slices": len(rows)}


def _mean(values: list) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None


def _reference(gray: np.ndarray, reference: np.ndarray | None, library, library_set, library_tags,
               volume: Volume | None = None) -> tuple[np.ndarray, dict]:
    """The pinned reference, or one library reference decided once for the volume: among the references
    of its body region and modality (``library_tags["region"]`` overrides the region rule), by D-hash
    votes; no library: the per-user default library."""
    from MedColorLib.reference.resolve import resolve_reference
    return resolve_reference(volume, list(gray), reference=reference, library=library, library_set=library_set,
                             tags=library_tags)


def with_luma_match(options: Options, ref_info: dict, window: tuple[float, float]) -> Options:
    """Options with the correspondence's luma weight decided: the user's, else calibrated (a CT in its library CT
    reference's window: ``resolve.luma_calibrated``) or 1."""
    from MedColorLib.engine.correspondence import CALIBRATED_LUMA_WEIGHT
    from MedColorLib.reference.resolve import luma_calibrated

    if options.luma_match is not None or options.mode == "preview":   # preview: no correspondence at all
        return options
    return replace(options, luma_match=CALIBRATED_LUMA_WEIGHT if luma_calibrated(ref_info, window) else 1.0)


def _paper(gray: np.ndarray, ref: np.ndarray, options: Options, notify: ProgressFn,
           cancel: CancelFn | None, clock: Stopwatch) -> tuple[np.ndarray, str, str]:
    """Every slice through the engine's paper mode (its own centres per slice), PAPER_BATCH slices a batch."""
    return optimise_slices(gray, ref, options, None, PAPER_BATCH, "slices", notify, cancel, clock)


def optimise_slices(gray: np.ndarray, ref: np.ndarray, options: Options, centres: np.ndarray | None, batch: int,
                    label: str, notify: ProgressFn, cancel: CancelFn | None,
                    clock: Stopwatch | None = None) -> tuple[np.ndarray, str, str]:
    """(S, H, W) slices -> (S, H, W, 3) uint8 through colorize_slices in batches. On GPU out-of-memory the
    batch is halved, and at one slice the work moves to the CPU, each time with a message. clock gets the
    seconds of the network load and of the engine's stages."""
    from MedColorLib.engine.slices import colorize_slices, network
    from MedColorLib.engine.device import resolve_device
    device = str(resolve_device(options.device))
    clock = clock or Stopwatch()
    while True:
        try:
            opts = replace(options, device=device)
            with clock("network"):
                net = network(opts)
            notify(Progress("network", 1, 1, net.label.split(" | ")[0]))
            out = np.zeros((*gray.shape, 3), np.uint8)
            for start in range(0, len(gray), batch):
                if cancel is not None and cancel():
                    raise CancelledError("cancelled")
                stop = min(start + batch, len(gray))
                relay = lambda p, a=start, b=stop: notify(Progress(  # noqa: E731
                    f"{label} {a + 1}-{b} of {len(gray)}: {p.stage}", p.done, p.total, p.message))
                res = colorize_slices(net, gray[start:stop], ref, opts, centres=centres, progress=relay, cancel=cancel)
                out[start:stop] = res.rgb
                clock.add(res.seconds)
                notify(Progress(label, stop, len(gray), f"{label} {stop}/{len(gray)}"))
            return out, net.label, device
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if device == "cpu":
                raise
            batch, device = (batch // 2, device) if batch > 1 else (batch, "cpu")
            notify(Progress("out of memory", 0, 0, f"GPU out of memory: retrying with {batch} slice(s) per batch on {device}"))


def key_slice_indices(air: np.ndarray, n: int) -> list[int]:
    """n slice indices spread evenly over the slices that hold tissue (at least 5 % non-air)."""
    pixels = air[0].size
    tissue = np.flatnonzero(pixels - np.count_nonzero(air.reshape(len(air), -1), axis=1) >= 0.05 * pixels)
    pool = tissue if len(tissue) else np.arange(len(air))
    picks = pool[np.round(np.linspace(0, len(pool) - 1, min(n, len(pool)))).astype(int)]
    return sorted({int(i) for i in picks})


def _keys_and_propagate(gray: np.ndarray, air: np.ndarray, ref: np.ndarray, options: Options, notify: ProgressFn,
                        cancel: CancelFn | None, clock: Stopwatch) -> tuple[np.ndarray, list[int], str, str]:
    """Colour the key slices (correspondence [+ refinement], or matched in preview), then propagate to all slices."""
    keys = key_slice_indices(air, options.key_slices)
    centres = None
    if sum(options.iterations):  # one set of intensity centres for the volume: the masks of the loss stack
        with clock("optimisation"):
            centres = fit_centres(gray[~air] if (~air).any() else gray, options.k, seed=options.seed)
    key_rgb, label, device = _colour_keys(gray[keys], ref, centres, options, notify, cancel, clock)
    with clock("propagation"):
        out = _propagate(gray, keys, key_rgb, options, torch.device(device), notify, cancel)
    return out, keys, label, device


def _propagate(gray: np.ndarray, keys: list[int], key_rgb: np.ndarray, options: Options, dev: torch.device,
               notify: ProgressFn, cancel: CancelFn | None) -> np.ndarray:
    """(N, H, W) gray -> (N, H, W, 3) uint8: every slice reads the key slices' bilateral grids (B, H, W, 3) around
    it at its own intensities."""
    cell = max(gray.shape[1:]) / GRID_CELLS
    grids = []
    for g, rgb in zip(gray[keys], key_rgb):
        # splatted on the CPU: index_add_ on a GPU sums in a nondeterministic order
        colour = torch.as_tensor(rgb).permute(2, 0, 1).float()[None] / 255  # (1, 3, H, W)
        offset = (colour - luma(colour))[0]
        grids.append(splat(torch.as_tensor(g), offset, cell, GRID_BINS[options.mode]).to(dev))
    grids = smooth_keys(grids, options.smooth_passes)
    prior_grid = prior(grids)
    out = np.empty((*gray.shape, 3), np.uint8)
    key_positions = [float(k) for k in keys]
    for z, g in enumerate(gray):
        if cancel is not None and cancel():
            raise CancelledError("cancelled")
        g_t = torch.as_tensor(g, device=dev)
        offset = blend(float(z), key_positions, grids, prior_grid, g_t, cell)
        rgb, _ = with_luma((g_t + offset)[None], g_t[None, None])
        out[z] = (rgb[0].permute(1, 2, 0) * 255).round().byte().cpu().numpy()
        notify(Progress("propagate", z + 1, len(gray), f"slice {z + 1}/{len(gray)}"))
    return out


def _colour_keys(gray_keys: np.ndarray, ref: np.ndarray, centres: np.ndarray | None, options: Options,
                 notify: ProgressFn, cancel: CancelFn | None, clock: Stopwatch) -> tuple[np.ndarray, str, str]:
    """(B, H, W) key slices -> (B, H, W, 3) uint8 colour with the input's luma, one reference and centre set."""
    if options.mode == "preview":
        from MedColorLib.baselines.transfers import cluster_histogram
        with clock("key slices"):
            rgb = np.stack([np.round(cluster_histogram(g, ref, options.k) * 255).astype(np.uint8) for g in gray_keys])
        notify(Progress("key slices", len(gray_keys), len(gray_keys), "per-cluster chroma matching"))
        return rgb, "none (preview: no network)", "cpu"
    # never above the slice size, never below the engine's minimum (a 20-px slice is optimised at 48 px)
    opts = replace(options, size=max(LIMITS["size"][0], min(options.size, max(gray_keys.shape[1:]))))
    return optimise_slices(gray_keys, ref, opts, centres, len(gray_keys), "key slices", notify, cancel, clock)
