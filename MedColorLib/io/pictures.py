"""Pictures: 2-D PNG/JPEG written atomically, and strips of panels side by side."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from MedColorLib.io.atomic import atomic_path, check_destination
from MedColorLib.errors import MedColorError


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def write_image_2d(path: str | Path, rgb: np.ndarray, quality: int = 95) -> Path:
    """Write an (H, W, 3) (or (H, W, 4) for PNG, or (H, W) gray) uint8 picture atomically (PNG/JPEG)."""
    path = Path(path)
    rgb = np.asarray(rgb)
    suffix = path.suffix.lower()
    if suffix not in PICTURE_SUFFIXES:
        raise MedColorError(f"cannot write {path}: unknown picture format; use .png or .jpg")
    if rgb.dtype != np.uint8 or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[-1] in (3, 4))):
        raise MedColorError(f"picture must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if suffix != ".png" and rgb.ndim == 3 and rgb.shape[-1] == 4:
        rgb = rgb[..., :3]
    check_destination(path)
    options = {"format": "PNG"} if suffix == ".png" else {"format": "JPEG", "quality": quality}
    with atomic_path(path) as tmp:
        with open(tmp, "xb") as f:
            Image.fromarray(np.ascontiguousarray(rgb)).save(f, **options)
            f.flush()
            os.fsync(f.fileno())
    return path


def side_by_side(images: list[Image.Image], gap: int = 4, background: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """Images pasted left to right, top-aligned, gap px apart, on an RGB sheet of the background colour."""
    sheet = Image.new("RGB", (sum(im.width for im in images) + gap * (len(images) - 1), max(im.height for im in images)),
                      background)
    x = 0
    for im in images:
        sheet.paste(im, (x, 0))
        x += im.width + gap
    return sheet


def stacked(images: list[Image.Image], gap: int = 4, background: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """Images pasted top to bottom, left-aligned, gap px apart, on an RGB sheet of the background colour."""
    sheet = Image.new("RGB", (max(im.width for im in images), sum(im.height for im in images) + gap * (len(images) - 1)),
                      background)
    y = 0
    for im in images:
        sheet.paste(im, (0, y))
        y += im.height + gap
    return sheet


def labelled_tile(image: np.ndarray, label: str, height: int = 128) -> Image.Image:
    """A gray (H, W) float or (H, W, 3) RGB image resized to height, with its label underneath."""
    a = np.asarray(image)
    a = a if a.dtype == np.uint8 else np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)
    img = Image.fromarray(a).convert("RGB")
    img = img.resize((max(1, round(img.width * height / img.height)), height), Image.LANCZOS)
    out = Image.new("RGB", (max(img.width, 6 * len(label) + 4), height + 14), (255, 255, 255))
    out.paste(img, ((out.width - img.width) // 2, 0))
    ImageDraw.Draw(out).text((2, height + 1), label, fill=(0, 0, 0))
    return out
