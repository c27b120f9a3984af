"""Virtual endoscopy on Slicer's MRML: the fly-through path as a markups curve, and frames rendered offscreen
from cameras along it (colour render volume and, optionally, the gray scan from the same cameras).

>>> curve = add_path_curve(scene, path.points_ras, "airway path")
>>> frames = render_frames(app, ctNode, colourNode, cameras, "endoscopy", size=(400, 400))
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from MedColorLib.errors import CancelledError, MedColorError
from MedColorLib.slicer import volume_rendering
from MedColorLib.types import CancelFn, Progress, ProgressFn

CURVE_SPACING_MM = 5.0     # control points of the markups curve: the path every 5 mm (Slicer splines between)


def curve_points(points_ras: np.ndarray, spacing_mm: float = CURVE_SPACING_MM) -> np.ndarray:
    """(M, 3) RAS control points: the path resampled every ``spacing_mm`` (first and last point kept)."""
    from MedColorLib.pipeline.lumen_path import smooth_polyline

    return smooth_polyline(np.asarray(points_ras, np.float64), 0.0, spacing_mm)


def add_path_curve(scene, points_ras: np.ndarray, name: str = "MedColor path", node=None):
    """A markups curve node whose control points are the path's points (RAS mm), added to the scene
    (or ``node`` refilled)."""
    import slicer
    import vtk

    control = curve_points(points_ras)
    if len(control) < 2:
        raise MedColorError("the path is too short for a curve")
    if node is None:
        node = slicer.vtkMRMLMarkupsCurveNode()
        node.SetName(scene.GenerateUniqueName(name))
        scene.AddNode(node)
        node.CreateDefaultDisplayNodes()
    points = vtk.vtkPoints()
    for p in control:
        points.InsertNextPoint(*p)
    node.SetControlPointPositionsWorld(points)
    return node


def curve_control_points(node) -> np.ndarray:
    """(M, 3) RAS world positions of a markups curve's control points."""
    return np.array([node.GetNthControlPointPositionWorld(i) for i in range(node.GetNumberOfControlPoints())])


def set_camera(camera, cam) -> None:
    """Point a vtkCamera (or vtkMRMLCameraNode) at one station of the fly-through."""
    camera.SetPosition(*cam.position)
    camera.SetFocalPoint(*cam.focal_point)
    camera.SetViewUp(*cam.view_up)
    camera.SetViewAngle(cam.view_angle)


def render_frames(app, input_node, render_node, cameras: Sequence, preset: str = "endoscopy", *,
                  size: tuple[int, int] = (400, 400), gray: bool = False, progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None, label: str = "frames") -> list[np.ndarray]:
    """(H, W, 3) uint8 frames from each camera: the colour render volume, or (``gray``) the scan in flesh colour
    with the same opacity ramp. Only that volume is shown while rendering; the scene is left as it was."""
    from MedColorLib.slicer.scene import ThreeDView

    logic = app.volume_rendering_logic
    shown = volume_rendering.show_gray_3d(input_node, preset, logic) if gray else \
        volume_rendering.show_colour_3d(render_node, preset, logic, input_node=input_node)
    hidden = _hide_other_renderings(app.scene, shown)
    frames = []
    try:
        with ThreeDView(app, size) as view:
            camera = view.renderer.GetActiveCamera()
            for n, cam in enumerate(cameras):
                if cancel is not None and cancel():
                    raise CancelledError("cancelled")
                set_camera(camera, cam)
                view.renderer.ResetCameraClippingRange()
                _near_clip(camera)
                frames.append(view.render())
                _notify(progress, label, n + 1, len(cameras))
    finally:
        shown.SetVisibility(False)
        for display in hidden:
            display.SetVisibility(True)
    return frames


def _near_clip(camera) -> None:
    """From inside a lumen the wall is millimetres away: keep the near plane close so it is not cut."""
    near, far = camera.GetClippingRange()
    camera.SetClippingRange(min(near, 0.5), max(far, 1.0))


def _hide_other_renderings(scene, keep) -> list:
    hidden = []
    for n in range(scene.GetNumberOfNodesByClass("vtkMRMLVolumeRenderingDisplayNode")):
        display = scene.GetNthNodeByClass(n, "vtkMRMLVolumeRenderingDisplayNode")
        if display is not keep and display.GetVisibility():
            display.SetVisibility(False)
            hidden.append(display)
    return hidden


def _notify(progress: Callable | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(Progress(stage, done, total, f"frame {done}/{total}"))


def airway_curve(input_node, name: str = "MedColor airway path", kind: str = "airway"):
    """Find the automatic path (airway or colon) in a scalar CT node and add it as a markups curve."""
    from MedColorLib.pipeline.lumen_path import find_path
    from MedColorLib.slicer import mrml

    path = find_path(mrml.volume_from_node(input_node), kind)
    curve = add_path_curve(input_node.GetScene(), path.points_ras, name)
    for landmark, position in path.landmarks.items():
        curve.SetAttribute(f"MedColor.{landmark}", " ".join(f"{v:.2f}" for v in position))
    return curve
