"""``medcolor finetune``: adapt VGG19 (or VGG16) so that the features of a gray image match those of its colour original.

The paper used "VGG19 fine-tuned on medical data sets" without a recipe; this one follows exemplar-based
colorization, which fine-tunes VGG19 on gray images. A frozen teacher (the start weights) sees a colour
image x; the student (a trainable copy) sees gray(x) (BT.601 luma as R = G = B) and learns to reproduce
the teacher's features at the layers the colour loss uses (relu1_1 ... relu5_1; each MSE divided by the
teacher's mean square, so every layer counts alike). Gray medical images, when given, keep their features
(student(g) ~ teacher(g), weight ``keep``), and an L2 pull toward the start weights (``anchor``, as in
L2-SP) stops the network from drifting or collapsing. Adam. The result is a features state dict that
``--weights PATH`` (vgg.load_vgg) loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from MedColorLib.io.atomic import atomic_path
from MedColorLib.io.paths import check_regular_file
from MedColorLib.engine.color import luma
from MedColorLib.errors import MedColorError
from MedColorLib.options import DEVICES, FINETUNE_LIMITS, check_int, check_number
from MedColorLib.engine.vgg import COLOUR_LAYERS, VGGFeatures, load_vgg

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")
STATE_SUFFIXES = (".pth", ".pt")
StepFn = Callable[[int, int, float], None]   # (step, steps, loss)


@dataclass
class FinetuneSettings:
    """Fine-tuning settings: start weights, schedule, crops, regularisation."""

    weights: str = "auto"
    steps: int = 200
    size: int = 128            # crop size in px
    batch: int = 4
    lr: float = 1e-5
    anchor: float = 1e-3       # L2 pull toward the start weights
    keep: float = 1.0          # gray medical images: keep their features
    augment: bool = True       # random scale, crop position and flip
    device: str = "auto"
    seed: int = 0

    def check(self) -> "FinetuneSettings":
        """Raise MedColorError (one line) on a setting of the wrong type or out of range (FINETUNE_LIMITS);
        return self."""
        for name in ("steps", "size", "batch", "seed"):
            check_int(name, getattr(self, name), FINETUNE_LIMITS[name])
        for name in ("lr", "anchor", "keep"):
            check_number(name, getattr(self, name), FINETUNE_LIMITS[name])
        if self.lr == 0:
            raise MedColorError("lr must be above 0")
        if self.device not in DEVICES or not isinstance(self.weights, str) or not isinstance(self.augment, bool):
            raise MedColorError(f"device must be one of {', '.join(DEVICES)}, weights a name or a path, "
                                "augment true or false")
        return self


@dataclass
class FinetuneResult:
    """The fine-tuned features state dict (CPU tensors), the feature loss per step, the start weights' label."""

    state: dict[str, torch.Tensor]
    losses: list[float]
    start_label: str
    note: dict[str, str] | None = None   # architecture and preprocessing, saved with the state (read_torch)


def image_files(items: list[str | Path], what: str) -> list[Path]:
    """Files and folders (searched recursively for images) -> sorted image paths; none -> MedColorError."""
    found: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            check_regular_file(item, what)  # missing, a FIFO, a device: one line, nothing opened
            found.append(item)
    if not found:
        raise MedColorError(f"no {what} found in {', '.join(map(str, items)) or '(nothing given)'}")
    return found


def load_images(references: list[str | Path], grays: list[str | Path]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Colour references (h, w, 3) and gray images (h, w), float32 in [0, 1]."""
    from MedColorLib.io.images import load_reference, read_gray_image
    refs = [load_reference(p) for p in image_files(references, "colour reference")]
    gray = [read_gray_image(p) for p in image_files(grays, "gray image")] if grays else []
    return refs, gray


def random_crops(images: list[np.ndarray], size: int, batch: int, rng: np.random.Generator,
                 augment: bool) -> torch.Tensor:
    """(batch, C, size, size) crops: a random image, shorter side scaled to size x U(1, 1.3), crop, flip."""
    out = []
    for _ in range(batch):
        img = images[int(rng.integers(len(images)))]
        t = torch.as_tensor(np.ascontiguousarray(img), dtype=torch.float32)
        t = (t.permute(2, 0, 1) if t.ndim == 3 else t[None])[None]
        scale = size * (rng.uniform(1.0, 1.3) if augment else 1.0) / min(t.shape[-2:])
        h, w = (max(size, round(s * scale)) for s in t.shape[-2:])
        t = F.interpolate(t, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        top = int(rng.integers(h - size + 1)) if augment else (h - size) // 2
        left = int(rng.integers(w - size + 1)) if augment else (w - size) // 2
        t = t[..., top:top + size, left:left + size]
        out.append(t.flip(-1) if augment and rng.random() < 0.5 else t)
    return torch.cat(out).clamp(0, 1)


def feature_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of MSE(student, teacher) / mean square of the teacher (scale-free per layer)."""
    return sum(F.mse_loss(student[l], teacher[l]) / teacher[l].pow(2).mean().clamp_min(1e-12) for l in teacher)


def anchor_penalty(net: VGGFeatures, start: list[torch.Tensor]) -> torch.Tensor:
    """Sum of squared differences of the trainable weights from the start weights (L2-SP)."""
    return sum((p - p0).pow(2).sum() for p, p0 in zip(net.layers.parameters(), start))


def finetune(references: list[np.ndarray], grays: list[np.ndarray], settings: FinetuneSettings,
             progress: StepFn | None = None) -> FinetuneResult:
    """Train a copy of the start network so that gray(x) gives x's features; returns its state dict and losses."""
    from MedColorLib.engine.device import resolve_device
    settings.check()
    if not references:
        raise MedColorError("fine-tuning needs at least one colour reference image")
    device = resolve_device(settings.device)
    teacher = load_vgg(settings.weights, device, settings.seed)
    student = load_vgg(settings.weights, device, settings.seed)
    student.layers.requires_grad_(True)
    start = [p.detach().clone() for p in student.layers.parameters()]
    opt = torch.optim.Adam(student.layers.parameters(), lr=settings.lr)
    rng, losses = np.random.default_rng(settings.seed), []
    for step in range(settings.steps):
        x = random_crops(references, settings.size, settings.batch, rng, settings.augment).to(device)
        loss = _step_loss(student, teacher, x, grays, settings, rng)
        opt.zero_grad()
        (loss + settings.anchor * anchor_penalty(student, start)).backward()
        opt.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, settings.steps, losses[-1])
    if not np.isfinite(losses).all():
        raise MedColorError(f"fine-tuning diverged (loss {losses[-1]}); lower --lr (now {settings.lr:g})")
    state = {k: v.detach().cpu().clone() for k, v in student.layers.state_dict().items()}
    note = {"architecture": teacher.arch, "preprocessing": teacher.preprocess, "source": f"finetune of {teacher.label}"}
    return FinetuneResult(state, losses, teacher.label, note)


def _step_loss(student: VGGFeatures, teacher: VGGFeatures, x: torch.Tensor, grays: list[np.ndarray],
               settings: FinetuneSettings, rng: np.random.Generator) -> torch.Tensor:
    """Feature loss of one batch: gray(x) -> x's features, plus the gray images' keep term."""
    with torch.no_grad():
        target = teacher(x, COLOUR_LAYERS)
    loss = feature_loss(student(luma(x).expand(-1, 3, -1, -1), COLOUR_LAYERS), target)
    if grays and settings.keep > 0:
        g = random_crops(grays, settings.size, settings.batch, rng, settings.augment).to(x.device).expand(-1, 3, -1, -1)
        with torch.no_grad():
            kept = teacher(g, COLOUR_LAYERS)
        loss = loss + settings.keep * feature_loss(student(g, COLOUR_LAYERS), kept)
    return loss


def save_state(state: dict[str, torch.Tensor], path: str | Path, note: dict[str, str] | None = None) -> Path:
    """torch.save the state dict atomically (temporary file in the same folder, then rename); with a note
    (architecture, preprocessing), as {"medcolor": note, "state_dict": state}, which --weights PATH reads."""
    path = Path(path)
    if not path.parent.is_dir():
        raise MedColorError(f"output folder {path.parent} does not exist; create it first")
    with atomic_path(path) as tmp:
        torch.save({"medcolor": note, "state_dict": state} if note else state, tmp)
    return path


def finetune_files(images: list[str], references: list[str], out: str | Path, settings: FinetuneSettings,
                   progress: StepFn | None = None) -> FinetuneResult:
    """The command: check every setting and the destination (never one of the images), read the images,
    fine-tune, save the features state dict to out."""
    from MedColorLib.io.outputs import check_outputs
    settings.check()
    sources = image_files(references, "colour reference") + (image_files(images, "gray image") if images else [])
    check_outputs([("--out", out, STATE_SUFFIXES)], sources)
    refs, grays = load_images(references, images)
    result = finetune(refs, grays, settings, progress)
    save_state(result.state, out, result.note)
    return result

