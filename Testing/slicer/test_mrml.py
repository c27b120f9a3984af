"""MRML conversion and rendering on real Slicer code (slicer-core wheel): a real scene, real module logics.

Loads the TotalSegmentator abdomen CT through Slicer's storage node, turns colour arrays into vector volume
nodes, saves/loads NRRD, and renders the 3-D view and an axial slice view offscreen.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("slicer")

from conftest import SMALL_CT  # noqa: E402
from MedColorLib.slicer import mrml  # noqa: E402
from MedColorLib.slicer import scene as ss  # noqa: E402
from MedColorLib.errors import CancelledError, MedColorError  # noqa: E402


def colour_map_rgba(hu: np.ndarray) -> np.ndarray:
    """A stand-in for the engine: warm colours from a soft-tissue window, alpha from a body window (air 0)."""
    w = np.clip((hu.astype(np.float32) + 200) / 500, 0, 1)
    rgba = np.empty(hu.shape + (4,), np.uint8)
    rgba[..., 0] = 255 * w
    rgba[..., 1] = 170 * w**2
    rgba[..., 2] = 90 * w**3
    rgba[..., 3] = 255 * np.clip((hu.astype(np.float32) + 600) / 400, 0, 1)
    return rgba


def chroma(pixels: np.ndarray) -> np.ndarray:
    pixels = pixels.astype(np.int16)
    return pixels.max(axis=-1) - pixels.min(axis=-1)


@pytest.fixture(scope="module")
def colour_node(app, ct_node):
    rgba = colour_map_rgba(mrml.volume_from_node(ct_node).array)
    return mrml.create_color_node(app.scene, rgba, ct_node, "ct colour", {"weights": "random", "seed": 3})


def node_count(scene) -> int:
    return scene.GetNumberOfNodes()


def test_volume_from_node_matches_simpleitk(ct_node, data_dir):
    import SimpleITK as sitk

    image = sitk.ReadImage(str(data_dir.joinpath(*SMALL_CT)))
    volume = mrml.volume_from_node(ct_node)
    assert np.array_equal(volume.array, sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(volume.direction, np.reshape(image.GetDirection(), (3, 3)), atol=1e-6)


def test_volume_from_node_copies_voxels(ct_node):
    volume = mrml.volume_from_node(ct_node)
    volume.array[0, 0, 0] = 1234
    assert mrml.volume_from_node(ct_node).array[0, 0, 0] != 1234


def test_oblique_geometry_round_trips_through_lps(app):
    import slicer

    node = slicer.util.addVolumeFromArray(np.zeros((3, 4, 5), np.int16), name="oblique")
    angle = np.deg2rad(30)
    ijk_to_ras = np.array([[np.cos(angle) * 0.7, -np.sin(angle) * 0.8, 0, 10],
                           [np.sin(angle) * 0.7, np.cos(angle) * 0.8, 0, -20],
                           [0, 0, -2.5, 30], [0, 0, 0, 1]])
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(ijk_to_ras))
    volume = mrml.volume_from_node(node)
    assert volume.spacing == pytest.approx((0.7, 0.8, 2.5))
    assert volume.origin == pytest.approx((-10, 20, 30))  # RAS (10, -20, 30) in LPS
    np.testing.assert_allclose(volume.direction[:, 2], (0, 0, -1), atol=1e-12)
    np.testing.assert_allclose(mrml.ijk_to_ras_from_volume(volume), ijk_to_ras, atol=1e-12)
    app.scene.RemoveNode(node)


def test_colour_node_has_input_geometry_rgba_and_fixed_window(ct_node, colour_node):
    import slicer

    assert colour_node.IsA("vtkMRMLVectorVolumeNode")
    assert np.array_equal(mrml.ijk_to_ras(colour_node), mrml.ijk_to_ras(ct_node))
    image = colour_node.GetImageData()
    assert image.GetNumberOfScalarComponents() == 4
    assert image.GetScalarTypeAsString() == "unsigned char"
    assert image.GetDimensions() == ct_node.GetImageData().GetDimensions()
    assert colour_node.GetVoxelVectorType() == slicer.vtkMRMLVolumeNode.VoxelVectorTypeColorRGBA
    display = colour_node.GetDisplayNode()
    assert not display.GetAutoWindowLevel()
    assert (display.GetWindowLevelMin(), display.GetWindowLevelMax()) == (0, 255)
    assert colour_node.GetAttribute("MedColor.weights") == "random"
    assert colour_node.GetAttribute("MedColor.seed") == "3"


def test_colour_node_voxels_are_the_array(ct_node, colour_node):
    expected = colour_map_rgba(mrml.volume_from_node(ct_node).array)
    assert np.array_equal(mrml.array_from_node(colour_node), expected)


def test_update_colour_node_replaces_voxels_and_provenance(app, ct_node):
    rgba = colour_map_rgba(mrml.volume_from_node(ct_node).array)
    node = mrml.create_color_node(app.scene, rgba, ct_node, "to update", {"seed": 1, "old": "x"})
    count = node_count(app.scene)
    mrml.update_color_node(node, 255 - rgba, ct_node, mrml.provenance_attributes({"seed": 2, "params": {"k": 4}}))
    assert node_count(app.scene) == count
    assert np.array_equal(mrml.array_from_node(node), 255 - rgba)
    assert node.GetAttribute("MedColor.seed") == "2"
    assert node.GetAttribute("MedColor.old") is None
    assert '"k": 4' in node.GetAttribute("MedColor.params")
    app.scene.RemoveNode(node)


def test_wrong_colour_shape_is_refused(app, ct_node):
    count = node_count(app.scene)
    with pytest.raises(MedColorError, match="does not match"):
        mrml.create_color_node(app.scene, np.zeros((2, 3, 4, 4), np.uint8), ct_node, "bad")
    with pytest.raises(MedColorError, match="uint8"):
        mrml.create_color_node(app.scene, np.zeros((2, 3, 4, 4), np.float32), ct_node, "bad")
    assert node_count(app.scene) == count


def test_nrrd_round_trip_loads_back_as_colour_volume(app, ct_node, colour_node, tmp_path):
    path = tmp_path / "colour.nrrd"
    storage = colour_node.CreateDefaultStorageNode()
    storage.SetFileName(str(path))
    assert storage.WriteData(colour_node)
    assert b"RGBA-color" in path.read_bytes()[:400]
    loaded = mrml.as_color_volume(ss.load_volume(app, path, "loaded"))
    assert loaded.IsA("vtkMRMLVectorVolumeNode")
    assert np.array_equal(mrml.array_from_node(loaded), mrml.array_from_node(colour_node))
    np.testing.assert_allclose(mrml.ijk_to_ras(loaded), mrml.ijk_to_ras(ct_node), atol=1e-9)
    assert loaded.GetDisplayNode().GetWindowLevelMax() == 255
    assert np.array_equal(mrml.read_color_array(path), mrml.array_from_node(colour_node))
    app.scene.RemoveNode(loaded)


def test_write_volume_node_leaves_scene_unchanged(app, ct_node, tmp_path):
    count = node_count(app.scene)
    path = mrml.write_volume_node(ct_node, tmp_path / "ct.nrrd")
    assert node_count(app.scene) == count
    assert ct_node.GetStorageNode() is None or ct_node.GetStorageNode().GetFileName() != str(path)


def test_volume_rendering_is_direct_colour_with_alpha_ramp(app, colour_node):
    display = mrml.show_volume_rendering(colour_node, app.volume_rendering_logic, alpha_ramp=(20, 60))
    assert display.IsA("vtkMRMLGPURayCastVolumeRenderingDisplayNode")  # Slicer's default rendering method
    assert display.GetVisibility()
    prop = display.GetVolumePropertyNode()
    assert not prop.GetVolumeProperty().GetIndependentComponents()
    opacity = prop.GetScalarOpacity()
    assert opacity.GetValue(0) == 0 and opacity.GetValue(20) == 0 and opacity.GetValue(60) == 1
    assert mrml.show_volume_rendering(colour_node, app.volume_rendering_logic) is display  # no duplicates


def test_render_3d_tissue_coloured_air_background(app, colour_node, tmp_path):
    mrml.show_volume_rendering(colour_node, app.volume_rendering_logic)
    count = node_count(app.scene)
    pixels = ss.render_3d(app, tmp_path / "3d.png", size=(200, 200), view_direction="superior")
    assert node_count(app.scene) == count
    assert (tmp_path / "3d.png").stat().st_size > 1000
    corners = pixels[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.all(corners == 0), "air around the body must be transparent (background)"
    body = pixels[60:140, 60:140]
    assert (chroma(body) > 20).mean() > 0.3, "tissue must be coloured, not gray"


def test_render_axial_slice_coloured(app, ct_node, colour_node, tmp_path):
    count = node_count(app.scene)
    colour = ss.render_slice(app, colour_node, tmp_path / "axial.png", size=(200, 200))
    gray = ss.render_slice(app, ct_node, None, size=(200, 200))
    assert (tmp_path / "axial.png").is_file() and node_count(app.scene) == count
    centre = colour[70:130, 70:130]
    assert np.median(chroma(centre)) > 30
    assert np.median(gray[70:130, 70:130]) > 40, "the CT must be drawn (tissue brighter than air)"
    assert np.median(chroma(gray[70:130, 70:130])) <= 1  # the input stays gray
    assert np.all(colour[[0, 0, -1, -1], [0, -1, 0, -1]] == 0)  # outside the volume: background


@pytest.mark.parametrize("kind", ["none", "labelmap", "vector", "single_slice", "no_voxels"])
def test_bad_input_nodes_raise_and_add_nothing(app, kind):
    import slicer

    node = {"none": lambda: None,
            "labelmap": lambda: slicer.util.addVolumeFromArray(np.zeros((4, 4, 4), np.uint8), name="label",
                                                               nodeClassName="vtkMRMLLabelMapVolumeNode"),
            "vector": lambda: slicer.util.addVolumeFromArray(np.zeros((4, 4, 4, 3), np.uint8), name="rgb",
                                                             nodeClassName="vtkMRMLVectorVolumeNode"),
            "single_slice": lambda: slicer.util.addVolumeFromArray(np.ones((1, 8, 8), np.int16), name="2d"),
            "no_voxels": lambda: app.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")}[kind]()
    count = node_count(app.scene)
    for call in (mrml.check_input_node, mrml.volume_from_node, mrml.run_colorization):
        with pytest.raises(MedColorError):
            call(node)
    assert node_count(app.scene) == count
    if node is not None:
        app.scene.RemoveNode(node)


def test_presets_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(MedColorError, match="trame-slicer"):
        ss.presets_directory()


def test_reference_from_colour_node(app, colour_node):
    reference = mrml.reference_from_node(colour_node)
    assert reference.shape == (101, 122, 3) and reference.dtype == np.float32
    assert 0 <= reference.min() and reference.max() <= 1


# ------------------------------------------------------------ the real engine (random weights, tiny settings)


def tiny_options():
    from MedColorLib.options import Options

    return Options(mode="preview", weights="random", device="cpu", size=64, iterations=(3, 2), seed=0)


def test_run_colorization_with_pipeline(app, ct_node, visible_woman, tmp_path):
    count = node_count(app.scene)
    node = mrml.run_colorization(ct_node, None, tiny_options(), reference=visible_woman)
    assert node_count(app.scene) > count
    assert np.array_equal(mrml.ijk_to_ras(node), mrml.ijk_to_ras(ct_node))
    rgba = mrml.array_from_node(node)
    assert rgba.shape == mrml.volume_from_node(ct_node).array.shape + (3,) and rgba.dtype == np.uint8  # scene: RGB
    assert node.GetAttribute("MedColor.seed") == "0" or "seed" in (node.GetAttribute("MedColor.params") or "")
    assert node.GetDisplayNode().GetWindowLevelMax() == 255
    mrml.show_volume_rendering(node, app.volume_rendering_logic)
    axial = ss.render_slice(app, node, tmp_path / "axial.png", size=(200, 200))
    assert np.percentile(chroma(axial[70:130, 70:130]), 75) > 5
    pixels = ss.render_3d(app, tmp_path / "3d.png", size=(200, 200), view_direction="superior")
    assert np.all(pixels[[0, 0, -1, -1], [0, -1, 0, -1]] == 0)
    app.scene.RemoveNode(node)


def test_cancelled_run_leaves_scene_unchanged(app, ct_node, visible_woman):
    count = node_count(app.scene)
    with pytest.raises((CancelledError, MedColorError)):
        mrml.run_colorization(ct_node, None, tiny_options(), reference=visible_woman, cancel=lambda: True)
    assert node_count(app.scene) == count
