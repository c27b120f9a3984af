"""Colour volume files: write colour volumes (NRRD with RGBA/RGB-color kinds, NIfTI RGBA32/RGB24) atomically.

Geometry follows SimpleITK/ITK (LPS, direction columns = index axes i, j, k); see :class:`Volume`.
Every writer goes through :func:`atomic_path`: a hidden temporary file in the destination folder, renamed
over the destination only when complete, so a failed or interrupted write leaves no partial output.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np

from MedColorLib.io.atomic import atomic_path, check_destination
from MedColorLib.errors import MedColorError
from MedColorLib.io.volumes import LPS_TO_RAS, NIFTI_COMMENT_ECODE, NIFTI_SUFFIXES, NRRD_SUFFIXES
from MedColorLib.types import Volume


NIFTI_MAX_SIDE = 32767         # NIfTI-1 dim[] are signed 16-bit
ORTHOGONAL_TOLERANCE = 1e-4    # |cos| between unit direction columns


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
    check_destination(path, like.metadata.get("source") if isinstance(like.metadata, dict) else None)
    check_storable(path, like)
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


def check_storable(path: str | Path, like: Volume) -> None:
    """The output format can hold ``like``'s grid and geometry; checked before any work. NIfTI-1 stores at
    most 32767 voxels per axis and only perpendicular axes (its qform is a rotation): a sheared input would
    come back rotated, so it is refused there (NRRD keeps any geometry)."""
    if not Path(path).name.lower().endswith(NIFTI_SUFFIXES):
        return
    shape = np.asarray(like.array).shape[:3]
    if max(shape) > NIFTI_MAX_SIDE:
        raise MedColorError(f"cannot write {path}: NIfTI-1 holds at most {NIFTI_MAX_SIDE} voxels per axis and the "
                            f"volume has {'x'.join(map(str, shape[::-1]))}; write .nrrd instead")
    direction = np.asarray(like.direction, dtype=np.float64)
    cosines = direction.T @ direction
    off = np.abs(cosines - np.eye(3)).max()
    if off > ORTHOGONAL_TOLERANCE:
        angles = np.degrees(np.arccos(np.clip(cosines[np.triu_indices(3, 1)], -1, 1)))
        worst = float(angles[np.argmax(np.abs(angles - 90))])
        raise MedColorError(f"cannot write {path}: the input's axes are not perpendicular (two meet at {worst:.1f} "
                            "degrees) and NIfTI stores only perpendicular axes; write .nrrd, which keeps them")


def _checked_colour(rgba: np.ndarray, like: Volume, rgb: bool) -> np.ndarray:
    """(K, J, I, C) C-contiguous uint8, C = 3 (rgb or RGB given) or 4; shape must match ``like``."""
    rgba = np.asarray(rgba)
    if rgba.dtype != np.uint8 or rgba.ndim != 4 or rgba.shape[-1] not in (3, 4):
        raise MedColorError(f"colour volume must be (K, J, I, 3|4) uint8, got {rgba.shape} {rgba.dtype}")
    if like.array.ndim != 3 or rgba.shape[:3] != like.array.shape:
        raise MedColorError(f"colour volume shape {rgba.shape[:3]} does not match the input volume "
                            f"{like.array.shape}")
    return np.ascontiguousarray(rgba[..., :3] if rgb else rgba)


def _write_nrrd(tmp: Path, rgba: np.ndarray, like: Volume, metadata: dict[str, str], level: int) -> None:
    """NRRD written directly (SimpleITK would write ``kinds: vector``), streamed slice by slice."""
    with open(tmp, "xb") as f:
        f.write(_nrrd_header(rgba.shape, like, metadata, gzipped=level > 0))
        # filename="" and mtime=0: the gzip header must not carry the random temporary name or the time
        sink = gzip.GzipFile(filename="", fileobj=f, mode="wb", compresslevel=level, mtime=0) if level > 0 else f
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
    # surrogateescape: a source name that is not UTF-8 keeps its bytes
    return ("\n".join(lines) + "\n\n").encode("utf-8", "surrogateescape")


def _nrrd_key(key: str) -> str:
    return key.replace(":=", "=").replace("\n", " ").replace("\r", " ")


def _nrrd_escape(value: str) -> str:
    """NRRD key/value escaping (backslash and newline), as teem writes and reads it."""
    return value.replace("\\", "\\\\").replace("\r", "").replace("\n", "\\n")


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
    affine[:3, :3] = LPS_TO_RAS @ np.asarray(like.direction, dtype=np.float64) @ np.diag(like.spacing)
    affine[:3, 3] = LPS_TO_RAS @ np.asarray(like.origin, dtype=np.float64)
    return affine


def _nifti_descrip(metadata: dict[str, str]) -> bytes:
    """'MedColor k=v; ...' cut to the 79 ASCII bytes NIfTI's descrip holds."""
    text = "MedColor " + "; ".join(f"{k}={v}" for k, v in metadata.items())
    return text.encode("ascii", "replace")[:79]
