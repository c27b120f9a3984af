"""Volume files in: a scalar volume (NRRD, NIfTI, MHA/MHD, DICOM series or file, PNG/JPEG) with its exact
geometry, checked; and a colour volume written by MedColor read back with its provenance.

Geometry follows SimpleITK/ITK (LPS, direction columns = index axes i, j, k); see :class:`Volume`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from MedColorLib.errors import MedColorError, short_reason
from MedColorLib.io.dicom_series import check_all_in_series, check_series, folder_files, undecodable
from MedColorLib.io.native_stderr import captured
from MedColorLib.io.native_stderr import reason as native_reason
from MedColorLib.io.paths import itk_folder, itk_path, kind_of
from MedColorLib.io.payload import check_payload
from MedColorLib.types import Volume

NRRD_SUFFIXES = (".nrrd",)
NIFTI_SUFFIXES = (".nii", ".nii.gz")
_GRAY_TOLERANCE = 2  # max channel difference of a gray picture saved as RGB (JPEG noise)
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
NIFTI_COMMENT_ECODE = 6  # NIFTI_ECODE_COMMENT: the provenance JSON travels in this header extension


# ---------------------------------------------------------------------------------------- reading

def read_volume(path: str | Path, series: str | None = None) -> Volume:
    """Read a scalar volume (3-D array (K, J, I), or (J, I) for PNG/JPEG) with exact geometry.

    ``path``: a volume file, a single DICOM file, or a folder holding a DICOM series (``series`` picks
    one by SeriesInstanceUID or by its 1-based number when the folder holds several). Only regular files
    are opened; the voxel bytes are checked before SimpleITK reads them (io.payload, io.dicom_series).
    """
    path = Path(path)
    kind = kind_of(path)
    if kind == "a folder":
        image, meta = _read_dicom_folder(path, series)
    elif kind is None:
        image, meta = _read_file(path)
    elif kind == "missing":
        raise MedColorError(f"input not found: {path}")
    else:
        raise MedColorError(f"input {path} is {kind}, not a regular file or a DICOM folder")
    image = _scalar_image(image, path)
    array = _sitk().GetArrayFromImage(image)
    _check_array(array, path)
    spacing, origin, direction = _geometry(image)
    _check_spacing(spacing, path)
    meta["source"] = str(path.resolve())
    return Volume(array=array, spacing=spacing, origin=origin, direction=direction,
                  modality=meta.pop("modality", ""), metadata=meta)


def _sitk():
    import SimpleITK as sitk  # noqa: N813 - lazy: keeps `import MedColorLib` light

    return sitk


def _read_file(path: Path) -> tuple[object, dict]:
    """One file -> (SimpleITK image, metadata with 'modality'); unreadable -> MedColorError. What SimpleITK
    prints itself is captured and becomes part of the one line."""
    sitk = _sitk()
    if path.stat().st_size == 0:
        raise MedColorError(f"input file is empty: {path}")
    header = check_payload(path)
    relatives = [os.path.relpath(f, path.parent) for f in header.data_files] if header else []
    reader = sitk.ImageFileReader()
    with itk_path(path, relatives) as name, captured() as printed:
        reader.SetFileName(name)
        try:
            reader.ReadImageInformation()
            _check_layout(reader.GetSize(), reader.GetNumberOfComponents(), path)
            image = reader.Execute()
        except RuntimeError as err:
            failure = err
        else:
            failure = None
    if failure is not None:
        raise MedColorError(f"cannot read {path}: {_itk_reason(failure, printed)}; give a NRRD, NIfTI, MHA, "
                            "DICOM, PNG or JPEG file") from None
    meta = {"modality": _tag(reader, "0008|0060")}
    if _tag(reader, "0018|0015"):  # BodyPartExamined: the region for reference retrieval
        meta["body_part"] = _tag(reader, "0018|0015")
    return image, meta


def _itk_reason(err: BaseException, printed: list[str]) -> str:
    """The reason of a SimpleITK failure: its message, or what it printed when the message says nothing."""
    text = re.sub(r"^(ITK ERROR: )?\w+ ?\(0x[0-9a-fA-F]+\):\s*", "", _first_line(err))
    teem = [ln.split(": ", 1)[-1] for ln in str(err).splitlines() if ln.startswith("[nrrd]")]
    if text.endswith(":") and teem:  # the NRRD reader's own reason follows on its lines
        return text + " " + next((ln for ln in teem if "parsing" in ln), teem[-1])
    if printed and (not text or text.lower().startswith(("reason: no such file", "could not read"))):
        return native_reason(printed)
    return text


def _read_dicom_folder(folder: Path, series: str | None) -> tuple[object, dict]:
    """A DICOM series folder -> (SimpleITK image, metadata); several series need ``series``. Every file is
    checked first (io.dicom_series): a series with a bad, odd or missing slice is refused."""
    sitk = _sitk()
    files = folder_files(folder)
    with itk_folder(folder, files) as (name, real), captured():
        uids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(name))
        by_uid = {uid: [real.get(f, Path(f)) for f in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(name, uid)]
                  for uid in uids}
    if not uids:
        raise MedColorError(f"no DICOM series found in folder {folder}; give a DICOM series folder or a "
                            "volume file")
    check_all_in_series(folder, files, {f for found in by_uid.values() for f in found})
    uid = _choose_series(folder, uids, series, by_uid)
    check_series(by_uid[uid])
    reader = sitk.ImageSeriesReader()
    with itk_folder(folder, by_uid[uid]) as (_, real), captured() as printed:
        reader.SetFileNames(sorted(real, key=lambda f: by_uid[uid].index(real[f])))
        reader.MetaDataDictionaryArrayUpdateOn()
        try:
            image, failure = reader.Execute(), None
        except RuntimeError as err:
            failure = err
    if failure is not None:
        if "mismatch" in str(failure).lower() or "does not fully contain the requested region" in str(failure):
            raise MedColorError(f"{folder} mixes DICOM images of several sizes or series"
                                f"{'' if uid else ' without a SeriesInstanceUID'}; put one series per folder, or "
                                "choose one with --series UID when the files carry SeriesInstanceUIDs") from None
        why = undecodable(by_uid[uid]) or _itk_reason(failure, printed)
        raise MedColorError(f"cannot read DICOM series {uid or '(no UID)'} in {folder}: {why}; "
                            "replace or remove the file") from None
    tag = lambda key: reader.GetMetaData(0, key).strip() if reader.HasMetaDataKey(0, key) else ""  # noqa: E731
    meta = {"modality": tag("0008|0060"), "series_uid": uid, "series_description": tag("0008|103e"),
            "dicom_files": str(len(by_uid[uid]))}
    if tag("0018|0015"):  # BodyPartExamined: the region for reference retrieval
        meta["body_part"] = tag("0018|0015")
    return image, meta


def _choose_series(folder: Path, uids: list[str], series: str | None, by_uid: dict[str, list[Path]]) -> str:
    """The series UID to read: the only one, or the one ``series`` names (UID or 1-based number)."""
    if series is None and len(uids) == 1:
        return uids[0]
    if series is not None:
        if series in uids:
            return series
        if series.isdigit() and 1 <= int(series) <= len(uids):
            return uids[int(series) - 1]
    listing = "; ".join(f"{n}) {_describe_series(uid, by_uid[uid])}" for n, uid in enumerate(uids, 1))
    problem = (f"series {series!r} is not in {folder}" if series is not None
               else f"{folder} holds {len(uids)} DICOM series")
    return _raise(f"{problem}: {listing}; choose one with --series UID (or its number)")


def _describe_series(uid: str, files: list[Path]) -> str:
    """'UID 1.2.3 "description" MR, 20 slices' for one series of a folder."""
    import pydicom

    try:
        ds = pydicom.dcmread(files[0], stop_before_pixels=True)
        description, modality = str(ds.get("SeriesDescription", "")).strip(), str(ds.get("Modality", "")).strip()
    except Exception:  # pydicom raises many types for broken files; the listing only describes
        description, modality = "?", "?"
    return f"UID {uid or '(none)'} \"{description}\" {modality}, {len(files)} slice{'s' if len(files) != 1 else ''}"


def _raise(message: str):
    raise MedColorError(message)


def _tag(reader, key: str) -> str:
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""


def _first_line(err: BaseException) -> str:
    """The informative line of an (often multi-line) ITK exception message (see errors.short_reason)."""
    return short_reason(err)


FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_SPACING_MM = 1e4  # 10 m: a larger voxel is a broken header, not a scan
MIN_SPACING_MM = 1e-6


def _check_spacing(spacing: tuple[float, ...], path: Path) -> None:
    """Voxel spacings must be finite and plausible (mm)."""
    for n, value in enumerate(spacing):
        if not (np.isfinite(value) and MIN_SPACING_MM <= value <= MAX_SPACING_MM):
            raise MedColorError(f"{path} has voxel spacing {value:g} mm along axis {'ijk'[n]}; a spacing between "
                                f"{MIN_SPACING_MM:g} and {MAX_SPACING_MM:g} mm is expected: fix the file's header")


def _check_layout(size: tuple[int, ...], components: int, path: Path) -> None:
    """Reject 4-D (more than one volume), 3-D vector/colour and empty inputs before reading pixels."""
    shape = "x".join(str(s) for s in size)
    if 0 in size:
        raise MedColorError(f"{path} is empty (size {shape}); give a non-empty volume")
    if len(size) > 4 or (len(size) == 4 and size[3] > 1):
        raise MedColorError(f"{path} is {len(size)}-D ({shape}); a single 3-D volume is expected: "
                            "extract one volume (time point) first")
    if len(size) >= 3 and components > 1:
        raise MedColorError(f"{path} has {components} components per voxel (colour or vector image); "
                            "a scalar gray volume is expected")


def _scalar_image(image, path: Path):
    """3-D scalar image, or 2-D gray image (a gray picture stored as RGB/RGBA/LA becomes one channel)."""
    sitk = _sitk()
    _check_layout(image.GetSize(), image.GetNumberOfComponentsPerPixel(), path)
    if image.GetDimension() == 4:
        image = image[:, :, :, 0]
    if image.GetDimension() not in (2, 3):
        raise MedColorError(f"{path} is {image.GetDimension()}-D; a 2-D image or 3-D volume is expected")
    if "complex" in image.GetPixelIDTypeAsString():
        raise MedColorError(f"{path} has complex voxels; a real-valued gray volume is expected")
    if image.GetNumberOfComponentsPerPixel() == 1:
        return image
    channels = sitk.GetArrayViewFromImage(image)
    gray = channels[..., 0]
    if channels.shape[-1] >= 3:
        spread = channels[..., :3].max(-1).astype(np.int64) - channels[..., :3].min(-1)
        if spread.max() > _GRAY_TOLERANCE:
            raise MedColorError(f"{path} is a colour image; a gray input is expected")
        gray = np.round(channels[..., :3].astype(np.float32).mean(-1)).astype(channels.dtype)
    out = sitk.GetImageFromArray(np.ascontiguousarray(gray))
    out.SetSpacing(image.GetSpacing())
    out.SetOrigin(image.GetOrigin())
    out.SetDirection(image.GetDirection())
    return out


def _check_array(array: np.ndarray, path: Path) -> None:
    """Empty or non-finite voxels -> MedColorError (checked slab-wise: no full-size temporaries)."""
    if array.size == 0:
        raise MedColorError(f"{path} is empty; give a non-empty volume")
    if array.dtype.kind == "f" and not all_finite(array):
        raise MedColorError(f"{path} contains NaN or infinite voxels; fix or mask them first")
    if array.dtype.kind == "f" and array.dtype.itemsize > 4:
        low, high = float(array.min()), float(array.max())
        if max(abs(low), abs(high), high - low) > FLOAT32_MAX:
            raise MedColorError(f"{path} holds values {low:g}..{high:g}, beyond the float32 the colorization "
                                "computes in (+-3.4e38); rescale the volume first")


def all_finite(array: np.ndarray, slab_voxels: int = 1 << 22) -> bool:
    """True when no voxel is NaN/Inf; checks slabs along axis 0 to keep temporaries small."""
    if array.dtype.kind not in "fc":
        return True
    if array.ndim < 2:
        return bool(np.isfinite(array).all())
    step = max(1, slab_voxels // max(1, array[0].size))
    return all(bool(np.isfinite(array[k:k + step]).all()) for k in range(0, array.shape[0], step))


def _geometry(image) -> tuple[tuple[float, ...], tuple[float, ...], np.ndarray]:
    """(spacing, origin, direction (3, 3)) of a SimpleITK image; 2-D images get a 3-D plane geometry
    (spacing (sx, sy, 1), origin (ox, oy, 0), the 2x2 direction in the upper-left of identity)."""
    dim = image.GetDimension()
    spacing = tuple(float(s) for s in image.GetSpacing())
    origin = tuple(float(o) for o in image.GetOrigin())
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dim, dim)
    if dim == 2:
        plane = np.eye(3)
        plane[:2, :2] = direction
        return spacing + (1.0,), origin + (0.0,), plane
    return spacing, origin, direction


def _nrrd_unescape(value: str) -> str:
    out, it = [], iter(value)
    for ch in it:
        if ch == "\\":
            nxt = next(it, "")
            out.append("\n" if nxt == "n" else nxt)
        else:
            out.append(ch)
    return "".join(out)


# ----------------------------------------------------------------------------- reading colour back

def read_color_volume(path: str | Path) -> tuple[np.ndarray, Volume, dict[str, str]]:
    """(rgba (K, J, I, C) uint8, geometry Volume whose array is channel 0 (a view), metadata dict)."""
    sitk = _sitk()
    path = Path(path)
    if not path.is_file():
        raise MedColorError(f"input not found: {path}")
    with itk_path(path) as name, captured() as printed:
        try:
            image, failure = sitk.ReadImage(name), None
        except RuntimeError as err:
            failure = err
    if failure is not None:
        raise MedColorError(f"cannot read {path}: {_itk_reason(failure, printed)}") from None
    rgba = sitk.GetArrayFromImage(image)
    if image.GetNumberOfComponentsPerPixel() == 1:
        rgba = rgba[..., None]
    spacing, origin, direction = _geometry(image)
    name = path.name.lower()
    metadata = _nrrd_metadata(path) if name.endswith(NRRD_SUFFIXES) else \
        _nifti_metadata(path) if name.endswith(NIFTI_SUFFIXES) else {}
    geometry = Volume(array=rgba[..., 0], spacing=spacing, origin=origin, direction=direction,
                      metadata={"source": str(path.resolve())})
    return rgba, geometry, metadata


def read_nrrd_header(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """(fields, key/values) of a NRRD header, e.g. fields['kinds'] = 'RGBA-color domain domain domain'."""
    fields: dict[str, str] = {}
    values: dict[str, str] = {}
    with open(path, "rb") as f:
        f.readline()  # magic
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                break
            if line.startswith("#"):
                continue
            if ":=" in line and (": " not in line or line.index(":=") < line.index(": ")):
                key, value = line.split(":=", 1)
                values[key] = _nrrd_unescape(value)
            elif ": " in line:
                key, value = line.split(": ", 1)
                fields[key] = value
    return fields, values


def _nrrd_metadata(path: Path) -> dict[str, str]:
    return read_nrrd_header(path)[1]


def _nifti_metadata(path: Path) -> dict[str, str]:
    """Provenance of a NIfTI written by :func:`write_color_volume` (comment extension JSON, or descrip)."""
    import nibabel as nib

    header = nib.load(str(path)).header
    for extension in header.extensions:
        if extension.get_code() == NIFTI_COMMENT_ECODE:
            try:
                return {str(k): str(v) for k, v in json.loads(extension.get_content()).items()}
            except (ValueError, AttributeError):
                continue
    descrip = bytes(header["descrip"]).rstrip(b"\0").decode("ascii", "replace")
    return {"descrip": descrip} if descrip else {}
