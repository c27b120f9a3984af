"""Issue 21 point 12: the colour a slice view shows is the colour MedColor computed (real slicer-core, offscreen).

Slicer's vector display node passes all four components to the slice pipeline, and the slice view draws the
blended RGBA slice over a black background (CTK's vtkLightBoxRendererManager: a vtkImageMapper on a vtkActor2D,
which ``scene.render_slice`` reproduces). MedColor's alpha is the windowed gray, so an RGBA node would show every
voxel darkened by its own gray. The scene therefore gets RGB (``mrml.store_result``); Slicer's volume rendering
derives alpha from an RGB volume's luminance, which is that same gray, so the 3-D view does not change.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer")

from MedColorLib.slicer import mrml  # noqa: E402
from MedColorLib.slicer import scene as ss  # noqa: E402

RGB = (200, 120, 80)


@pytest.fixture
def alpha_ramp_volume(app):
    """One colour everywhere, alpha rising 0..255 along I (the screen's horizontal axis in an axial view)."""
    import slicer

    like = slicer.util.addVolumeFromArray(np.zeros((3, 32, 64), np.int16), name="flat gray")
    rgba = np.empty((3, 32, 64, 4), np.uint8)
    rgba[..., :3] = RGB
    rgba[..., 3] = np.round(np.linspace(0, 255, 64)).astype(np.uint8)
    yield like, rgba
    app.scene.RemoveNode(like)


def shown(app, node, size=(64, 32)) -> np.ndarray:
    """The axial view of ``node`` (nearest-neighbour, so each pixel is one voxel), (H, W, 3) int16."""
    node.GetDisplayNode().SetInterpolate(0)
    return ss.render_slice(app, node, size=size).astype(np.int16)


def inside(pixels: np.ndarray) -> np.ndarray:
    """The view without its border pixels, which may fall half a voxel outside the volume (background)."""
    return pixels[2:-2, 2:-2]


def test_an_rgba_node_is_shown_darkened_by_its_alpha(app, alpha_ramp_volume):
    """Why: Slicer's own behaviour, measured. If this ever fails, Slicer stopped blending alpha in slice views."""
    like, rgba = alpha_ramp_volume
    node = mrml.create_color_node(app.scene, rgba, like, "rgba as is")
    pixels = shown(app, node)
    row = inside(pixels)[12]
    alpha = row[:, 0] / RGB[0]  # the displayed fraction of the colour, column by column
    assert alpha.min() < 0.1 and alpha.max() > 0.9  # near black where alpha is low, full colour where it is 255
    assert np.abs(row - np.outer(alpha, RGB)).max() <= 2  # every channel scaled by the same alpha
    app.scene.RemoveNode(node)


def test_a_stored_result_is_shown_in_its_own_colour(app, alpha_ramp_volume):
    like, rgba = alpha_ramp_volume
    node = mrml.store_result(like, rgba, {"seed": 0}, name="stored")
    assert node.GetImageData().GetNumberOfScalarComponents() == 3
    assert node.GetVoxelVectorType() == node.VoxelVectorTypeColorRGB
    assert np.abs(inside(shown(app, node)) - np.array(RGB)).max() <= 1, "the view must show the colour, whatever the alpha"
    app.scene.RemoveNode(node)


def test_an_existing_output_node_is_refilled_as_rgb(app, alpha_ramp_volume):
    like, rgba = alpha_ramp_volume
    output = mrml.create_color_node(app.scene, rgba, like, "earlier rgba output")
    assert mrml.store_result(like, mrml.image_data_from_rgba(rgba), None, output) is output  # a file read back
    assert np.array_equal(mrml.array_from_node(output), rgba[..., :3])
    assert np.abs(inside(shown(app, output)) - np.array(RGB)).max() <= 1
    app.scene.RemoveNode(output)


@pytest.fixture(scope="module")
def ct_colour(app, ct_node, visible_woman):
    """The real engine's RGBA for the real CT (preview mode: chroma matching, no network)."""
    from MedColorLib.options import Options
    from MedColorLib.pipeline.volume import colorize_volume

    result = colorize_volume(mrml.volume_from_node(ct_node), Options(mode="preview", device="cpu", seed=0).check(),
                             reference=visible_woman)
    return result.rgba


def test_real_ct_colour_keeps_its_lightness_in_2d_and_its_opacity_in_3d(app, ct_node, ct_colour, tmp_path):
    rgba_node = mrml.create_color_node(app.scene, ct_colour, ct_node, "ct rgba")
    rgb_node = mrml.store_result(ct_node, ct_colour, None, name="ct stored")
    size = (244, 202)  # one pixel per voxel (122 x 101 voxels of 3.0 mm in a 2x zoom would also do)
    as_rgba, as_rgb = shown(app, rgba_node, size), shown(app, rgb_node, size)
    body = as_rgb.max(axis=-1) > 20
    middle = ct_colour[ct_colour.shape[0] // 2]
    voxel_luma = middle[..., :3][middle[..., 3] > 20].astype(float).mean()
    assert abs(as_rgb[body].mean() - voxel_luma) < 0.1 * voxel_luma  # the colour as computed
    assert as_rgba[body].mean() < 0.7 * as_rgb[body].mean()  # what an RGBA node would have shown
    # 3-D: Slicer derives an RGB volume's alpha from luminance; MedColor's colours keep the windowed gray as luma
    renders = []
    for node, other in ((rgba_node, rgb_node), (rgb_node, rgba_node)):
        mrml.show_volume_rendering(other, app.volume_rendering_logic, visible=False)
        mrml.show_volume_rendering(node, app.volume_rendering_logic)
        renders.append(ss.render_3d(app, tmp_path / f"{node.GetName()}.png", size=(160, 160),
                                    view_direction="anterior").astype(np.int16))
    visible = [(r.max(axis=-1) > 0).mean() for r in renders]
    assert visible[0] > 0.05 and abs(visible[0] - visible[1]) < 0.01
    assert np.abs(renders[0] - renders[1]).mean() < 1.0
    for node in (rgba_node, rgb_node):
        app.scene.RemoveNode(node)
