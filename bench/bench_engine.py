"""One engine iteration (stage 2: the five paper terms and the correspondence term) against a bare torchvision VGG16/VGG19 forward+backward.

Same input size, batch and device, measured side by side in one run (interleaved, median of repeats).
Bare = torchvision vgg16/vgg19().features up to relu5_1 (the part the engine uses), frozen weights, gradient
with respect to the input only, as in the optimisation. The engine step is engine.evaluator, as the
optimisation runs it (a CUDA graph on a GPU; there the eager engine and a graphed bare network are
reported too). Prints JSON. Target: engine / bare <= 1.3.

    python bench/bench_engine.py [--device cpu|cuda] [--archs vgg16,vgg19] [--sizes 224] [--batches 1,4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from MedColorLib.engine.correspondence import correspondence_chroma  # noqa: E402
from MedColorLib.engine.optimise import build_targets, evaluator, gpu_numerics, loss_terms  # noqa: E402
from MedColorLib.options import LossWeights  # noqa: E402
from MedColorLib.engine.vgg import load_vgg  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _real_pair(size: int, batch: int, device: torch.device, data: Path = DATA):
    from PIL import Image
    from MedColorLib.engine.color import luma_np
    from MedColorLib.engine.masks import paired_masks
    gray = np.asarray(Image.open(data / "mri/itk_BrainT1Slice.png").convert("L").resize((size, size)), np.float32) / 255
    ref = np.asarray(Image.open(data / "color_ref/itk_VisibleWomanHeadSlice.png").convert("RGB").resize((size, size)), np.float32) / 255
    mt, mr = paired_masks(gray, luma_np(ref).astype(np.float32))
    rep = lambda a: torch.as_tensor(a)[None].expand(batch, *a.shape).contiguous().to(device)  # noqa: E731
    return rep(gray[None]), rep(ref.transpose(2, 0, 1)), rep(mt), rep(mr)


def _timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def bench(size: int, batch: int, device: torch.device, repeats: int, data: Path = DATA, arch: str = "vgg19") -> dict:
    net = load_vgg(f"random:{arch}", device)
    gray, ref, mt, mr = _real_pair(size, batch, device, data)
    chroma = correspondence_chroma(net, gray, ref)   # once per batch, before the optimisation (warm-up here)
    correspondence_s = _timed(lambda: correspondence_chroma(net, gray, ref), device)
    targets = build_targets(net, gray, ref, mt, mr, chroma=chroma)   # the default objective, match term included
    weights = LossWeights()
    x = torch.rand(batch, 3, size, size, device=device, requires_grad=True)
    bare, bare_channels_last = bare_objectives(net, device)
    objective = lambda v: sum(loss_terms(net, v, targets, weights, stage=2).values())  # noqa: E731
    ones = torch.ones(batch, device=device)
    cuda = device.type == "cuda"
    with gpu_numerics():  # as engine.optimise builds it: a CUDA graph on a GPU, eager on the CPU
        engine_step = evaluator(objective, x, ones, graph=cuda)
    steps = {"engine": engine_step, "bare": evaluator(bare, x, ones, graph=False),
             # the same bare network (of net.arch) in the engine's channels-last layout, for a like-for-like view
             "bare_channels_last": evaluator(bare_channels_last, x, ones, graph=False)}
    if cuda:  # the engine without its CUDA graph, and the bare network with one
        engine_eager = evaluator(objective, x, ones, graph=False)
        steps["engine_eager"] = lambda: _numerics(engine_eager)
        steps["bare_graph"] = evaluator(bare, x, ones, graph=True)
    for _ in range(2):  # warm-up
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    for _ in range(repeats):  # interleaved, so that machine noise hits all alike
        for name, step in steps.items():
            times[name].append(_timed(step, device))
    med = {name: statistics.median(t) for name, t in times.items()}
    row = {"arch": arch, "size": size, "batch": batch, **{f"{name}_s": round(t, 5) for name, t in med.items()}}
    row["ratio"] = round(med["engine"] / med["bare"], 3)
    row["ratio_to_channels_last"] = round(med["engine"] / med["bare_channels_last"], 3)
    if cuda:
        row["ratio_to_graphed_bare"] = round(med["engine"] / med["bare_graph"], 3)
    row["engine_s_per_image"] = round(med["engine"] / batch, 5)
    row["correspondence_s"] = round(correspondence_s, 5)   # one-off per batch; compare with 2000 engine steps
    return row


def bare_objectives(net, device: torch.device):
    """The bare torchvision network of net's architecture to relu5_1, frozen, on the engine's normalised input,
    summed per image: in torchvision's default NCHW layout, and in the engine's channels-last layout."""
    from MedColorLib.engine.backbones import features_module
    nchw = features_module(net.arch).eval().requires_grad_(False).to(device)
    nhwc = features_module(net.arch).eval().requires_grad_(False).to(device, memory_format=torch.channels_last)
    cl = torch.channels_last
    return (lambda v: nchw(net.normalise(v)).flatten(1).sum(1),
            lambda v: nhwc(net.normalise(v).contiguous(memory_format=cl)).flatten(1).sum(1))


def _numerics(step):
    with gpu_numerics():
        return step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--archs", default="vgg16,vgg19")
    ap.add_argument("--sizes", default="224")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data", default=str(DATA), help="the shared data folder (default ../shared/data)")
    args = ap.parse_args()
    device = torch.device(args.device)
    rows = [bench(s, b, device, args.repeats, Path(args.data), arch) for arch in args.archs.split(",")
            for s in map(int, args.sizes.split(",")) for b in map(int, args.batches.split(","))]
    info = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
            "torch": torch.__version__, "weights": "random (timing does not depend on the values)", "results": rows,
            "target": "engine / bare <= 1.3"}
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
