"""The 3-D render volume (pipeline/render3d.py) on the real chest CT and a real MedColor colour volume."""

from __future__ import annotations

import numpy as np
import pytest

from MedColorLib.errors import MedColorError
from MedColorLib.pipeline.render3d import ALPHA_MAX, CT_PRESETS, LUMA_LIFT, lift, preset_for, render_volume


@pytest.fixture(scope="module")
def rendered(chest_small, chest_small_colour):
    preset = preset_for(chest_small, "endoscopy")
    return preset, render_volume(chest_small, chest_small_colour, preset)


def test_alpha_is_a_monotone_function_of_hu_across_the_ramp(chest_small, rendered):
    preset, render = rendered
    inner = (slice(2, -2),) * 3                                # the scan's faces carry the lumen caps (below)
    hu = chest_small.array[inner].ravel()
    alpha = render[inner][..., 3].ravel().astype(int)
    order = np.argsort(hu, kind="stable")
    assert (np.diff(alpha[order]) >= 0).all()                 # never decreases as HU rises
    low, high = preset.ramp
    inside = (hu >= low) & (hu <= high)
    assert inside.sum() > 1000                                # the ramp is crossed by many real voxels
    levels = np.unique(alpha[inside])
    # every HU step across the ramp is its own alpha level: the gradient that lights the surface has the scan's
    # precision (8 bits over the scalar range gave 4.7 HU a level, 43 levels here, and speckled lit walls)
    assert render.dtype == np.uint16 and len(levels) == len(np.unique(hu[inside])) > 150
    a_low, a_high = preset.alpha_ramp()
    assert alpha[hu < low].max() <= a_low + 0.5 and alpha[hu > high].min() >= a_high - 0.5


def test_lumens_cut_by_the_scan_edge_are_capped_outside_air_is_not(chest_small, chest_small_colour, rendered):
    from scipy import ndimage

    preset, render = rendered
    a_low, a_high = preset.alpha_ramp()
    top = chest_small.array[-1] < preset.ramp[0]              # the top slice: the trachea (enclosed by tissue)
    labels, _ = ndimage.label(top)
    trachea = labels == labels[tuple(np.argwhere(top)[np.argmin(np.abs(np.argwhere(top) - [50, 55]).sum(1))])]
    assert trachea.sum() > 50 and not trachea[[0, -1]].any()
    assert (render[-1][trachea][:, 3] >= a_high).all() and (render[-2][trachea][:, 3] >= a_high).all()
    inside = trachea & (chest_small.array[-3] < preset.ramp[0])
    assert (render[-3][inside][:, 3] <= a_low).all()           # only the outer two layers: inside stays air
    # the lumen's partial-volume rim (below the ramp's top) is capped too: half-transparent, it let rays through
    # into the background (dark notches along the cap's edge)
    rim = ndimage.binary_dilation(trachea, iterations=3) & ~trachea & (chest_small.array[-1] < preset.ramp[1])
    assert rim.sum() > 10
    assert (render[-1][rim][:, 3] >= a_high).all() and (render[-2][rim][:, 3] >= a_high).all()
    plain = render_volume(chest_small, chest_small_colour, CT_PRESETS["soft-tissue"])   # no caps there
    assert (plain[-1][trachea][:, 3] < 10).all()


def test_air_next_to_tissue_carries_that_tissues_colour(chest_small, rendered):
    from skimage.color import rgb2lab

    preset, render = rendered
    hu = chest_small.array
    air, tissue = hu < preset.ramp[0], (hu >= preset.colour_from) & (hu <= preset.colour_to)
    lab = rgb2lab(render[..., :3])
    gaps = []
    for axis in range(3):
        n = hu.shape[axis]
        for a, b in ((slice(0, n - 1), slice(1, n)), (slice(1, n), slice(0, n - 1))):
            first, second = [slice(None)] * 3, [slice(None)] * 3
            first[axis], second[axis] = a, b
            pair = air[tuple(first)] & tissue[tuple(second)]
            gaps.append(np.linalg.norm(lab[tuple(first)][pair] - lab[tuple(second)][pair], axis=1))
    gaps = np.concatenate(gaps)
    assert gaps.size > 50
    assert gaps.max() < 10.0, f"Delta E_ab up to {gaps.max():.1f} between air and the tissue next to it"


def test_air_is_not_black_while_the_slice_colour_volume_is(chest_small, chest_small_colour, rendered):
    preset, render = rendered
    lumen = chest_small.array < -900
    assert chest_small_colour[lumen][:, :3].max() <= 10       # the slice-view output: air black (luma kept)
    luma = render[lumen][:, :3].astype(float) / ALPHA_MAX * 255 @ np.array([0.299, 0.587, 0.114])
    assert luma.min() > 100                                   # the 3-D output: the wall's colour, lifted


def test_lift_keeps_the_tissues_cielab_hue_and_saturation():
    from skimage.color import lab2rgb, rgb2lab

    # soft tissue as the colour volume has it (red-brown, L* 45, chroma 21), and a dark saturated red (L* 18, chroma 39)
    wanted = np.array([[45.0, 16.0, 13.6], [18.0, 30.0, 25.5]])
    rgb = lab2rgb(wanted)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    out = lift(np.concatenate([rgb - luma[:, None], luma[:, None]], axis=1))
    assert (out >= 0).all() and (out <= 1).all()
    lab = rgb2lab(out)
    gray = LUMA_LIFT[0] + LUMA_LIFT[1] * luma
    assert np.allclose(lab[:, 0], rgb2lab(np.repeat(gray[:, None], 3, axis=1))[:, 0], atol=0.5)   # lifted
    assert (lab[:, 0] > wanted[:, 0] + 10).all()
    hue = lambda c: np.degrees(np.arctan2(c[:, 2], c[:, 1]))  # noqa: E731
    assert np.allclose(hue(lab), hue(wanted), atol=1.0)                                   # hue kept
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    # saturation C*/L* kept, as under a brighter light: not paled (the chroma alone kept made a pastel)
    assert abs(chroma[0] / lab[0, 0] - 21.0 / 45.0) < 0.01
    assert 60 < chroma[1] < 39.4 / 18.0 * lab[1, 0] - 10    # outside sRGB at its new L*: reduced, hue kept


def test_the_render_volume_carries_the_colour_volumes_chroma(chest_small, chest_small_colour, rendered):
    from skimage.color import rgb2lab

    preset, render = rendered
    tissue = (chest_small.array >= preset.colour_from) & (chest_small.array <= preset.colour_to)
    chroma = lambda rgb: np.hypot(*rgb2lab(rgb)[..., 1:].transpose(-1, *range(rgb.ndim - 1)))  # noqa: E731
    given, carried = chroma(chest_small_colour[..., :3])[tissue].mean(), chroma(render[..., :3])[tissue].mean()
    assert carried >= 0.95 * given, (given, carried)          # lifted in lightness, smoothed, not paled


def test_inputs_unchanged_and_mismatch_refused(chest_small, chest_small_colour):
    before_scan, before_colour = chest_small.array.copy(), chest_small_colour.copy()
    render_volume(chest_small, chest_small_colour, CT_PRESETS["bone"])
    assert np.array_equal(chest_small.array, before_scan) and np.array_equal(chest_small_colour, before_colour)
    with pytest.raises(MedColorError, match="does not match"):
        render_volume(chest_small, chest_small_colour[:, :-1], CT_PRESETS["endoscopy"])


def test_presets_ct_in_hu_and_mr_from_percentiles(chest_small, data_dir):
    from MedColorLib.io.volumes import read_volume

    assert preset_for(chest_small, "endoscopy").ramp == (-600.0, -400.0)
    mr = read_volume(data_dir / "mri" / "dipy_aniso_vox.nii.gz")
    presets = [preset_for(mr, name) for name in ("endoscopy", "soft-tissue", "bone")]
    lo, hi = np.percentile(mr.array, (1, 99.9))
    for p in presets:
        assert lo <= p.ramp[0] < p.ramp[1] <= hi and p.scalar_range[0] < p.ramp[0]
    assert presets[0].ramp[1] < presets[1].ramp[0] < presets[2].ramp[0]
    with pytest.raises(MedColorError, match="unknown 3-D preset"):
        preset_for(mr, "lungs")
