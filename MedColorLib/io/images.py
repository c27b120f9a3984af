"""Every 2-D read: gray targets (PNG/JPEG/DICOM slice -> float32 gray in [0, 1]), gray library queries,
and colour references (PNG/JPEG/TIFF/colour DICOM -> float32 RGB in [0, 1])."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from MedColorLib.errors import MedColorError, short_reason
from MedColorLib.io.dicom_compat import pixel_functions
from MedColorLib.io.paths import check_regular_file, kind_of

DICOM_SUFFIXES = (".dcm", ".dicom")


def read_gray(path: str | Path) -> np.ndarray:
    """A 2-D gray image as (H, W) float32 in [0, 1]; colour, 3-D, NaN or unreadable input -> MedColorError."""
    path = Path(path)
    if kind_of(path) == "missing":
        raise MedColorError(f"input not found: {path}")
    check_regular_file(path, "input")
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
    img = _open_pil(path)
    if getattr(img, "n_frames", 1) > 1:
        raise MedColorError(f"{path} has {img.n_frames} frames; a single 2-D gray image is expected")
    if img.mode in ("I;16", "I;16B", "I", "F"):
        return _rescale(np.asarray(img, dtype=np.float32), path)
    rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    if np.abs(rgb - rgb[..., :1]).max() > 2:  # tolerate JPEG noise on gray pictures saved as RGB
        raise MedColorError(f"{path} is a colour image; a gray input is expected")
    gray = np.asarray(img.convert("L"), dtype=np.float32)
    if gray.min() == gray.max():
        raise MedColorError(f"{path} is constant (every pixel {gray.flat[0]:g}); there is nothing to colorize")
    return gray / 255


def _read_dicom(path: Path) -> np.ndarray:
    apply_modality_lut = pixel_functions().apply_modality_lut  # pydicom 2.4 (Slicer 5.10) or 3.x

    ds, pixels = _decode_dicom(path)
    if ds.get("PhotometricInterpretation", "MONOCHROME2") not in ("MONOCHROME1", "MONOCHROME2"):
        raise MedColorError(f"{path} is a colour DICOM ({ds.PhotometricInterpretation}); a gray input is expected")
    if pixels.ndim != 2:
        raise MedColorError(f"{path} has {pixels.shape[0]} frames; a single-frame slice is expected")
    slope = ds.get("RescaleSlope")
    if slope is not None and not (np.isfinite(float(slope)) and float(slope) != 0):
        raise MedColorError(f"{path} has RescaleSlope {float(slope):g}, which makes every value the same; "
                            "fix its header")
    values = apply_modality_lut(pixels, ds).astype(np.float32)
    if not np.isfinite(values).all():
        raise MedColorError(f"{path}: its rescale (slope {slope}, intercept {ds.get('RescaleIntercept')}) gives "
                            "values beyond float32; fix its header")
    if values.min() == values.max():
        raise MedColorError(f"{path} is constant (every pixel {values.flat[0]:g}); there is nothing to colorize")
    gray = _rescale(values, path, _dicom_window(ds))
    return 1 - gray if ds.PhotometricInterpretation == "MONOCHROME1" else gray


def _dicom_window(ds) -> tuple[float, float] | None:
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre is None or width is None:
        return None
    first = lambda v: float(v[0]) if hasattr(v, "__len__") and not isinstance(v, str) else float(v)  # noqa: E731
    try:
        c, w = first(centre), first(width)
    except (TypeError, ValueError, IndexError):
        return None
    return (c - w / 2, c + w / 2) if np.isfinite(c) and np.isfinite(w) and w > 1 else None


def _rescale(values: np.ndarray, path: Path, window: tuple[float, float] | None = None) -> np.ndarray:
    """Map values to [0, 1] by a window, or by the 0.5-99.5 percentiles when none is given."""
    low, high = window if window else np.percentile(values, (0.5, 99.5))
    if not high > low:
        raise MedColorError(f"{path} is (almost) constant; there is nothing to colorize")
    return np.clip((values - low) / (high - low), 0, 1).astype(np.float32)


RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MIN_SIDE = 16  # a reference smaller than this is useless to the engine
MAX_REFERENCE_SIDE = 1024  # px: a larger reference is shrunk first (4x the paper's 224 px; time grows with pixels)
GRAY_CHROMA = 30 / 255  # a pixel is coloured when max - min channel exceeds this
GRAY_FRACTION = 0.005  # an image is gray when fewer pixels than this are coloured (JPEG noise, overlays)


# ----------------------------------------------------------------------------- reading images

def load_reference(path: str | Path, max_side: int | None = MAX_REFERENCE_SIDE) -> np.ndarray:
    """A colour reference as (h, w, 3) float32 RGB in [0, 1], its longer side shrunk to ``max_side`` px (None:
    full size, as the library index hashes it); MedColorError if unreadable, gray or tiny."""
    path = Path(path)
    rgb = _read_rgb(path, max_side)
    rgb = _downsampled(rgb, max_side) if max_side else rgb
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise MedColorError(f"reference {path} is too small ({w}x{h} px); use one at least {MIN_SIDE} px a side")
    if is_gray(rgb):
        raise MedColorError(f"reference {path} is gray; a colour reference is needed")
    return rgb


def _downsampled(rgb: np.ndarray, side: int = MAX_REFERENCE_SIDE) -> np.ndarray:
    """An (h, w, 3) float32 reference (colour DICOM) with its longer side cut to ``side`` px (Lanczos, per
    channel): the engine never works above that size, and a huge reference would only cost time."""
    h, w = rgb.shape[:2]
    if max(h, w) <= side:
        return rgb
    size = (max(1, round(w * side / max(h, w))), max(1, round(h * side / max(h, w))))
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(rgb[..., c]), mode="F").resize(size, Image.LANCZOS))
                for c in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0, 1).astype(np.float32)


def is_gray(rgb: np.ndarray) -> bool:
    """True when (almost) no pixel of an RGB image in [0, 1] has visible colour."""
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    return float((chroma > GRAY_CHROMA).mean()) < GRAY_FRACTION


def read_gray_image(path: str | Path) -> np.ndarray:
    """A 2-D query image (PNG/JPEG/TIFF or DICOM slice) as float32 gray in [0, 1] (DICOM: its window)."""
    path = Path(path)
    if not path.exists():
        raise MedColorError(f"image {path} does not exist; give the path of a PNG, JPEG or DICOM file")
    check_regular_file(path, "image")
    if is_dicom(path):
        return _dicom_gray(path)
    img = _open_pil(path)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return _unit(np.asarray(img, dtype=np.float64))
    return np.asarray(img.convert("L"), dtype=np.float32) / 255


def _read_rgb(path: Path, max_side: int | None = None) -> np.ndarray:
    """Any supported colour file -> float32 RGB in [0, 1] (no gray check); a picture shrunk to ``max_side``."""
    if kind_of(path) == "missing":
        raise MedColorError(f"reference {path} does not exist; give the path of a colour image")
    check_regular_file(path, "reference")
    if is_dicom(path):
        return _dicom_rgb(path, *_dicom_pixels(path))
    img = _open_pil(path, draft=max_side)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        raise MedColorError(f"reference {path} is gray; a colour reference is needed")
    img = img.convert("RGB")
    if max_side:  # shrunk as 8-bit RGB (integer reduce, then Lanczos): a float copy of 8000 px would cost seconds
        img.thumbnail((max_side, max_side), Image.LANCZOS, reducing_gap=2.0)
    return np.asarray(img, dtype=np.float32) / 255


def _open_pil(path: Path, draft: int | None = None) -> Image.Image:
    """Open and decode an image with PIL (a JPEG decoded at no less than ``draft`` px when given: fast for
    huge ones); MedColorError if it cannot."""
    try:
        img = Image.open(path)
        if draft and img.format == "JPEG":
            img.draft("RGB", (draft, draft))
        img.load()
        return img
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as err:
        raise MedColorError(f"{path} is not a readable image ({short_reason(err)}); replace or remove it") from None


def _decode_dicom(path: Path):
    """(dataset, all its pixels); MedColorError if the file cannot be read or decoded."""
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        return ds, ds.pixel_array
    except Exception as err:  # pydicom raises many types for broken/undecodable files
        raise MedColorError(f"{path} is not a readable DICOM image ({short_reason(err)}); replace or remove it") from None


def _dicom_pixels(path: Path, frame: str = "first"):
    """(dataset, pixels of one frame: the first or the middle one); MedColorError if unreadable."""
    ds, arr = _decode_dicom(path)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        arr = arr[0 if frame == "first" else frames // 2]
    return ds, arr


def _dicom_rgb(path: Path, ds, arr: np.ndarray) -> np.ndarray:
    """One colour DICOM frame (RGB, YBR_* - converted by pydicom - or PALETTE COLOR) -> float32 RGB in [0, 1]."""
    apply_color_lut = pixel_functions().apply_color_lut

    kind = str(ds.get("PhotometricInterpretation", "")).upper()
    if kind == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds).astype(np.float64)
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        top = 255.0 if bits <= 8 or rgb.max() <= 255 else 65535.0
        return (rgb / top).astype(np.float32)
    if kind.startswith("MONOCHROME") or arr.ndim != 3 or arr.shape[-1] != 3:
        raise MedColorError(f"reference {path} is gray; a colour reference is needed")
    top = float(2 ** int(ds.get("BitsStored", 8)) - 1)
    return np.clip(arr.astype(np.float64) / top, 0, 1).astype(np.float32)


def _dicom_gray(path: Path) -> np.ndarray:
    """A DICOM slice as gray in [0, 1]: modality LUT, the file's VOI window if any, min-max; colour -> luma."""
    apply_modality_lut, apply_voi_lut = pixel_functions().apply_modality_lut, pixel_functions().apply_voi_lut

    ds, arr = _dicom_pixels(path, frame="middle")
    kind = str(ds.get("PhotometricInterpretation", "")).upper()
    if kind == "PALETTE COLOR" or (arr.ndim == 3 and arr.shape[-1] == 3):
        rgb = _dicom_rgb(path, ds, arr)
        return (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)
    values = apply_modality_lut(arr, ds)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        values = apply_voi_lut(values, ds, prefer_lut=False)
    gray = _unit(np.asarray(values, dtype=np.float64))
    return 1 - gray if kind == "MONOCHROME1" else gray


def _unit(values: np.ndarray) -> np.ndarray:
    """Min-max scale to float32 [0, 1]; a constant image becomes zeros."""
    if values.size == 0 or not np.isfinite(values).all():
        raise MedColorError("image has no pixels or NaN/Inf values; give a valid image")
    lo, hi = float(values.min()), float(values.max())
    return ((values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)).astype(np.float32)
