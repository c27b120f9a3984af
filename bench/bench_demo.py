"""The demo's cost and picture: `medcolor demo` end to end in a fresh process, then the demo volume coloured in
this process with the new default (the correspondence on the key slices, propagated) and with `--refine` (the
previous default: 100 + 100 L-BFGS steps on the key slices), from the same retrieved reference. Prints JSON:
seconds of each, and the Delta E_ab (CIELAB a*b*) between the two outputs over tissue, per slice and overall.

    python bench/bench_demo.py [--weights medical] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from MedColorLib.cli.demo import demo_volume  # noqa: E402
from MedColorLib.io.images import load_reference  # noqa: E402
from MedColorLib.metrics.truth import delta_e_ab  # noqa: E402
from MedColorLib.options import Options  # noqa: E402
from MedColorLib.pipeline.volume import colorize_volume  # noqa: E402


def run_demo(out: Path, weights: str) -> dict:
    """`medcolor demo --out out` in a child process: wall seconds, the report's seconds, the child's peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "MedColorLib", "demo", "--out", str(out), "--weights", weights,
                          "--quiet"], capture_output=True, text=True, env=env)
    if run.returncode:
        raise SystemExit(run.stderr)
    report = json.loads((out / "report.json").read_text())
    return {"wall_seconds": round(time.perf_counter() - t, 1), "colorize_seconds": round(report["seconds"], 1),
            "timing": report.get("timing"), "reference": report["reference"]["path"],
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2)}


def default_vs_refined(reference: str, weights: str) -> dict:
    """The demo volume with the default and with --refine from one reference: seconds and Delta E between them."""
    volume, ref = demo_volume(), load_reference(reference)
    runs = {}
    for label, refine in (("default", False), ("refine", True)):
        opts = Options(mode="volume", weights=weights, device="cpu", refine=refine)
        result = colorize_volume(volume, opts, reference=ref)
        runs[label] = result
    tissue = runs["default"].rgba[..., 3] > 0
    per_slice = [delta_e_ab(a[..., :3] / 255.0, b[..., :3] / 255.0, m)
                 for a, b, m in zip(runs["default"].rgba, runs["refine"].rgba, tissue) if m.any()]
    return {"reference": reference,
            **{f"{k}_seconds": round(r.report["seconds"], 1) for k, r in runs.items()},
            **{f"{k}_timing": r.report["timing"] for k, r in runs.items()},
            "refine_iterations": list(runs["refine"].report["params"]["iterations"]),
            "delta_e_ab_default_vs_refine_tissue_mean": round(float(np.mean(per_slice)), 3),
            "delta_e_ab_default_vs_refine_worst_slice": round(float(np.max(per_slice)), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="medical")
    ap.add_argument("--out", help="keep the demo's outputs here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp) / "demo"
        demo = run_demo(out, args.weights)
        figures = {"demo": demo, "same_reference": default_vs_refined(demo["reference"], args.weights),
                   "load_average": os.getloadavg()}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
