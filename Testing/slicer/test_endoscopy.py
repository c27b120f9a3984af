"""3-D colour and virtual endoscopy on real slicer-core (MRML, volume rendering logic and displayable manager,
markups), rendered offscreen, with the real chest CT and a real MedColor colour volume (preview mode)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer")

from MedColorLib.metrics.render import frame_figures  # noqa: E402
from MedColorLib.pipeline.flythrough import cameras_along  # noqa: E402
from MedColorLib.pipeline.lumen_path import airway_path  # noqa: E402
from MedColorLib.slicer import endoscopy, mrml, volume_rendering  # noqa: E402


@pytest.fixture(scope="module")
def nodes(app, chest_small, chest_small_colour):
    import slicer
    import vtk

    scan = slicer.util.addVolumeFromArray(np.ascontiguousarray(chest_small.array), name="chest")
    matrix = vtk.vtkMatrix4x4()
    for r, row in enumerate(mrml.ijk_to_ras_from_volume(chest_small)):
        for c, value in enumerate(row):
            matrix.SetElement(r, c, value)
    scan.SetIJKToRASMatrix(matrix)
    colour = mrml.create_color_node(app.scene, chest_small_colour, scan, "chest colour")
    return scan, colour


@pytest.fixture(scope="module")
def path(chest_small):
    return airway_path(chest_small)


def test_frames_from_inside_the_airway_are_opaque_lit_and_not_black(app, nodes, path):
    scan, colour = nodes
    render = volume_rendering.add_render_volume(app.scene, scan, colour, "endoscopy")
    first, last = path.segments["trachea"]
    cameras = cameras_along(path.points_ras[first: last + 1], 3, 80.0)
    colour_frames = endoscopy.render_frames(app, scan, render, cameras, size=(96, 96))
    gray_frames = endoscopy.render_frames(app, scan, render, cameras, size=(96, 96), gray=True)
    for frame, gray in zip(colour_frames, gray_frames):
        figures = frame_figures(frame)
        assert figures["opaque"] >= 0.97, figures              # a wall everywhere, nothing seen through
        assert figures["mean_L"] >= 35, figures                # lit, not murky
        assert frame.std() > 5                                  # shaded: depth cues, not a flat fill
        assert figures["stripes"] <= 1.5 * frame_figures(gray)["stripes"]
    display = volume_rendering.show_colour_3d(render, "endoscopy", app.volume_rendering_logic)
    assert display.GetVolumePropertyNode().GetVolumeProperty().GetShade()


def test_opacity_is_monotone_in_hu_through_the_displayed_ramp(app, nodes, chest_small):
    scan, colour = nodes
    display = volume_rendering.show_in_3d(scan, colour, "endoscopy", app.volume_rendering_logic)
    render = display.GetDisplayableNode()
    inner = (slice(2, -2),) * 3                                # the faces hold the lumen caps
    alpha = mrml.array_from_node(render)[inner][..., 3].ravel().astype(float)
    hu = chest_small.array[inner].ravel()
    opacity_function = display.GetVolumePropertyNode().GetScalarOpacity()
    samples = np.linspace(hu.min(), hu.max(), 400)
    nearest = np.searchsorted(np.sort(hu), samples).clip(0, hu.size - 1)
    order = np.argsort(hu, kind="stable")
    opacity = [opacity_function.GetValue(a) for a in alpha[order][nearest]]
    assert (np.diff(opacity) >= -1e-9).all()
    assert opacity[0] == 0.0 and opacity[-1] == 1.0
    partial = [o for o, h in zip(opacity, np.sort(hu)[nearest]) if -599 < h < -401]   # 16-bit alpha: 0.02 HU a level
    assert partial and all(0.0 < o < 1.0 for o in partial)     # the ramp lies where the preset puts it, in HU


def test_a_grazing_colon_wall_is_lit_like_the_gray_render(app, data_dir):
    """3 mm abdomen CT, first colon station (the lumen runs out of the scan ahead, wide walls seen at a grazing
    angle), 400x400 as in docs/endoscopy.md: the colour frame has the gray frame's stripes. With 8-bit alpha
    (4.7 HU a level) the lighting gradient speckled these walls: 1.38x the gray's."""
    from chest_ct import preview_colour
    from conftest import load_rgb
    from MedColorLib.io.volumes import read_volume
    from MedColorLib.pipeline.lumen_path import find_path
    from MedColorLib.slicer.render_job import scalar_node

    volume = read_volume(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz")
    colour = preview_colour(volume, load_rgb(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png", 64))
    scan = scalar_node(app, volume, "abdomen")
    render = volume_rendering.add_render_volume(app.scene, scan, mrml.create_color_node(app.scene, colour, scan,
                                                                                         "abdomen colour"))
    camera = cameras_along(find_path(volume, "colon").points_ras, 5, 80.0)[:1]
    frame = endoscopy.render_frames(app, scan, render, camera, size=(400, 400))[0]
    gray = endoscopy.render_frames(app, scan, render, camera, size=(400, 400), gray=True)[0]
    figures = frame_figures(frame)
    assert figures["opaque"] >= 0.97, figures                  # the lumen cap closes the scan's end
    assert figures["stripes"] <= 1.1 * frame_figures(gray)["stripes"], (figures, frame_figures(gray))


def test_show_in_3d_makes_one_render_volume_and_leaves_the_colour_volume(app, nodes):
    scan, colour = nodes
    before = mrml.array_from_node(colour).copy()
    first = volume_rendering.show_in_3d(scan, colour, "endoscopy", app.volume_rendering_logic)
    again = volume_rendering.show_in_3d(scan, colour, "bone", app.volume_rendering_logic)
    assert first.GetDisplayableNode() is again.GetDisplayableNode()       # refreshed, not duplicated
    assert again.GetDisplayableNode().GetAttribute("MedColor.preset3D") == "bone"
    assert np.array_equal(mrml.array_from_node(colour), before)
    assert colour.GetImageData().GetNumberOfScalarComponents() == 4 and colour.IsA("vtkMRMLVectorVolumeNode")


class FakeEndoscopyWidget:
    """Slicer's Endoscopy panel is Qt (not in slicer-core): records what the hand-off puts into it."""

    def __init__(self):
        self.camera = self.curve = None
        self.used = False
        self.cameraNodeSelector = type("Sel", (), {"setCurrentNode": lambda s, n: setattr(self, "camera", n)})()
        self.inputCurveSelector = type("Sel", (), {"setCurrentNode": lambda s, n: setattr(self, "curve", n)})()

    def onCreatePathButtonClicked(self):
        self.used = True


def test_fly_through_builds_the_curve_in_ras_and_hands_it_to_endoscopy(app, nodes, path, chest_small):
    import slicer
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "MedColor"))
    from MedColorModuleLib.ThreeDLogic import ThreeDLogic

    scan, colour = nodes
    camera = slicer.vtkMRMLCameraNode()
    app.scene.AddNode(camera)
    widget = FakeEndoscopyWidget()
    curve = ThreeDLogic().flyThrough(scan, colour, vrLogic=app.volume_rendering_logic, endoscopy=widget,
                                     camera=camera)
    assert widget.curve is curve and widget.camera is camera and widget.used
    assert camera.GetViewAngle() == 80.0
    control = endoscopy.curve_control_points(curve)
    expected = endoscopy.curve_points(path.points_ras)
    assert control.shape == expected.shape and np.allclose(control, expected, atol=1e-3)
    # RAS, checked with Slicer's own RAS -> IJK matrix: every control point is inside the airway's air
    ras_to_ijk = vtk_matrix(scan)
    ijk = (np.c_[control, np.ones(len(control))] @ ras_to_ijk.T)[:, :3]
    kji = np.round(ijk[:, ::-1]).astype(int)
    assert (chest_small.array[tuple(kji.T)] < -500).all()


def vtk_matrix(node) -> np.ndarray:
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetRASToIJKMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def test_cpu_ray_casting_renders_the_colour_too(data_dir):
    """VTK's CPU ray caster renders dependent RGBA only as unsigned char (16 bits: nothing, "Four component
    dependent data must be unsigned char"): with it chosen in Slicer's settings the render volume goes to 8 bits."""
    from chest_ct import preview_colour
    from conftest import load_rgb
    from MedColorLib.io.volumes import read_volume
    from MedColorLib.pipeline.lumen_path import find_path
    from MedColorLib.slicer import scene
    from MedColorLib.slicer.render_job import scalar_node

    cpu = "vtkMRMLCPURayCastVolumeRenderingDisplayNode"
    app = scene.create_headless_slicer()
    app.volume_rendering_logic.SetDefaultRenderingMethod(cpu)
    volume = read_volume(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz")
    colour = preview_colour(volume, load_rgb(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png", 64))
    scan = scalar_node(app, volume, "abdomen")
    render = volume_rendering.add_render_volume(app.scene, scan, mrml.create_color_node(app.scene, colour, scan, "c"))
    camera = cameras_along(find_path(volume, "colon").points_ras, 5, 80.0)[:1]
    frame = endoscopy.render_frames(app, scan, render, camera, size=(200, 200))[0]
    assert render.GetDisplayNode().IsA(cpu) or any(render.GetNthDisplayNode(n).IsA(cpu)
                                                   for n in range(render.GetNumberOfDisplayNodes()))
    assert mrml.array_from_node(render).dtype == np.uint8
    gray = frame_figures(endoscopy.render_frames(app, scan, render, camera, size=(200, 200), gray=True)[0])
    figures = frame_figures(frame)
    # the CPU ray caster lights both darker than the GPU one (L* ~37 here, ~60 on the GPU): judged against its gray
    assert figures["opaque"] >= 0.97 and figures["mean_L"] >= 0.9 * gray["mean_L"] > 20, (figures, gray)
    assert figures["stripes"] <= 1.25 * gray["stripes"], (figures, gray)
