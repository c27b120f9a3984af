"""Figures against the truth: Delta E_ab over chroma, colourfulness ratio, the summary on real images."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import lab2rgb, rgb2lab

from MedColorLib.errors import MedColorError
from MedColorLib.io.images import load_reference
from MedColorLib.metrics.truth import chroma_error_map, colourfulness_ratio, delta_e_ab, truth_summary


def _lab_image(shift_a: float = 0.0, shift_b: float = 0.0) -> np.ndarray:
    """A smooth in-gamut CIELAB image (L 50-70, a*, b* within +-15) shifted by (shift_a, shift_b), as RGB."""
    y, x = np.mgrid[0:32, 0:40] / 40.0
    lab = np.stack([50 + 20 * y, -15 + 30 * x + shift_a, 15 - 30 * y + shift_b], -1)
    return lab2rgb(lab)


def test_identical_images_have_zero_error():
    rgb = load_reference("/work/shared/data/color_ref/skimage_ihc.png")[:64, :64]
    assert delta_e_ab(rgb, rgb) == 0.0
    assert colourfulness_ratio(rgb, rgb) == pytest.approx(1.0)


def test_a_known_chroma_shift_gives_that_shift():
    truth, shifted = _lab_image(), _lab_image(6.0, -8.0)
    # the test images must survive the RGB round trip, or the expected value would be wrong
    assert np.allclose(rgb2lab(shifted)[..., 1:] - rgb2lab(truth)[..., 1:], [6.0, -8.0], atol=1e-6)
    assert delta_e_ab(shifted, truth) == pytest.approx(10.0, abs=1e-5)
    assert np.allclose(chroma_error_map(shifted, truth), 10.0, atol=1e-5)


def test_lightness_alone_is_not_counted():
    truth = _lab_image()
    lab = rgb2lab(truth)
    lab[..., 0] -= 10   # darker, same chroma
    assert delta_e_ab(lab2rgb(lab), truth) == pytest.approx(0.0, abs=1e-5)


def test_a_mask_restricts_the_mean():
    truth, shifted = _lab_image(), _lab_image(3.0, 4.0)
    out = truth.copy()
    out[:, 20:] = shifted[:, 20:]
    left = np.zeros(truth.shape[:2], bool)
    left[:, :20] = True
    assert delta_e_ab(out, truth, left) == pytest.approx(0.0, abs=1e-5)
    assert delta_e_ab(out, truth, ~left) == pytest.approx(5.0, abs=1e-5)
    assert delta_e_ab(out, truth) == pytest.approx(2.5, abs=1e-5)


def test_gray_output_of_a_colour_truth():
    truth = load_reference("/work/shared/data/color_ref/skimage_ihc.png")[:96, :96].astype(np.float64)
    gray = np.repeat((truth @ [0.299, 0.587, 0.114])[..., None], 3, -1)
    figures = truth_summary(gray, truth)
    # a gray output has a* = b* = 0 (to 1e-3, the D65 white point round-off): its error is the truth's own mean chroma
    assert figures["delta_e_ab"] == pytest.approx(float(np.hypot(*np.moveaxis(rgb2lab(truth)[..., 1:], -1, 0)).mean()), abs=0.01)
    assert figures["delta_e_ab"] > 5 and figures["colourfulness_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert figures["ssim_gray"] > 0.999 and figures["out_of_gamut"] is None


def test_bad_inputs_are_one_line_errors():
    truth = _lab_image()
    with pytest.raises(MedColorError, match="differ in size"):
        delta_e_ab(truth[:16], truth)
    with pytest.raises(MedColorError, match="RGB colour image"):
        delta_e_ab(truth[..., 0], truth)
    with pytest.raises(MedColorError, match="mask"):
        delta_e_ab(truth, truth, np.ones((3, 3), bool))
