"""2-D inputs: a gray PNG/JPEG or a single-frame DICOM slice -> float32 gray in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import MedColorError

DICOM_SUFFIXES = (".dcm", ".dicom")


def read_gray(path: str | Path) -> np.ndarray:
    """A 2-D gray image as (H, W) float32 in [0, 1]; colour, 3-D, NaN or unreadable input -> MedColorError."""
    path = Path(path)
    if not path.is_file():
        raise MedColorError(f"input not found: {path}")
    gray = _read_dicom(path) if is_dicom(path) else _read_picture(path)
    if not np.isfinite(gray).all():
        raise MedColorError(f"{path} contains NaN or infinite values")
    return gray


def is_dicom(path: Path) -> bool:
    """DICOM by suffix, or by the 'DICM' marker after the 128-byte preamble."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _read_picture(path: Path) -> np.ndarray:
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as err:
        raise MedColorError(f"cannot read image {path}: {err}") from None
    if getattr(img, "n_frames", 1) > 1:
        raise MedColorError(f"{path} has {img.n_frames} frames; a single 2-D gray image is expected")
    if img.mode in ("I;16", "I;16B", "I", "F"):
        return _rescale(np.asarray(img, dtype=np.float32))
    rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    if np.abs(rgb - rgb[..., :1]).max() > 2:  # tolerate JPEG noise on gray pictures saved as RGB
        raise MedColorError(f"{path} is a colour image; a gray input is expected")
    return np.asarray(img.convert("L"), dtype=np.float32) / 255


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut

    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except Exception as err:  # pydicom raises many types for broken or unsupported files
        raise MedColorError(f"cannot read DICOM {path}: {str(err).splitlines()[0][:120]}") from None
    if ds.get("PhotometricInterpretation", "MONOCHROME2") not in ("MONOCHROME1", "MONOCHROME2"):
        raise MedColorError(f"{path} is a colour DICOM ({ds.PhotometricInterpretation}); a gray input is expected")
    if pixels.ndim != 2:
        raise MedColorError(f"{path} has {pixels.shape[0]} frames; a single-frame slice is expected")
    values = apply_modality_lut(pixels, ds).astype(np.float32)
    gray = _rescale(values, _dicom_window(ds))
    return 1 - gray if ds.PhotometricInterpretation == "MONOCHROME1" else gray


def _dicom_window(ds) -> tuple[float, float] | None:
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre is None or width is None:
        return None
    first = lambda v: float(v[0]) if hasattr(v, "__len__") and not isinstance(v, str) else float(v)  # noqa: E731
    c, w = first(centre), first(width)
    return (c - w / 2, c + w / 2) if w > 1 else None


def _rescale(values: np.ndarray, window: tuple[float, float] | None = None) -> np.ndarray:
    """Map values to [0, 1] by a window, or by the 0.5-99.5 percentiles when none is given."""
    low, high = window if window else np.percentile(values, (0.5, 99.5))
    if high <= low:
        raise MedColorError("the image is constant; there is nothing to colorize")
    return np.clip((values - low) / (high - low), 0, 1).astype(np.float32)
