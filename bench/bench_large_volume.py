"""A 512 x 512 x N CT in volume/preview mode, and paper mode's cost per slice, on one device. Prints JSON.

``--end-to-end`` (issue 19's target): the real chest CT (512 x 512 x 141, ../shared/data/ct/
itkelastix_chest_ct_phase00.nii.gz) linearly interpolated along z to N slices (default 300), written as NIfTI,
then ``medcolor colorize`` run on it as a user runs it (a fresh process: imports, weights, read, colorize,
write, preview) with the trained medical weights and default options: wall seconds, the report's seconds per
stage, and the child's peak RSS.

Otherwise: the real DICOM CT series (20 slices of 512 x 512, ../shared/data/ct/totalseg_example_ct_dicom)
interpolated to N slices, run in this process per mode with random weights (timing does not depend on the
values); paper mode is measured on one batch of slices with a short schedule and extrapolated to the paper's
1000 + 1000 iterations (labelled as such).

    python bench/bench_large_volume.py --end-to-end [--slices 300] [--weights medical] [--device cpu] [-- EXTRA ARGS]
    python bench/bench_large_volume.py [--npy CT20.npy | --volume DIR] [--slices 300] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_volume import stretch  # noqa: E402
from MedColorLib.options import Options  # noqa: E402
from MedColorLib.pipeline.volume import colorize_volume  # noqa: E402
from MedColorLib.types import Volume  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_slices(args) -> tuple[np.ndarray, tuple[float, float, float]]:
    """(S, 512, 512) int16 HU and (i, j, k) spacing."""
    if args.npy:
        return np.load(args.npy), (0.9765625, 0.9765625, 2.0)
    from MedColorLib.io.volumes import read_volume
    v = read_volume(args.volume)
    return v.array.astype(np.int16), tuple(v.spacing)


def run_mode(volume: Volume, ref: np.ndarray, mode: str, device: str) -> dict:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    res = colorize_volume(volume, Options(mode=mode, weights="random", device=device), reference=ref, window="soft_tissue")
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    from MedColorLib.metrics.volume import flicker
    win = res.report["window"]
    gray = np.clip((volume.array[::5].astype(np.float32) - win["low"]) / (win["high"] - win["low"]), 0, 1)
    return {"mode": mode, "seconds": round(seconds, 2), "seconds_per_slice": round(seconds / volume.array.shape[0], 4),
            "iterations": res.report["params"]["iterations"], "key_slices": len(res.report["key_slices"]),
            "gpu_peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
            "flicker_every_5th_slice": round(flicker(res.rgba[::5, ..., :3], gray, gray > 0.05), 5),
            "metrics": res.report["metrics"]}


def paper_per_slice(slices: np.ndarray, ref: np.ndarray, device: str, batch: int, iterations: tuple[int, int]) -> dict:
    from MedColorLib.engine.slices import colorize_slices, network
    opts = Options(mode="paper", weights="random", device=device, iterations=iterations)
    net = network(opts)
    gray = np.clip((slices[:batch].astype(np.float32) + 160) / 400, 0, 1)
    colorize_slices(net, gray[:1], ref, Options(mode="paper", weights="random", device=device, iterations=(2, 2)))  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    colorize_slices(net, gray, ref, opts)
    if device == "cuda":
        torch.cuda.synchronize()
    s = (time.perf_counter() - t) / len(gray)
    return {"batch": len(gray), "iterations": list(iterations), "seconds_per_slice": round(s, 4),
            "seconds_per_slice_at_1000_1000_extrapolated": round(s * 2000 / sum(iterations), 2)}


def consistency(slices: np.ndarray, spacing, ref: np.ndarray, device: str, paper_iterations: tuple[int, int]) -> dict:
    """The real 20-slice series (2 mm apart) in every mode, paper at paper_iterations: flicker between
    adjacent slices, context spread, fidelity of volume/preview to paper."""
    from MedColorLib.metrics.volume import context_spread, fidelity, flicker
    volume = Volume(slices, spacing=spacing, modality="CT")
    gray = np.clip((slices.astype(np.float32) + 160) / 400, 0, 1)
    tissue = gray > 0.05
    out, rgb = {}, {}
    for mode in ("paper", "volume", "preview"):
        opts = Options(mode=mode, weights="random", device=device,
                       iterations=paper_iterations if mode == "paper" else None)
        t = time.perf_counter()
        rgb[mode] = colorize_volume(volume, opts, reference=ref, window="soft_tissue").rgba[..., :3]
        out[mode] = {"seconds": round(time.perf_counter() - t, 2), "iterations": list(opts.check().iterations),
                     "flicker": round(flicker(rgb[mode], gray, tissue), 5),
                     "context_spread": round(context_spread(rgb[mode], gray, tissue), 5)}
    for mode in ("volume", "preview"):
        out[mode]["fidelity_to_paper"] = round(fidelity(rgb[mode], rgb["paper"], tissue), 5)
    out["flicker_paper_over_volume"] = round(out["paper"]["flicker"] / out["volume"]["flicker"], 2)
    out["context_spread_volume_over_paper"] = round(out["volume"]["context_spread"] / out["paper"]["context_spread"], 2)
    return out


def end_to_end(args, extra: list[str]) -> dict:
    """The stretched chest CT through the command line in a child process: seconds, stages, peak RSS."""
    import os
    import subprocess
    import tempfile

    import SimpleITK as sitk
    source = sitk.ReadImage(str(DATA / "ct" / "itkelastix_chest_ct_phase00.nii.gz"))
    slices = sitk.GetArrayFromImage(source)
    array = stretch(slices, args.slices)
    image = sitk.GetImageFromArray(array)
    image.SetOrigin(source.GetOrigin())
    image.SetDirection(source.GetDirection())
    sx, sy, sz = source.GetSpacing()
    image.SetSpacing((sx, sy, sz * (len(slices) - 1) / (args.slices - 1)))
    with tempfile.TemporaryDirectory() as tmp:
        ct = Path(tmp) / "chest.nii.gz"
        sitk.WriteImage(image, str(ct))
        options = ["--weights", args.weights, "--device", args.device, *extra]
        cmd = [sys.executable, "-m", "MedColorLib", "colorize", str(ct), "-o", str(Path(tmp) / "out.nrrd"),
               "--preview", str(Path(tmp) / "preview.png"), "--report", str(Path(tmp) / "report.json"), *options]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        t = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - t
        if run.returncode:
            raise SystemExit(run.stderr)
        report = json.loads((Path(tmp) / "report.json").read_text())
    return {"volume": f"{array.shape[2]}x{array.shape[1]}x{array.shape[0]} int16, the real chest CT interpolated along z",
            "command": "medcolor colorize CT.nii.gz -o out.nrrd --preview p.png --report r.json " + " ".join(options),
            "wall_seconds_end_to_end": round(seconds, 1), "report_seconds_colorize": round(report["seconds"], 1),
            "timing": report.get("timing"), "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2),
            "weights": report["weights"], "reference": report["reference"].get("path"),
            "mode": report["mode"], "iterations": report["params"]["iterations"],
            "load_average": os.getloadavg()}


def main() -> None:
    if "--end-to-end" in sys.argv:
        split = sys.argv.index("--") if "--" in sys.argv else len(sys.argv)
        ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        ap.add_argument("--end-to-end", action="store_true")
        ap.add_argument("--slices", type=int, default=300)
        ap.add_argument("--weights", default="medical")
        ap.add_argument("--device", default="cpu")
        args = ap.parse_args(sys.argv[1:split])
        print(json.dumps(end_to_end(args, sys.argv[split + 1:]), indent=2))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npy")
    ap.add_argument("--volume", default=str(DATA / "ct" / "totalseg_example_ct_dicom"))
    ap.add_argument("--reference", default=str(DATA / "color_ref" / "itk_VisibleWomanHeadSlice.png"))
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--modes", default="preview,volume")
    ap.add_argument("--paper-batch", type=int, default=8)
    ap.add_argument("--paper-iterations", default="50,50")
    ap.add_argument("--consistency-iterations", default=None,
                    help="also run all modes on the real 20-slice series, paper mode at these iterations (e.g. 1000,1000)")
    args = ap.parse_args()
    from PIL import Image
    ref = np.asarray(Image.open(args.reference).convert("RGB"), np.float32) / 255
    slices, spacing = load_slices(args)
    array = stretch(slices, args.slices)
    volume = Volume(array, spacing=(spacing[0], spacing[1], spacing[2] * (len(slices) - 1) / (args.slices - 1)),
                    modality="CT")
    out = {"device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu", "torch": torch.__version__,
           "volume": f"{array.shape[2]}x{array.shape[1]}x{array.shape[0]} int16 (real DICOM CT, interpolated along z)",
           "weights": "random (timing does not depend on the values)", "runs": []}
    for mode in args.modes.split(","):
        out["runs"].append(run_mode(volume, ref, mode, args.device))
    out["paper"] = paper_per_slice(slices, ref, args.device, args.paper_batch, tuple(int(v) for v in args.paper_iterations.split(",")))
    vol = next((r for r in out["runs"] if r["mode"] == "volume"), None)
    if vol:
        out["volume_vs_paper_per_slice_speedup"] = round(out["paper"]["seconds_per_slice_at_1000_1000_extrapolated"] / vol["seconds_per_slice"], 1)
    if args.consistency_iterations:
        its = tuple(int(v) for v in args.consistency_iterations.split(","))
        out["consistency_20_real_slices"] = consistency(slices, spacing, ref, args.device, its)
    out["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
