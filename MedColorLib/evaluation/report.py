"""The evaluation's outputs: mean +- sd tables, the JSON of all figures, the Markdown report, PNG montages."""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from MedColorLib.evaluation.config import FIGURES, VOLUME_FIGURES, Settings
from MedColorLib.io.pictures import labelled_tile, side_by_side
from MedColorLib.io.report import versions, write_json

TILE = 128          # montage tile height in px
HEADINGS = {"ssim_gray": "SSIM(gray)", "psnr_gray": "PSNR(gray) dB", "fsim": "FSIM", "entropy": "entropy bits",
            "colourfulness": "colourfulness", "chroma_distance": "chroma dist. to ref", "air_chroma": "air chroma",
            "flicker": "flicker", "context_spread": "context spread", "seconds_per_slice": "s/slice",
            "delta_e_to_paper": "Delta E to paper"}

DIGITS = {"psnr_gray": 2, "colourfulness": 2, "seconds_per_slice": 2, "chroma_distance": 4, "air_chroma": 4,
          "flicker": 4, "context_spread": 4, "delta_e_to_paper": 2}


@dataclass
class Aggregate:
    """Mean and sample standard deviation of one figure over n records (None values skipped)."""

    mean: float | None
    sd: float | None
    n: int = 0
    values: list = field(default_factory=list, repr=False)

    def text(self, digits: int = 3) -> str:
        """'m +- sd' (sd only when n > 1), or an em dash when there is no value."""
        if self.mean is None:
            return "—"
        m = f"{self.mean:.{digits}f}"
        return m if self.n < 2 else f"{m} ± {self.sd:.{digits}f}"


def mean_sd(values: list) -> Aggregate:
    """Mean and sample sd (ddof=1; 0 for one value) of the finite values; None when there are none."""
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return Aggregate(None, None, 0)
    sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
    return Aggregate(float(np.mean(finite)), sd, len(finite), finite)


def aggregate(records: list[dict], keys: tuple[str, ...], figure_names: tuple[str, ...]) -> list[dict]:
    """Group records by keys (first-seen order) -> rows {key: value, ..., "n": count, figure: Aggregate}."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    rows = []
    for key, members in groups.items():
        row = dict(zip(keys, key)) | {"n": len(members)}
        for name in figure_names:
            row[name] = mean_sd([m.get(name) for m in members])
        rows.append(row)
    return rows


def table(records: list[dict], keys: tuple[str, ...], figure_names: tuple[str, ...]) -> list[str]:
    """Markdown table of records grouped by keys: the key columns, n, then 'mean ± sd' per figure."""
    rows = aggregate(records, keys, figure_names)
    head = [*keys, "n", *(HEADINGS.get(f, f) for f in figure_names)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(row[k]) for k in keys] + [str(row["n"])] + [row[f].text(DIGITS.get(f, 3)) for f in figure_names]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# ------------------------------------------------------------------------------------------- montages

def montage(images: dict[str, np.ndarray], path: Path, height: int = TILE) -> Path:
    """input | each method | reference, side by side, labelled; written as PNG."""
    order = ["input", *(k for k in images if k not in ("input", "reference")), "reference"]
    sheet = side_by_side([labelled_tile(images[k], k, height) for k in order if k in images], background=(255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
    return path


def write_montages(images: dict, folder: Path) -> dict[str, list[Path]]:
    """One montage per 2-D pair, volume (middle slice) and ablation pair -> {section: [paths]}."""
    from MedColorLib.evaluation.ground_truth import write_montages as truth_montages
    from MedColorLib.evaluation.volume_truth import write_montage as volume_truth_montage
    out = {section: [montage(imgs, folder / f"{section}_{name}.png") for name, imgs in group.items()]
           for section, group in images.items() if section not in ("ground_truth", "volume_truth")}
    vt = volume_truth_montage(images.get("volume_truth", {}), folder)
    return out | {"ground_truth": truth_montages(images.get("ground_truth", {}), folder),
                  "volume_truth": [vt] if vt is not None else []}


# ------------------------------------------------------------------------------------------ the report

def header(result: dict, command: str) -> list[str]:
    """The honest conditions: weights, device, sizes, iterations, time; a warning for random weights."""
    s: Settings = result["settings"]
    device = s.device if s.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    cpu = f"CPU, {torch.get_num_threads()} threads ({platform.processor() or platform.machine()})"
    hw = torch.cuda.get_device_name() if device == "cuda" else cpu
    lines = ["# MedColor evaluation", "",
             f"Generated by `{command}` on {time.strftime('%Y-%m-%d')} in {result['seconds'] / 60:.1f} min.", "",
             f"- **Weights:** {', '.join(result['network_labels'].values()) or s.weights}",
             f"- **Device:** {device} ({hw}); torch {versions()['torch']}",
             f"- **Optimisation:** {s.size}x{s.size} px (paper: 224), L-BFGS {s.iterations[0]}+{s.iterations[1]} "
             f"iterations (paper: 1000+1000), k = {s.k}, seed {s.seed}, post-filter {'on' if s.postfilter else 'off'}",
             f"- **Inputs:** 2-D targets are the centre square resized to {s.side} px; references at most "
             f"{s.reference_side} px; volumes cropped as listed; volume mode with {s.key_slices} key slices"]
    sections = {r["section"] for r in result["records"]}
    if sections == {"volume_truth"}:
        lines[-1] = (f"- **Inputs:** the rendered MNI152 volume described below, optimised at most at its own slice "
                     f"size; volume mode with {s.key_slices} key slices")
    elif sections <= {"ground_truth", "volume_truth"}:
        lines[-1] = (f"- **Inputs:** each truth resized to {s.side} px on its longer side (its gray is the input); "
                     f"references at most {s.reference_side} px")
    if s.weights == "random" or "random" in " ".join(result["network_labels"].values()):
        lines += ["", "> **Random VGG19 weights: a mechanics check only.** The deep modes ran with seeded random "
                  "weights, tiny images and a few iterations. Their colour figures (chroma distance, colourfulness) "
                  "show that the machinery runs, not the method's quality; the gray-structure figures hold by "
                  "construction (the output's luma is the input's). The figures of the method come from a trained "
                  "network: `--weights medical` (offline) or `--weights imagenet`."]
    return lines


def markdown(result: dict, montages: dict[str, list[Path]], out_dir: Path, command: str) -> str:
    """The whole Markdown report as a string."""
    rec = result["records"]
    pick = lambda section: [r for r in rec if r["section"] == section]  # noqa: E731
    truth = pick("ground_truth")
    lines = header(result, command) + [line for note in result.get("notes", []) for line in ("", note)]
    lines += ["", EXPLAIN] if len(truth) + len(pick("volume_truth")) < len(rec) else []
    if pick("2d"):
        lines += ["", "## 2-D slices (mean ± sd over pairs)", ""]
        lines += table(pick("2d"), ("modality", "method"), FIGURES + ("seconds_per_slice",))
        pairs = {f"{r['pair']} ({r['target']} + {r['reference']}, {r['reference_kind']})" for r in pick("2d")}
        lines += ["", "Pairs: " + "; ".join(sorted(pairs))]
    if pick("volume"):
        lines += ["", "## Volumes (2-D figures: mean over sampled tissue slices)", ""]
        keys = ("pair", "modality", "method")
        lines += table(pick("volume"), keys, FIGURES + VOLUME_FIGURES)
        lines += ["", PROPAGATION_NOTE]
    lines += _ablation_section(pick("ablation"), pick("warm_start"))
    from MedColorLib.evaluation.ground_truth import markdown_section
    lines += markdown_section(truth, montages.get("ground_truth", []), out_dir)
    from MedColorLib.evaluation.volume_truth import markdown_section as volume_truth_section
    lines += volume_truth_section(pick("volume_truth"), (montages.get("volume_truth") or [None])[0], out_dir)
    own = ("ground_truth", "volume_truth")
    if any(paths for section, paths in montages.items() if section not in own):
        lines += ["", "## Montages (input | each method | reference)", ""]
    for section, paths in montages.items():
        lines += [f"![{p.stem}]({p.relative_to(out_dir).as_posix()})" for p in paths if section not in own]
    lines += ["", "## Regenerate", "", REGENERATE]
    return "\n".join(lines) + "\n"


def _ablation_section(ablation: list[dict], warm: list[dict]) -> list[str]:
    lines = []
    if ablation:
        keys = ("group", "method")
        lines += ["", f"## Ablations (paper mode; {ablation[0]['iterations'][0]}+{ablation[0]['iterations'][1]} "
                  f"iterations on {', '.join(sorted({r['pair'] for r in ablation}))})", "",
                  "The paper's own objective, started from the gray input, without the correspondence term.", ""]
        lines += table(ablation, keys, FIGURES + ("seconds_per_slice",))
    if warm:
        keys = ("pair", "method")
        lines += ["", f"## Warm start vs none ({warm[0]['slices']} consecutive slices, paper mode, one centre set, "
                  f"{warm[0]['iterations'][0]}+{warm[0]['iterations'][1]} iterations each)", ""]
        lines += table(warm, keys, ("ssim_gray", "chroma_distance", "flicker", "context_spread", "seconds_per_slice"))
    return lines


EXPLAIN = """Figures: SSIM/PSNR/FSIM compare gray(output) with the gray input (structure preservation, the paper's
measures; higher is better); entropy of gray(output) in bits; colourfulness (Hasler-Süsstrunk, 0 = gray);
chroma distance to the reference = per rank-paired intensity cluster, Fréchet distance of the (Cb, Cr)
distributions, weighted by cluster size (lower = closer to the reference's colours); air chroma = mean
chroma magnitude in air (0 = neutral background, lower is better). Volumes: flicker = mean chroma change
between adjacent slices over unchanged tissue (lower is better); context spread = chroma spread at equal
intensity inside tissue (0 = a mere intensity -> colour transfer function); Delta E to paper = mean CIELAB
chroma distance to paper mode's colours of the same slices inside tissue (0 = the same colours); seconds per
slice include network start-up and post-processing."""

PROPAGATION_NOTE = """`paper` colorizes every slice on its own (own k-means centres); `volume` optimises a
few key slices under one reference and one centre set and propagates their chroma through bilateral grids
over (intensity, y, x); `volume (all keys)` optimises every slice under the shared centres and reads each
back through its own grid (the grid's smoothing without propagation between slices); `preview` uses
per-cluster chroma matching on the key slices instead of the optimisation. The pipeline has no separate
3-D chroma smoothing switch; the propagation *is* the 3-D step, so "with / without" is `volume` vs
`volume (all keys)` / `paper`."""

REGENERATE = """```
medcolor evaluate bench/eval_medical.json --out docs                      # docs/evaluation.md (CPU, medical VGG16)
medcolor evaluate bench/eval_ground_truth.json --out docs --name ground_truth       # colours against the truth
medcolor evaluate bench/eval_volume_truth.json --out docs --name volume_truth       # a volume against its truth
medcolor evaluate bench/eval_default.json --out docs --name evaluation_random   # mechanics check, random weights
medcolor evaluate bench/eval_default.json --out eval-gpu --weights imagenet --device cuda \\
    --size 224 --iterations 1000,1000 --side 256                        # the paper's settings on a GPU
medcolor finetune --images <gray slices> --references <colour images> --out vgg_med.pth
medcolor evaluate bench/eval_default.json --weights imagenet --finetuned vgg_med.pth   # adds paper+finetuned
```
Every setting is a key under `settings` in the configuration and a flag of the command."""


def write_outputs(result: dict, out_dir: str | Path, command: str, name: str = "evaluation") -> dict[str, Path]:
    """Write <out>/<name>.md, <out>/<name>/*.png and <out>/<name>/figures.json; return their paths."""
    out_dir = Path(out_dir)
    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    montages = write_montages(result["images"], folder)
    md = out_dir / f"{name}.md"
    md.write_text(markdown(result, montages, out_dir, command))
    data = {k: v for k, v in result.items() if k != "images"} | {"settings": asdict(result["settings"]),
                                                                "versions": versions(), "command": command}
    write_json(folder / "figures.json", data)
    (folder / "figures.json").chmod(0o644)
    return {"markdown": md, "json": folder / "figures.json", "folder": folder}
