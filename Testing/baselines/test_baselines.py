"""Classical baselines on a real brain MR slice (target) and the Visible Woman cryosection (reference)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2xyz

from MedColorLib.metrics import image as metrics
from MedColorLib.baselines.transfers import BASELINES, _rgb_to_lab, cluster_histogram, reinhard, welsh, xiao_ma
from MedColorLib.engine.color import chroma_np, luma_np
from MedColorLib.errors import MedColorError
from MedColorLib.engine.masks import paired_masks

NAMES = sorted(BASELINES)


def test_registry_names():
    assert set(BASELINES) == {"reinhard", "welsh", "xiao_ma", "cluster_histogram"}
    assert BASELINES["welsh"] is welsh


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_range_and_colour(name, brain_t1, visible_woman):
    out = BASELINES[name](brain_t1, visible_woman)
    assert out.shape == (*brain_t1.shape, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert metrics.colourfulness(out) > 5  # the reference's colour did arrive


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_not_modified(name, dtype, brain_t1, visible_woman):
    gray, ref = brain_t1.astype(dtype), visible_woman.astype(dtype)  # float64 is used without a copy
    gray.setflags(write=False)  # an in-place write would raise
    ref.setflags(write=False)
    BASELINES[name](gray, ref)
    np.testing.assert_array_equal(gray, brain_t1)
    np.testing.assert_array_equal(ref, visible_woman)


@pytest.mark.parametrize("name", ["welsh", "cluster_histogram"])
def test_target_luma_is_kept(name, brain_t1, visible_woman):
    out = BASELINES[name](brain_t1, visible_woman)
    assert np.abs(luma_np(out) - brain_t1).max() <= 1 / 255


def test_cluster_histogram_moves_cluster_chroma_to_paired_reference_cluster(brain_t1, visible_woman):
    out = cluster_histogram(brain_t1, visible_woman)
    t_masks, r_masks = paired_masks(brain_t1, luma_np(visible_woman), 4)
    out_c, ref_c = chroma_np(out), chroma_np(visible_woman)
    for t_mask, r_mask in zip(t_masks.astype(bool), r_masks.astype(bool)):
        target = ref_c[r_mask].mean(0)
        # a gray image sits at chroma 0, i.e. |target| away; the baseline must be much closer
        assert np.linalg.norm(out_c[t_mask].mean(0) - target) < 0.5 * np.linalg.norm(target)
    gray_rgb = np.repeat(brain_t1[..., None], 3, -1)
    assert metrics.chroma_distance(out, brain_t1, visible_woman) < 0.5 * metrics.chroma_distance(
        gray_rgb, brain_t1, visible_woman)


def test_cluster_histogram_chroma_follows_intensity_within_cluster(brain_t1, visible_woman):
    out = cluster_histogram(brain_t1, visible_woman)
    t_masks, _ = paired_masks(brain_t1, luma_np(visible_woman), 4)
    brightest = t_masks[-1].astype(bool)
    cb = chroma_np(out)[brightest][:, 0]
    assert np.std(cb) > 0.01  # a spread of colours, not one tint per cluster


def test_reinhard_gives_a_uniform_tint(brain_t1, visible_woman):
    out = reinhard(brain_t1, visible_woman).astype(np.float64)
    xyz = rgb2xyz(out)
    inside = ((out > 0.01) & (out < 0.99)).all(-1)  # skip pixels the final clip touched
    assert inside.mean() > 0.9
    chromaticity = xyz[inside][:, :2] / xyz[inside].sum(-1, keepdims=True)
    assert chromaticity.std(0).max() < 1e-4  # one chromaticity everywhere: no alpha/beta spread
    assert np.abs(chroma_np(out)).mean() > 0.01  # but not gray


def test_reinhard_matches_reference_l_statistics(brain_t1, visible_woman):
    out = reinhard(brain_t1, visible_woman).astype(np.float64)
    l_out, l_ref = _rgb_to_lab(out)[..., 0], _rgb_to_lab(visible_woman.astype(np.float64))[..., 0]
    assert l_out.mean() == pytest.approx(l_ref.mean(), abs=1e-3)
    assert l_out.std() == pytest.approx(l_ref.std(), abs=1e-3)
    assert l_out.std() != pytest.approx(_rgb_to_lab(np.repeat(brain_t1[..., None], 3, -1))[..., 0].std(), abs=0.05)


def test_welsh_is_seeded(brain_t1, visible_woman):
    a, b = welsh(brain_t1, visible_woman, seed=0), welsh(brain_t1, visible_woman, seed=0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, welsh(brain_t1, visible_woman, seed=1))


def test_welsh_single_sample_gives_one_hue(brain_t1, visible_woman):
    bright = brain_t1 > 0.3  # away from black, where the luma constraint squeezes chroma to 0

    def hue_spread(samples: int) -> float:
        cb, cr = np.moveaxis(chroma_np(welsh(brain_t1, visible_woman, samples=samples))[bright], -1, 0)
        return float(np.arctan2(cr, cb).std())

    assert hue_spread(1) < 0.01  # every pixel copied the one sample's alpha/beta
    assert hue_spread(200) > 0.1  # different neighbourhoods picked different samples


def test_xiao_ma_keeps_order_and_takes_reference_mean(brain_t1, visible_woman):
    out = xiao_ma(brain_t1, visible_woman)
    assert np.isfinite(out).all()
    assert np.corrcoef(luma_np(out).ravel(), brain_t1.ravel())[0, 1] > 0.9  # brighter stays brighter
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), visible_woman.reshape(-1, 3).mean(0), atol=0.03)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("name", NAMES)
def test_colour_target_is_rejected(name, visible_woman):
    with pytest.raises(MedColorError, match="target must be a gray"):
        BASELINES[name](visible_woman, visible_woman)


@pytest.mark.parametrize("name", NAMES)
def test_gray_reference_is_rejected(name, brain_t1):
    with pytest.raises(MedColorError, match=r"reference must be an \(H, W, 3\) RGB"):
        BASELINES[name](brain_t1, brain_t1)


@pytest.mark.parametrize("name", NAMES)
def test_nan_is_rejected(name, brain_t1, visible_woman):
    gray = brain_t1.copy()
    gray[3, 5] = np.nan
    with pytest.raises(MedColorError, match="target contains NaN"):
        BASELINES[name](gray, visible_woman)
    ref = visible_woman.copy()
    ref[1, 2, 0] = np.nan
    with pytest.raises(MedColorError, match="reference contains NaN"):
        BASELINES[name](brain_t1, ref)


@pytest.mark.parametrize("name", NAMES)
def test_out_of_range_is_rejected(name, brain_t1, visible_woman):
    with pytest.raises(MedColorError, match=r"\[0, 1\]"):
        BASELINES[name](brain_t1 * 255, visible_woman)


def test_bad_parameters_are_rejected(brain_t1, visible_woman):
    with pytest.raises(MedColorError, match="samples"):
        welsh(brain_t1, visible_woman, samples=0)
    with pytest.raises(MedColorError, match="eps"):
        xiao_ma(brain_t1, visible_woman, eps=0)
