"""A DICOM series folder checked completely before SimpleITK assembles it. SimpleITK silently drops a slice it
cannot parse, mixes in a slice of another orientation, and spaces the slices evenly over a gap or a
duplicate; here every entry of the folder is a regular file, every DICOM file belongs to a series, and in
the chosen series every slice has its full pixel data, the same size, pixel spacing and orientation, a
usable rescale, and a position one even step from its neighbours along the slice normal. A series that
fails is refused with the file and the cause; it is never resampled."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from MedColorLib.errors import MedColorError, short_reason
from MedColorLib.io.paths import kind_of

ORIENTATION_TOLERANCE = 1e-3   # direction cosines
STEP_TOLERANCE = 0.05          # fraction of the median slice step
MIN_STEP_MM = 1e-3             # closer slices are the same position


def folder_files(folder: Path) -> list[Path]:
    """The regular files of a DICOM folder (sub-folders are not read); a FIFO, device, socket or broken link
    inside -> MedColorError, since scanning it would block or fail."""
    files = []
    for entry in sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name)):
        path = Path(entry.path)
        kind = kind_of(path)
        if kind == "a folder":
            continue
        if kind is not None:
            raise MedColorError(f"{folder} holds {entry.name}, which is {kind}; a DICOM folder holds regular "
                                "files only: remove it")
        files.append(path)
    return files


def looks_dicom(path: Path) -> bool:
    """A .dcm/.dicom suffix or the DICM marker after the 128-byte preamble."""
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def check_all_in_series(folder: Path, files: list[Path], in_series: set[Path]) -> None:
    """Every DICOM image of the folder is in one of the series SimpleITK found: an image it left out is broken
    (a file that is not DICOM at all too). Objects without an image (DICOMDIR, reports, presentation states)
    are not slices and stay out."""
    for path in files:
        if path in in_series or not looks_dicom(path):
            continue
        why = _why_left_out(path)
        if why:
            raise MedColorError(f"{path} in {folder} is not a readable DICOM slice ({why}); replace or remove it")


def _why_left_out(path: Path) -> str | None:
    """Why SimpleITK left an image out of every series; None for a DICOM object that is no image."""
    ds = _dataset(path, strict=False)
    if ds is None:
        return "not DICOM"
    if len(ds) == 0:  # pydicom gives up on a file cut inside its pixel data
        return "its data set is cut off or unreadable"
    if not _has_pixels(ds) and not ("Rows" in ds and "Columns" in ds):
        return None
    try:
        _check_slice(path, ds)
    except MedColorError as err:
        return str(err).removeprefix(f"{path} ").split(";")[0]
    return "SimpleITK cannot parse it"


def undecodable(files: list[Path]) -> str | None:
    """'FILE cannot be decoded (reason)' for the first slice whose pixel data pydicom cannot decode, else None
    (asked only after SimpleITK failed, to name the file)."""
    for path in files:
        ds = _dataset(path, strict=False)
        try:
            ds.pixel_array  # noqa: B018 - decoding is the check
        except Exception as err:  # the decoders raise many types
            return f"{path} cannot be decoded ({short_reason(err).rstrip(':')})"
    return None


def check_series(files: list[Path]) -> None:
    """The slices of one series (any order): pixel data complete, one size, spacing, orientation and rescale
    rule, positions evenly spaced with no duplicate or gap. MedColorError names the first bad file."""
    slices = [(path, _dataset(path)) for path in files]
    for path, ds in slices:
        _check_slice(path, ds)
    _check_same(slices, "Rows", "rows")
    _check_same(slices, "Columns", "columns")
    _check_same(slices, "PixelSpacing", "pixel spacing")
    _check_positions(slices)


def _dataset(path: Path, strict: bool = True):
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns (and drops the element) when pixel data end early
            return pydicom.dcmread(path)
    except Exception as err:  # pydicom raises many types for broken files
        if not strict:
            return None
        raise MedColorError(f"{path} is not a readable DICOM slice ({short_reason(err)}); "
                            "replace or remove it") from None


def _has_pixels(ds) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def _check_slice(path: Path, ds) -> None:
    """Pixel data present and, when not compressed, as long as rows x columns x samples x frames; rescale usable."""
    if not _has_pixels(ds):
        raise MedColorError(f"{path} has no complete pixel data (missing or cut off); replace or remove it")
    if "PixelData" in ds and not ds["PixelData"].is_undefined_length:
        expected = (int(ds.get("Rows", 0)) * int(ds.get("Columns", 0)) * int(ds.get("SamplesPerPixel", 1) or 1)
                    * int(ds.get("NumberOfFrames", 1) or 1) * int(ds.get("BitsAllocated", 8) or 8) + 7) // 8
        if len(ds.PixelData) < expected:
            raise MedColorError(f"{path} is truncated: {len(ds.PixelData)} of {expected} bytes of pixel data; "
                                "replace or remove it")
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and not (np.isfinite(float(slope)) and float(slope) != 0):
        raise MedColorError(f"{path} has RescaleSlope {float(slope):g}, which would make every value the same; "
                            "fix its header")
    if intercept is not None and not np.isfinite(float(intercept)):
        raise MedColorError(f"{path} has RescaleIntercept {float(intercept):g}; fix its header")


def _check_same(slices: list, keyword: str, words: str) -> None:
    first_path, first = slices[0]
    value = _floats(first.get(keyword))
    for path, ds in slices[1:]:
        other = _floats(ds.get(keyword))
        if (value is None) != (other is None) or (value is not None and not np.allclose(value, other, atol=1e-4)):
            raise MedColorError(f"{path.parent} mixes DICOM images of several sizes or series: {path.name} has "
                                f"{words} {_text(other)} where {first_path.name} has {_text(value)}; put one series "
                                "per folder or remove the odd slice")


def _check_positions(slices: list) -> None:
    """Same orientation everywhere; positions along the normal evenly spaced (no duplicate, no gap)."""
    orientations = [_floats(ds.get("ImageOrientationPatient")) for _, ds in slices]
    positions = [_floats(ds.get("ImagePositionPatient")) for _, ds in slices]
    if all(o is None for o in orientations) and all(p is None for p in positions):
        return  # no geometry at all (e.g. secondary capture): SimpleITK stacks the files as they are
    for (path, _), o, p in zip(slices, orientations, positions):
        if o is None or p is None or len(o) != 6 or len(p) != 3:
            raise MedColorError(f"{path} lacks ImagePositionPatient/ImageOrientationPatient that the other slices "
                                "have; remove it or fix its header")
    first = orientations[0]
    for (path, _), o in zip(slices, orientations):
        if np.abs(np.asarray(o) - first).max() > ORIENTATION_TOLERANCE:
            raise MedColorError(f"{path} is in another orientation ({_text(o)}) than {slices[0][0].name} "
                                f"({_text(first)}); remove the slice of the other plane")
    if len(slices) < 2:
        return
    normal = np.cross(first[:3], first[3:])
    depth = sorted((float(np.dot(p, normal)), path) for (path, _), p in zip(slices, positions))
    steps = np.diff([d for d, _ in depth])
    median = float(np.median(steps))
    for n, step in enumerate(steps):
        if step < max(MIN_STEP_MM, STEP_TOLERANCE * median):
            raise MedColorError(f"{depth[n][1].name} and {depth[n + 1][1].name} in {depth[n][1].parent} are at the "
                                "same position (a duplicated slice); remove one of them")
    for n, step in enumerate(steps):
        if abs(step - median) > STEP_TOLERANCE * median:
            raise MedColorError(f"the slices of {depth[n][1].parent} are not evenly spaced: {step:.3g} mm between "
                                f"{depth[n][1].name} and {depth[n + 1][1].name} where the others are {median:.3g} mm "
                                "apart (a missing slice?); the series is refused, not resampled: give the complete "
                                "series")


def _floats(value) -> np.ndarray | None:
    if value is None:
        return None
    try:
        values = np.atleast_1d(np.asarray([float(v) for v in (value if hasattr(value, "__len__") and
                                                              not isinstance(value, str) else [value])]))
    except (TypeError, ValueError):
        return None
    return values if np.isfinite(values).all() else None


def _text(values) -> str:
    return "none" if values is None else "(" + ", ".join(f"{v:g}" for v in values) + ")"
