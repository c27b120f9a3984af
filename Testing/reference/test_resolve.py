"""Region-aware retrieval: a reference of the input's region and modality whenever the library has one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from MedColorLib.io.volumes import read_volume
from MedColorLib.reference.index import index_library
from MedColorLib.reference.resolve import resolve_reference


def _add(root, name: str, rgb: np.ndarray, **tags) -> None:
    (root / "pseudo").mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(root / "pseudo" / name)
    (root / "pseudo" / f"{name}.json").write_text(json.dumps({"set": "pseudo", "tags": tags}))


def _tinted(gray: np.ndarray, tint) -> np.ndarray:
    """A colour picture whose gray is ``gray`` (uint8) tinted."""
    return np.clip(gray[..., None].astype(float) * np.array(tint), 0, 255).astype(np.uint8)


@pytest.fixture
def abdomen_ct(data_dir):
    return read_volume(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz")


@pytest.fixture
def library(tmp_path, abdomen_ct):
    """Each region's picture, plus a distractor of another region that is the input's own slice (D-hash 0)."""
    from MedColorLib.prepare import apply_window
    mid = apply_window(abdomen_ct.array[15][::-1], -160, 240)
    own = np.round(mid * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    for region in ("head", "chest", "abdomen"):
        noise = rng.integers(0, 255, (64, 64), dtype=np.uint8)
        _add(tmp_path, f"{region}_ct.png", _tinted(noise, (1.0, 0.8, 0.6)), modality="CT", region=region)
    _add(tmp_path, "abdomen_mr.png", _tinted(rng.integers(0, 255, (64, 64), dtype=np.uint8), (0.7, 0.9, 1.0)),
         modality="MR", region="abdomen,body")
    _add(tmp_path, "distractor_head.png", _tinted(own, (1.0, 0.7, 0.6)), modality="CT", region="head")
    return index_library(tmp_path)


@pytest.mark.parametrize("region", ["head", "chest", "abdomen"])
def test_never_another_region_when_one_matches(abdomen_ct, library, region):
    rgb, info = resolve_reference(abdomen_ct, library=library, region=region)
    assert info["reference_tags"]["region"] == region and info["reference_tags"]["modality"] == "CT"
    assert info["region"]["how"] == "given by the user (--region)" and info["why"].startswith(f"region {region}")
    assert rgb.shape[-1] == 3


def test_the_rule_decides_when_nothing_is_given(abdomen_ct, library):
    _, info = resolve_reference(abdomen_ct, library=library)
    assert info["region"]["region"] == "abdomen" and info["path"].endswith("abdomen_ct.png")
    assert "rule on the volume" in info["why"]


def test_a_missing_region_falls_back_to_its_neighbour_and_says_so(abdomen_ct, library):
    _, info = resolve_reference(abdomen_ct, library=library, region="neck")  # neck -> head first
    assert info["reference_tags"]["region"] == "head"
    assert "no CT reference of region neck" in info["why"] and "neighbouring region head" in info["why"]


def test_modality_is_kept_within_the_region(data_dir, library):
    mr = read_volume(data_dir / "mri" / "pydicom_MR_abdomen_overlay.dcm")
    _, info = resolve_reference(mr, library=library)
    assert info["path"].endswith("abdomen_mr.png")


def test_the_luma_is_calibrated_only_for_a_ct_in_its_ct_references_window(abdomen_ct, library, data_dir):
    from MedColorLib.reference.resolve import luma_calibrated

    _, info = resolve_reference(abdomen_ct, library=library)
    assert info["reference_tags"]["modality"] == "CT" and luma_calibrated(info, (-160, 240))
    assert not luma_calibrated(info, (-1000, 400))                      # a lung window: other HU at each luma
    _, given = resolve_reference(abdomen_ct, reference=np.zeros((8, 8, 3)))
    assert not luma_calibrated(given, (-160, 240))                      # a user's picture: luma means nothing
    mr = read_volume(data_dir / "mri" / "pydicom_MR_abdomen_overlay.dcm")
    _, mr_info = resolve_reference(mr, library=library)
    assert mr_info["region"]["modality"] == "MR" and not luma_calibrated(mr_info, (-160, 240))


def test_the_volume_pipeline_records_the_luma_weight_it_used(abdomen_ct, library, data_dir):
    """Default: 8 for a CT coloured from a CT reference in the soft-tissue window, 1 otherwise; a user's value wins."""
    from MedColorLib.engine.correspondence import CALIBRATED_LUMA_WEIGHT
    from MedColorLib.options import Options
    from MedColorLib.pipeline.volume import colorize_volume

    options = Options(weights="random", device="cpu", size=48, key_slices=1)
    small = abdomen_ct.__class__(**{**abdomen_ct.__dict__, "array": abdomen_ct.array[10:13]})
    params = lambda **kw: colorize_volume(small, options, library=library, **kw).report["params"]  # noqa: E731
    assert params()["luma_match"] == CALIBRATED_LUMA_WEIGHT == 8.0
    assert params(window="lung")["luma_match"] == 1.0
    assert params(reference=np.random.default_rng(0).random((64, 64, 3)))["luma_match"] == 1.0
    options.luma_match = 2.5
    assert params()["luma_match"] == 2.5
