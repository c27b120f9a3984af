"""On a GPU: the optimisation with CUDA graphs against the eager engine (same result expected), run twice
(determinism), with wall-clock seconds. Prints JSON.

    python bench/check_gpu_graph.py [--data ../shared/data] [--iterations 100,100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from MedColorLib.engine import optimise as engine  # noqa: E402
from MedColorLib.options import Options  # noqa: E402
from MedColorLib.engine.slices import colorize_slices, network  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--iterations", default="100,100")
    args = ap.parse_args()
    from PIL import Image
    data = Path(args.data)
    gray = np.asarray(Image.open(data / "mri/itk_BrainT1Slice.png").convert("L"), np.float32) / 255
    ref = np.asarray(Image.open(data / "color_ref/itk_VisibleWomanHeadSlice.png").convert("RGB"), np.float32) / 255
    batch = np.stack([gray, gray[:, ::-1], gray[::-1], gray[::-1, ::-1]]).copy()
    opts = Options(mode="paper", weights="random", device="cuda", size=224,
                   iterations=tuple(int(v) for v in args.iterations.split(",")))
    net = network(opts)
    real, out = engine.evaluator, {}
    try:
        for name, graph in (("graph", True), ("graph_again", True), ("eager", False)):
            engine.evaluator = lambda o, x, s, graph, g=graph: real(o, x, s, graph=g)  # noqa: E731
            torch.cuda.synchronize()
            t = time.perf_counter()
            res = colorize_slices(net, batch, ref, opts)
            torch.cuda.synchronize()
            out[name] = (res.optimised.cpu().numpy(), res.rgb, time.perf_counter() - t)
    finally:
        engine.evaluator = real
    g, g2, e = out["graph"], out["graph_again"], out["eager"]
    print(json.dumps({
        "device": torch.cuda.get_device_name(0), "torch": torch.__version__, "slices": len(batch),
        "iterations": list(opts.iterations),
        "graph_identical_across_runs": bool(np.array_equal(g[0], g2[0]) and np.array_equal(g[1], g2[1])),
        "graph_vs_eager_optimised_max_abs": float(np.abs(g[0] - e[0]).max()),
        "graph_vs_eager_rgb_max_abs": int(np.abs(g[1].astype(int) - e[1]).max()),
        "seconds": {k: round(v[2], 2) for k, v in out.items()}}, indent=1))


if __name__ == "__main__":
    main()
