"""Automatic fly-through paths (pipeline/lumen_path.py) on the real chest and abdomen CTs; the carina is located
independently here (where the trachea's air splits, chest_ct.locate_carina), not by the code under test."""

from __future__ import annotations

import numpy as np
import pytest

from chest_ct import cropped, flipped, hu_at, locate_carina, permuted, read_chest, TRACHEA_BOX
from MedColorLib.errors import MedColorError
from MedColorLib.pipeline.lumen_path import airway_path, colon_path, find_path


@pytest.fixture(scope="module")
def chest(data_dir):
    return read_chest(data_dir)


@pytest.fixture(scope="module")
def carina(chest):
    return locate_carina(chest)


def check_airway(volume, carina):
    path = airway_path(volume)
    points = path.points_ras
    assert (hu_at(volume, points) < -500).all(), "every point of the path is in air"
    first, last = path.segments["trachea"]
    trachea = points[first: last + 1]
    assert trachea[0, 2] - carina[2] > 40.0                  # starts in the trachea, well above the carina
    assert np.diff(trachea[:, 2]).max() <= 0.1               # descends from there to the carina
    assert np.linalg.norm(trachea[-1] - carina) < 15.0       # reaches the carina
    assert np.linalg.norm(points[-1] - carina) < 15.0        # and the whole path ends there (after both bronchi)
    assert np.linalg.norm(path.landmarks["carina"] - carina) < 15.0
    for side, sign in (("left main bronchus", 1.0), ("right main bronchus", -1.0)):
        a, b = path.segments[side]
        assert -sign * (points[b, 0] - points[a, 0]) > 10.0  # RAS: +x is the patient's right
    return path


def test_airway_path_runs_trachea_to_carina_and_into_both_bronchi(chest_small, carina):
    check_airway(chest_small, carina)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["whole", "crop", "flip-i", "flip-k", "permuted", "flipped-permuted"])
def test_airway_path_same_when_flipped_permuted_or_cropped(chest, carina, variant):
    crop = cropped(chest, TRACHEA_BOX)
    volume = {"whole": lambda: chest, "crop": lambda: crop, "flip-i": lambda: flipped(crop, 2),
              "flip-k": lambda: flipped(crop, 0), "permuted": lambda: permuted(crop, (2, 0, 1)),
              "flipped-permuted": lambda: permuted(flipped(crop, 1), (1, 2, 0))}[variant]()
    check_airway(volume, carina)


def test_no_airway_in_a_brain_mr_is_one_clear_line(data_dir):
    from MedColorLib.io.volumes import read_volume

    with pytest.raises(MedColorError) as err:
        find_path(read_volume(data_dir / "mri" / "dipy_aniso_vox.nii.gz"), "airway")
    assert str(err.value).startswith("no airway found") and "\n" not in str(err.value)


def test_no_airway_in_a_head_ct_is_one_clear_line(data_dir):
    from MedColorLib.io.volumes import read_volume

    with pytest.raises(MedColorError, match="^no airway found"):
        airway_path(read_volume(data_dir / "ct" / "totalseg_ct_brain_atlas_1mm.nii.gz"))


@pytest.mark.parametrize("name", ["totalseg_example_ct_sm.nii.gz", "totalseg_example_ct_dicom"])
def test_colon_path_follows_gas_below_the_lungs(data_dir, name):
    from MedColorLib.io.volumes import read_volume

    volume = read_volume(data_dir / "ct" / name)
    path = colon_path(volume)
    points = path.points_ras
    length = np.linalg.norm(np.diff(points, axis=0), axis=1).sum()
    assert length > 20.0                                      # the DICOM series is a 38 mm slab
    from chest_ct import ras_to_voxel
    kji = ras_to_voxel(volume, points)
    room = np.minimum(kji, np.array(volume.array.shape) - 1 - kji) * np.array(volume.spacing)[::-1]
    assert room.min() >= 6.0                                  # the camera stays inside the scan, off its faces
    assert np.median(hu_at(volume, points)) < -800 and (hu_at(volume, points) < -400).all()
