"""Per-step cost of the paper's optimisation on flat pseudo-colour images against a photograph (issue 19's worst
case: a flat multi-region atlas image reported at 3.8 s per stage-2 step against 0.2 s in stage 1). Prints JSON.

For each pair, 2-D paper mode at --size with --iterations: per stage, CPU seconds per step (process time, one
thread, so another process on the machine does not inflate it) as median / 95th percentile / max, objective
evaluations per step, and the number of subnormal floats met in the network's forward and backward passes
(the usual cause of 10-100x slower float arithmetic on x86). Pairs: the default library's MNI renderings
(flat tissue classes), a synthetic 40-region atlas label map drawn with a random colour table, and the
Visible Woman cryosection halves (a photograph).

    python bench/bench_worst_case.py [--iterations 100,100] [--size 224] [--weights medical]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from MedColorLib.engine.color import luma_np  # noqa: E402
from MedColorLib.engine.slices import colorize_slices, network  # noqa: E402
from MedColorLib.options import Options  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def atlas(gray: np.ndarray, regions: int = 40, seed: int = 0) -> np.ndarray:
    """A flat label map over the tissue of a gray slice: Voronoi regions of random seeds, random RGB colours."""
    mask = gray > 0.05
    rng = np.random.default_rng(seed)
    seeds = np.zeros(gray.shape, bool)
    seeds.flat[rng.choice(np.flatnonzero(mask), regions, replace=False)] = True
    labels, _ = ndimage.label(seeds)
    _, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    table = rng.integers(0, 256, (regions + 1, 3))
    table[0] = 0
    return (table[labels[iy, ix] * mask] / 255).astype(np.float32)


def pairs(library: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (truth RGB, reference RGB), float32 in [0, 1]."""
    def rgb(path: Path) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB"), np.float32) / 255
    mni = sorted((library / "pseudo").glob("mni152_*axial*.png"))
    vw = rgb(DATA / "color_ref" / "itk_VisibleWomanHeadSlice.png")
    half = vw.shape[1] // 2
    return {"mni_rendering": (rgb(mni[2]), rgb(mni[4])),
            "atlas_label_map": (atlas(luma_np(rgb(mni[2]))), atlas(luma_np(rgb(mni[4])), seed=1)),
            "visible_woman_halves": (vw[:, :half], vw[:, half:])}


def per_step(truth: np.ndarray, ref: np.ndarray, opts: Options) -> dict:
    """CPU seconds per step, evaluations per step and subnormals, per stage."""
    net = network(opts)
    for m in net.layers:
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False   # full backward hooks cannot see in-place outputs
    tiny, counts = torch.finfo(torch.float32).tiny, {"subnormal": 0, "evaluations": 0}

    def subnormal(t: torch.Tensor) -> int:
        return int(((t != 0) & (t.abs() < tiny)).sum())
    for m in net.layers:
        m.register_forward_hook(lambda mod, i, o: counts.__setitem__("subnormal", counts["subnormal"] + subnormal(o)))
        m.register_full_backward_hook(lambda mod, gi, go: counts.__setitem__(
            "subnormal", counts["subnormal"] + sum(subnormal(g) for g in go if g is not None)))
    net.layers[0].register_forward_hook(lambda *a: counts.__setitem__("evaluations", counts["evaluations"] + 1))
    rows, last = [], [time.process_time()]

    def progress(p) -> None:
        now = time.process_time()
        rows.append((p.stage, now - last[0], counts["evaluations"], counts["subnormal"]))
        last[0] = now
        counts["evaluations"] = counts["subnormal"] = 0
    colorize_slices(net, luma_np(truth).astype(np.float32)[None], ref, opts, progress=progress)
    out = {}
    for stage in ("stage 1", "stage 2"):
        steps = [r for r in rows if r[0] == stage][1:]   # the first includes the stage's set-up
        if steps:
            s = np.array([r[1] for r in steps])
            out[stage] = {"steps": len(steps), "cpu_s_median": round(float(np.median(s)), 3),
                          "cpu_s_p95": round(float(np.percentile(s, 95)), 3), "cpu_s_max": round(float(s.max()), 3),
                          "evaluations_per_step": sorted({r[2] for r in steps}),
                          "subnormals": int(sum(r[3] for r in steps))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", default="100,100")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--weights", default="medical")
    args = ap.parse_args()
    torch.set_num_threads(1)
    opts = Options(mode="paper", weights=args.weights, device="cpu", size=args.size,
                   iterations=tuple(int(v) for v in args.iterations.split(",")))
    from MedColorLib.reference.default_library import build_default_library
    with tempfile.TemporaryDirectory() as tmp:
        build_default_library(tmp)
        figures = {name: per_step(t, r, opts) for name, (t, r) in pairs(Path(tmp)).items()}
    print(json.dumps({"size": args.size, "iterations": args.iterations, "weights": args.weights, "threads": 1,
                      "pairs": figures}, indent=2))


if __name__ == "__main__":
    main()
