"""The MedColor panel (Qt, runs only inside Slicer): binds the parameter node, Apply/Cancel, progress, weights.

It never computes: the logic runs the worker process, this class polls it from a timer and shows the
outcome. Dialogs live here only; the logic reports through signals.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import qt
import vtk

import slicer
from slicer.i18n import tr as _
from slicer.util import VTKObservationMixin

from MedColorLib.errors import MedColorError
from MedColorLib.types import Progress

from .ColorizationLogic import (addReferenceToLibrary, ensureLibrary, libraryFolderFromParameters,
                                optionsFromParameters, pathOrNone, regionFromParameters, usedReferencePath,
                                usedReferenceWhy, windowFromParameters)
from .InstallLogic import InstallLogic, unsupportedReason

WEIGHTS_CHOICE_ATTRIBUTE = "MedColor.weightsChoice"  # the panel's choice; MedColor.weights says what was used

POLL_MILLISECONDS = 200
PATH_FIELDS = ("referenceFile", "libraryFolder", "weightsFile")  # each bound to the <name>PathLineEdit


class Widget(VTKObservationMixin):
    """Controller of the .ui widgets ``ui`` for ``logic`` (a MedColorLogic); ``installLogic`` is injectable."""

    def __init__(self, moduleParent, ui, logic, installLogic=None, doShowInfoWindows: bool = True) -> None:
        VTKObservationMixin.__init__(self)
        self.moduleParent, self.ui, self.logic = moduleParent, ui, logic
        self.installLogic = installLogic or InstallLogic(confirm=self._confirm)
        self.doShowInfoWindows = doShowInfoWindows
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._weightsChoice: str | None = None
        self._pending3D: str | None = None   # the preset of the render volume the worker is making
        self._thumbnails: dict[tuple[str, int], object] = {}  # (path, mtime) -> scaled pixmap
        self._thumbnailShown: tuple[str, int] | None = None
        self._timer = qt.QTimer()
        self._timer.setInterval(POLL_MILLISECONDS)
        self._timer.connect("timeout()", self._poll)
        self.logic.progressInfo.connect(self._onProgress)
        self.logic.errorOccurred.connect(self._onError)
        self.logic.finished.connect(self._onFinished)
        self.logic.rendered3D.connect(self._onRendered3D)
        self._connectButtons()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self._onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self._onSceneEndClose)
        self._setRunning(False)
        self.initializeParameterNode()

    def _connectButtons(self) -> None:
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.showIn3DButton.connect("clicked(bool)", self.onShowIn3DButton)
        self.ui.flyThroughButton.connect("clicked(bool)", self.onFlyThroughButton)
        self.ui.importWeightsButton.connect("clicked(bool)", self.onImportWeightsButton)
        self.ui.openWeightsFolderButton.connect("clicked(bool)", self.onOpenWeightsFolderButton)
        self.ui.clearWeightsButton.connect("clicked(bool)", self.onClearWeightsButton)
        self.ui.addToLibraryButton.connect("clicked(bool)", self.onAddToLibraryButton)

    # ------------------------------------------------------------ lifecycle
    def cleanup(self) -> None:
        self.logic.cancel()
        self._timer.stop()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        """Stop reacting to the parameter node but keep it (as Slicer's template): a run may finish meanwhile."""
        self._disconnectParameterNode()

    def _onSceneStartClose(self, caller, event) -> None:
        self.logic.cancel()
        self._setRunning(False)
        self.setParameterNode(None)

    def _onSceneEndClose(self, caller, event) -> None:
        if self.moduleParent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first and not first.IsA("vtkMRMLLabelMapVolumeNode") and not first.IsA("vtkMRMLVectorVolumeNode"):
                self._parameterNode.inputVolume = first

    def _disconnectParameterNode(self) -> None:
        if self._parameterNode is not None and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._blankUnsetPaths)

    def setParameterNode(self, parameterNode) -> None:
        self._disconnectParameterNode()
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)
            # below the GUI connector's priority 0, so it runs after the connector has written the paths
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._blankUnsetPaths, priority=-1.0)
            self._updateGui()
            self._blankUnsetPaths()

    def _updateGui(self, caller=None, event=None) -> None:
        p = self._parameterNode
        source = p.referenceSource.value
        for name, shown in (("referenceFile", source == "file"), ("referenceNode", source == "node"),
                            ("windowRange", p.windowPreset == "custom"), ("weightsFile", p.weights.value == "file")):
            self._setRowVisible(name, shown)
        self.ui.showIn3DButton.enabled = p.outputVolume is not None
        self.ui.flyThroughButton.enabled = p.inputVolume is not None
        if source == "file":
            reference = pathOrNone(p.referenceFile)
            self._showThumbnail(reference if reference and reference.is_file() else None)
        if self.logic.isRunning():
            return
        self.ui.applyButton.enabled = p.inputVolume is not None
        self.ui.applyButton.toolTip = _("Colorize the input volume") if p.inputVolume else _("Select an input volume")

    def _blankUnsetPaths(self, caller=None, event=None) -> None:
        """Show an unset path as an empty field: the wrapper writes its default Path() as "." (``str(Path())``)."""
        for name in PATH_FIELDS:
            lineEdit = getattr(self.ui, name + "PathLineEdit", None)
            if lineEdit is not None and pathOrNone(getattr(self._parameterNode, name, None)) is None \
                    and lineEdit.currentPath:
                wasBlocked = lineEdit.blockSignals(True)  # the parameter keeps Path('.'): nothing to write back
                lineEdit.currentPath = ""
                lineEdit.blockSignals(wasBlocked)

    def _setRowVisible(self, name: str, shown: bool) -> None:
        """Show or hide a form row: its label ``<name>Label`` and its field (selector/line edit/widget)."""
        for suffix in ("Label", "PathLineEdit", "Selector", "Widget"):
            widget = getattr(self.ui, name + suffix, None)
            if widget is not None:
                widget.visible = shown

    # ------------------------------------------------------------ apply / cancel
    def onApplyButton(self) -> None:
        if self.logic.isRunning():
            self.logic.cancel()
            self._setRunning(False)
            self.ui.statusLabel.text = _("Cancelled: the scene was not changed.")
            return
        # consent dialogs and installs first, without a modal busy cursor over them
        with slicer.util.tryWithErrorDisplay(_("MedColor could not start.")):
            prepared = self._prepare()
        with slicer.util.tryWithErrorDisplay(_("MedColor could not start."), waitCursor=True):
            self._start(*prepared)

    def _prepare(self):
        """Check the panel, then ask for and install what the run needs; returns (options, reference)."""
        reason = unsupportedReason(slicerVersion=getattr(slicer.app, "applicationVersion", None))
        if reason:
            raise MedColorError(reason)
        p = self._parameterNode
        options = optionsFromParameters(p)  # refuses an unset weights file ("." from the parameter node)
        reference = self._reference()
        self.ui.statusLabel.text = _("Checking MedColor's Python packages...")
        self.installLogic.ensureDependencies()
        return dataclasses.replace(options, weights=self._weightsAfterConsent(options.weights)), reference

    def _weightsAfterConsent(self, weights: str) -> str:
        """The weights string for the worker once the user agreed to any download or install it implies.

        "auto" would download ImageNet VGG19 when it is not cached: asked first; when declined, the Medical
        VGG16 is used instead (installed after consent), so nothing is downloaded without a yes."""
        self._weightsChoice = weights
        install = self.installLogic
        if weights == "imagenet" and not install.confirmImagenetDownload():
            raise MedColorError(_("The ImageNet weights are needed: agree to the download or import the file."))
        if weights == "medical":
            install.ensureMedicalWeights()
        if weights == "auto" and not install.hasImagenetWeights():
            if install.confirmImagenetDownload():
                return "auto"
            install.ensureMedicalWeights()
            return "medical"
        return weights

    def _start(self, options, reference) -> None:
        p = self._parameterNode
        library = None
        if reference is None:
            library = ensureLibrary(libraryFolderFromParameters(p))
        self.logic.start(p.inputVolume, p.outputVolume, options, reference=reference, library=library,
                         librarySet=p.librarySet if library else None, window=windowFromParameters(p),
                         region=regionFromParameters(p) if library else None,
                         render3D=p.preset3D if p.showIn3D else None)
        self.ui.referenceWhyLabel.text = ""
        self._setRunning(True)

    def _reference(self):
        p = self._parameterNode
        source = p.referenceSource.value
        if source == "file":
            path = pathOrNone(p.referenceFile)
            if path is None or not path.is_file():
                raise MedColorError(_("Choose a reference image file."))
            return path
        if source == "node":
            if not p.referenceNode:
                raise MedColorError(_("Choose a colour image from the scene as reference."))
            return p.referenceNode
        return None

    def _setRunning(self, running: bool) -> None:
        self.ui.applyButton.text = _("Cancel") if running else _("Apply")
        self.ui.applyButton.enabled = running or bool(self._parameterNode and self._parameterNode.inputVolume)
        self.ui.progressBar.visible = running
        self.ui.parametersCollapsibleButton.enabled = not running
        if running:
            self.ui.progressBar.value = 0
            self.ui.statusLabel.text = _("Starting the worker...")
            self._timer.start()
        else:
            self._timer.stop()

    def _poll(self) -> None:
        if not self.logic.poll():
            self._setRunning(False)

    def _onProgress(self, progress: Progress) -> None:
        self.ui.progressBar.maximum = max(progress.total, 1)
        self.ui.progressBar.value = min(progress.done, progress.total)
        self.ui.progressBar.format = f"{progress.stage}: %v / %m"
        self.ui.statusLabel.text = progress.message or progress.stage

    def _onError(self, message: str) -> None:
        self._setRunning(False)
        self.ui.statusLabel.text = _("Failed: ") + message
        if self.doShowInfoWindows:
            slicer.util.errorDisplay(_("MedColor failed: ") + message)

    def _onFinished(self, outputNode) -> None:
        """Show the result; works after exit() (the user is in another module) and after a scene close."""
        self._setRunning(False)
        if self._weightsChoice:
            outputNode.SetAttribute(WEIGHTS_CHOICE_ATTRIBUTE, self._weightsChoice)
        p = self._parameterNode or self.logic.getParameterNode()
        self._showThumbnail(usedReferencePath(outputNode))
        p.outputVolume = outputNode
        slicer.util.setSliceViewerLayers(background=outputNode, fit=True)
        self.ui.statusLabel.text = _("Done: ") + outputNode.GetName()
        self._showReferenceWhy(outputNode)
        if p.showIn3D:
            self._showIn3D(outputNode)

    def onAddToLibraryButton(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("The reference could not be added to the library."), waitCursor=True):
            path = pathOrNone(p.referenceFile)
            if path is None or not path.is_file():
                raise MedColorError(_("Choose a reference image file first."))
            target = addReferenceToLibrary(path, libraryFolderFromParameters(p), "user")
            self.ui.statusLabel.text = _("Added to the user library: {path}").format(path=target)

    def _showThumbnail(self, path) -> None:
        """The chosen reference image, 128 px high, under the library settings; read once per file version."""
        key = (str(path), Path(path).stat().st_mtime_ns) if path and Path(path).is_file() else None
        if key is not None and key == self._thumbnailShown:
            return  # _updateGui runs on every parameter change
        self._thumbnailShown = key
        if key is not None and key not in self._thumbnails:
            pixmap = qt.QPixmap(key[0])
            self._thumbnails[key] = None if pixmap.isNull() else pixmap.scaledToHeight(128)
        thumbnail = self._thumbnails.get(key) if key is not None else None
        if thumbnail is None:
            self.ui.referenceThumbnailLabel.text = _("(the chosen reference is shown here)")
            return
        self.ui.referenceThumbnailLabel.setPixmap(thumbnail)

    def _showReferenceWhy(self, outputNode) -> None:
        """Under the thumbnail: which library reference the run used and why (region, how decided, D-hash)."""
        path, why = usedReferencePath(outputNode), usedReferenceWhy(outputNode)
        self.ui.referenceWhyLabel.text = _("Reference {name}: {why}").format(name=Path(path).name, why=why) \
            if path and why else ""

    def onShowIn3DButton(self) -> None:
        self._showIn3D(self._parameterNode.outputVolume)

    def _showIn3D(self, outputNode, preset: str | None = None) -> None:
        """Shown at once when the render volume for the preset is in the scene (a run with "Show in 3D" on makes
        it); otherwise made in the worker first, with progress and Cancel, and shown when it arrives."""
        p = self._parameterNode or self.logic.getParameterNode()
        preset = preset or p.preset3D
        if self.logic.render3DReady(outputNode, preset):
            with slicer.util.tryWithErrorDisplay(_("Volume rendering failed."), waitCursor=True):
                self.logic.showColour3D(p.inputVolume, outputNode, preset)
                slicer.util.resetThreeDViews()
            return
        with slicer.util.tryWithErrorDisplay(_("The 3-D colour could not be started."), waitCursor=True):
            self.logic.start3D(p.inputVolume, outputNode, preset)
            self._pending3D = preset
            self._setRunning(True)
            self.ui.statusLabel.text = _("Making the 3-D colour ({preset})...").format(preset=preset)

    def _onRendered3D(self, colourNode) -> None:
        self._setRunning(False)
        self._showIn3D(colourNode, self._pending3D)
        self.ui.statusLabel.text = _("3-D colour: {name} ({preset})").format(name=colourNode.GetName(),
                                                                          preset=self._pending3D)

    def onFlyThroughButton(self) -> None:
        """The airway path as a curve, handed with the 3-D camera to the Endoscopy module; the endoscopy colour is
        shown (made in the worker first if needed)."""
        p = self._parameterNode
        curve = None
        with slicer.util.tryWithErrorDisplay(_("The fly-through could not be set up."), waitCursor=True):
            curve = self.logic.flyThrough(p.inputVolume)
            self.ui.statusLabel.text = _("Fly-through: {name} in the Endoscopy module").format(name=curve.GetName())
        if curve is not None and p.outputVolume is not None and not self.logic.isRunning():
            self._showIn3D(p.outputVolume, "endoscopy")

    # ------------------------------------------------------------ weights
    def onImportWeightsButton(self) -> None:
        path = qt.QFileDialog.getOpenFileName(None, _("Import VGG19 ImageNet weights"), "", "PyTorch (*.pth)")
        if path:
            with slicer.util.tryWithErrorDisplay(_("Import failed."), waitCursor=True):
                target = self.installLogic.importWeightsFile(path)
                self.ui.statusLabel.text = _("Weights imported: ") + str(target)

    def onOpenWeightsFolderButton(self) -> None:
        folder = self.installLogic.weightsFolder()
        folder.mkdir(parents=True, exist_ok=True)
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(folder)))

    def onClearWeightsButton(self) -> None:
        if not self._confirm(_("Delete the downloaded VGG19 weights from {folder}? They are downloaded again "
                               "(with your consent) on the next run.").format(folder=self.installLogic.weightsFolder())):
            return
        removed = self.installLogic.clearWeights()
        self.ui.statusLabel.text = _("Removed {count} file(s).").format(count=len(removed))

    def _confirm(self, text: str) -> bool:
        return slicer.util.confirmOkCancelDisplay(text, windowTitle=_("MedColor"))
