"""Volumes through the modes (flicker, context spread, per-slice figures), and the warm-start chain."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from MedColorLib.baselines.transfers import BASELINES
from MedColorLib.errors import MedColorError
from MedColorLib.evaluation.config import FIGURES, VOLUME_MODES, Log, Settings
from MedColorLib.evaluation.pairs import describe_entry, figures, network_for
from MedColorLib.options import Options


# ------------------------------------------------------------------------------------------ volumes

def load_volume(entry: dict):
    """The entry's volume cropped to its axial ``slices`` [start, stop) and subsampled in-plane by ``stride``."""
    from MedColorLib import prepare
    from MedColorLib.io.volumes import read_volume
    vol = read_volume(entry["target"])
    axis = prepare.check_volume(vol)
    arr = np.moveaxis(vol.array, axis, 0)
    start, stop = entry.get("slices", [0, arr.shape[0]])
    stride = int(entry.get("stride", 1))
    arr = arr[start:stop, ::stride, ::stride]
    if arr.shape[0] < 2 or min(arr.shape[1:]) < 32:
        raise MedColorError(f"volume {entry['name']!r}: the crop {arr.shape} leaves fewer than 2 slices or < 32 px")
    spacing = tuple(s if 2 - n == axis else s * stride for n, s in enumerate(vol.spacing))
    return replace(vol, array=np.ascontiguousarray(np.moveaxis(arr, 0, axis)), spacing=spacing)


def display_stack(array: np.ndarray, volume) -> np.ndarray:
    """Slices of an array in the volume's layout (scalar or RGBA) -> (S, H, W[, C]) in display orientation."""
    from MedColorLib import prepare
    axis = prepare.axial_axis(volume.direction)
    view = prepare.slice_view(volume.direction, axis)
    return np.stack([prepare.to_display(s, view) for s in prepare.iter_slices(array, axis)])


def volume_gray(volume, window) -> tuple[np.ndarray, np.ndarray]:
    """(gray (S, H, W) in [0, 1], air (S, H, W) bool) with the pipeline's window and air mask."""
    from MedColorLib import prepare
    from MedColorLib.pipeline.volume import display_slices
    axis = prepare.axial_axis(volume.direction)
    low, high, _ = prepare.choose_window(volume, window)
    return display_slices(volume.array, axis, prepare.slice_view(volume.direction, axis), low, high)


def mode_variant(spec: str | dict, settings: Settings, slices: int) -> tuple[str, Options]:
    """A volume mode: "paper" | "volume" | "preview" or {"label", "mode", "key_slices": N | "all", ...}."""
    spec = {"mode": spec} if isinstance(spec, str) else dict(spec)
    mode = spec.pop("mode", "volume")
    if mode not in VOLUME_MODES:
        raise MedColorError(f"unknown volume mode {mode!r}; choose one of {', '.join(VOLUME_MODES)}")
    label = spec.pop("label", mode)
    keys = spec.pop("key_slices", settings.key_slices)
    changes = {"key_slices": slices if keys == "all" else int(keys)}
    if "iterations" in spec:
        changes["iterations"] = tuple(spec.pop("iterations"))
    if spec:
        raise MedColorError(f"volume mode {label!r}: unknown key {sorted(spec)[0]!r}")
    return label, settings.options(mode, **changes)


def volume_records(entry: dict, gray: np.ndarray, air: np.ndarray, ref: np.ndarray,
                   results: dict, settings: Settings) -> list[dict]:
    """Per method: 2-D figures averaged over metric slices, flicker, context spread, seconds per slice."""
    from MedColorLib.pipeline.volume import key_slice_indices
    from MedColorLib.metrics.truth import delta_e_ab
    from MedColorLib.metrics.volume import context_spread, flicker
    picks = key_slice_indices(air, settings.metric_slices)
    paper = results.get("paper", (None,))[0]
    records = []
    for method, (rgb, seconds) in results.items():
        rows = [figures(rgb[i], gray[i], ref, air[i]) for i in picks]
        mean = {name: _mean([r[name] for r in rows]) for name in FIGURES}
        # how far each method's colours are from paper mode's, over tissue of every slice (issue 11, part 4)
        mean["delta_e_to_paper"] = None if paper is None else _mean(
            [delta_e_ab(rgb[i] / 255.0, paper[i] / 255.0, ~air[i]) for i in range(len(gray)) if (~air[i]).any()])
        records.append({**describe_entry(entry), "section": "volume", "method": method, "slices": len(gray),
                        "shape": list(gray.shape), **mean, "seconds_per_slice": seconds,
                        "flicker": flicker(rgb, gray, ~air), "context_spread": context_spread(rgb, gray, ~air)})
    return records


def _mean(values: list) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def evaluate_volume(entry: dict, settings: Settings, log: Log) -> tuple[list[dict], dict]:
    """One cropped volume through its modes and the baselines (slice by slice) -> (records, images)."""
    from MedColorLib.io.images import load_reference
    from MedColorLib.pipeline.volume import colorize_volume
    vol, ref = load_volume(entry), load_reference(entry["reference"])
    gray, air = volume_gray(vol, entry.get("window"))
    log(f"volume {entry['name']}: {gray.shape[0]} slices of {gray.shape[1]}x{gray.shape[2]}")
    results = {}
    for spec in entry.get("modes", list(VOLUME_MODES)):
        label, opts = mode_variant(spec, settings, len(gray))
        res = colorize_volume(vol, opts, reference=ref, window=entry.get("window"))
        results[label] = (display_stack(res.rgba, vol)[..., :3], res.report["seconds_per_slice"])
        log(f"  {label}: {results[label][1]:.2f} s/slice")
    for name in entry.get("baselines", list(BASELINES)):
        t0 = time.perf_counter()
        rgb = np.stack([np.round(BASELINES[name](g, ref) * 255).astype(np.uint8) for g in gray])
        results[name] = (rgb, (time.perf_counter() - t0) / len(gray))
    mid = len(gray) // 2
    images = {"input": gray[mid], "reference": ref, **{m: rgb[mid] for m, (rgb, _) in results.items()}}
    return volume_records(entry, gray, air, ref, results, settings), images


def evaluate_volumes(config: dict, log: Log) -> tuple[list[dict], dict]:
    """Every volume entry -> (records, {volume: images of its middle slice})."""
    records, images = [], {}
    for entry in config["volumes"]:
        r, images[entry["name"]] = evaluate_volume(entry, config["settings"], log)
        records += r
    return records, images


def evaluate_warm_start(config: dict, nets: dict, log: Log) -> list[dict]:
    """A chain of consecutive slices in paper mode with one centre set: warm starts vs independent starts."""
    from MedColorLib.io.images import load_reference
    from MedColorLib.engine.masks import fit_centres
    from MedColorLib.engine.slices import colorize_slices
    spec, settings = config.get("warm_start") or {}, config["settings"]
    entry = next((v for v in config["volumes"] if v["name"] == spec.get("volume")), None)
    if entry is None:
        return []
    vol, ref = load_volume(entry), load_reference(entry["reference"])
    gray, air = volume_gray(vol, entry.get("window"))
    n = min(int(spec.get("slices", 4)), len(gray))
    first = max(0, len(gray) // 2 - n // 2)
    gray, air = gray[first:first + n], air[first:first + n]
    opts = settings.options("paper", iterations=tuple(spec.get("iterations", settings.iterations)))
    centres, net = fit_centres(gray[~air], settings.k, seed=settings.seed), network_for(nets, opts)
    results, t0, prev, chain = {}, time.perf_counter(), None, []
    for g in gray:   # warm: each slice starts from the previous slice's optimised image
        res = colorize_slices(net, g[None], ref, opts, centres=centres, start=prev)
        prev, chain = res.optimised, chain + [res.rgb[0]]
    results["warm start (chain)"] = (np.stack(chain), (time.perf_counter() - t0) / n)
    t0 = time.perf_counter()   # cold: the same slices from the paper's noise start (one batch)
    results["no warm start"] = (colorize_slices(net, gray, ref, opts, centres=centres).rgb, (time.perf_counter() - t0) / n)
    log(f"  warm start: {results['warm start (chain)'][1]:.2f} vs {results['no warm start'][1]:.2f} s/slice")
    sub = replace(settings, metric_slices=n)
    records = volume_records(entry, gray, air, ref, results, sub)
    return [{**r, "section": "warm_start", "iterations": list(opts.iterations)} for r in records]
