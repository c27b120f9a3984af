"""2-D pairs through MedColor's modes and the classical baselines, and the paper's ablations on one pair."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from PIL import Image

from MedColorLib.metrics import image as metrics
from MedColorLib.baselines.transfers import BASELINES
from MedColorLib.evaluation.config import Log, Settings
from MedColorLib.options import LossWeights, Options


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
    from MedColorLib.io.images import read_gray
    from MedColorLib.io.images import load_reference
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
    from MedColorLib.engine.slices import colorize_slices
    weights = settings.finetuned if finetuned else settings.weights
    opts = settings.options("paper", weights=weights, **changes)
    return colorize_slices(network_for(nets, opts), grays, refs, opts).rgb


def network_for(nets: dict, options: Options):
    """One frozen network per weights choice, built on first use and kept in the caller's cache."""
    from MedColorLib.engine.slices import network
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
            records.append({**describe_entry(pair), "section": "2d", "method": method, "seconds_per_slice": seconds,
                            **figures(rgb[i], gray, ref)})
    return records, images


def describe_entry(entry: dict) -> dict:
    return {"pair": entry["name"], "modality": entry["modality"], "reference_kind": entry["reference_kind"],
            "reference": entry["reference"].name, "target": entry["target"].name}


# ---------------------------------------------------------------------------------------- ablations

# the paper's objective: the ablations vary its terms, so the correspondence anchor (not in the paper) is off
PAPER_LOSS = LossWeights(match=0.0)


def ablation_variants(spec: dict) -> list[tuple[str, str, dict]]:
    """(group, label, LossWeights changes) for the paper's ablations; the paper's full loss comes first."""
    d = PAPER_LOSS
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
        rgb = paper_batch(grays, refs, settings, nets, iterations=iterations, init="input",
                          loss=replace(PAPER_LOSS, **changes))
        seconds = (time.perf_counter() - t0) / len(grays)
        log(f"  ablation {label}: {seconds:.2f} s/slice")
        for i, (pair, (gray, ref)) in enumerate(zip(pairs, loaded)):
            images.setdefault(pair["name"], {"input": gray, "reference": ref})[label] = rgb[i]
            records.append({**describe_entry(pair), "section": "ablation", "group": group, "method": label,
                            "loss": changes, "iterations": list(iterations), "seconds_per_slice": seconds,
                            **figures(rgb[i], gray, ref)})
    return records, images
