"""Volume quality figures (volume_metrics) on known colourings of a real abdomen CT crop."""

from __future__ import annotations

import numpy as np
import pytest

from MedColorLib import prepare
from MedColorLib.errors import MedColorError
from MedColorLib.io.volumes import read_volume
from MedColorLib.metrics.volume import chroma, context_spread, fidelity, flicker

TOL = 0.006  # uint8 rounding of RGB moves chroma by up to about 0.004


def _rgb(gray: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """BT.601 YCbCr (luma = gray, centred chroma) -> uint8 RGB, in gamut for the values used here."""
    r, b = gray + 1.403 * cr, gray + 1.773 * cb
    g = gray - 0.714 * cr - 0.344 * cb
    rgb = np.stack([r, g, b], -1)
    assert rgb.min() >= 0 and rgb.max() <= 1, "test colour left the RGB cube"
    return np.round(rgb * 255).astype(np.uint8)


def _transfer(gray: np.ndarray, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A pure intensity -> colour function (smooth, in gamut on mid-gray), plus a constant chroma shift."""
    return _rgb(gray, 0.08 * np.sin(6 * gray) + shift[0], 0.06 * np.cos(5 * gray) + shift[1])


@pytest.fixture(scope="module")
def ct(data_dir) -> tuple[np.ndarray, np.ndarray]:
    """Abdomen CT crop (8, 64, 64): soft-tissue window squeezed to [0.3, 0.7] (room for chroma), tissue mask."""
    vol = read_volume(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz")
    stack = np.moveaxis(vol.array, prepare.axial_axis(vol.direction), 0)[10:18, 20:84, 30:94]
    gray = prepare.apply_window(stack, -160, 240)
    tissue = ~prepare.air_mask(gray)
    assert tissue.mean() > 0.3
    return 0.3 + 0.4 * gray, tissue


def test_chroma_matches_color_module_for_any_shape():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (3, 5, 6, 3), dtype=np.uint8)   # 3 slices: the layout chroma_np alone mistakes
    c = chroma(rgb)
    assert c.shape == (3, 5, 6, 2)
    np.testing.assert_allclose(c[1], chroma(rgb[1]), atol=1e-6)
    np.testing.assert_allclose(chroma(np.full((2, 2, 3), 128, np.uint8)), 0, atol=1e-6)


def test_transfer_function_has_no_context_spread(ct):
    gray, tissue = ct
    assert context_spread(_transfer(gray), gray, tissue) < 0.004


def test_spatial_colour_has_context_spread(ct):
    gray, tissue = ct
    cols = np.broadcast_to(np.linspace(-0.05, 0.05, gray.shape[2]), gray.shape)  # chroma varies with x
    rgb = _rgb(gray, cols, np.zeros_like(gray))
    spread = context_spread(rgb, gray, tissue)
    assert 0.015 < spread < 0.035                  # uniform over [-0.05, 0.05]: RMS 0.029
    assert spread > 5 * context_spread(_transfer(gray), gray, tissue)


def test_identical_slices_do_not_flicker(ct):
    gray, tissue = ct
    same = np.repeat(gray[3:4], 5, 0)
    assert flicker(_transfer(same), same, np.repeat(tissue[3:4], 5, 0)) == pytest.approx(0, abs=1e-7)


def test_alternating_shift_gives_its_flicker(ct):
    gray, tissue = ct
    shift = (0.03, -0.04)                          # magnitude 0.05
    rgb = _transfer(gray)
    rgb[1::2] = _transfer(gray[1::2], shift)
    assert flicker(rgb, gray, tissue) == pytest.approx(0.05, abs=TOL)
    assert flicker(_transfer(gray), gray, tissue) < 0.005   # real slices, same transfer: nearly none


def test_flicker_ignores_changed_intensity_and_air(ct):
    gray, tissue = ct
    rgb = _transfer(gray)
    rgb[1::2] = _transfer(gray[1::2], (0.03, -0.04))
    assert np.isnan(flicker(rgb, gray, np.zeros_like(tissue)))
    assert np.isnan(flicker(rgb, gray, tissue, max_delta=0.0))


def test_fidelity(ct):
    gray, tissue = ct
    a = _transfer(gray)
    assert fidelity(a, a, tissue) == 0
    assert fidelity(a, _transfer(gray, (0.0, 0.03)), tissue) == pytest.approx(0.03, abs=TOL)
    rgba = np.concatenate([a, np.full((*a.shape[:-1], 1), 255, np.uint8)], -1)
    assert fidelity(rgba, a, tissue) == 0


def test_shape_mismatch_is_an_error(ct):
    gray, tissue = ct
    a = _transfer(gray)
    with pytest.raises(MedColorError):
        fidelity(a, a[:-1], tissue)
    with pytest.raises(MedColorError):
        flicker(a, gray[:-1], tissue)
