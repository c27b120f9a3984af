"""The CT tissue map of a real reference slice: contrast-enhanced blood starts at ENHANCED_HU (100 HU), so the
enhanced liver, spleen and kidneys are rendered in the blood colour, at the gamut's chroma for their lightness."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2lab

from MedColorLib.evaluation.tissues import lab_of_mean
from MedColorLib.prepare import CT_PRESETS
from MedColorLib.reference.body_slices import SLICES, locate, read_slice
from MedColorLib.reference.tissues import ENHANCED_HU, compose, ct_tissues


@pytest.fixture(scope="module")
def abdomen():
    item = next(s for s in SLICES if s.name == "ct_abdomen_pancreas")
    path = locate(item)
    if path is None:
        pytest.skip("pydicom-data is not installed")
    try:
        return read_slice(path)
    except (RuntimeError, ValueError, ImportError) as err:  # no JPEG-2000 decoder
        pytest.skip(f"cannot decode the slice: {err}")


def test_enhanced_parenchyma_is_blood_not_muscle(abdomen):
    hu, pixel_mm = abdomen
    maps = ct_tissues(hu, pixel_mm, "abdomen")
    enhanced = (hu >= ENHANCED_HU + 5) & (hu < 130) & ~maps["bone"]   # liver and spleen, below the old 130 HU
    assert enhanced.sum() > 2000
    assert maps["blood"][enhanced].mean() > 0.8 and maps["muscle"][enhanced].mean() < 0.2
    assert not (maps["blood"] & maps["bone"]).any() and not (maps["blood"] & maps["muscle"]).any()


def test_the_rendered_contrast_class_is_red(abdomen):
    """The reference's own 100..250 HU pixels, as composed over the soft-tissue window: hue 0-50, chroma >= 20."""
    hu, pixel_mm = abdomen
    low, high = CT_PRESETS["soft-tissue"]
    rgb = compose(np.clip((hu - low) / (high - low), 0, 1), ct_tissues(hu, pixel_mm, "abdomen"))
    cls = (hu >= 100) & (hu < 250)
    figures = lab_of_mean(rgb[cls])
    assert 0 <= figures["hue"] <= 50 and figures["chroma"] >= 25
    muscle_like = (hu >= 30) & (hu < 60)   # less saturated: muscle's measured chroma, not the blood's
    assert np.median(np.hypot(*rgb2lab(rgb[cls] / 255)[:, 1:].T)) > \
        np.median(np.hypot(*rgb2lab(rgb[muscle_like] / 255)[:, 1:].T))
