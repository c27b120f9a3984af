"""Valid inputs a hostile user tries (issue 23): names that are not UTF-8 or hold a newline, names at the file
system's limit, an MR stored with negative values, a thin sagittal stack, tiny slices in volume mode, a huge
reference, a sheared NRRD. Each runs to exit 0 with a correct output: the input's grid and geometry, alpha
from the windowed input, the output's luma equal to it, no other file added and no input byte changed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import hostile_builders as hb
import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from hostile_builders import CT, CT_SLICE, EPI, LATIN1, REF, bytes_name
from PIL import Image
from test_failures import run_cli, snapshot

from MedColorLib.io.images import read_gray
from MedColorLib.io.volumes import read_color_volume, read_volume

PREVIEW = ["--reference", str(REF), "--mode", "preview", "--weights", "random", "--quiet"]
FAST_2D = ["--reference", str(REF), "--weights", "random", "--size", "64", "--iterations", "2,2", "--quiet"]


def latin1(t: Path, suffix: str) -> Path:
    return bytes_name(t / "in", LATIN1 + suffix.encode())


def copy_ct(target: Path) -> Path:
    return Path(shutil.copy(CT, target))


def negative_mr(t: Path) -> Path:
    """The dipy EPI brain rescaled to -2150..-1 (an MR whose stored values are all negative)."""
    image = sitk.ReadImage(str(EPI))
    a = sitk.GetArrayFromImage(image).astype(np.float64)
    out = sitk.GetImageFromArray(np.round(-2150 + (a - a.min()) / np.ptp(a) * 2149).astype(np.int16))
    out.CopyInformation(image)
    sitk.WriteImage(out, str(t / "in" / "negative.nii.gz"))
    return t / "in" / "negative.nii.gz"


def sagittal_stack(t: Path) -> Path:
    """12 sagittal slices of 58 x 24 px cut from the CT: k = patient right -> left, j = S, i = A -> P."""
    a = hb.ct_array()[3:27, 20:78, 55:67]                            # (S 24, P 58, L 12)
    image = sitk.GetImageFromArray(np.ascontiguousarray(a.transpose(2, 0, 1)))  # (12, 24, 58)
    image.SetSpacing((3.0, 3.0, 3.0))
    image.SetDirection(np.column_stack([[0, -1.0, 0], [0, 0, 1.0], [-1.0, 0, 0]]).ravel().tolist())
    sitk.WriteImage(image, str(t / "in" / "sagittal.nrrd"))
    return t / "in" / "sagittal.nrrd"


def tiny_slices(t: Path, side: int = 40) -> Path:
    """10 axial slices of side x side px from the CT's abdomen."""
    image = hb.ct_image()[40:40 + side, 30:30 + side, 10:20]
    sitk.WriteImage(image, str(t / "in" / "tiny.nrrd"))
    return t / "in" / "tiny.nrrd"


def huge_reference(t: Path) -> Path:
    path = t / "in" / "huge_ref.jpg"
    Image.open(REF).convert("RGB").resize((3000, 3000), Image.BICUBIC).save(path, quality=90)
    return path


def latin1_nhdr(t: Path) -> Path:
    data = LATIN1 + b".raw"
    (t / "in" / os.fsdecode(data)).write_bytes(hb.ct_array().tobytes())
    header = latin1(t, ".nhdr")
    header.write_bytes(hb.NRRD_HEADER.encode() + b"data file: " + data + b"\n")
    return header


def out(t: Path, name: str | bytes = "o.nrrd") -> Path:
    return bytes_name(t / "out", name) if isinstance(name, bytes) else t / "out" / name


# name -> (argv builder, the outputs it must write (relative to t), extra check of the report or None)
VALID = {
    "latin1-nifti-input": (lambda t: ["colorize", str(copy_ct(latin1(t, ".nii.gz"))), "-o", str(out(t)), *PREVIEW],
                           ["out/o.nrrd"], None),
    "latin1-nrrd-in-and-every-output": (
        lambda t: ["colorize", str(hb.written(t, os.fsdecode(LATIN1 + b".nrrd"), True)), "-o", str(out(t, LATIN1 + b".nrrd")),
                   "--preview", str(out(t, LATIN1 + b".png")), "--report", str(out(t, LATIN1 + b".json")), *PREVIEW],
        [os.fsdecode(b"out/" + LATIN1 + s) for s in (b".nrrd", b".png", b".json")], None),
    "latin1-dicom-folder": (lambda t: ["colorize", str(hb.dicom_series(t, "none", os.fsdecode(b"dic\xf3m"))), "-o",
                                       str(out(t)), *PREVIEW], ["out/o.nrrd"], None),
    "latin1-detached-header-and-data": (lambda t: ["colorize", str(latin1_nhdr(t)), "-o", str(out(t)), *PREVIEW],
                                        ["out/o.nrrd"], None),
    "latin1-2d-dicom": (lambda t: ["colorize", str(Path(shutil.copy(CT_SLICE, latin1(t, ".dcm")))), "-o",
                                   str(out(t, LATIN1 + b".png")), *FAST_2D], [os.fsdecode(b"out/" + LATIN1 + b".png")], None),
    "newline-in-the-names": (lambda t: ["colorize", str(copy_ct(t / "in" / "a\nb.nii.gz")), "-o", str(out(t, "c\nd.nrrd")),
                                        *PREVIEW], ["out/c\nd.nrrd"], None),
    "output-name-of-250-bytes": (lambda t: ["colorize", str(copy_ct(t / "in" / "ct.nii.gz")), "-o",
                                            str(out(t, "a" * 245 + ".nrrd")), *PREVIEW], ["out/" + "a" * 245 + ".nrrd"], None),
    "output-name-of-255-bytes-in-2-byte-letters": (
        lambda t: ["colorize", str(copy_ct(t / "in" / "ct.nii.gz")), "-o", str(out(t, "é" * 125 + ".nrrd")), *PREVIEW],
        ["out/" + "é" * 125 + ".nrrd"], None),
    "mr-with-all-values-negative": (lambda t: ["colorize", str(negative_mr(t)), "-o", str(out(t)), "--report",
                                               str(out(t, "r.json")), *PREVIEW], ["out/o.nrrd", "out/r.json"],
                                    lambda r: r["window"]["name"].startswith("percentiles")),
    "12-sagittal-slices-of-58x24": (lambda t: ["colorize", str(sagittal_stack(t)), "-o", str(out(t)), "--report",
                                               str(out(t, "r.json")), *PREVIEW], ["out/o.nrrd", "out/r.json"],
                                    lambda r: r["slice_axis"] == 0),
    "volume-mode-on-40-px-slices": (lambda t: ["colorize", str(tiny_slices(t)), "-o", str(out(t)), "--reference",
                                               str(REF), "--mode", "volume", "--weights", "random", "--iterations", "2,2",
                                               "--key-slices", "2", "--quiet"], ["out/o.nrrd"], None),
    "reference-of-3000x3000-px": (lambda t: ["colorize", str(copy_ct(t / "in" / "ct.nii.gz")), "-o", str(out(t)),
                                             "--reference", str(huge_reference(t)), "--mode", "preview", "--weights",
                                             "random", "--quiet"], ["out/o.nrrd"], None),
    "sheared-nrrd-to-nrrd": (lambda t: ["colorize", str(hb.sheared_nrrd(t)), "-o", str(out(t)), *PREVIEW],
                             ["out/o.nrrd"], None),
    "dicom-slice-with-a-nan-window": (lambda t: ["colorize", str(hb.dicom_slice(t, WindowCenter="NaN", WindowWidth="400")),
                                                 "-o", str(out(t, "c.png")), *FAST_2D], ["out/c.png"], None),
}


@pytest.mark.parametrize("name", list(VALID))
def test_valid_hostile_input_gives_a_correct_output(name, tmp_path, capfd, data_dir):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    make_argv, outputs, report_check = VALID[name]
    argv = make_argv(tmp_path)
    before = snapshot(tmp_path)
    code, err = run_cli(argv, capfd)
    assert code == 0 and err.strip() == "", err
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k not in outputs} == before  # no input byte changed, nothing else
    assert set(outputs) <= set(after), sorted(set(after) - set(before))
    source = Path(argv[1])
    target = tmp_path / outputs[0]
    if target.suffix == ".png":
        check_picture(source, target)
    else:
        check_volume(source, target)
    if report_check is not None:
        assert report_check(json.loads((tmp_path / outputs[-1]).read_text()))


def check_volume(source: Path, target: Path) -> None:
    """The input's grid and geometry; alpha = windowed input (tissue present); luma = alpha where alpha > 0."""
    volume = read_volume(source)
    rgba, geometry, _ = read_color_volume(target)
    assert rgba.shape == (*volume.array.shape, 4)
    np.testing.assert_allclose(geometry.spacing, volume.spacing, rtol=1e-9)
    np.testing.assert_allclose(geometry.origin, volume.origin, atol=1e-6)
    np.testing.assert_allclose(geometry.direction, volume.direction, atol=1e-9)
    alpha = rgba[..., 3].astype(np.float64)
    tissue = alpha > 0
    assert tissue.mean() > 0.05, "no tissue inside the window"
    luma = rgba[..., :3].astype(np.float64) @ [0.299, 0.587, 0.114]
    assert np.abs(luma - alpha)[tissue].mean() < 2.0
    assert np.ptp(rgba[..., :3].astype(int), axis=-1)[tissue].mean() > 1.0, "no colour"


def check_picture(source: Path, target: Path) -> None:
    """The input's size; luma = the input's gray."""
    gray = read_gray(source) * 255
    rgb = np.asarray(Image.open(target).convert("RGB"), dtype=np.float64)
    assert rgb.shape[:2] == gray.shape
    assert np.abs(rgb @ [0.299, 0.587, 0.114] - gray).mean() < 3.0
