"""Preparation of a scalar volume: axial slice axis, one intensity window per volume, gray slices in
[0, 1], air/background mask, and the checks that reject volumes MedColor cannot colorize.

Arrays are (K, J, I) numpy order (SimpleITK); ``direction`` columns are the LPS directions of the index
axes i, j, k (see :class:`~MedColorLib.volume.Volume`). Numpy axis 0 is k, 1 is j, 2 is i.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from MedColorLib.errors import MedColorError
from MedColorLib.types import Volume
from MedColorLib.io.volumes import all_finite

# CT windows in Hounsfield units as (low, high) = (level - width/2, level + width/2)
CT_PRESETS: dict[str, tuple[float, float]] = {
    "soft-tissue": (-160.0, 240.0),  # W400 / L40
    "lung": (-1350.0, 150.0),  # W1500 / L-600
    "bone": (-500.0, 1300.0),  # W1800 / L400
    "brain": (0.0, 80.0),  # W80 / L40
}
DEFAULT_CT_PRESET = "soft-tissue"
_PRESET_ALIASES = {"soft": "soft-tissue", "softtissue": "soft-tissue", "tissue": "soft-tissue",
                   "abdomen": "soft-tissue"}
PRESET_NAMES = ", ".join(name.replace("-", "_") for name in CT_PRESETS)  # as --help spells them
MR_PERCENTILES = (0.5, 99.5)
FLOAT32_MAX = float(np.finfo(np.float32).max)
MIN_SLICE_SIDE = 16  # px: smaller slices leave no room for the 7-px SSIM window and the VGG features
_SAMPLE_VOXELS = 2_000_000  # statistics use an evenly strided sample of at most about this many voxels


# ------------------------------------------------------------------------------------- slice axis

def axial_axis(direction: np.ndarray) -> int:
    """Numpy axis (0 = k, 1 = j, 2 = i) of a (K, J, I) array whose index axis points closest to S/I.

    ``direction``: (3, 3), column n = LPS direction of index axis n. Ties go to k, then j, then i.
    """
    direction = _direction(direction)
    superior = np.abs(direction[2, :])  # |z| of each index axis (i, j, k); LPS z is S
    index_axis = max((2, 1, 0), key=lambda n: superior[n] + 1e-9 * n)
    return 2 - index_axis


def _direction(direction: np.ndarray) -> np.ndarray:
    direction = np.asarray(direction, dtype=np.float64)
    if direction.shape != (3, 3) or not np.isfinite(direction).all():
        raise MedColorError(f"direction must be a finite 3x3 matrix, got shape {direction.shape}")
    return direction


def iter_slices(array: np.ndarray, axis: int) -> Iterator[np.ndarray]:
    """Yield the 2-D views ``take_slice(array, axis, n)`` for n = 0, 1, ... (no copies, no resampling)."""
    for index in range(array.shape[axis]):
        yield take_slice(array, axis, index)


def take_slice(array: np.ndarray, axis: int, index: int) -> np.ndarray:
    """The 2-D view of slice ``index`` along numpy ``axis``; its rows/columns are the two remaining
    axes in storage order: axis 0 -> (J, I), axis 1 -> (K, I), axis 2 -> (K, J). Not flipped or
    transposed: use :func:`slice_view` / :func:`to_display` for a radiological display orientation."""
    return array[(slice(None),) * axis + (index,)]


def in_plane_mm(volume: Volume, axis: int) -> float:
    """Geometric mean of the pixel spacing (mm) within a slice along numpy ``axis`` (spacing is (i, j, k))."""
    return float(np.sqrt(np.prod([s for i, s in enumerate(volume.spacing[:3]) if i != 2 - axis])))


def put_slice(array: np.ndarray, axis: int, index: int, values: np.ndarray) -> None:
    """Write a 2-D slice (shaped as :func:`take_slice` returns it, trailing channels allowed) in place."""
    array[(slice(None),) * axis + (index,)] = values


@dataclass(frozen=True)
class SliceView:
    """How to show a raw slice in display orientation: transpose first, then flip rows / columns."""

    transpose: bool
    flip_rows: bool
    flip_cols: bool


def slice_view(direction: np.ndarray, axis: int) -> SliceView:
    """Display orientation of the slices along numpy ``axis`` (radiological, as Slicer/PACS show them).

    Axial (normal ~S): rows run anterior -> posterior, columns patient right -> left. Coronal (~A):
    rows superior -> inferior, columns right -> left. Sagittal (~L): rows superior -> inferior,
    columns anterior -> posterior. Only transposes and flips (views), never resampling.
    """
    direction = _direction(direction)
    index_axes = [2 - a for a in range(3) if a != axis]  # index axes of the slice's rows, columns
    normal = int(np.argmax(np.abs(direction[:, 2 - axis])))  # 0 = x (L), 1 = y (P), 2 = z (S)
    want_rows, want_cols = {2: ((1, 1.0), (0, 1.0)), 1: ((2, -1.0), (0, 1.0)),
                            0: ((2, -1.0), (1, 1.0))}[normal]  # (LPS world axis, wanted sign)
    rows_axis, cols_axis = index_axes
    transpose = abs(direction[want_rows[0], cols_axis]) > abs(direction[want_rows[0], rows_axis])
    if transpose:
        rows_axis, cols_axis = cols_axis, rows_axis
    return SliceView(transpose=bool(transpose),
                     flip_rows=bool(direction[want_rows[0], rows_axis] * want_rows[1] < 0),
                     flip_cols=bool(direction[want_cols[0], cols_axis] * want_cols[1] < 0))


def to_display(raw: np.ndarray, view: SliceView) -> np.ndarray:
    """A raw (H, W[, C]) slice as a display-oriented view (no copy)."""
    out = raw.swapaxes(0, 1) if view.transpose else raw
    return out[::-1 if view.flip_rows else 1, ::-1 if view.flip_cols else 1]


def from_display(shown: np.ndarray, view: SliceView) -> np.ndarray:
    """Inverse of :func:`to_display`: a display-oriented (H, W[, C]) image back in raw slice order."""
    out = shown[::-1 if view.flip_rows else 1, ::-1 if view.flip_cols else 1]
    return out.swapaxes(0, 1) if view.transpose else out


# ---------------------------------------------------------------------------------------- windows

def parse_window(text: str) -> tuple[float, float] | str:
    """``"LOW,HIGH"`` -> (low, high) floats, or a CT preset name (``soft-tissue``, ``lung``, ``bone``,
    ``brain``); LOW >= HIGH or anything else -> MedColorError."""
    name = text.strip().lower().replace("_", "-").replace(" ", "-")
    name = _PRESET_ALIASES.get(name.replace("-", ""), name)
    if name in CT_PRESETS:
        return name
    parts = text.replace(";", ",").split(",")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise MedColorError(f"bad window {text!r}: give LOW,HIGH (e.g. -160,240) or a preset "
                            f"({PRESET_NAMES})") from None
    if not (np.isfinite(low) and np.isfinite(high)):
        raise MedColorError(f"bad window {text!r}: LOW and HIGH must be finite numbers (e.g. -160,240)")
    if low >= high:
        raise MedColorError(f"bad window {text!r}: LOW must be smaller than HIGH (e.g. -160,240)")
    check_window(low, high, f"bad window {text!r}")
    return low, high


def check_window(low: float, high: float, what: str = "the window") -> None:
    """The window must work in the float32 the slices are computed in: both ends finite, distinct, and
    1 / (HIGH - LOW) finite (a width of 1e-39 or ends beyond 3.4e38 would turn voxels into Inf/NaN)."""
    lo32, hi32 = np.float32(low), np.float32(high)
    with np.errstate(all="ignore"):
        scale = np.float32(1.0 / (float(hi32) - float(lo32))) if hi32 > lo32 else np.float32(np.inf)
    if not (np.isfinite(lo32) and np.isfinite(hi32) and np.isfinite(scale) and scale > 0):
        raise MedColorError(f"{what}: the window {low:g}..{high:g} cannot be computed in float32 (ends beyond "
                            "+-3.4e38, or a width below 1e-30); choose a wider window or rescale the volume")


def choose_window(volume: Volume, window: str | tuple[float, float] | None = None
                  ) -> tuple[float, float, str]:
    """One window for the whole volume -> (low, high, name).

    ``window``: None (automatic), ``"LOW,HIGH"``, a preset name, or a (low, high) pair. Automatic:
    CT (modality CT, or HU-like values) -> soft-tissue preset; MR/other -> 0.5/99.5 percentiles of
    the non-background voxels.
    """
    if isinstance(window, str):
        window = parse_window(window)
    if isinstance(window, str):
        return (*CT_PRESETS[window], window)
    if window is not None:
        low, high = (float(w) for w in window)
        if not low < high:
            raise MedColorError(f"bad window {low},{high}: LOW must be smaller than HIGH")
        check_window(low, high)
        return low, high, "manual"
    if is_ct(volume):
        return (*CT_PRESETS[DEFAULT_CT_PRESET], DEFAULT_CT_PRESET)
    low, high = robust_range(volume.array)
    source = volume.metadata.get("source") if isinstance(volume.metadata, dict) else None
    check_window(low, high, f"the intensities of {source or 'the volume'}")
    return low, high, f"percentiles {MR_PERCENTILES[0]:g}-{MR_PERCENTILES[1]:g}"


def is_ct(volume: Volume) -> bool:
    """Modality CT, or (modality unknown) HU-like: at least 5% of voxels below -500 (air), none below -3100,
    and at least 1% above 0 (tissue denser than water; an MR stored with negative values has none)."""
    modality = (volume.modality or "").upper()
    if modality:
        return modality == "CT"
    sample = _sample(volume.array)
    return bool(sample.min() >= -3100 and np.mean(sample < -500) >= 0.05 and np.mean(sample > 0) >= 0.01)


def robust_range(array: np.ndarray, percentiles: tuple[float, float] = MR_PERCENTILES
                 ) -> tuple[float, float]:
    """(low, high) percentiles of the foreground: voxels above 10% of the 99th percentile above the
    minimum (drops MR background noise); all voxels when the foreground is too small."""
    sample = _sample(array).astype(np.float32)
    lowest, p99 = np.percentile(sample, (0, 99))
    foreground = sample[sample > lowest + 0.1 * (p99 - lowest)]
    if foreground.size < max(100, sample.size // 100):
        foreground = sample
    low, high = (float(v) for v in np.percentile(foreground, percentiles))
    if not low < high:
        low, high = float(sample.min()), float(sample.max())
    if not low < high:
        raise MedColorError("the volume is constant; there is nothing to colorize")
    return low, high


def _sample(array: np.ndarray) -> np.ndarray:
    """An evenly strided 1-D sample of at most about ``_SAMPLE_VOXELS`` voxels (no full-volume copy)."""
    array = np.asarray(array)
    if not array.flags.c_contiguous and array.ndim > 1:  # reshape would copy: subsample slabs first
        array = np.ascontiguousarray(array[:: max(1, array.size // (2 * _SAMPLE_VOXELS))])
    flat = array.reshape(-1)
    return flat[:: max(1, flat.size // _SAMPLE_VOXELS)]


def apply_window(array: np.ndarray, low: float, high: float, slab_voxels: int = 1 << 22) -> np.ndarray:
    """Map intensities to float32 [0, 1] (low -> 0, high -> 1, clipped), slab by slab along axis 0
    (no float64 copy of the volume). Any shape."""
    if not low < high:
        raise MedColorError(f"bad window {low},{high}: LOW must be smaller than HIGH")
    out = np.empty(array.shape, dtype=np.float32)
    if array.ndim == 0 or array.size == 0:
        return _window_into(np.asarray(array), out, low, high)
    step = max(1, slab_voxels // max(1, array[0].size))
    for start in range(0, array.shape[0], step):
        _window_into(array[start:start + step], out[start:start + step], low, high)
    return out


def _window_into(values: np.ndarray, out: np.ndarray, low: float, high: float) -> np.ndarray:
    np.subtract(values, np.float32(low), out=out, dtype=np.float32, casting="unsafe")
    np.multiply(out, np.float32(1.0 / (high - low)), out=out)
    return np.clip(out, 0.0, 1.0, out=out)


# ------------------------------------------------------------------------------------------- mask

def air_mask(windowed: np.ndarray, threshold: float = 0.05, sigma: float = 1.0) -> np.ndarray:
    """Air/background: windowed (float32 [0, 1]) value below ``threshold`` after a Gaussian smoothing of
    ``sigma`` voxels within each slice along axis 0 (2-D input: the one slice). Bool, same shape.

    With the CT soft-tissue window air and lung (< -160 HU) are 0; with MR percentiles the background
    is below the low percentile. Smoothing removes isolated noise voxels and thin speckle.
    """
    from scipy.ndimage import gaussian_filter

    windowed = np.asarray(windowed)
    if windowed.ndim == 2:
        return gaussian_filter(windowed.astype(np.float32, copy=False), sigma) < threshold
    mask = np.empty(windowed.shape, dtype=bool)
    for k in range(windowed.shape[0]):
        smooth = gaussian_filter(windowed[k].astype(np.float32, copy=False), sigma) if sigma > 0 \
            else windowed[k]
        np.less(smooth, threshold, out=mask[k])
    return mask


# ----------------------------------------------------------------------------------------- checks

def check_volume(volume: Volume, min_slices: int = 2) -> int:
    """Reject what cannot be colorized as a volume (not 3-D scalar, empty, too few slices, NaN/Inf, values
    beyond float32, constant) with a one-line MedColorError; return the slice axis: the axial one, or, when
    axial slices would be too small (a thin sagittal or coronal stack), the stack's own axis."""
    array = np.asarray(volume.array)
    if array.ndim == 4 and array.shape[-1] in (3, 4):
        raise MedColorError(f"the volume has {array.shape[-1]} components per voxel (colour or vector "
                            "image); a scalar gray volume is expected")
    if array.ndim != 3:
        raise MedColorError(f"a 3-D scalar volume is expected, got a {array.ndim}-D array {array.shape}; "
                            "extract one 3-D volume first (4-D) or colorize a 2-D image as a picture")
    if array.size == 0:
        raise MedColorError(f"the volume is empty (shape {array.shape}); give a non-empty volume")
    if array.dtype.kind not in "buif":
        raise MedColorError(f"voxel type {array.dtype} is not a real number; a gray volume is expected")
    axis = slice_axis(array.shape, volume.direction, min_slices)
    if array.shape[axis] < min_slices:
        raise MedColorError(f"the volume has {array.shape[axis]} axial slice(s); at least {min_slices} are "
                            "needed (colorize a single slice as a 2-D image)")
    if min(s for n, s in enumerate(array.shape) if n != axis) < 2:
        raise MedColorError(f"the slices are degenerate (shape {array.shape}); give a real volume")
    if not all_finite(array):
        raise MedColorError("the volume contains NaN or infinite voxels; fix or mask them first")
    low, high = array.min(), array.max()
    if low == high:
        raise MedColorError(f"the volume is constant ({array.flat[0]}); there is nothing to colorize")
    if array.dtype.kind == "f" and max(abs(float(low)), abs(float(high)), float(high) - float(low)) > FLOAT32_MAX:
        raise MedColorError(f"the voxel values {float(low):g}..{float(high):g} do not fit the float32 the "
                            "colorization computes in (+-3.4e38); rescale the volume first")
    rows, cols = (s for n, s in enumerate(array.shape) if n != axis)
    if min(rows, cols) < MIN_SLICE_SIDE:
        raise MedColorError(f"the slices are {cols}x{rows} px; at least {MIN_SLICE_SIDE}x{MIN_SLICE_SIDE} px "
                            "are needed to colorize a volume")
    return axis


def slice_axis(shape: tuple[int, ...], direction: np.ndarray, min_slices: int = 2) -> int:
    """The axial numpy axis, unless its slices are under MIN_SLICE_SIDE px or too few while another axis gives
    usable slices: then the stored stack's axis 0 if usable, else the usable axis with the largest slices."""
    axis = axial_axis(direction)
    side = lambda a: min(s for n, s in enumerate(shape) if n != a)  # noqa: E731
    usable = [a for a in range(3) if side(a) >= MIN_SLICE_SIDE and shape[a] >= min_slices]
    if axis in usable or not usable:
        return axis
    return 0 if 0 in usable else max(usable, key=side)
