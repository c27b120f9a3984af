"""The volume ground truth: a pseudo-colour volume rendered by the default library's own code from nilearn's MNI152
template and its tissue maps (reference/default_library.render_slice on every axial plane), turned gray, colorized
from a rendering at a level outside the volume, and compared with itself slice by slice (Delta E_ab over a*b*),
for each mode, with the inter-slice flicker. Propagation is then judged against the truth, not only by flicker.

The configuration's ``volume_truth`` section: {"axial_mm": [low, high], "step_mm": 2, "reference_mm": 56,
"modes": [{"label", "mode": paper | volume | preview, "refine": bool, "iterations": [n1, n2]}, ...]}.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from MedColorLib.engine.color import luma_np
from MedColorLib.errors import MedColorError
from MedColorLib.evaluation.config import Log, Settings
from MedColorLib.io.pictures import labelled_tile, side_by_side, stacked
from MedColorLib.metrics.truth import delta_e_ab
from MedColorLib.metrics.volume import flicker
from MedColorLib.options import MODES
from MedColorLib.types import Volume

DEFAULT_MODES = (
    {"label": "paper (correspondence per slice)", "mode": "paper", "iterations": [0, 0]},
    {"label": "volume", "mode": "volume"},
    {"label": "volume --refine", "mode": "volume", "refine": True},
    {"label": "preview", "mode": "preview"},
)
TISSUE = 0.05   # gray above this is tissue (the renderings' background is black)


def check_section(raw) -> dict | None:
    """The checked ``volume_truth`` section, or None when absent."""
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise MedColorError("'volume_truth' must be an object with 'axial_mm', 'reference_mm' and 'modes'")
    low, high = (int(v) for v in raw.get("axial_mm", (-16, 32)))
    step, ref_mm = int(raw.get("step_mm", 2)), int(raw.get("reference_mm", 56))
    if not (high > low and step >= 1):
        raise MedColorError(f"volume_truth: axial_mm {low}..{high} must rise, step_mm {step} must be >= 1")
    if low <= ref_mm <= high:
        raise MedColorError(f"volume_truth: the reference level {ref_mm} mm lies inside the volume ({low}..{high} mm)")
    modes = [dict(m) for m in raw.get("modes", DEFAULT_MODES)]
    for m in modes:
        if not isinstance(m, dict) or "label" not in m or m.get("mode") not in MODES:
            raise MedColorError(f"volume_truth mode {m!r} needs a label and a mode ({', '.join(MODES)})")
    return {"axial_mm": (low, high), "step_mm": step, "reference_mm": ref_mm, "modes": modes}


def render_truth(axial_mm: tuple[int, int], step_mm: int, reference_mm: int) -> tuple[np.ndarray, np.ndarray]:
    """(truth (S, H, W, 3) float32 RGB of the axial planes at step_mm, reference (h, w, 3) float32 RGB), in the
    display orientation of default_library's renderings (anterior up, patient right on the left)."""
    from MedColorLib.reference.default_library import _load_mni, _plane, render_slice
    t1, gm, wm, affine = _load_mni()
    inv = np.linalg.inv(affine)

    def rendered(mm: int) -> np.ndarray:
        planes = [_plane(v, "axial", mm, inv)[::step_mm, ::step_mm] for v in (t1, gm, wm)]
        return render_slice(*planes).astype(np.float32) / 255

    levels = range(axial_mm[0], axial_mm[1] + 1, step_mm)
    return np.stack([rendered(mm) for mm in levels]), rendered(reference_mm)


def truth_volume(truth: np.ndarray, step_mm: int) -> Volume:
    """The gray input: BT.601 luma of the truth, (S, H, W) float32, identity direction (so that the pipeline's
    display orientation is the array's), step_mm spacing."""
    return Volume(luma_np(truth).astype(np.float32).clip(0, 1), spacing=(float(step_mm),) * 3, modality="MR")


def evaluate_volume_truth(config: dict, log: Log) -> tuple[list[dict], dict]:
    """Every mode on the rendered volume -> (records, {"volume_truth": {label: (S, H, W, 3) uint8, ...}})."""
    section, settings = check_section(config.get("volume_truth")), config["settings"]
    if not section:
        return [], {}
    truth, ref = render_truth(section["axial_mm"], section["step_mm"], section["reference_mm"])
    volume = truth_volume(truth, section["step_mm"])
    tissue = volume.array > TISSUE
    log(f"volume truth: {len(truth)} axial MNI slices {section['axial_mm'][0]}..{section['axial_mm'][1]} mm, "
        f"reference at {section['reference_mm']} mm")
    records, outputs = [], {"truth": np.round(truth * 255).astype(np.uint8)}
    for mode in section["modes"]:
        rgb, seconds = _run_mode(mode, volume, ref, settings)
        outputs[mode["label"]] = rgb
        records.append(_record(mode["label"], rgb, truth, volume.array, tissue, seconds))
        log(f"  {mode['label']}: Delta E {records[-1]['delta_e_ab']:.2f}, flicker {records[-1]['flicker']:.4f} "
            f"({seconds:.1f} s)")
    records.append(_record("truth itself", outputs["truth"], truth, volume.array, tissue, 0.0))
    return records, {"volume_truth": {"gray": volume.array, "reference": ref, **outputs}}


def _run_mode(mode: dict, volume: Volume, ref: np.ndarray, settings: Settings) -> tuple[np.ndarray, float]:
    """One mode through the volume pipeline with the evaluation's settings -> ((S, H, W, 3) uint8, seconds)."""
    from MedColorLib.pipeline.volume import colorize_volume
    refine = bool(mode.get("refine", False))
    iterations = mode.get("iterations")
    iterations = tuple(int(v) for v in iterations) if iterations is not None else (
        tuple(settings.iterations) if refine or mode["mode"] == "paper" else (0, 0))
    opts = replace(settings.options(mode["mode"]), iterations=iterations, refine=refine).check()
    t0 = time.perf_counter()
    result = colorize_volume(volume, opts, reference=ref, window=(0.0, 1.0))
    return result.rgba[..., :3], time.perf_counter() - t0


def _record(label: str, rgb: np.ndarray, truth: np.ndarray, gray: np.ndarray, tissue: np.ndarray,
            seconds: float) -> dict:
    """Delta E_ab per slice (all pixels, and tissue only), its mean and worst slice, flicker, seconds."""
    per_slice = [delta_e_ab(o / 255.0, t) for o, t in zip(rgb, truth)]
    in_tissue = [delta_e_ab(o / 255.0, t, m) for o, t, m in zip(rgb, truth, tissue) if m.any()]
    return {"section": "volume_truth", "method": label, "delta_e_ab": float(np.mean(per_slice)),
            "delta_e_tissue": float(np.mean(in_tissue)), "worst_slice_delta_e": float(np.max(per_slice)),
            "delta_e_per_slice": [round(v, 3) for v in per_slice],
            "flicker": flicker(rgb, gray, tissue), "seconds": seconds, "slices": len(rgb)}


def markdown_section(records: list[dict], montage_path, out_dir) -> list[str]:
    """The per-mode table and the montage."""
    if not records:
        return []
    lines = ["", "## Volume against the truth (rendered MNI152 volume; Delta E_ab over a*b*, lower is better)", "",
             VT_EXPLAIN, "", "| mode | Delta E_ab | Delta E (tissue) | worst slice | flicker | seconds |",
             "|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['method']} | {r['delta_e_ab']:.2f} | {r['delta_e_tissue']:.2f} | "
                     f"{r['worst_slice_delta_e']:.2f} | {r['flicker']:.4f} | {r['seconds']:.1f} |")
    if montage_path is not None:
        lines += ["", f"![volume truth]({montage_path.relative_to(out_dir).as_posix()})"]
    return lines


def write_montage(images: dict, folder) -> object:
    """Rows: three slices (a quarter, half, three quarters through); columns: truth | gray | each mode | reference."""
    if not images:
        return None
    group = images["volume_truth"]
    count = len(group["gray"])
    rows = []
    for z in (count // 4, count // 2, 3 * count // 4):
        tiles = [labelled_tile(group["truth"][z], f"truth z{z}"), labelled_tile(group["gray"][z], "gray")]
        tiles += [labelled_tile(v[z], k) for k, v in group.items() if k not in ("truth", "gray", "reference")]
        rows.append(side_by_side(tiles + [labelled_tile(group["reference"], "reference")], background=(255, 255, 255)))
    sheet = stacked(rows, background=(255, 255, 255))
    path = folder / "volume_truth.png"
    sheet.save(path, optimize=True)
    return path


VT_EXPLAIN = """The truth is a pseudo-colour volume drawn by the default library's own rendering code (MNI152 T1 as luma,
CSF/grey/white-matter colours from reference/palette.py by tissue probability) on every axial plane; its gray is
the input (window 0..1), the reference is the same rendering at a level outside the volume. `paper` here is the
correspondence on every slice on its own (no optimisation); `volume` the correspondence on the key slices,
propagated; `--refine` adds the paper's loss stack on the key slices (the evaluation's iterations); `preview`
per-cluster chroma matching on the key slices (no network). Flicker = mean chroma change between adjacent slices
over unchanged tissue; the truth's own flicker is the floor that anatomy sets."""
