"""The paper's optimisation: targets from one frozen VGG19 pass, then two L-BFGS stages (best iterate kept).

Images are batches (B, 3, H, W) in [0, 1], one reference and one mask pair per image; every loss is
computed per image, so the images of a batch do not influence each other's objective (L-BFGS shares
its step history across the batch: a batch is one optimisation of the sum).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
from kornia.color import rgb_to_ycbcr

from MedColorLib.engine.color import luma
from MedColorLib.engine.correspondence import correspondence_chroma, with_chroma
from MedColorLib.engine.gram import MaskSupport, mask_support, masked_gram
from MedColorLib.engine.losses import chroma_loss, colour_loss, content_loss, luma_loss, style_swap, swap_loss, tv_loss
from MedColorLib.engine.vgg import COLOUR_LAYERS, CONTENT_LAYER, SWAP_LAYERS, VGGFeatures
from MedColorLib.errors import CancelledError
from MedColorLib.options import LossWeights, Options
from MedColorLib.types import CancelFn, Progress, ProgressFn

Objective = Callable[[torch.Tensor], torch.Tensor]  # (B, 3, H, W) -> (B,) loss per image


@dataclass
class Targets:
    """What the losses compare against, computed once per batch."""

    content: torch.Tensor                 # (B, C, h, w) conv4_2 of the gray input
    masks: dict[str, MaskSupport]         # target mask supports per colour layer
    grams: dict[str, torch.Tensor]        # reference masked Grams per colour layer, (B, K, C, C)
    swapped: dict[str, torch.Tensor]      # style-swap targets per swap layer, (B, C, h, w)
    luma: torch.Tensor                    # (B, 1, H, W) input luma in [0, 1]
    chroma: torch.Tensor | None = None    # (B, 2, H, W) correspondence (Cb, Cr), when its term is on


@torch.no_grad()
def build_targets(net: VGGFeatures, gray: torch.Tensor, reference: torch.Tensor,
                  target_masks: torch.Tensor, reference_masks: torch.Tensor, with_swap: bool = True,
                  chroma: torch.Tensor | None = None) -> Targets:
    """gray (B, 1, H, W), reference (B, 3, H, W) in [0, 1]; masks (B, K, H, W) rank-paired; chroma (B, 2, H, W)."""
    f_in = net(gray.expand(-1, 3, -1, -1))
    f_ref = net(reference)
    m_in, m_ref = net.propagate_masks(target_masks), net.propagate_masks(reference_masks)
    grams = {l: masked_gram(f_ref[l], m_ref[l]) for l in COLOUR_LAYERS}
    swapped = {}
    if with_swap:
        # Deviation: gray target patches are matched against the reference's *gray* features (colour
        # cannot be compared with a gray image), then replaced by the colour features at that position.
        f_match = net(luma(reference).expand(-1, 3, -1, -1), SWAP_LAYERS)
        swapped = {l: torch.stack([style_swap(f_in[l][b], f_match[l][b], f_ref[l][b]) for b in range(len(gray))])
                   for l in SWAP_LAYERS}
    return Targets(f_in[CONTENT_LAYER], {l: mask_support(m_in[l]) for l in COLOUR_LAYERS}, grams, swapped, gray,
                   chroma)


def loss_terms(net: VGGFeatures, x: torch.Tensor, t: Targets, w: LossWeights, stage: int) -> dict[str, torch.Tensor]:
    """Weighted loss terms, each (B,). Stage 1: content + colour + TV (+ match); stage 2 adds Y and swap."""
    f = net(x)
    s = net.pixel_scale
    terms = {
        "content": w.content * content_loss(f[CONTENT_LAYER], t.content),
        "colour": w.colour * sum(b * colour_loss(f[l], t.masks[l], t.grams[l]) for b, l in zip(w.colour_layers, COLOUR_LAYERS)),
        "tv": w.tv * tv_loss(x * s),
    }
    if t.chroma is not None and w.match:
        terms["match"] = w.match * chroma_loss(rgb_to_ycbcr(x)[:, 1:] * s, t.chroma * s)
    if stage == 2:
        terms["luma"] = w.luma * luma_loss(luma(x) * s, t.luma * s, w.luma_l1)
        if t.swapped:
            terms["swap"] = w.swap * sum(swap_loss(f[l], t.swapped[l]) for l in SWAP_LAYERS)
    return terms


@contextmanager
def gpu_numerics():
    """Deterministic cuDNN algorithms (same seed, same device -> same output), and float32 matrix products
    (the Grams) at the precision cuDNN convolutions use by default (TF32 on recent GPUs). The previous
    settings are restored on exit; on the CPU neither changes anything."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if torch.backends.cudnn.allow_tf32 else previous)
    try:
        with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, benchmark=False, deterministic=True,
                                        allow_tf32=torch.backends.cudnn.allow_tf32):
            yield
    finally:
        torch.set_float32_matmul_precision(previous)


def optimise(x0: torch.Tensor, objective: Objective, iterations: int, method: str = "lbfgs", stage: str = "",
             progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> torch.Tensor:
    """Minimise objective from x0; returns, per image, the lowest-loss iterate seen (not the last)."""
    x = x0.detach().clone().requires_grad_(True)
    best_x, best = x0.detach().clone(), torch.full((len(x0),), float("inf"), device=x0.device)
    scale = _gradient_scale(x0, objective)
    evaluate = evaluator(objective, x, scale, graph=x.device.type == "cuda")
    if method == "lbfgs":  # one evaluation per step() (no line search); max_iter=1 keeps the history across steps
        opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=100, tolerance_grad=-1, tolerance_change=-1,
                                line_search_fn=None)
    else:
        opt = torch.optim.Adam([x], lr=0.02)

    def closure() -> torch.Tensor:
        per_image = evaluate()
        with torch.no_grad():  # torch.where, not boolean indexing: no device synchronisation
            better = per_image < best
            best.copy_(torch.where(better, per_image, best))
            best_x.copy_(torch.where(better[:, None, None, None], x, best_x))
        return per_image.sum()

    for i in range(iterations):
        if cancel is not None and cancel():
            raise CancelledError("cancelled")
        loss = opt.step(closure)
        if progress is not None:
            progress(Progress(stage, i + 1, iterations, f"loss {float(loss.detach()) / len(x0):.4g} (scaled)"))
    with torch.no_grad():  # the last update has not been evaluated yet
        final = objective(x) * scale
        better = final < best
        best_x[better] = x.detach()[better]
    return best_x


def evaluator(objective: Objective, x: torch.Tensor, scale: torch.Tensor, graph: bool) -> Callable[[], torch.Tensor]:
    """A function that evaluates objective(x) * scale (B,) and leaves its gradient in x.grad, for x's current values.

    graph (CUDA only): capture the evaluation once as a CUDA graph and replay it: one launch instead of the
    several hundred small kernels of the losses, whose launch cost exceeds their work at small batches
    (bench/README.md). The objective must then not copy from the host or synchronise.
    """
    def eager() -> torch.Tensor:
        x.grad = None
        per_image = objective(x) * scale
        per_image.sum().backward()
        return per_image.detach()

    if not graph:
        return eager
    main, side = torch.cuda.current_stream(x.device), torch.cuda.Stream(x.device)
    side.wait_stream(main)
    captured = torch.cuda.CUDAGraph()
    # warm-up (cuDNN/cuBLAS handles, workspaces) and capture off the main stream; this context restores
    # the main stream even when a failed capture leaves torch.cuda.graph's own one unexited
    with torch.cuda.stream(side):
        for _ in range(2):
            eager()
        x.grad = None             # backward in the capture allocates the static gradient the replays refill
        try:
            with torch.cuda.graph(captured, stream=side):
                per_image = objective(x) * scale
                per_image.sum().backward()
        except torch.cuda.OutOfMemoryError:
            raise                 # the pipeline halves the batch
        except RuntimeError as err:  # an operation this torch or GPU cannot capture: the same computation, eagerly
            warnings.warn(f"CUDA graph capture failed ({str(err).strip().splitlines()[0][:160]}); evaluating eagerly")
            captured = None
    main.wait_stream(side)
    if captured is None:
        x.grad = None
        return eager

    def replay() -> torch.Tensor:
        captured.replay()
        return per_image.detach()
    return replay


def _gradient_scale(x0: torch.Tensor, objective: Objective) -> torch.Tensor:
    """Per-image factor that makes the starting gradient 1 per pixel on average, shape (B,).

    The minimiser and the best iterate do not change, but torch's L-BFGS is not scale-free: it skips
    curvature pairs with s.y < 1e-10 and caps only large first steps, so tiny gradients (random weights,
    flat losses) would leave it at steepest descent with negligible steps.
    """
    x = x0.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(x).sum(), x)
    return grad.abs().flatten(1).mean(1).clamp_min(1e-30).reciprocal()


def initial_image(gray: torch.Tensor, how: str, seed: int, chroma: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 3, H, W) start: the input with the correspondence (B, 2, H, W) chroma, the gray input,
    or near-constant noise around the ImageNet mean (paper)."""
    if how == "correspondence":
        return with_chroma(gray, chroma)
    # drawn on the CPU (the same start on every device), one draw shared by all slices of a batch, so a
    # slice's result does not depend on which batch it is in
    g = torch.Generator().manual_seed(seed)
    noise = 1e-3 * torch.randn((1, 3, *gray.shape[2:]), generator=g).to(gray)
    if how == "input":
        return gray.expand(-1, 3, -1, -1) + noise
    return (torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).to(gray) + noise).expand(len(gray), -1, -1, -1)


def wants_correspondence(options: Options, start: torch.Tensor | None = None) -> bool:
    """The correspondence is needed to start from it, or for its term when there is an optimisation at all."""
    return (options.init == "correspondence" and start is None) or (options.loss.match > 0 and sum(options.iterations) > 0)


def colorize_batch(net: VGGFeatures, gray: torch.Tensor, reference: torch.Tensor, target_masks: torch.Tensor,
                   reference_masks: torch.Tensor, options: Options, progress: ProgressFn | None = None,
                   cancel: CancelFn | None = None, start: torch.Tensor | None = None,
                   chroma: torch.Tensor | None = None) -> torch.Tensor:
    """The paper's two-stage optimisation. Returns (B, 3, H, W) RGB in [0, 1] (before post-filter/imaging).

    start: a warm start (B, 3, H, W) instead of options.init, for volume slices. chroma: the correspondence's
    (B, 2, H, W) (Cb, Cr) when already computed (computed here when needed and not given).
    """
    it1, it2 = options.iterations
    with gpu_numerics():
        if chroma is None and wants_correspondence(options, start):
            chroma = correspondence_chroma(net, gray, reference, luma_weight=options.luma_weight())
        t = build_targets(net, gray, reference, target_masks, reference_masks, with_swap=it2 > 0, chroma=chroma)
        x = initial_image(gray, options.init, options.seed, chroma) if start is None else start
        for stage, n in ((1, it1), (2, it2)):
            if n:
                x = optimise(x, lambda v, s=stage: sum(loss_terms(net, v, t, options.loss, s).values()), n,
                             options.optimizer, f"stage {stage}", progress, cancel)
    return x.clamp(0, 1)
