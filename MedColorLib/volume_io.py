"""Volume files: read a scalar volume (NRRD, NIfTI, MHA/MHD, DICOM series or file, PNG/JPEG) with its
exact geometry, and write colour volumes (NRRD with RGBA/RGB-color kinds, NIfTI RGBA32/RGB24) atomically.

Geometry follows SimpleITK/ITK (LPS, direction columns = index axes i, j, k); see :class:`Volume`.
Every writer goes through :func:`_atomic`: a hidden temporary file in the destination folder, renamed
over the destination only when complete, so a failed or interrupted write leaves no partial output.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import MedColorError
from .volume import Volume

NRRD_SUFFIXES = (".nrrd",)
NIFTI_SUFFIXES = (".nii", ".nii.gz")
IMAGE_2D_SUFFIXES = (".png", ".jpg", ".jpeg")
NIFTI_COMMENT_ECODE = 6  # NIFTI_ECODE_COMMENT: the provenance JSON travels in this header extension
_GRAY_TOLERANCE = 2  # max channel difference of a gray picture saved as RGB (JPEG noise)
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


# ---------------------------------------------------------------------------------------- reading
def read_volume(path: str | Path, series: str | None = None) -> Volume:
    """Read a scalar volume (3-D array (K, J, I), or (J, I) for PNG/JPEG) with exact geometry.

    ``path``: a volume file, a single DICOM file, or a folder holding a DICOM series (``series`` picks
    one by SeriesInstanceUID or by its 1-based number when the folder holds several).
    """
    path = Path(path)
    if path.is_dir():
        image, meta = _read_dicom_folder(path, series)
    elif path.is_file():
        image, meta = _read_file(path)
    else:
        raise MedColorError(f"input not found: {path}")
    image = _scalar_image(image, path)
    array = _sitk().GetArrayFromImage(image)
    _check_array(array, path)
    spacing, origin, direction = _geometry(image)
    meta["source"] = str(path.resolve())
    return Volume(array=array, spacing=spacing, origin=origin, direction=direction,
                  modality=meta.pop("modality", ""), metadata=meta)


def _sitk():
    import SimpleITK as sitk  # noqa: N813 - lazy: keeps `import MedColorLib` light

    return sitk


def _read_file(path: Path) -> tuple[object, dict]:
    """One file -> (SimpleITK image, metadata with 'modality'); unreadable -> MedColorError."""
    sitk = _sitk()
    if path.stat().st_size == 0:
        raise MedColorError(f"input file is empty: {path}")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
        _check_layout(reader.GetSize(), reader.GetNumberOfComponents(), path)
        image = reader.Execute()
    except RuntimeError as err:
        raise MedColorError(f"cannot read {path}: {_first_line(err)}; give a NRRD, NIfTI, MHA, DICOM, "
                            "PNG or JPEG file") from None
    meta = {"modality": _tag(reader, "0008|0060")}
    return image, meta


def _read_dicom_folder(folder: Path, series: str | None) -> tuple[object, dict]:
    """A DICOM series folder -> (SimpleITK image, metadata); several series need ``series``."""
    sitk = _sitk()
    uids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    if not uids:
        raise MedColorError(f"no DICOM series found in folder {folder}; give a DICOM series folder or a "
                            "volume file")
    uid = _choose_series(folder, uids, series)
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        image = reader.Execute()
    except RuntimeError as err:
        raise MedColorError(f"cannot read DICOM series {uid or '(no UID)'} in {folder}: "
                            f"{_first_line(err)}") from None
    tag = lambda key: reader.GetMetaData(0, key).strip() if reader.HasMetaDataKey(0, key) else ""  # noqa: E731
    meta = {"modality": tag("0008|0060"), "series_uid": uid, "series_description": tag("0008|103e"),
            "dicom_files": str(len(files))}
    return image, meta


def _choose_series(folder: Path, uids: list[str], series: str | None) -> str:
    """The series UID to read: the only one, or the one ``series`` names (UID or 1-based number)."""
    if series is None and len(uids) == 1:
        return uids[0]
    if series is not None:
        if series in uids:
            return series
        if series.isdigit() and 1 <= int(series) <= len(uids):
            return uids[int(series) - 1]
    listing = "; ".join(f"{n}) {_describe_series(folder, uid)}" for n, uid in enumerate(uids, 1))
    problem = (f"series {series!r} is not in {folder}" if series is not None
               else f"{folder} holds {len(uids)} DICOM series")
    return _raise(f"{problem}: {listing}; choose one with --series UID (or its number)")


def _describe_series(folder: Path, uid: str) -> str:
    """'UID 1.2.3 "description" MR, 20 slices' for one series of a folder."""
    sitk = _sitk()
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)
    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    try:
        reader.ReadImageInformation()
        description, modality = _tag(reader, "0008|103e"), _tag(reader, "0008|0060")
    except RuntimeError:
        description, modality = "?", "?"
    return f"UID {uid or '(none)'} \"{description}\" {modality}, {len(files)} slice{'s' if len(files) != 1 else ''}"


def _raise(message: str):
    raise MedColorError(message)


def _tag(reader, key: str) -> str:
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""


def _first_line(err: BaseException) -> str:
    """The last informative line of an (often multi-line) ITK exception message, without prefixes."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or ["unknown error"]
    text = re.sub(r"^(sitk|itk)::(ERROR|EXCEPTION):\s*", "", lines[-1], flags=re.IGNORECASE)
    return text[:160]


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


# ---------------------------------------------------------------------------------------- writing
def write_color_volume(path: str | Path, rgba: np.ndarray, like: Volume, metadata: dict[str, str] | None = None,
                       rgb: bool = False, compress_level: int = 1) -> Path:
    """Write a (K, J, I, 4) (or 3) uint8 colour volume with ``like``'s geometry, atomically.

    ``.nrrd``: kinds ``RGBA-color``/``RGB-color``, gzip (level ``compress_level``; 0 = raw), provenance as
    ``key:=value`` lines. ``.nii``/``.nii.gz``: datatype RGBA32/RGB24, provenance JSON in a comment header
    extension (ecode 6) and a <= 79-character summary in ``descrip``. ``rgb=True`` drops alpha.
    """
    path = Path(path)
    rgba = _checked_colour(rgba, like, rgb)
    _check_destination(path, like.metadata.get("source") if isinstance(like.metadata, dict) else None)
    metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
    name = path.name.lower()
    if name.endswith(NRRD_SUFFIXES):
        writer = lambda tmp: _write_nrrd(tmp, rgba, like, metadata, compress_level)  # noqa: E731
    elif name.endswith(NIFTI_SUFFIXES):
        writer = lambda tmp: _write_nifti(tmp, rgba, like, metadata)  # noqa: E731
    else:
        raise MedColorError(f"cannot write {path}: unknown format; use .nrrd, .nii or .nii.gz")
    with atomic_path(path) as tmp:
        writer(tmp)
    return path


def _checked_colour(rgba: np.ndarray, like: Volume, rgb: bool) -> np.ndarray:
    """(K, J, I, C) C-contiguous uint8, C = 3 (rgb or RGB given) or 4; shape must match ``like``."""
    rgba = np.asarray(rgba)
    if rgba.dtype != np.uint8 or rgba.ndim != 4 or rgba.shape[-1] not in (3, 4):
        raise MedColorError(f"colour volume must be (K, J, I, 3|4) uint8, got {rgba.shape} {rgba.dtype}")
    if like.array.ndim != 3 or rgba.shape[:3] != like.array.shape:
        raise MedColorError(f"colour volume shape {rgba.shape[:3]} does not match the input volume "
                            f"{like.array.shape}")
    return np.ascontiguousarray(rgba[..., :3] if rgb else rgba)


def _check_destination(path: Path, source: str | None = None) -> None:
    """The output folder must exist and the output must not be the input file ``source``."""
    if not path.parent.is_dir():
        raise MedColorError(f"cannot write {path}: folder {path.parent} does not exist")
    if source and Path(source).resolve() == path.resolve():
        raise MedColorError(f"output {path} is the input file; choose another output name")


def _write_nrrd(tmp: Path, rgba: np.ndarray, like: Volume, metadata: dict[str, str], level: int) -> None:
    """NRRD written directly (SimpleITK would write ``kinds: vector``), streamed slice by slice."""
    with open(tmp, "xb") as f:
        f.write(_nrrd_header(rgba.shape, like, metadata, gzipped=level > 0))
        sink = gzip.GzipFile(fileobj=f, mode="wb", compresslevel=level, mtime=0) if level > 0 else f
        for k in range(rgba.shape[0]):
            sink.write(rgba[k].tobytes())
        if sink is not f:
            sink.close()
        f.flush()
        os.fsync(f.fileno())


def _nrrd_header(shape: tuple[int, ...], like: Volume, metadata: dict[str, str], gzipped: bool) -> bytes:
    """NRRD0004 header for a (K, J, I, C) uint8 colour volume in LPS, ending with the blank line."""
    k, j, i, c = shape
    axes = np.asarray(like.direction, dtype=np.float64) @ np.diag(np.asarray(like.spacing, dtype=np.float64))
    vec = lambda v: "(" + ",".join(repr(float(x)) for x in v) + ")"  # noqa: E731 - repr: exact round trip
    lines = ["NRRD0004", "# MedColor colour volume", "type: unsigned char", "dimension: 4",
             "space: left-posterior-superior", f"sizes: {c} {i} {j} {k}",
             "space directions: none " + " ".join(vec(axes[:, n]) for n in range(3)),
             f"kinds: {'RGBA-color' if c == 4 else 'RGB-color'} domain domain domain",
             f"encoding: {'gzip' if gzipped else 'raw'}", f"space origin: {vec(like.origin)}"]
    lines += [f"{_nrrd_key(key)}:={_nrrd_escape(value)}" for key, value in metadata.items()]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def _nrrd_key(key: str) -> str:
    return key.replace(":=", "=").replace("\n", " ").replace("\r", " ")


def _nrrd_escape(value: str) -> str:
    """NRRD key/value escaping (backslash and newline), as teem writes and reads it."""
    return value.replace("\\", "\\\\").replace("\r", "").replace("\n", "\\n")


def _nrrd_unescape(value: str) -> str:
    out, it = [], iter(value)
    for ch in it:
        if ch == "\\":
            nxt = next(it, "")
            out.append("\n" if nxt == "n" else nxt)
        else:
            out.append(ch)
    return "".join(out)


def _write_nifti(tmp: Path, rgba: np.ndarray, like: Volume, metadata: dict[str, str]) -> None:
    """NIfTI-1 RGBA32 (2304) / RGB24 (128) with qform = sform = like's geometry (RAS, scanner)."""
    import nibabel as nib

    fields = np.dtype([(name, "u1") for name in "RGBA"[: rgba.shape[-1]]])
    data = rgba.view(fields)[..., 0].transpose(2, 1, 0)  # (I, J, K) view; F-order bytes = rgba's memory
    image = nib.Nifti1Image(data, _ras_affine(like))
    header = image.header
    header.set_xyzt_units("mm")
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    header["descrip"] = _nifti_descrip(metadata)
    if metadata:
        header.extensions.append(nib.nifti1.Nifti1Extension(
            NIFTI_COMMENT_ECODE, json.dumps(metadata, sort_keys=True).encode("utf-8")))
    nib.save(image, str(tmp))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())


def _ras_affine(like: Volume) -> np.ndarray:
    """4x4 voxel (i, j, k) -> RAS mm matrix of a Volume's LPS geometry."""
    affine = np.eye(4)
    affine[:3, :3] = _LPS_TO_RAS @ np.asarray(like.direction, dtype=np.float64) @ np.diag(like.spacing)
    affine[:3, 3] = _LPS_TO_RAS @ np.asarray(like.origin, dtype=np.float64)
    return affine


def _nifti_descrip(metadata: dict[str, str]) -> bytes:
    """'MedColor k=v; ...' cut to the 79 ASCII bytes NIfTI's descrip holds."""
    text = "MedColor " + "; ".join(f"{k}={v}" for k, v in metadata.items())
    return text.encode("ascii", "replace")[:79]


def write_image_2d(path: str | Path, rgb: np.ndarray, quality: int = 95) -> Path:
    """Write an (H, W, 3) (or (H, W, 4) for PNG, or (H, W) gray) uint8 picture atomically (PNG/JPEG)."""
    from PIL import Image

    path = Path(path)
    rgb = np.asarray(rgb)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_2D_SUFFIXES:
        raise MedColorError(f"cannot write {path}: unknown picture format; use .png or .jpg")
    if rgb.dtype != np.uint8 or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[-1] in (3, 4))):
        raise MedColorError(f"picture must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if suffix != ".png" and rgb.ndim == 3 and rgb.shape[-1] == 4:
        rgb = rgb[..., :3]
    _check_destination(path)
    options = {"format": "PNG"} if suffix == ".png" else {"format": "JPEG", "quality": quality}
    with atomic_path(path) as tmp:
        with open(tmp, "xb") as f:
            Image.fromarray(np.ascontiguousarray(rgb)).save(f, **options)
            f.flush()
            os.fsync(f.fileno())
    return path


# ----------------------------------------------------------------------------- reading colour back
def read_color_volume(path: str | Path) -> tuple[np.ndarray, Volume, dict[str, str]]:
    """(rgba (K, J, I, C) uint8, geometry Volume whose array is channel 0 (a view), metadata dict)."""
    sitk = _sitk()
    path = Path(path)
    if not path.is_file():
        raise MedColorError(f"input not found: {path}")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise MedColorError(f"cannot read {path}: {_first_line(err)}") from None
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
