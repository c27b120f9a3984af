"""Show in 3-D with MedColor's presets, and Fly through: the airway path as a markups curve handed to Slicer's
Endoscopy module (camera on the curve). MRML work is in MedColorLib.slicer; only the hand-off touches Qt."""

from __future__ import annotations

PRESETS_3D = ("endoscopy", "soft-tissue", "bone")
ENDOSCOPE_VIEW_ANGLE = 80.0


def firstThreeDCamera():
    """The camera node of the first 3-D view (the one the Endoscopy module should move)."""
    import slicer

    viewNode = slicer.app.layoutManager().threeDWidget(0).mrmlViewNode()
    return slicer.modules.cameras.logic().GetViewActiveCameraNode(viewNode)


def endoscopyWidget():
    """Slicer's Endoscopy module panel (selected, so its widget exists)."""
    import slicer

    slicer.util.selectModule("Endoscopy")
    return slicer.modules.endoscopy.widgetRepresentation().self()


def handToEndoscopy(curveNode, cameraNode, widget) -> None:
    """Put the camera and the curve into the Endoscopy panel and press its 'Use this curve'."""
    cameraNode.SetViewAngle(ENDOSCOPE_VIEW_ANGLE)
    widget.cameraNodeSelector.setCurrentNode(cameraNode)
    widget.inputCurveSelector.setCurrentNode(curveNode)
    widget.onCreatePathButtonClicked()


class ThreeDLogic:
    """Mixed into MedColorLogic; the Endoscopy widget and camera are injectable (tests, scripts).

    >>> logic.showColour3D(ctNode, colourNode, "endoscopy")   # once logic.render3DReady(colourNode, "endoscopy")
    >>> curve = logic.flyThrough(ctNode, colourNode)
    """

    def render3DReady(self, colourNode, preset: str = "endoscopy") -> bool:
        """Whether the render volume of this colour volume for ``preset`` is in the scene (showing it is then
        immediate; otherwise ``start3D`` makes it in the worker)."""
        from MedColorLib.slicer.volume_rendering import current_render_volume

        return current_render_volume(colourNode, preset) is not None

    def showColour3D(self, inputNode, colourNode, preset: str = "endoscopy", vrLogic=None):
        """The lit 3-D colour of (scan, colour volume) with a named preset; returns the display node. Makes the
        render volume here (seconds, blocking) if it is not ready: the panel makes it in the worker first."""
        from MedColorLib.slicer.volume_rendering import show_in_3d

        return show_in_3d(inputNode, colourNode, preset, vrLogic)

    def flyThrough(self, inputNode, colourNode=None, *, vrLogic=None, endoscopy=None, camera=None):
        """Find the airway in the scan, add it as a markups curve, show the colour for endoscopy and hand the
        curve and the 3-D camera to the Endoscopy module; returns the curve node."""
        from MedColorLib.errors import MedColorError
        from MedColorLib.slicer.endoscopy import airway_curve

        if inputNode is None:
            raise MedColorError("select the input CT: the airway is found in the scan")
        curve = airway_curve(inputNode)
        if colourNode is not None:
            self.showColour3D(inputNode, colourNode, "endoscopy", vrLogic)
        handToEndoscopy(curve, camera or firstThreeDCamera(), endoscopy or endoscopyWidget())
        return curve
