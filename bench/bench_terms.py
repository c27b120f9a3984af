"""What each loss term adds to one engine iteration: the network with its taps, then each term alone on it.

Each objective is an engine.evaluator (a CUDA graph on a GPU), timed side by side with the bare
torchvision VGG19 (NCHW and channels-last, default and deterministic cuDNN), median of repeats. Prints JSON.

    python bench/bench_terms.py [--device cuda] [--batches 4,16] [--size 224] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_engine import DATA, _real_pair, _timed, bare_objectives  # noqa: E402
from MedColorLib.engine.color import luma  # noqa: E402
from MedColorLib.engine.optimise import build_targets, evaluator, gpu_numerics, loss_terms  # noqa: E402
from MedColorLib.engine.losses import colour_loss, content_loss, luma_loss, swap_loss, tv_loss  # noqa: E402
from MedColorLib.options import LossWeights  # noqa: E402
from MedColorLib.engine.vgg import COLOUR_LAYERS, CONTENT_LAYER, SWAP_LAYERS, load_vgg  # noqa: E402


def objectives(net, t, bare, bare_channels_last) -> dict:
    """name -> (objective, deterministic cuDNN?)."""
    return {
        "vgg_all_taps": (lambda v: sum(f.flatten(1).sum(1) for f in net(v).values()), True),
        "vgg+colour": (lambda v: sum(colour_loss(f, t.masks[l], t.grams[l]) for l, f in net(v).items() if l in COLOUR_LAYERS), True),
        "vgg+content": (lambda v: content_loss(net(v)[CONTENT_LAYER], t.content), True),
        "vgg+swap": (lambda v: (lambda f: sum(swap_loss(f[l], t.swapped[l]) for l in SWAP_LAYERS))(net(v)), True),
        "vgg+tv+luma": (lambda v: net(v)["conv5_1"].flatten(1).sum(1) + tv_loss(v) + luma_loss(luma(v), t.luma, 0.5), True),
        "full": (lambda v: sum(loss_terms(net, v, t, LossWeights(), 2).values()), True),
        "full_nondeterministic": (lambda v: sum(loss_terms(net, v, t, LossWeights(), 2).values()), False),
        "bare_nchw": (bare, False),
        "bare_nchw_deterministic": (bare, True),
        "bare_channels_last": (bare_channels_last, False),
    }


def bench(size: int, batch: int, device: torch.device, repeats: int, data: Path) -> dict:
    net = load_vgg("random", device)
    t = build_targets(net, *_real_pair(size, batch, device, data))
    x = torch.rand(batch, 3, size, size, device=device, requires_grad=True)
    ones = torch.ones(batch, device=device)
    steps = {}
    for name, (objective, deterministic) in objectives(net, t, *bare_objectives(net, device)).items():
        with gpu_numerics(), torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=deterministic,
                                                        allow_tf32=torch.backends.cudnn.allow_tf32):
            steps[name] = evaluator(objective, x, ones, graph=device.type == "cuda")
    for _ in range(2):
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(_timed(step, device))
    return {"size": size, "batch": batch, **{f"{n}_ms": round(statistics.median(v) * 1e3, 2) for n, v in times.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batches", default="4,16")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args()
    device = torch.device(args.device)
    rows = [bench(args.size, int(b), device, args.repeats, Path(args.data)) for b in args.batches.split(",")]
    print(json.dumps({"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "torch": torch.__version__,
                      "graphs": device.type == "cuda", "results": rows}, indent=2))


if __name__ == "__main__":
    main()
