"""Volume rendering set up through Slicer's CreateDefaultVolumeRenderingNodes (issue 12, point 8), real slicer-core.

The old code forced GPU ray casting with CreateVolumeRenderingDisplayNode (a factory whose node the caller
must release, so it leaked) and let UpdateDisplayNodeFromVolumeNode add a stray ROI node.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer")

from MedColorLib.slicer import mrml  # noqa: E402

CPU = "vtkMRMLCPURayCastVolumeRenderingDisplayNode"


def _colour_node(app, name: str):
    import slicer

    rgba = np.zeros((6, 8, 10, 4), np.uint8)
    rgba[2:4, 2:6, 3:8] = (200, 120, 90, 255)
    like = slicer.util.addVolumeFromArray(np.zeros((6, 8, 10), np.int16), name=name + " gray")
    return mrml.create_color_node(app.scene, rgba, like, name)


def _rois(scene) -> int:
    return scene.GetNumberOfNodesByClass("vtkMRMLMarkupsROINode")


def test_user_rendering_method_respected_no_roi_no_duplicate(app):
    logic = app.volume_rendering_logic
    previous = logic.GetDefaultRenderingMethod()
    logic.SetDefaultRenderingMethod(CPU)  # what Application Settings > Volume rendering sets
    try:
        node = _colour_node(app, "cpu colour")
        rois = _rois(app.scene)
        display = mrml.show_volume_rendering(node, logic)
        assert display.IsA(CPU), display.GetClassName()
        assert _rois(app.scene) == rois, "no ROI node may be added"
        assert not display.GetVolumePropertyNode().GetVolumeProperty().GetIndependentComponents()
        assert not display.GetVolumePropertyNode().GetVolumeProperty().GetShade()  # colours stay unlit
        assert mrml.show_volume_rendering(node, logic) is display
        assert sum(node.GetNthDisplayNode(i).IsA("vtkMRMLVolumeRenderingDisplayNode")
                   for i in range(node.GetNumberOfDisplayNodes())) == 1
    finally:
        logic.SetDefaultRenderingMethod(previous)


def test_display_node_is_owned_by_the_scene_only(app):
    node = _colour_node(app, "owned colour")
    display = mrml.show_volume_rendering(node, app.volume_rendering_logic)
    app.scene.RemoveNode(display)
    # only this Python reference holds it now: a leaked factory reference would leave 2
    assert display.GetReferenceCount() == 1
