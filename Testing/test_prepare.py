"""Preparation on real volumes: axial axis, slices, windows (CT presets, MR percentiles), air mask, checks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from MedColorLib.errors import MedColorError
from MedColorLib.prepare import CT_PRESETS, air_mask, apply_window, axial_axis, check_volume, choose_window, from_display, is_ct, iter_slices, parse_window, put_slice, slice_view, take_slice, to_display
from MedColorLib.types import Volume
from MedColorLib.io.volumes import read_volume


@pytest.fixture(scope="module")
def ct(data_dir) -> Volume:
    """The real abdomen CT (modality unknown: NIfTI), 30x101x122, int16 HU."""
    return read_volume(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz")


@pytest.fixture(scope="module")
def mr(data_dir) -> Volume:
    """A 20-slice crop of the MNI152 T1 template (uint8, skull-stripped, zero background)."""
    full = read_volume(data_dir / "mri" / "nilearn_mni152_t1_2009a_1mm.nii.gz")
    return Volume(array=np.ascontiguousarray(full.array[80:100]), spacing=full.spacing, origin=full.origin,
                  direction=full.direction)


def signed_permutations():
    for perm, signs in itertools.product(itertools.permutations(range(3)), itertools.product((1, -1), repeat=3)):
        matrix = np.zeros((3, 3))
        for n, (row, sign) in enumerate(zip(perm, signs)):
            matrix[row, n] = sign  # index axis n points along world axis `row`
        yield perm, matrix


# -------------------------------------------------------------------------------------- slice axis
def test_axial_axis_for_all_signed_permutation_directions():
    for perm, direction in signed_permutations():
        index_axis = perm.index(2)  # the index axis along LPS z (S)
        assert axial_axis(direction) == 2 - index_axis


def test_axial_axis_on_oblique_directions():
    tilt = lambda a: np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])  # noqa: E731
    assert axial_axis(tilt(np.radians(30))) == 0  # k still closest to S
    assert axial_axis(tilt(np.radians(60))) == 1  # now j is closer to S
    with pytest.raises(MedColorError):
        axial_axis(np.eye(2))


def test_slices_round_trip_without_resampling(ct):
    array = ct.array[:6, :20, :24]
    for axis in range(3):
        rebuilt = np.zeros_like(array)
        for index, raw in enumerate(iter_slices(array, axis)):
            assert np.shares_memory(raw, array)
            put_slice(rebuilt, axis, index, raw)
        np.testing.assert_array_equal(rebuilt, array)
    assert take_slice(array, 0, 2).shape == (20, 24)
    assert take_slice(array, 1, 2).shape == (6, 24)
    assert take_slice(array, 2, 2).shape == (6, 20)


def test_display_view_of_ras_ct_and_its_inverse(ct):
    view = slice_view(ct.direction, 0)  # RAS-stored NIfTI: i runs to patient right, j to anterior
    assert (view.transpose, view.flip_rows, view.flip_cols) == (False, True, True)
    raw = take_slice(ct.array, 0, 15)
    shown = to_display(raw, view)
    np.testing.assert_array_equal(from_display(shown, view), raw)
    identity = slice_view(np.eye(3), 0)  # DICOM-like LPS storage shows as stored
    assert identity == type(view)(False, False, False)
    swapped = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1.0]])  # i along P, j along L: transpose
    assert slice_view(swapped, 0).transpose


# ----------------------------------------------------------------------------------------- windows
def test_parse_window():
    assert parse_window("-160,240") == (-160.0, 240.0)
    assert parse_window(" 0.5 , 99 ") == (0.5, 99.0)
    assert parse_window("Lung") == "lung"
    assert parse_window("soft_tissue") == "soft-tissue" and parse_window("soft") == "soft-tissue"
    for bad in ("400,40", "40,40", "abc", "1,2,3", "nan,1", ""):
        with pytest.raises(MedColorError) as err:
            parse_window(bad)
        assert "\n" not in str(err.value)


def test_presets_are_hu_windows():
    assert CT_PRESETS["soft-tissue"] == (-160, 240) and CT_PRESETS["lung"] == (-1350, 150)
    assert CT_PRESETS["bone"] == (-500, 1300) and CT_PRESETS["brain"] == (0, 80)


def test_ct_gets_soft_tissue_preset_and_mr_percentiles(ct, mr):
    assert ct.modality == "" and is_ct(ct)
    assert choose_window(ct) == (-160.0, 240.0, "soft-tissue")
    low, high, name = choose_window(mr)
    assert name.startswith("percentiles") and not is_ct(mr)
    assert 30 < low < 90 < 180 < high <= 255  # brain tissue range, not the zero background
    dicom_ct = Volume(array=np.full((2, 2, 2), 40, np.int16), modality="CT")
    assert choose_window(dicom_ct)[2] == "soft-tissue"  # DICOM modality decides
    assert choose_window(ct, "bone") == (-500.0, 1300.0, "bone")
    assert choose_window(mr, "10,200") == (10.0, 200.0, "manual")
    assert choose_window(mr, (10, 200)) == (10.0, 200.0, "manual")
    with pytest.raises(MedColorError, match="LOW must be smaller"):
        choose_window(ct, "240,-160")


def test_ct_dicom_series_window(data_dir):
    dicom = read_volume(data_dir / "ct" / "totalseg_example_ct_dicom")
    assert dicom.modality == "CT" and choose_window(dicom)[2] == "soft-tissue"


def test_apply_window_is_float32_and_exact(ct):
    windowed = apply_window(ct.array, -160, 240, slab_voxels=5000)  # several slabs
    assert windowed.dtype == np.float32 and windowed.shape == ct.array.shape
    assert windowed.min() == 0.0 and windowed.max() == 1.0
    expected = np.clip((ct.array.astype(np.float64) + 160) / 400, 0, 1)
    np.testing.assert_allclose(windowed, expected, atol=1e-6)
    assert apply_window(np.array([[-1000, 40, 3000]], np.int16), -160, 240).tolist() == [[0.0, 0.5, 1.0]]
    with pytest.raises(MedColorError):
        apply_window(ct.array, 5, 5)


def test_air_mask_on_real_ct(ct):
    windowed = apply_window(ct.array, *CT_PRESETS["soft-tissue"])
    mask = air_mask(windowed)
    assert mask.dtype == bool and mask.shape == ct.array.shape
    middle = take_slice(mask, 0, 15)
    assert middle[0, 0] and middle[-1, -1]  # corners: air around the patient
    body = take_slice(ct.array, 0, 15) > -100  # fat and denser tissue
    assert middle[body].mean() < 0.02  # tissue is not air
    assert 0.2 < mask.mean() < 0.8
    assert air_mask(windowed[15]).shape == windowed[15].shape  # a single 2-D slice


# ------------------------------------------------------------------------------------------ checks
def test_check_volume_accepts_real_volumes(ct, mr):
    assert check_volume(ct) == 0 and check_volume(mr) == 0


@pytest.mark.parametrize("array, words", [
    (np.full((4, 8, 8), 7, np.int16), "constant"),
    (np.zeros((3, 8, 8, 2), np.int16), "4-D"),
    (np.zeros((3, 8, 8, 3), np.uint8), "components"),
    (np.arange(64, dtype=np.int16).reshape(1, 8, 8), "1 axial slice"),
    (np.zeros((0, 8, 8), np.int16), "empty"),
    (np.arange(64, dtype=np.float32).reshape(4, 4, 4) * np.array([1, 1, 1, np.nan], np.float32), "NaN"),
    (np.arange(64, dtype=np.float32).reshape(4, 4, 4) * np.array([1, 1, 1, np.inf], np.float32), "NaN or infinite"),
    (np.zeros((8, 8), np.int16), "3-D scalar volume"),
])
def test_check_volume_rejects(array, words):
    with pytest.raises(MedColorError, match=words) as err:
        check_volume(Volume(array=array))
    assert "\n" not in str(err.value)
