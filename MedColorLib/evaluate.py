"""``medcolor evaluate``: target/reference pairs through MedColor's modes and the classical baselines,
the paper's ablations, and every figure as one JSON-safe dict (the report is evaluate_report.py).

A configuration is a JSON file (see bench/eval_default.json): ``settings`` (engine settings, each one
overridable from the command line), ``methods`` for 2-D pairs, ``pairs`` (2-D slices), ``volumes``
(cropped volumes and their modes), ``ablations`` (loss terms, gamma, lambda/gamma, aY on one pair) and
``warm_start`` (a slice chain with and without warm starts). Relative paths resolve against ``root``
(itself relative to the configuration's folder; default: that folder).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from . import metrics
from .baselines import BASELINES
from .errors import MedColorError
from .options import LossWeights, Options

FIGURES = ("ssim_gray", "psnr_gray", "fsim", "entropy", "colourfulness", "chroma_distance", "air_chroma")
VOLUME_FIGURES = ("flicker", "context_spread", "seconds_per_slice")
MODE_METHODS = ("paper", "paper+finetuned")
VOLUME_MODES = ("paper", "volume", "preview")
Log = Callable[[str], None]


@dataclass
class Settings:
    """Engine and evaluation settings shared by every run of one evaluation."""

    weights: str = "random"
    device: str = "cpu"
    size: int = 64                          # optimisation size (paper: 224)
    iterations: tuple[int, int] = (4, 4)    # L-BFGS stage 1, 2 (paper: 1000, 1000)
    seed: int = 0
    k: int = 4
    side: int = 128                         # 2-D targets: centre square resized to side x side
    reference_side: int = 256               # references: longer side at most this
    key_slices: int = 3                     # volume mode
    metric_slices: int = 4                  # volumes: 2-D figures averaged over this many tissue slices
    postfilter: bool = True
    finetuned: str | None = None            # a fine-tuned state dict: adds the "paper+finetuned" method

    def options(self, mode: str = "paper", **changes) -> Options:
        """Engine options for these settings; changes override fields (loss=LossWeights(...), ...)."""
        base = Options(mode=mode, weights=self.weights, device=self.device, size=self.size,
                       iterations=tuple(self.iterations), seed=self.seed, k=self.k, key_slices=self.key_slices,
                       postfilter=self.postfilter)
        return replace(base, **changes).check()


# ------------------------------------------------------------------------------------ configuration
def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    """Read and check a configuration; overrides (non-None values) replace its settings."""
    path = Path(path)
    if not path.is_file():
        raise MedColorError(f"evaluation configuration not found: {path}")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f"line {getattr(err, 'lineno', '?')}"
        raise MedColorError(f"{path} is not valid JSON ({err.__class__.__name__} at {where})") from None
    if not isinstance(config, dict):
        raise MedColorError(f"{path} must hold a JSON object with 'pairs' and/or 'volumes'")
    root = (path.parent / config.get("root", ".")).resolve()
    config["settings"] = settings_from(config.get("settings", {}), overrides or {})
    config["methods"] = check_methods(config.get("methods", ["paper", *BASELINES]), config["settings"])
    config["pairs"] = [_entry(p, root, "pair") for p in config.get("pairs", [])]
    config["volumes"] = [_entry(v, root, "volume") for v in config.get("volumes", [])]
    if not config["pairs"] and not config["volumes"]:
        raise MedColorError(f"{path} lists no 'pairs' and no 'volumes'; nothing to evaluate")
    config["source"] = str(path)
    return config


def settings_from(raw: dict, overrides: dict) -> Settings:
    """Settings from a config dict plus overrides; unknown keys -> MedColorError."""
    known = {f.name for f in fields(Settings)}
    merged = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise MedColorError(f"unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
    if "iterations" in merged:
        merged["iterations"] = tuple(int(v) for v in merged["iterations"])
    settings = Settings(**merged)
    settings.options()  # checks size, iterations, device, k
    return settings


def check_methods(methods: list, settings: Settings) -> list[str]:
    """Known 2-D methods, plus paper+finetuned when a fine-tuned state dict is given."""
    bad = [m for m in methods if m not in (*MODE_METHODS, *BASELINES)]
    if bad:
        raise MedColorError(f"unknown method {bad[0]!r}; choose from {', '.join((*MODE_METHODS, *BASELINES))}")
    if settings.finetuned and "paper+finetuned" not in methods:
        methods = [*methods, "paper+finetuned"]
    return list(methods)


def _entry(raw: dict, root: Path, kind: str) -> dict:
    """A pair or volume entry with resolved, existing paths and its required keys."""
    missing = [k for k in ("name", "modality", "target", "reference") if k not in raw]
    if missing:
        raise MedColorError(f"{kind} entry {raw.get('name', raw)!r} lacks the key {missing[0]!r}")
    entry = dict(raw)
    for key in ("target", "reference"):
        p = (root / raw[key]).resolve()
        if not p.exists():
            raise MedColorError(f"{kind} {raw['name']!r}: {key} {raw[key]} not found (resolved to {p})")
        entry[key] = p
    entry.setdefault("reference_kind", "real")
    return entry


# ------------------------------------------------------------------------------------------ images
def resize_gray(gray: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float gray -> (h, w) float32 in [0, 1], antialiased bicubic."""
    img = Image.fromarray(np.asarray(gray, np.float32), mode="F").resize((shape[1], shape[0]), Image.BICUBIC)
    return np.clip(np.asarray(img, np.float32), 0, 1)


def square_gray(gray: np.ndarray, side: int) -> np.ndarray:
    """The centre square of a gray image resized to side x side."""
    h, w = gray.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return resize_gray(gray[top:top + s, left:left + s], (side, side))


def load_pair(entry: dict, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(gray side x side, reference RGB float32 with the longer side <= reference_side)."""
    from .io2d import read_gray
    from .library import load_reference
    gray = square_gray(read_gray(entry["target"]), settings.side)
    ref = load_reference(entry["reference"])
    scale = settings.reference_side / max(ref.shape[:2])
    if scale < 1:
        size = (max(16, round(ref.shape[1] * scale)), max(16, round(ref.shape[0] * scale)))
        ref = np.asarray(Image.fromarray(np.round(ref * 255).astype(np.uint8)).resize(size, Image.LANCZOS),
                         np.float32) / 255
    return gray, ref


def figures(rgb: np.ndarray, gray: np.ndarray, ref: np.ndarray, air: np.ndarray | None = None) -> dict:
    """metrics.summary plus FSIM for one (H, W, 3) uint8 or float result."""
    out = rgb / 255.0 if rgb.dtype == np.uint8 else np.asarray(rgb, np.float64)
    return {**metrics.summary(out, gray, ref, air_mask=air), "fsim": metrics.fsim(out, gray)}


# ---------------------------------------------------------------------------------------- 2-D runs
def run_methods(grays: np.ndarray, refs: list[np.ndarray], methods: list[str], settings: Settings,
                nets: dict, log: Log) -> dict[str, tuple[np.ndarray, float]]:
    """Every method on a stack of same-size slices -> {method: ((B, H, W, 3) uint8, seconds per slice)}."""
    out = {}
    for method in methods:
        t0 = time.perf_counter()
        if method in BASELINES:
            rgb = np.stack([np.round(BASELINES[method](g, r) * 255).astype(np.uint8) for g, r in zip(grays, refs)])
        else:
            rgb = paper_batch(grays, refs, settings, nets, finetuned=method == "paper+finetuned")
        out[method] = (rgb, (time.perf_counter() - t0) / len(grays))
        log(f"  {method}: {out[method][1]:.2f} s/slice")
    return out


def paper_batch(grays: np.ndarray, refs: list[np.ndarray], settings: Settings, nets: dict,
                finetuned: bool = False, **changes) -> np.ndarray:
    """The paper mode on a batch of slices (one reference each) -> (B, H, W, 3) uint8."""
    from .pipeline2d import colorize_slices
    weights = settings.finetuned if finetuned else settings.weights
    opts = settings.options("paper", weights=weights, **changes)
    return colorize_slices(network_for(nets, opts), grays, refs, opts).rgb


def network_for(nets: dict, options: Options):
    """One frozen network per weights choice, built on first use and kept in the caller's cache."""
    from .pipeline2d import network
    if options.weights not in nets:
        nets[options.weights] = network(options)
    return nets[options.weights]


def evaluate_pairs(config: dict, nets: dict, log: Log) -> tuple[list[dict], dict]:
    """All 2-D pairs (batched: they share one size) -> (records, {pair: {method: rgb}} for montages)."""
    pairs, settings = config["pairs"], config["settings"]
    if not pairs:
        return [], {}
    loaded = [load_pair(p, settings) for p in pairs]
    grays = np.stack([g for g, _ in loaded])
    refs = [r for _, r in loaded]
    log(f"2-D: {len(pairs)} pairs at {settings.side} px")
    results = run_methods(grays, refs, config["methods"], settings, nets, log)
    records, images = [], {}
    for i, (pair, (gray, ref)) in enumerate(zip(pairs, loaded)):
        images[pair["name"]] = {"input": gray, "reference": ref, **{m: rgb[i] for m, (rgb, _) in results.items()}}
        for method, (rgb, seconds) in results.items():
            records.append({**_describe(pair), "section": "2d", "method": method, "seconds_per_slice": seconds,
                            **figures(rgb[i], gray, ref)})
    return records, images


def _describe(entry: dict) -> dict:
    return {"pair": entry["name"], "modality": entry["modality"], "reference_kind": entry["reference_kind"],
            "reference": entry["reference"].name, "target": entry["target"].name}


# ---------------------------------------------------------------------------------------- ablations
def ablation_variants(spec: dict) -> list[tuple[str, str, dict]]:
    """(group, label, LossWeights changes) for the paper's ablations; the full default loss comes first."""
    d = LossWeights()
    out = [("reference", f"full loss (gamma={d.swap:g}, lambda={d.luma:g}, aY={d.luma_l1:g})", {})]
    if spec.get("loss_combinations", True):   # Fig. 13/14: the other weights set to 0
        out += [("loss terms (Fig. 13/14)", "colour + Y", {"content": 0.0, "swap": 0.0}),
                ("loss terms (Fig. 13/14)", "colour + Y + swap", {"content": 0.0})]
    out += [("gamma (Table 1)", f"gamma={g:g}", {"swap": float(g)}) for g in spec.get("gamma", [1, 100])]
    out += [("lambda/gamma (Table 2)", f"lambda/gamma={r:g} (lambda={r * d.swap:g})", {"luma": float(r) * d.swap})
            for r in spec.get("ratio", [1e2, 1e4])]
    out += [("aY (Fig. 8)", f"aY={a:g}", {"luma_l1": float(a)}) for a in spec.get("luma_l1", [1.0])]
    return out


def evaluate_ablations(config: dict, nets: dict, log: Log) -> tuple[list[dict], dict]:
    """Each ablation variant of the paper mode on the chosen pairs (batched) -> (records, images)."""
    spec, settings = config.get("ablations") or {}, config["settings"]
    names = spec.get("pairs", [p["name"] for p in config["pairs"][:1]])
    pairs = [p for p in config["pairs"] if p["name"] in names]
    if not spec or spec.get("enabled", True) is False or not pairs:
        return [], {}
    loaded = [load_pair(p, settings) for p in pairs]
    grays, refs = np.stack([g for g, _ in loaded]), [r for _, r in loaded]
    iterations = tuple(spec.get("iterations", settings.iterations))
    records, images = [], {}
    for group, label, changes in ablation_variants(spec):
        t0 = time.perf_counter()
        rgb = paper_batch(grays, refs, settings, nets, iterations=iterations, loss=replace(LossWeights(), **changes))
        seconds = (time.perf_counter() - t0) / len(grays)
        log(f"  ablation {label}: {seconds:.2f} s/slice")
        for i, (pair, (gray, ref)) in enumerate(zip(pairs, loaded)):
            images.setdefault(pair["name"], {"input": gray, "reference": ref})[label] = rgb[i]
            records.append({**_describe(pair), "section": "ablation", "group": group, "method": label,
                            "loss": changes, "iterations": list(iterations), "seconds_per_slice": seconds,
                            **figures(rgb[i], gray, ref)})
    return records, images


def run_evaluation(config: dict, log: Log | None = None) -> dict:
    """Every section of a loaded configuration -> {"records", "images", "settings", "seconds", ...}."""
    log = log or (lambda s: None)
    t0, nets = time.perf_counter(), {}
    records, images = evaluate_pairs(config, nets, log)
    vol_records, vol_images = evaluate_volumes(config, log)
    abl_records, abl_images = evaluate_ablations(config, nets, log)
    warm_records = evaluate_warm_start(config, nets, log)
    labels = {w: n.label for w, n in nets.items()}
    return {"settings": config["settings"], "config": config["source"], "network_labels": labels,
            "records": records + vol_records + abl_records + warm_records,
            "images": {"2d": images, "volumes": vol_images, "ablations": abl_images},
            "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------------ volumes
def load_volume(entry: dict):
    """The entry's volume cropped to its axial ``slices`` [start, stop) and subsampled in-plane by ``stride``."""
    from . import prepare
    from .volume_io import read_volume
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
    from . import prepare
    axis = prepare.axial_axis(volume.direction)
    view = prepare.slice_view(volume.direction, axis)
    return np.stack([prepare.to_display(s, view) for s in prepare.iter_slices(array, axis)])


def volume_gray(volume, window) -> tuple[np.ndarray, np.ndarray]:
    """(gray (S, H, W) in [0, 1], air (S, H, W) bool) with the pipeline's window and air mask."""
    from . import prepare
    from .pipeline import display_slices
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
    from .pipeline import key_slice_indices
    from .volume_metrics import context_spread, flicker
    picks = key_slice_indices(air, settings.metric_slices)
    records = []
    for method, (rgb, seconds) in results.items():
        rows = [figures(rgb[i], gray[i], ref, air[i]) for i in picks]
        mean = {name: _mean([r[name] for r in rows]) for name in FIGURES}
        records.append({**_describe(entry), "section": "volume", "method": method, "slices": len(gray),
                        "shape": list(gray.shape), **mean, "seconds_per_slice": seconds,
                        "flicker": flicker(rgb, gray, ~air), "context_spread": context_spread(rgb, gray, ~air)})
    return records


def _mean(values: list) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def evaluate_volume(entry: dict, settings: Settings, log: Log) -> tuple[list[dict], dict]:
    """One cropped volume through its modes and the baselines (slice by slice) -> (records, images)."""
    from .library import load_reference
    from .pipeline import colorize_volume
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
    from .library import load_reference
    from .masks import fit_centres
    from .pipeline2d import colorize_slices
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


def run_evaluate_logged(config: dict, out_dir: str | Path, name: str, command: str, log: Log) -> dict[str, Path]:
    """Run a loaded configuration and write its report (evaluate_report.write_outputs)."""
    from .evaluate_report import write_outputs
    result = run_evaluation(config, log)
    return write_outputs(result, out_dir, command, name)
