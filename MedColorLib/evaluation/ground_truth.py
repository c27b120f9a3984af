"""The ground-truth benchmark: a real colour image X is turned gray, colorized from another image R of the same
kind, and the output is compared with X itself (metrics/truth.py), for every method.

The configuration's ``ground_truth`` section: ``methods`` (``gray`` = no colour, the classical baselines,
``paper`` = MedColor's paper mode with the evaluation's settings, or {"label", "mode": "paper", <Options
field>: value, "loss": {<LossWeights field>: value}} for a variant) and ``pairs``: {"name", "kind": real |
pseudo, "modality", "truth": SOURCE, "reference": SOURCE}. A SOURCE is {"image": path, "crop": [top, left,
bottom, right] as fractions of the height and width} or {"mni": appearance, "view": axial | coronal, "mm":
level}, one of MedColor's own MNI152 pseudo-colour renderings (reference/default_library.py). The truth is
resized so that its longer side is the settings' ``side``; the reference's longer side is at most
``reference_side``.
"""

from __future__ import annotations

import time
from dataclasses import fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from MedColorLib.baselines.transfers import BASELINES
from MedColorLib.engine.color import luma_np
from MedColorLib.errors import MedColorError
from MedColorLib.evaluation.config import Log, Settings
from MedColorLib.evaluation.pairs import network_for
from MedColorLib.io.pictures import labelled_tile, side_by_side
from MedColorLib.metrics.truth import truth_summary
from MedColorLib.options import LossWeights, Options

FIGURES = ("delta_e_ab", "delta_e_tissue", "colourfulness_ratio", "ssim_gray", "air_chroma", "out_of_gamut",
           "seconds")
DEFAULT_METHODS = ("gray", *BASELINES, "paper")
KINDS = ("real", "pseudo")
MNI_VIEWS = ("axial", "coronal")
_OPTION_FIELDS = {f.name for f in fields(Options)} - {"loss", "mode"}
_LOSS_FIELDS = {f.name for f in fields(LossWeights)}


# ------------------------------------------------------------------------------------------ configuration

def check_section(config: dict, root: Path) -> dict | None:
    """The loaded ``ground_truth`` section (methods as dicts, sources with resolved paths), or None."""
    raw = config.get("ground_truth")
    if not raw:
        return None
    if isinstance(raw, dict) and raw.get("checked"):
        return raw
    if not isinstance(raw, dict) or not raw.get("pairs"):
        raise MedColorError("'ground_truth' must be an object with a non-empty 'pairs' list")
    methods = [_method(m) for m in raw.get("methods", DEFAULT_METHODS)]
    labels = [m["label"] for m in methods]
    if len(set(labels)) != len(labels):
        raise MedColorError(f"ground_truth: two methods share the label {next(x for x in labels if labels.count(x) > 1)!r}")
    return {"checked": True, "methods": methods, "pairs": [_pair(p, root) for p in raw["pairs"]]}


def _method(raw) -> dict:
    """A method as {"label", "kind": gray | baseline | medcolor, "changes": Options changes}."""
    if isinstance(raw, str) and (raw == "gray" or raw in BASELINES):
        return {"label": raw, "kind": "gray" if raw == "gray" else "baseline", "changes": {}}
    if raw == "paper":
        return {"label": "paper", "kind": "medcolor", "changes": {}}
    if not isinstance(raw, dict) or "label" not in raw:
        raise MedColorError(f"unknown ground_truth method {raw!r}; choose gray, {', '.join(BASELINES)}, paper "
                            "or an object {\"label\": ..., \"mode\": \"paper\", <option>: value}")
    if raw.get("mode", "paper") != "paper":
        raise MedColorError(f"ground_truth method {raw['label']!r}: only the paper mode colorizes 2-D images")
    changes = {k: v for k, v in raw.items() if k not in ("label", "mode", "start")}
    if raw.get("start", "gray") not in ("gray", *BASELINES):
        raise MedColorError(f"ground_truth method {raw['label']!r}: start must be gray or a baseline")
    bad = sorted(set(changes) - _OPTION_FIELDS - {"loss"}) or sorted(set(changes.get("loss", {})) - _LOSS_FIELDS)
    if bad:
        raise MedColorError(f"ground_truth method {raw['label']!r}: unknown setting {bad[0]!r}")
    if "iterations" in changes:
        changes["iterations"] = tuple(int(v) for v in changes["iterations"])
    if "loss" in changes:
        changes["loss"] = replace(LossWeights(), **{k: tuple(v) if isinstance(v, list) else v
                                                    for k, v in changes["loss"].items()})
    return {"label": str(raw["label"]), "kind": "medcolor", "changes": changes, "start": raw.get("start", "gray")}


def _pair(raw: dict, root: Path) -> dict:
    missing = [k for k in ("name", "kind", "truth", "reference") if k not in raw]
    if missing:
        raise MedColorError(f"ground_truth pair {raw.get('name', raw)!r} lacks the key {missing[0]!r}")
    if raw["kind"] not in KINDS:
        raise MedColorError(f"ground_truth pair {raw['name']!r}: kind must be real or pseudo, got {raw['kind']!r}")
    return {**raw, "modality": raw.get("modality", ""),
            "truth": _source(raw["truth"], root, raw["name"]), "reference": _source(raw["reference"], root, raw["name"])}


def _source(raw: dict, root: Path, name: str) -> dict:
    """A checked image source: {"image": Path, "crop": (t, l, b, r)} or {"mni": str, "view": str, "mm": int}."""
    if isinstance(raw, dict) and "mni" in raw:
        from MedColorLib.evaluation.mni_fixture import APPEARANCE
        if raw["mni"] not in APPEARANCE or raw.get("view", "axial") not in MNI_VIEWS:
            raise MedColorError(f"ground_truth pair {name!r}: MNI source needs an appearance of "
                                f"{', '.join(APPEARANCE)} and a view of {', '.join(MNI_VIEWS)}")
        return {"mni": raw["mni"], "view": raw.get("view", "axial"), "mm": int(raw.get("mm", 8))}
    if not isinstance(raw, dict) or "image" not in raw:
        raise MedColorError(f"ground_truth pair {name!r}: a source is {{\"image\": path, \"crop\": [t, l, b, r]}} "
                            "or {\"mni\": appearance, \"view\": ..., \"mm\": ...}")
    path = (root / raw["image"]).resolve()
    if not path.exists():
        raise MedColorError(f"ground_truth pair {name!r}: image {raw['image']} not found (resolved to {path})")
    crop = tuple(float(v) for v in raw.get("crop", (0, 0, 1, 1)))
    if len(crop) != 4 or not (0 <= crop[0] < crop[2] <= 1 and 0 <= crop[1] < crop[3] <= 1):
        raise MedColorError(f"ground_truth pair {name!r}: crop must be [top, left, bottom, right] fractions "
                            f"with top < bottom and left < right, got {list(crop)}")
    return {"image": path, "crop": crop}


# ------------------------------------------------------------------------------------------------ images

@lru_cache(maxsize=1)
def _mni_volumes():
    from MedColorLib.reference.default_library import _load_mni
    return _load_mni()


def source_rgb(source: dict) -> np.ndarray:
    """The (h, w, 3) float32 RGB image of a source, cropped."""
    if "mni" in source:
        from MedColorLib.evaluation.mni_fixture import render_slice
        from MedColorLib.reference.default_library import _plane
        t1, gm, wm, affine = _mni_volumes()
        planes = [_plane(v, source["view"], source["mm"], np.linalg.inv(affine)) for v in (t1, gm, wm)]
        return render_slice(*planes, appearance=source["mni"]).astype(np.float32) / 255
    from MedColorLib.io.images import load_reference
    rgb = load_reference(source["image"])
    h, w = rgb.shape[:2]
    t, l, b, r = source["crop"]
    return rgb[round(t * h):round(b * h), round(l * w):round(r * w)]


def fit(rgb: np.ndarray, longest: int, only_shrink: bool = False) -> np.ndarray:
    """(h, w, 3) float RGB resized (Lanczos on 8 bit) so that its longer side is ``longest`` px."""
    scale = longest / max(rgb.shape[:2])
    if only_shrink and scale >= 1:
        return rgb
    size = (max(32, round(rgb.shape[1] * scale)), max(32, round(rgb.shape[0] * scale)))
    img = Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)).resize(size, Image.LANCZOS)
    return np.asarray(img, np.float32) / 255


def load_truth_pair(pair: dict, settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth (H, W, 3) float32 on the 8-bit grid, its gray (H, W) float32, reference RGB float32)."""
    truth = fit(source_rgb(pair["truth"]), settings.side)
    ref = fit(source_rgb(pair["reference"]), settings.reference_side, only_shrink=True)
    return truth, luma_np(truth).astype(np.float32).clip(0, 1), ref


# ----------------------------------------------------------------------------------------------- running

def run_method(method: dict, gray: np.ndarray, ref: np.ndarray, settings: Settings,
               nets: dict) -> tuple[np.ndarray, float | None]:
    """One method on one gray image -> ((H, W, 3) uint8, out-of-gamut fraction or None)."""
    if method["kind"] == "gray":
        return np.repeat(np.round(gray * 255).astype(np.uint8)[..., None], 3, -1), None
    if method["kind"] == "baseline":
        return np.round(BASELINES[method["label"]](gray, ref) * 255).astype(np.uint8), None
    from MedColorLib.engine.slices import colorize_slices, resize_batch
    opts = settings.options("paper", **method["changes"])
    net, start = network_for(nets, opts), None
    if method.get("start", "gray") != "gray":  # the optimisation starts from a classical transfer's colours
        start = resize_batch(BASELINES[method["start"]](gray, ref)[None], opts.size, next(net.parameters()).device)
    res = colorize_slices(net, gray[None], ref, opts, start=start)
    return res.rgb[0], float(res.out_of_gamut[0].mean())


def evaluate_ground_truth(config: dict, nets: dict, log: Log) -> tuple[list[dict], dict]:
    """Every method on every ground-truth pair -> (records, {pair: {"truth", "reference", "gray", method: rgb}})."""
    section, settings = config.get("ground_truth"), config["settings"]
    if not section:
        return [], {}
    log(f"ground truth: {len(section['pairs'])} pairs, truth at {settings.side} px")
    records, images = [], {}
    for pair in section["pairs"]:
        truth, gray, ref = load_truth_pair(pair, settings)
        images[pair["name"]] = {"truth": truth, "reference": ref, "gray": gray}
        for method in section["methods"]:
            t0 = time.perf_counter()
            rgb, oog = run_method(method, gray, ref, settings, nets)
            seconds = time.perf_counter() - t0
            images[pair["name"]][method["label"]] = rgb
            records.append({"section": "ground_truth", "pair": pair["name"], "kind": pair["kind"],
                            "modality": pair["modality"], "method": method["label"], "method_kind": method["kind"],
                            **truth_summary(rgb / 255.0, truth, oog), "seconds": seconds})
            log(f"  {pair['name']} {method['label']}: Delta E {records[-1]['delta_e_ab']:.2f} ({seconds:.1f} s)")
    return records, images


# ------------------------------------------------------------------------------------------------ report

def wins(records: list[dict], method: str) -> tuple[int, int, float | None]:
    """(pairs where method's Delta E is below every baseline's, pairs, mean change vs the best baseline's mean)."""
    by_pair: dict[str, dict[str, float]] = {}
    for r in records:
        by_pair.setdefault(r["pair"], {})[r["method"]] = r["delta_e_ab"]
    base = [b for b in BASELINES if all(b in v for v in by_pair.values())]
    won = sum(1 for v in by_pair.values() if method in v and all(v[method] < v[b] for b in base))
    if not base or not all(method in v for v in by_pair.values()):
        return won, len(by_pair), None
    best = min(np.mean([v[b] for v in by_pair.values()]) for b in base)
    return won, len(by_pair), float(np.mean([v[method] for v in by_pair.values()]) / best - 1)


def markdown_section(records: list[dict], montages: list[Path], out_dir: Path) -> list[str]:
    """The per-pair Delta E table, the mean figures per method, the win count, and the montages."""
    if not records:
        return []
    methods = list(dict.fromkeys(r["method"] for r in records))
    pairs = list(dict.fromkeys(r["pair"] for r in records))
    cell = {(r["pair"], r["method"]): r for r in records}
    lines = ["", "## Colours against the truth (Delta E_ab over a*b*, lower is better)", "", GT_EXPLAIN, "",
             "| pair | kind | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for p in pairs:
        values = [cell[(p, m)]["delta_e_ab"] for m in methods]
        best = min(values)
        cells = [f"**{v:.1f}**" if v == best else f"{v:.1f}" for v in values]
        lines.append(f"| {p} | {cell[(p, methods[0])]['kind']} | " + " | ".join(cells) + " |")
    means = [np.mean([cell[(p, m)]["delta_e_ab"] for p in pairs]) for m in methods]
    lines.append("| **mean** | | " + " | ".join(f"**{v:.2f}**" if v == min(means) else f"{v:.2f}" for v in means) + " |")
    lines += ["", "| method | " + " | ".join(FIGURE_HEADINGS[f] for f in FIGURES) + " |", "|---|" + "---|" * len(FIGURES)]
    for m in methods:
        row = [_mean([cell[(p, m)].get(f) for p in pairs]) for f in FIGURES]
        lines.append(f"| {m} | " + " | ".join("—" if v is None else f"{v:.{DIGITS.get(f, 2)}f}"
                                             for f, v in zip(FIGURES, row)) + " |")
    for m in (m for m in methods if cell[(pairs[0], m)]["method_kind"] == "medcolor"):
        won, n, change = wins(records, m)
        vs = "" if change is None else f"; mean Delta E {change:+.0%} against the best baseline's mean"
        lines.append(f"\n**{m}**: lower Delta E than every baseline on {won} of {n} pairs{vs}.")
    lines += ["", "Montages: truth | reference | gray input | each method.", ""]
    lines += [f"![{p.stem}]({p.relative_to(out_dir).as_posix()})" for p in montages]
    return lines


def _mean(values: list) -> float | None:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


FIGURE_HEADINGS = {"delta_e_ab": "Delta E_ab", "delta_e_tissue": "Delta E (no air)", "seconds": "s/pair",
                   "colourfulness_ratio": "colourfulness out/truth", "ssim_gray": "SSIM(gray)",
                   "air_chroma": "air chroma", "out_of_gamut": "out of gamut"}
DIGITS = {"ssim_gray": 4, "air_chroma": 4, "out_of_gamut": 3}

GT_EXPLAIN = """Each truth is a real colour image (or one of MedColor's own pseudo-colour renderings); its BT.601 gray
is the input, the reference is a *different* image of the same kind, and each output is compared with the
truth: Delta E_ab = mean CIELAB chroma distance sqrt(da*^2 + db*^2) (scikit-image, D65) over all pixels (and
outside air, "no air"); colourfulness out/truth (Hasler-Süsstrunk, 1 = as colourful as the truth); SSIM(gray)
between gray(output) and the input (1 = luma kept); air chroma = mean (Cb, Cr) magnitude where the input is
darker than 0.05 (0 = neutral); out of gamut = fraction of pixels whose chroma the imaging step scaled down
to keep the input's luma (MedColor only). `gray` is the input itself (no colour). Best per pair in bold."""


def write_montages(images: dict, folder: Path) -> list[Path]:
    """One PNG per pair: truth | reference | gray | each method, labelled."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, imgs in images.items():
        order = ["truth", "reference", "gray", *(k for k in imgs if k not in ("truth", "reference", "gray"))]
        path = folder / f"truth_{name}.png"
        side_by_side([labelled_tile(imgs[k], k) for k in order], background=(255, 255, 255)).save(path, optimize=True)
        paths.append(path)
    return paths
