"""Hostile inputs of issue 23, built from the real scans in ../shared/data: detached headers that point at the
output, damaged compressed payloads, broken DICOM series, FIFOs, names that are not UTF-8, values beyond
float32, configuration values of the wrong type. Each builder takes the test's folder t (with t/in and t/out)
and returns the path it made."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk  # noqa: N813

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
REF = DATA / "color_ref" / "itk_VisibleWomanHeadSlice.png"
CT = DATA / "ct" / "totalseg_example_ct_sm.nii.gz"
T1 = DATA / "mri" / "itk_BrainT1Slice.png"
CT_DICOM = DATA / "ct" / "totalseg_example_ct_dicom"
CT_SLICE = DATA / "ct" / "pydicom_CT_small.dcm"
EPI = DATA / "mri" / "dipy_aniso_vox.nii.gz"
LATIN1 = b"caf\xe9"  # "café" in Latin-1: not valid UTF-8


def bytes_name(folder: Path, name: bytes) -> Path:
    """folder / name for a name of raw bytes (carried as surrogates, as os.listdir would give it)."""
    return folder / os.fsdecode(name)


def ct_image() -> sitk.Image:
    return sitk.ReadImage(str(CT))


def ct_array() -> np.ndarray:
    """The small CT as (K, J, I) int16 = (30, 101, 122)."""
    return sitk.GetArrayFromImage(ct_image())


# ------------------------------------------------------------------------------------ detached headers
NRRD_HEADER = ("NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 122 101 30\n"
               "space directions: (-3,0,0) (0,-3,0) (0,0,3)\nkinds: domain domain domain\nendian: little\n"
               "encoding: raw\nspace origin: (0,0,0)\n")
META_HEADER = ("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
               "CompressedData = False\nTransformMatrix = -1 0 0 0 -1 0 0 0 1\nOffset = 0 0 0\n"
               "ElementSpacing = 3 3 3\nDimSize = 122 101 30\nElementType = MET_SHORT\n")


def nhdr(t: Path, data: str, name: str = "in.nhdr") -> Path:
    """A detached NRRD header whose voxels are the raw CT in the file ``data`` (any name, .nrrd included)."""
    (t / "in" / data).write_bytes(ct_array().tobytes())
    (t / "in" / name).write_text(NRRD_HEADER + f"data file: {data}\n")
    return t / "in" / name


def mhd(t: Path, data: str, name: str = "in.mhd") -> Path:
    """A MetaImage header whose voxels are the raw CT in ``data`` (e.g. victim.png)."""
    (t / "in" / data).write_bytes(ct_array().tobytes())
    (t / "in" / name).write_text(META_HEADER + f"ElementDataFile = {data}\n")
    return t / "in" / name


def _slice_files(t: Path, pattern: str) -> list[str]:
    """The raw CT written one slice per file, named ``pattern.format(k)``; returns the names."""
    array = ct_array()
    names = [pattern.format(k) for k in range(len(array))]
    for k, name in enumerate(names):
        (t / "in" / name).write_bytes(array[k].tobytes())
    return names


def nhdr_list(t: Path) -> Path:
    """``data file: LIST 2``: one raw slice per file, s00.nrrd .. s29.nrrd."""
    names = _slice_files(t, "s{:02d}.nrrd")
    (t / "in" / "list.nhdr").write_text(NRRD_HEADER + "data file: LIST 2\n" + "\n".join(names) + "\n")
    return t / "in" / "list.nhdr"


def nhdr_pattern(t: Path) -> Path:
    """``data file: p%02d.nrrd 0 29 1 2``: the pattern form."""
    _slice_files(t, "p{:02d}.nrrd")
    (t / "in" / "pattern.nhdr").write_text(NRRD_HEADER + "data file: p%02d.nrrd 0 29 1 2\n")
    return t / "in" / "pattern.nhdr"


def mhd_list(t: Path) -> Path:
    """``ElementDataFile = LIST 2D`` with one raw slice per file, m00.json .. m29.json."""
    names = _slice_files(t, "m{:02d}.json")
    (t / "in" / "list.mhd").write_text(META_HEADER + "ElementDataFile = LIST 2D\n" + "\n".join(names) + "\n")
    return t / "in" / "list.mhd"


def nhdr_special_data(t: Path, kind: str) -> Path:
    """A detached header whose data file is a FIFO, /dev/zero or the header itself."""
    header = t / "in" / f"{kind}.nhdr"
    target = {"fifo": "pipe.raw", "device": "/dev/zero", "itself": header.name}[kind]
    if kind == "fifo":
        os.mkfifo(t / "in" / target)
    header.write_text(NRRD_HEADER + f"data file: {target}\n")
    return header


def huge_nrrd(t: Path) -> Path:
    """A NRRD header declaring 100000^3 voxels over 8 bytes of data (SimpleITK would try to allocate 2 PB)."""
    path = t / "in" / "huge.nrrd"
    path.write_bytes(NRRD_HEADER.replace("sizes: 122 101 30", "sizes: 100000 100000 100000").encode() + b"\n" + bytes(8))
    return path


# ------------------------------------------------------------------------------------ damaged payloads
def written(t: Path, name: str, compress: bool) -> Path:
    """The CT written by SimpleITK as t/in/name (any bytes: written under an ASCII name, then renamed)."""
    path = t / "in" / name
    if name.isascii():
        sitk.WriteImage(ct_image(), str(path), compress)
        return path
    ascii_path = path.with_name("written" + "".join(path.suffixes[-1:]))
    sitk.WriteImage(ct_image(), str(ascii_path), compress)
    os.rename(ascii_path, path)
    return path


def flipped(t: Path, name: str) -> Path:
    """A compressed CT with 200 bytes inverted in the middle of its stream."""
    path = written(t, name, True)
    data = bytearray(path.read_bytes())
    mid = len(data) * 2 // 3
    data[mid:mid + 200] = bytes(255 - b for b in data[mid:mid + 200])
    path.write_bytes(bytes(data))
    return path


def truncated_file(t: Path, name: str, compress: bool) -> Path:
    path = written(t, name, compress)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def garbage_mha(t: Path) -> Path:
    """A compressed .mha whose stream is replaced by random bytes after its first 100."""
    path = written(t, "garbage.mha", True)
    data = bytearray(path.read_bytes())
    start = data.index(b"ElementDataFile = LOCAL\n") + len(b"ElementDataFile = LOCAL\n") + 100
    data[start:] = np.random.default_rng(0).integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def mhd_without_data(t: Path) -> Path:
    path = written(t, "alone.mhd", False)
    (t / "in" / "alone.raw").unlink()
    return path


def nifti_datatype(t: Path, code: int) -> Path:
    """The CT as uint8 NIfTI with its datatype field patched (1 = binary)."""
    path = t / "in" / f"dt{code}.nii"
    nib.save(nib.Nifti1Image(np.clip(ct_array().T, 0, 255).astype(np.uint8), np.diag([3.0, 3, 3, 1])), str(path))
    data = bytearray(path.read_bytes())
    data[70:72] = np.int16(code).tobytes()
    path.write_bytes(bytes(data))
    return path


def float_volume(t: Path, values: np.ndarray, name: str = "f.nii.gz") -> Path:
    image = nib.Nifti1Image(values.astype(np.float64), np.diag([3.0, 3, 3, 1]))
    nib.save(image, str(t / "in" / name))
    return t / "in" / name


def beyond_float32(t: Path, value: float) -> Path:
    """The CT as float64 with its brightest voxels set to ``value`` (finite in float64, inf in float32)."""
    array = ct_array().T.astype(np.float64)
    array[array > 200] = value
    return float_volume(t, array)


def denormal_range(t: Path) -> Path:
    """A float volume whose values all lie in [0, 1e-39]: its percentile window is too narrow for float32."""
    return float_volume(t, (ct_array().T.astype(np.float64) + 1024) * 1e-43)


def sheared_nrrd(t: Path, suffix: str = ".nrrd") -> Path:
    """The CT with a non-orthogonal direction (j tilted 13 degrees toward i)."""
    image = ct_image()
    j = np.array([np.sin(np.radians(13)), np.cos(np.radians(13)), 0.0])
    direction = np.column_stack([[1.0, 0, 0], j, [0, 0, 1.0]])
    image.SetDirection(direction.ravel().tolist())
    path = t / "in" / f"sheared{suffix}"
    sitk.WriteImage(image, str(path))
    return path


# ------------------------------------------------------------------------------------------- DICOM
def dicom_series(t: Path, fault: str, name: str = "dicom") -> Path:
    """The 20-slice CT series with one fault: nopixel, truncated, duplicate, gap, orientation, fifo, broken-link
    (or "none")."""
    import pydicom

    folder = Path(shutil.copytree(CT_DICOM, t / "in" / name))
    files = sorted(folder.iterdir())
    bad = files[10]
    if fault == "nopixel":
        ds = pydicom.dcmread(bad)
        del ds.PixelData
        ds.save_as(bad)
    elif fault == "truncated":
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size * 2 // 3])
    elif fault == "duplicate":
        shutil.copy(bad, folder / "zz_copy.dcm")
    elif fault == "gap":
        bad.unlink()
    elif fault == "orientation":
        ds = pydicom.dcmread(bad)
        ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
        ds.save_as(bad)
    elif fault == "fifo":
        os.mkfifo(folder / "pipe.dcm")
    elif fault == "broken-link":
        os.symlink("nowhere.dcm", folder / "link.dcm")
    elif fault == "slope0":
        ds = pydicom.dcmread(bad)
        ds.RescaleSlope = 0
        ds.save_as(bad)
    return folder


def dicom_slice(t: Path, name: str = "slice.dcm", **tags) -> Path:
    import pydicom

    ds = pydicom.dcmread(CT_SLICE)
    for key, value in tags.items():
        setattr(ds, key, value)
    path = t / "in" / name
    ds.save_as(path)
    return path


# ----------------------------------------------------------------------------------------- other files
def fifo(t: Path, name: str) -> Path:
    path = t / "in" / name
    os.mkfifo(path)
    return path


def constant_png(t: Path) -> Path:
    from PIL import Image

    path = t / "in" / "flat.png"
    Image.new("L", (64, 64), 128).save(path)
    return path


def nan_weights(t: Path) -> Path:
    """A VGG16 features state dict (torchvision layout) that is all NaN."""
    import torch
    from torchvision.models import vgg16

    state = {k: torch.full_like(v, float("nan")) for k, v in vgg16(weights=None).features.state_dict().items()}
    path = t / "in" / "nan.pth"
    torch.save(state, path)
    return path


def config(t: Path, **changes) -> Path:
    """An evaluation configuration with one 2-D pair, with ``changes`` merged in (settings merged key by key)."""
    doc = {"settings": {"weights": "random", "size": 64, "iterations": [1, 1]},
           "methods": ["reinhard"],
           "pairs": [{"name": "t1", "modality": "MR", "target": str(T1), "reference": str(REF)}]}
    settings = changes.pop("settings", None)
    if isinstance(settings, dict):
        doc["settings"].update(settings)
    elif settings is not None:
        doc["settings"] = settings
    doc.update(changes)
    path = t / "in" / "cfg.json"
    path.write_text(json.dumps(doc))
    return path


def deep_json(t: Path) -> Path:
    path = t / "in" / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def empty_library(t: Path) -> Path:
    """An indexed library folder with no image."""
    from MedColorLib.reference.index import index_library

    (t / "in" / "lib").mkdir()
    return index_library(t / "in" / "lib").root


def long_nrrd(t: Path) -> Path:
    """A 16 x 16 x 33000 int16 NRRD: more voxels along k than NIfTI-1's 32767."""
    array = np.random.default_rng(0).integers(-1000, 1000, (33000, 16, 16)).astype(np.int16)
    path = t / "in" / "long.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path), True)
    return path
