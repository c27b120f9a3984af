"""Whole-volume figures per mode (preview, volume, paper) on real volumes, measured in one run. Prints JSON.

Per (volume, mode), in a fresh subprocess: seconds total and per slice, CPU seconds, peak RSS over the
baseline after imports and input loading (resource.getrusage ru_maxrss), inter-slice flicker, context
spread (chroma spread within intensity bins inside tissue), gray SSIM and chroma distance to the
reference on sampled slices, and fidelity of volume/preview to paper on those slices.

Sampled slices: ``--pairs`` pairs of adjacent slices, each pair midway between two key slices of the
volume mode (where propagation is furthest from an optimised slice). Paper mode runs on these slices
only (its slices are independent; 3-D figures of paper mode come from the pairs), at --paper-iterations;
its cost at the paper's 1000,1000 is extrapolated from the measured median seconds per L-BFGS step,
and so is the volume mode's at its default 150,150 when --volume-iterations is smaller (the default,
to keep a run near 10 minutes on 2 cores).
Volumes: the abdomen CT (122x101x30), the MNI152 T1 brain MR block-averaged 3x3x3 to 65x77x30
(3 mm, slices 54-143 of 189), the DICOM CT series (512x512x20, native). Weights: random (offline).

    python bench/bench_volume.py [--out figures.json] [--size 128] [--paper-iterations 20,20]
                                 [--volume-iterations 20,20|default] [--volumes abdomen_ct,brain_mr,dicom_ct]
    python bench/bench_volume.py --memory-test      # volume mode on a 512x512x300 CT, peak RSS
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
REFERENCE = DATA / "color_ref" / "itk_VisibleWomanHeadSlice.png"
VOLUMES = ("abdomen_ct", "brain_mr", "dicom_ct")
MODES = ("paper", "volume", "preview")          # paper first: the others are compared with it
PAPER_DEFAULT = (1000, 1000)
TARGETS = {"speed_volume_vs_paper": 20.0, "flicker_paper_vs_volume": 5.0, "abdomen_volume_seconds": 120.0,
           "memory_512x512x300_mb": 4096.0}


# ------------------------------------------------------------------------------------------- inputs
def load_volume(name: str):
    """A named benchmark volume (MedColorLib.volume.Volume) and a one-line description."""
    from MedColorLib.types import Volume
    from MedColorLib.io.volumes import read_volume
    if name == "abdomen_ct":
        return read_volume(DATA / "ct" / "totalseg_example_ct_sm.nii.gz"), "TotalSegmentator example CT, native"
    if name == "dicom_ct":
        return read_volume(DATA / "ct" / "totalseg_example_ct_dicom"), "TotalSegmentator example DICOM CT series, native"
    if name == "brain_mr":
        v = read_volume(DATA / "mri" / "nilearn_mni152_t1_2009a_1mm.nii.gz")
        a = v.array[54:144, :231, :195].astype(np.float32)            # (90, 231, 195) -> (30, 77, 65)
        a = a.reshape(30, 3, 77, 3, 65, 3).mean((1, 3, 5))
        return (Volume(a, tuple(s * 3 for s in v.spacing), v.origin, v.direction, "MR", v.metadata),
                "MNI152 2009a T1 (nilearn), slices 54-143, 3x3x3 block mean -> 65x77x30 at 3 mm")
    if name == "memory_ct":
        return memory_volume(), "DICOM CT series (512x512x20) linearly interpolated along z to 300 slices"
    raise SystemExit(f"unknown volume {name!r}; choose from {', '.join(VOLUMES)}")


def memory_volume():
    """512x512x300 int16 CT made from the 20 real DICOM slices, linearly interpolated along the slice axis."""
    from MedColorLib.types import Volume
    from MedColorLib.io.volumes import read_volume
    v = read_volume(DATA / "ct" / "totalseg_example_ct_dicom")
    spacing = (v.spacing[0], v.spacing[1], v.spacing[2] * (len(v.array) - 1) / 299)
    return Volume(stretch(v.array, 300), spacing, v.origin, v.direction, v.modality, v.metadata)


def stretch(slices: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation along axis 0 to n slices, int16, slice by slice (no float copy of the volume)."""
    out = np.empty((n, *slices.shape[1:]), np.int16)
    pos = np.linspace(0, len(slices) - 1, n)
    for i, p in enumerate(pos):
        lo, t = int(p), p - int(p)
        hi = min(lo + 1, len(slices) - 1)
        out[i] = np.round((1 - t) * slices[lo] + t * slices[hi])
    return out


def prepared(volume, window: tuple[float, float] | None = None) -> tuple[int, tuple[float, float], np.ndarray, np.ndarray]:
    """Axial axis, window, gray (S, H, W) float32 and tissue (S, H, W) bool, as the pipeline prepares them."""
    from MedColorLib import prepare
    axis = prepare.axial_axis(volume.direction)
    low, high, _ = prepare.choose_window(volume, window)
    gray = prepare.apply_window(np.moveaxis(volume.array, axis, 0), low, high)
    return axis, (low, high), gray, ~prepare.air_mask(gray)


def sample_pairs(tissue: np.ndarray, key_slices: int, pairs: int) -> list[int]:
    """Indices of `pairs` adjacent-slice pairs midway between consecutive volume-mode key slices."""
    from MedColorLib.pipeline.volume import key_slice_indices
    keys = key_slice_indices(~tissue, key_slices)
    gaps = [(a + b) // 2 for a, b in zip(keys, keys[1:]) if b - a >= 3] or [len(tissue) // 2 - 1]
    picks = [gaps[int(round(i))] for i in np.linspace(0, len(gaps) - 1, pairs + 2)[1:-1]] if len(gaps) > pairs else gaps[:pairs]
    return sorted({z for p in picks for z in (p, p + 1) if z + 1 < len(tissue)})


# --------------------------------------------------------------------------------- one measured run
def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class StepClock:
    """Progress callback recording when each optimisation step of each stage ends."""

    def __init__(self) -> None:
        self.steps: dict[str, list[float]] = {}
        self.last_opt = self.t0 = time.perf_counter()

    def __call__(self, p) -> None:
        now = time.perf_counter()
        for stage in ("stage 1", "stage 2"):
            if p.stage.endswith(stage):
                self.steps.setdefault(stage, []).append(now)
                self.last_opt = now

    def median_step(self, stage: str) -> float | None:
        t = self.steps.get(stage, [])
        return statistics.median(np.diff(t)) if len(t) > 2 else None


def colorize(spec: dict) -> tuple[dict, np.ndarray, object]:
    """Run one mode on one volume as the spec says; (timing/memory figures, rgb (S, H, W, 3), volume)."""
    import torch
    from MedColorLib.io.images import load_reference
    from MedColorLib.options import Options
    from MedColorLib.pipeline.volume import colorize_volume
    from MedColorLib.types import Volume
    volume, _ = load_volume(spec["volume"])
    ref = load_reference(REFERENCE)
    axis, window, _, _ = prepared(volume) if spec.get("slices") else (None, None, None, None)
    if spec.get("slices"):                                            # paper: the sampled slices only
        volume = Volume(np.take(volume.array, spec["slices"], axis), volume.spacing, volume.origin,
                        volume.direction, volume.modality, volume.metadata)
    opts = Options(mode=spec["mode"], weights=spec.get("weights", "random"), device="cpu", size=spec["size"], seed=0,
                   iterations=tuple(spec["iterations"]) if spec["iterations"] else None).check()
    base_rss, base_cpu, clock = rss_mb(), cpu_s(), StepClock()
    result = colorize_volume(volume, opts, reference=ref, window=window, progress=clock)
    peak = rss_mb()
    rep = result.report
    fig = {"seconds": rep["seconds"], "seconds_per_slice": rep["seconds_per_slice"], "slices": volume.array.shape[rep["slice_axis"]],
           "cpu_seconds": cpu_s() - base_cpu, "peak_rss_mb": peak, "baseline_rss_mb": base_rss,
           "rss_delta_mb": peak - base_rss, "iterations": list(opts.iterations), "size": opts.size,
           "key_slices": rep["key_slices"] if spec["mode"] != "paper" else f"all {volume.array.shape[rep['slice_axis']]}",
           "torch_threads": torch.get_num_threads(), "window": [rep["window"]["low"], rep["window"]["high"]],
           "median_step_seconds": {s: clock.median_step(s) for s in ("stage 1", "stage 2")},
           "seconds_to_end_of_optimisation": (clock.last_opt - clock.t0) if clock.steps else 0.0}
    rgb = np.moveaxis(result.rgba, rep["slice_axis"], 0)[..., :3]
    return fig, rgb, volume


def child(spec: dict) -> dict:
    """One (volume, mode) run plus its quality figures; what the parent prints for it."""
    from MedColorLib.io.images import load_reference
    fig, rgb, volume = colorize(spec)
    if not spec.get("quality", True):
        return fig
    _, _, gray, tissue = prepared(volume, fig["window"])                  # the window of the run
    ref = load_reference(REFERENCE)
    original = spec["sample"]                                           # volume indices of the sampled slices
    sample = list(range(len(original))) if spec.get("slices") else original   # their indices in rgb
    pairs = [(sample[n], sample[n + 1]) for n in range(len(original) - 1) if original[n + 1] == original[n] + 1]
    fig.update(quality(rgb, gray, tissue, ref, sample, pairs, full=not spec.get("slices")))
    if spec.get("save"):
        np.save(spec["save"], rgb[sample])
    if spec.get("paper") and Path(spec["paper"]).exists():
        from MedColorLib.metrics.volume import fidelity
        fig["fidelity_to_paper"] = fidelity(rgb[sample], np.load(spec["paper"]), tissue[sample])
    return fig


def quality(rgb: np.ndarray, gray: np.ndarray, tissue: np.ndarray, ref: np.ndarray, sample: list[int],
            pairs: list[tuple[int, int]], full: bool) -> dict:
    """Flicker (mean over the adjacent pairs; whole volume when full), context spread (sampled slices;
    whole volume when full), gray SSIM and chroma distance to the reference (mean over sampled slices)."""
    from MedColorLib.metrics import image as metrics
    from MedColorLib.metrics.volume import context_spread, flicker
    sub_rgb, sub_gray, sub_t = rgb[sample], gray[sample], tissue[sample]
    q = {"flicker_pairs": _mean([flicker(rgb[[a, b]], gray[[a, b]], tissue[[a, b]]) for a, b in pairs]),
         "context_spread_sampled": context_spread(sub_rgb, sub_gray, sub_t),
         "ssim_gray": _mean([metrics.ssim_gray(s / 255.0, g) for s, g in zip(sub_rgb, sub_gray)]),
         "chroma_distance_to_reference": _mean([metrics.chroma_distance(s / 255.0, g, ref) for s, g in zip(sub_rgb, sub_gray)])}
    if full:
        q["flicker_volume"] = flicker(rgb, gray, tissue)
        q["context_spread_volume"] = context_spread(rgb, gray, tissue)
    return q


def clean(x):
    """JSON-safe copy: numpy scalars to Python numbers, NaN/inf to None."""
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    x = x.item() if hasattr(x, "item") else x
    return None if isinstance(x, float) and not np.isfinite(x) else x


def _mean(values: list[float]) -> float | None:
    v = [x for x in values if x == x]
    return float(np.mean(v)) if v else None


# ------------------------------------------------------------------------------------------- parent
def run_child(spec: dict) -> dict:
    """The spec in a fresh interpreter (clean ru_maxrss); its figures, or the error it died with."""
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def extrapolated_seconds(fig: dict, iterations: tuple[int, int]) -> float | None:
    """Seconds per slice at other iteration counts: measured time with its steps replaced by median steps."""
    m1, m2 = fig["median_step_seconds"].get("stage 1"), fig["median_step_seconds"].get("stage 2")
    if m1 is None or m2 is None:
        return None
    done = fig["iterations"]
    fixed = fig["seconds"] - done[0] * m1 - done[1] * m2
    return (fixed + iterations[0] * m1 + iterations[1] * m2) / fig["slices"]


def bench_volume(name: str, args, tmp: Path) -> dict:
    """All modes on one volume; figures per mode and the comparison with paper mode."""
    from MedColorLib.options import DEFAULT_ITERATIONS, Options
    volume, description = load_volume(name)
    axis, window, gray, tissue = prepared(volume)
    sample = sample_pairs(tissue, Options().key_slices, args.pairs)
    shape = volume.array.shape
    out = {"description": description, "array_shape_kji": list(shape), "slice_axis": axis, "slices": int(shape[axis]),
           "window": list(window), "tissue_fraction": float(tissue.mean()), "sampled_slices": sample, "modes": {}}
    paper_npy = tmp / f"{name}_paper.npy"
    for mode in args.modes:
        its = {"paper": args.paper_iterations, "volume": args.volume_iterations, "preview": None}[mode]
        spec = {"volume": name, "mode": mode, "size": args.size, "iterations": its, "sample": sample, "weights": args.weights,
                "slices": sample if mode == "paper" else None, "save": str(paper_npy) if mode == "paper" else None,
                "paper": str(paper_npy) if mode != "paper" else None}
        print(f"[bench_volume] {name} {mode} ...", file=sys.stderr, flush=True)
        out["modes"][mode] = run_child(spec)
    paper = out["modes"].get("paper", {})
    if "median_step_seconds" in paper:
        paper["seconds_per_slice_at_1000_1000_extrapolated"] = extrapolated_seconds(paper, PAPER_DEFAULT)
    vol = out["modes"].get("volume", {})
    if "median_step_seconds" in vol and tuple(vol["iterations"]) != DEFAULT_ITERATIONS["volume"]:
        vol["seconds_per_slice_at_default_extrapolated"] = extrapolated_seconds(vol, DEFAULT_ITERATIONS["volume"])
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


def summarise(name: str, r: dict) -> dict:
    """The ratios the issue targets, for one volume."""
    p, v, pv = (r["modes"].get(m, {}) for m in ("paper", "volume", "preview"))
    v_sps = v.get("seconds_per_slice_at_default_extrapolated", v.get("seconds_per_slice"))
    s = {"speed_volume_vs_paper_at_1000_1000_extrapolated": ratio(p.get("seconds_per_slice_at_1000_1000_extrapolated"), v_sps),
         "speed_volume_vs_paper_as_measured": ratio(p.get("seconds_per_slice"), v.get("seconds_per_slice")),
         "flicker_paper_over_volume_pairs": ratio(p.get("flicker_pairs"), v.get("flicker_pairs")),
         "flicker_paper_over_preview_pairs": ratio(p.get("flicker_pairs"), pv.get("flicker_pairs")),
         "context_spread_volume_over_paper_sampled": ratio(v.get("context_spread_sampled"), p.get("context_spread_sampled")),
         "context_spread_preview_over_paper_sampled": ratio(pv.get("context_spread_sampled"), p.get("context_spread_sampled"))}
    s["meets_speed_20x"] = _ge(s["speed_volume_vs_paper_at_1000_1000_extrapolated"], TARGETS["speed_volume_vs_paper"])
    s["meets_flicker_5x"] = _ge(s["flicker_paper_over_volume_pairs"], TARGETS["flicker_paper_vs_volume"])
    if name == "abdomen_ct" and "seconds" in v:
        s["abdomen_volume_seconds_as_measured"] = v["seconds"]
        total = v.get("seconds_per_slice_at_default_extrapolated", v["seconds_per_slice"]) * v["slices"]
        s["abdomen_volume_seconds_at_default_iterations"] = total
        s["abdomen_volume_seconds_is_extrapolated"] = "seconds_per_slice_at_default_extrapolated" in v
        s["meets_abdomen_under_120s"] = total < TARGETS["abdomen_volume_seconds"]
    return s


def _ge(x: float | None, target: float) -> bool | None:
    return None if x is None else x >= target


def settings(args) -> dict:
    import torch
    return {"weights": args.weights + (" (seeded: mechanics and timing only)" if args.weights.startswith("random") else ""),
            "device": "cpu",
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "size": args.size,
            "paper_iterations": args.paper_iterations, "volume_iterations": args.volume_iterations or "mode default",
            "pairs": args.pairs, "reference": REFERENCE.name, "load_average_at_start": os.getloadavg(),
            "notes": ["paper mode runs on the sampled slices only (2 adjacent pairs midway between key slices)",
                      "paper seconds at 1000,1000 are extrapolated from median seconds per L-BFGS step at --paper-iterations",
                      "paper and volume key slices are optimised at --size (volume: min(size, slice side)); paper at 224 "
                      "costs (224/size)^2 more, so the speed ratio at equal size is conservative",
                      "rss_delta_mb = peak RSS during colorize_volume minus peak RSS after imports and input loading",
                      "timings are wall clock on a shared machine: see load averages and cpu_seconds"]}


def memory_test(args) -> dict:
    """Volume mode on the 512x512x300 CT at --memory-iterations; peak RSS against the 4 GB target."""
    its = args.memory_iterations
    spec = {"volume": "memory_ct", "mode": "volume", "size": args.memory_size, "iterations": its, "sample": [149, 150],
            "quality": False}
    fig = run_child(spec)
    return {"volume": "512x512x300 int16: " + load_volume("memory_ct")[1], "iterations": its, "size": args.memory_size,
            "weights": "random", "figures": fig, "target_peak_rss_mb": TARGETS["memory_512x512x300_mb"],
            "meets_memory_target": fig.get("peak_rss_mb", float("inf")) < TARGETS["memory_512x512x300_mb"]}


def _pair_arg(text: str | None) -> list[int] | None:
    return None if text in (None, "", "default") else [int(x) for x in text.split(",")]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--volumes", default=",".join(VOLUMES))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--size", type=int, default=128, help="optimisation size (pipeline default 224)")
    ap.add_argument("--weights", default="random", help="random (timing) | medical | imagenet | PATH (colour figures)")
    ap.add_argument("--paper-iterations", type=_pair_arg, default=[20, 20])
    ap.add_argument("--volume-iterations", type=_pair_arg, default=[20, 20],
                    help="'default' = the volume mode's own (150,150: about 30+ min on 2 shared cores)")
    ap.add_argument("--pairs", type=int, default=2, help="adjacent slice pairs sampled per volume")
    ap.add_argument("--memory-test", action="store_true", help="only the 512x512x300 peak-memory run")
    ap.add_argument("--memory-iterations", type=_pair_arg, default=[5, 5])
    ap.add_argument("--memory-size", type=int, default=224)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.volumes, args.modes = args.volumes.split(","), [m for m in MODES if m in args.modes.split(",")]
    return args


def main() -> None:
    args = parse()
    if args.child:
        print(json.dumps(clean(child(json.loads(args.child)))))
        return
    t0, info = time.perf_counter(), {"settings": settings(args)}
    if args.memory_test:
        info["memory_test"] = memory_test(args)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            results = {n: bench_volume(n, args, Path(tmp)) for n in args.volumes}
        info |= {"volumes": results,
                "summary": {n: summarise(n, r) for n, r in results.items()}, "targets": TARGETS}
    info["bench_seconds"] = time.perf_counter() - t0
    info["load_average_at_end"] = os.getloadavg()
    text = json.dumps(clean(info), indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
