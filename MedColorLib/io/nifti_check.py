"""A NIfTI file checked before SimpleITK reads it (SimpleITK zero-fills a truncated file, reads NaN as 0 and
niftilib prints its own lines for a datatype it cannot read)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from MedColorLib.errors import MedColorError, short_reason

# NIfTI-1 datatype codes SimpleITK reads as scalar voxels; colour and complex codes are refused with their
# own words later (components, complex), the others (binary 1, float128 1536, ...) here
SCALAR_CODES = {2: "uint8", 4: "int16", 8: "int32", 16: "float32", 64: "float64", 256: "int8", 512: "uint16",
                768: "uint32", 1024: "int64", 1280: "uint64"}
OTHER_READABLE = {32: "complex64", 128: "RGB24", 1792: "complex128", 2304: "RGBA32"}


def _check_datatype(header, path: Path) -> None:
    code = int(header["datatype"])
    if code in SCALAR_CODES or code in OTHER_READABLE:
        return
    try:
        name = str(header.get_data_dtype())
    except Exception:  # nibabel raises several types for unknown codes
        name = "unknown"
    raise MedColorError(f"{path} has NIfTI datatype {code} ({'binary' if code == 1 else name}), which cannot be "
                        "read as gray voxels; convert it to an integer or float type first")


def check_nifti(path: Path, chunk_bytes: int = 1 << 22) -> None:
    """Refuse a NIfTI file with zero/non-finite pixdim, a data block that ends early (truncated file or gzip
    stream) or NaN/Inf voxels; one sequential pass over the data in chunks (no full-size copy)."""
    import gzip
    import zlib

    import nibabel as nib

    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"  # by content: a plain NIfTI named .nii.gz is read as it is
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            header = nib.Nifti1Header.from_fileobj(f, check=False)  # unchecked: nibabel turns pixdim 0 into 1
    except Exception as err:  # nibabel and gzip raise many types for broken headers
        raise MedColorError(f"cannot read {path}: {short_reason(err)}; give a valid NIfTI file") from None
    _check_datatype(header, path)
    shape = header.get_data_shape()
    zooms = [float(z) for z in header["pixdim"][1: 1 + min(3, len(shape))]]
    for n, zoom in enumerate(zooms):
        if not (np.isfinite(zoom) and zoom > 0):
            raise MedColorError(f"{path} has voxel spacing {zoom:g} mm along axis {'ijk'[n]} (pixdim[{n + 1}]); "
                                "set the true spacing in its header first")
    dtype = header.get_data_dtype()
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    offset = int(header.get_data_offset())
    if not gzipped and dtype.kind not in "fc":
        if path.stat().st_size < offset + expected:
            raise MedColorError(f"{path} is truncated: its data ends early; give the complete file")
        return
    step = max(dtype.itemsize, chunk_bytes // dtype.itemsize * dtype.itemsize)
    seen = 0
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            f.seek(offset)
            while seen < expected:
                chunk = f.read(min(step, expected - seen))
                if not chunk:
                    break
                seen += len(chunk)
                if dtype.kind in "fc" and not np.isfinite(np.frombuffer(chunk[: len(chunk) // dtype.itemsize
                                                                                * dtype.itemsize], dtype)).all():
                    raise MedColorError(f"{path} contains NaN or infinite voxels; fix or mask them first")
            if gzipped:
                f.read()  # the gzip trailer (CRC, length) must be intact too
    except (EOFError, OSError, zlib.error) as err:
        raise MedColorError(f"{path} is truncated or corrupt ({short_reason(err)}); give the complete file") from None
    if seen < expected:
        raise MedColorError(f"{path} is truncated: its data ends early; give the complete file")
