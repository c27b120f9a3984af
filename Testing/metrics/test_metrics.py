"""Quality metrics against values known in closed form, on real images where that makes sense."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_ycbcr, ycbcr_to_rgb

from MedColorLib.metrics import image as metrics
from MedColorLib.engine.color import luma_np
from MedColorLib.errors import MedColorError


def as_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=-1)


def shift_chroma(rgb: np.ndarray, d_cb: float, d_cr: float) -> np.ndarray:
    """Add a constant to centred Cb/Cr, keeping luma (no clipping: the caller keeps it in gamut)."""
    ycc = rgb_to_ycbcr(torch.from_numpy(np.moveaxis(rgb, -1, 0).copy()))
    ycc[1] += d_cb
    ycc[2] += d_cr
    return np.moveaxis(ycbcr_to_rgb(ycc).numpy(), 0, -1)


@pytest.fixture
def compressed_reference(visible_woman) -> np.ndarray:
    """The cryosection squeezed into [0.1, 0.9] so chroma shifts up to 0.05 stay inside the RGB cube."""
    return (0.1 + 0.8 * visible_woman).astype(np.float32)


# ------------------------------------------------------------------ SSIM / PSNR / FSIM
def test_identical_images_score_perfectly(brain_t1):
    out = as_rgb(brain_t1)
    assert metrics.ssim_gray(out, brain_t1) == pytest.approx(1.0, abs=1e-6)
    assert metrics.psnr_gray(out, brain_t1) == math.inf
    assert metrics.fsim(out, brain_t1) == pytest.approx(1.0, abs=1e-5)


def test_psnr_of_constant_luminance_shift(brain_t1):
    gray = (0.9 * brain_t1).astype(np.float32)
    shift = 0.1
    out = as_rgb(gray + shift)
    assert metrics.psnr_gray(out, gray) == pytest.approx(20 * math.log10(1 / shift), abs=1e-3)
    assert metrics.ssim_gray(out, gray) < 0.999  # a shift changes the luminance term of SSIM


def test_psnr_uses_bt601_gray_not_one_channel(brain_t1):
    gray = (0.8 * brain_t1).astype(np.float32)
    out = as_rgb(gray)
    out[..., 2] += 0.1  # blue only: luma moves by 0.114 * 0.1
    assert metrics.psnr_gray(out, gray) == pytest.approx(20 * math.log10(1 / 0.0114), abs=1e-3)


def test_structure_loss_lowers_ssim_and_fsim(brain_t1):
    noisy = np.clip(brain_t1 + np.random.default_rng(0).normal(0, 0.1, brain_t1.shape), 0, 1)
    assert metrics.ssim_gray(as_rgb(noisy), brain_t1) < 0.8
    assert metrics.fsim(as_rgb(noisy), brain_t1) < 0.95


def test_constant_image():
    gray = np.full((64, 64), 0.5, np.float32)
    assert metrics.ssim_gray(as_rgb(gray), gray) == pytest.approx(1.0)
    assert metrics.psnr_gray(as_rgb(gray), gray) == math.inf
    assert metrics.entropy(gray) == 0.0
    assert metrics.colourfulness(as_rgb(gray)) == 0.0


# ------------------------------------------------------------------ colourfulness / entropy
def test_colourfulness_of_gray_is_zero(brain_t1):
    assert metrics.colourfulness(as_rgb(brain_t1)) == pytest.approx(0.0, abs=1e-9)


def test_colourfulness_of_saturated_red_is_known():
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 1
    # no spread; mean rg = 255, mean yb = 127.5 -> 0.3 * hypot(255, 127.5)
    assert metrics.colourfulness(red) == pytest.approx(0.3 * math.hypot(255, 127.5))


def test_colourfulness_of_real_colour_image_is_positive(visible_woman):
    assert metrics.colourfulness(visible_woman) > 10


def test_entropy_of_two_level_image_is_one_bit():
    img = np.zeros((16, 16), np.float32)
    img[:, :8] = 1
    assert metrics.entropy(img) == pytest.approx(1.0)
    assert metrics.entropy(as_rgb(img)) == pytest.approx(1.0)


def test_entropy_of_rgb_is_entropy_of_its_gray(visible_woman):
    assert metrics.entropy(visible_woman) == pytest.approx(metrics.entropy(luma_np(visible_woman)))
    assert metrics.entropy(visible_woman) > 4


# ------------------------------------------------------------------ chroma distance
def test_chroma_distance_zero_for_the_reference_itself(compressed_reference):
    gray = luma_np(compressed_reference).astype(np.float32)
    assert metrics.chroma_distance(compressed_reference, gray, compressed_reference) == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("d_cb, d_cr", [(0.02, 0.0), (0.0, -0.03), (0.03, 0.04)])
def test_chroma_distance_equals_a_constant_chroma_shift(compressed_reference, d_cb, d_cr):
    gray = luma_np(compressed_reference).astype(np.float32)
    out = shift_chroma(compressed_reference, d_cb, d_cr)
    # same covariance, means moved by (d_cb, d_cr) in every cluster -> W2 = |shift|
    assert metrics.chroma_distance(out, gray, compressed_reference) == pytest.approx(math.hypot(d_cb, d_cr), abs=1e-4)


def test_chroma_distance_grows_with_shift_and_gray_is_far(compressed_reference):
    gray = luma_np(compressed_reference).astype(np.float32)
    dists = [metrics.chroma_distance(shift_chroma(compressed_reference, s, s), gray, compressed_reference)
             for s in (0.0, 0.01, 0.02, 0.04)]
    assert np.all(np.diff(dists) > 0)
    assert metrics.chroma_distance(as_rgb(gray), gray, compressed_reference) > 0.02


def test_chroma_distance_shared_centres(compressed_reference):
    gray = luma_np(compressed_reference).astype(np.float32)
    centres = np.array([0.15, 0.35, 0.55, 0.75])
    shifted = shift_chroma(compressed_reference, 0.02, 0)
    d = metrics.chroma_distance(shifted, gray, compressed_reference, centres=centres)
    assert d > 0.015  # the shift is seen whatever the centres
    with pytest.raises(MedColorError, match="k=len"):
        metrics.chroma_distance(compressed_reference, gray, compressed_reference, k=3, centres=centres)


# ------------------------------------------------------------------ air chroma, gamut
def test_air_chroma_zero_for_gray(brain_t1):
    mask = metrics.default_air_mask(brain_t1)
    assert 0.05 < mask.mean() < 0.95  # the slice has background and head
    assert metrics.air_chroma(as_rgb(brain_t1), mask) == 0.0


def test_air_chroma_of_pure_red_is_known():
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 1
    expected = math.hypot(0.564 * (0 - 0.299), 0.713 * (1 - 0.299))  # BT.601 Cb, Cr
    assert metrics.air_chroma(red, np.ones((8, 8), bool)) == pytest.approx(expected, abs=1e-3)
    assert metrics.air_chroma(red, np.zeros((8, 8), bool)) == 0.0


def test_air_chroma_only_reads_the_mask(brain_t1):
    out = as_rgb(brain_t1).copy()
    mask = metrics.default_air_mask(brain_t1)
    out[~mask] = [0.9, 0.2, 0.2]  # colour only the head
    assert metrics.air_chroma(out, mask) == 0.0
    assert metrics.air_chroma(out, ~mask) > 0.2


def test_out_of_gamut_fraction():
    mask = np.zeros((4, 4), bool)
    mask[0] = True
    assert metrics.out_of_gamut_fraction(mask) == 0.25
    assert metrics.out_of_gamut_fraction(np.zeros((0,), bool)) == 0.0


# ------------------------------------------------------------------ summary and validation
def test_summary_is_json_safe(brain_t1, visible_woman):
    result = metrics.summary(as_rgb(brain_t1), brain_t1, visible_woman)
    assert set(result) == {"ssim_gray", "psnr_gray", "chroma_distance", "colourfulness", "entropy", "air_chroma"}
    assert result["psnr_gray"] is None  # inf for identical gray images
    assert result["colourfulness"] == 0.0 and result["air_chroma"] == 0.0
    assert result["chroma_distance"] > 0
    json.dumps(result, allow_nan=False)


def test_bad_input_raises(brain_t1, visible_woman):
    with pytest.raises(MedColorError, match="differ in size"):
        metrics.ssim_gray(visible_woman[:32], brain_t1)
    with pytest.raises(MedColorError, match="gray"):
        metrics.psnr_gray(visible_woman, visible_woman)
    with pytest.raises(MedColorError, match="NaN"):
        metrics.psnr_gray(as_rgb(np.where(brain_t1 > 0.5, np.nan, brain_t1)), brain_t1)
    with pytest.raises(MedColorError, match="air mask"):
        metrics.air_chroma(visible_woman, np.ones((3, 3), bool))
