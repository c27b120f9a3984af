"""The panel controller (MedColorModuleLib/Widget.py) with injected fakes: Qt does not exist outside Slicer.

``qt`` (QTimer, QPixmap), ``slicer.i18n``, the .ui widgets, the parameter node, the logic, the installer and
slicer.util's dialogs are replaced by recording fakes; slicer.util.VTKObservationMixin and the MRML scene
are the real slicer-core ones, and the fake parameter node dispatches its observers through a real vtkObject
(VTK's priority order). What is checked (issue 12 points 4, 9, 11, the weights choice, issue 21 points 10-11,
issue 20's region field): a run that finishes after ``exit()`` or a scene close is shown; consent dialogs and installs run without the
modal busy cursor; an unset weights file is refused before anything is installed or started; unset paths
show empty fields; the reference thumbnail is read once per file.
"""

from __future__ import annotations

import contextlib
import json
import importlib
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("slicer")
import vtk  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "MedColor"))

from MedColorModuleLib.Signal import Signal  # noqa: E402

from MedColorLib.errors import MedColorError  # noqa: E402


class FakeQtWidget:
    def __init__(self):
        self.text, self.enabled, self.visible, self.value, self.maximum, self.format, self.toolTip = "", True, True, 0, 0, "", ""
        self.currentPath, self.signalsBlocked, self.connections = "", False, []

    def blockSignals(self, block):
        previous, self.signalsBlocked = self.signalsBlocked, block
        return previous

    def connect(self, signal, slot):
        self.connections.append((signal, slot))

    def setPixmap(self, pixmap):
        self.pixmap = pixmap


class FakeUi:
    """The .ui's child widgets, created on first use (as childWidgetVariables would give them)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        widget = FakeQtWidget()
        setattr(self, name, widget)
        return widget


class FakeTimer(FakeQtWidget):
    def __init__(self):
        super().__init__()
        self.active = False

    def setInterval(self, ms):
        self.interval = ms

    def start(self):
        self.active = True

    def stop(self):
        self.active = False


class FakePixmap:
    loads: list[str] = []

    def __init__(self, path=""):
        self.path = path
        if path:
            FakePixmap.loads.append(path)

    def isNull(self):
        return not (self.path and Path(self.path).is_file())

    def scaledToHeight(self, height):
        return self


PATHS = ("referenceFile", "libraryFolder", "weightsFile")


class FakeParameterNode:
    """The fields Widget reads, connectGui/disconnectGui, and observers dispatched by a real vtkObject.

    connectGui writes each path as Slicer's ctkPathLineEditToPathConnector does (``currentPath = str(value)``,
    so an unset Path() shows "."), now and on every Modified(), from a priority-0 observer as parameterNodeWrapper."""

    def __init__(self, **fields):
        defaults = dict(inputVolume=object(), outputVolume=None, referenceSource=SimpleNamespace(value="automatic"),
                        referenceFile=Path("."), referenceNode=None, librarySet="pseudo", libraryFolder=Path("."),
                        region="auto",
                        windowPreset="auto", weights=SimpleNamespace(value="auto"), weightsFile=Path("."),
                        showIn3D=True, preset3D="endoscopy", mode="preview", device="cpu", size=64, seed=0, customIterations=False,
                        iterationsStage1=1, iterationsStage2=1, contentWeight=1.0, colourWeight=100.0, lumaWeight=1e4,
                        lumaL1=0.0, swapWeight=10.0, tvWeight=1e-3, matchWeight=1e5)
        self.__dict__.update({**defaults, **fields})
        self.connected, self.observers = 0, {}
        self._vtk, self._connectorTag = vtk.vtkObject(), None

    def connectGui(self, ui):
        self.connected += 1

        def write(caller=None, event=None):
            for name in PATHS:
                getattr(ui, name + "PathLineEdit").currentPath = str(getattr(self, name))
        write()
        self._connectorTag = self._vtk.AddObserver(vtk.vtkCommand.ModifiedEvent, write)
        return "tag"

    def disconnectGui(self, tag):
        assert tag == "tag"
        self.connected -= 1
        self._vtk.RemoveObserver(self._connectorTag)

    def AddObserver(self, event, method, priority=0.0):
        tag = self._vtk.AddObserver(event, method, priority)
        self.observers[tag] = method
        return tag

    def RemoveObserver(self, tag):
        self._vtk.RemoveObserver(tag)
        del self.observers[tag]

    def Modified(self):
        self._vtk.Modified()


class FakeLogic:
    def __init__(self, node):
        self.node, self.started, self.shown, self.running = node, [], [], False
        self.progressInfo, self.errorOccurred, self.finished, self.rendered3D = Signal(), Signal(), Signal(), Signal()
        self.ready3D, self.started3D = True, []   # whether the render volume is in the scene; start3D calls

    def getParameterNode(self):
        return self.node

    def isRunning(self):
        return self.running

    def cancel(self):
        self.running = False

    def poll(self):
        return self.running

    def start(self, *args, **kwargs):
        self.started.append((args, kwargs, state["waitCursor"]))
        self.running = True

    def render3DReady(self, colourNode, preset):
        return self.ready3D

    def start3D(self, inputNode, colourNode, preset):
        self.started3D.append((inputNode, colourNode, preset, state["waitCursor"]))
        self.running = True

    def showColour3D(self, inputNode, node, preset):
        assert self.ready3D, "the panel shows the 3-D colour only once its render volume is made"
        self.shown.append(node)
        self.presets = getattr(self, "presets", []) + [(inputNode, preset)]

    def flyThrough(self, inputNode, colourNode=None):
        self.flown = (inputNode, colourNode)
        return SimpleNamespace(GetName=lambda: "MedColor airway path")


class FakeInstall:
    def __init__(self, imagenetCached=False, agreeDownload=True):
        self.imagenetCached, self.agreeDownload, self.log = imagenetCached, agreeDownload, []

    def ensureDependencies(self):
        self.log.append(("dependencies", state["waitCursor"]))

    def hasImagenetWeights(self):
        return self.imagenetCached

    def confirmImagenetDownload(self):
        self.log.append(("ask download", state["waitCursor"]))
        return self.imagenetCached or self.agreeDownload

    def ensureMedicalWeights(self):
        self.log.append(("medical", state["waitCursor"]))


class FakeOutput:
    def __init__(self):
        self.attributes = {}

    def SetAttribute(self, key, value):
        self.attributes[key] = value

    def GetAttribute(self, key):
        return self.attributes.get(key)

    def GetName(self):
        return "ct colour"


state = {"waitCursor": False}


@pytest.fixture
def widget_module(app, monkeypatch):
    import slicer
    import slicer.util

    qt = types.ModuleType("qt")
    qt.QTimer, qt.QPixmap = FakeTimer, FakePixmap
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr = lambda text: text
    monkeypatch.setitem(sys.modules, "qt", qt)
    monkeypatch.setitem(sys.modules, "slicer.i18n", i18n)

    @contextlib.contextmanager
    def tryWithErrorDisplay(message=None, show=True, waitCursor=False):
        previous, state["waitCursor"] = state["waitCursor"], waitCursor
        try:
            yield
        finally:
            state["waitCursor"] = previous

    monkeypatch.setattr(slicer.util, "tryWithErrorDisplay", tryWithErrorDisplay)
    monkeypatch.setattr(slicer.util, "setSliceViewerLayers", lambda **kw: None)
    monkeypatch.setattr(slicer.util, "resetThreeDViews", lambda: None)
    monkeypatch.setattr(slicer, "app", SimpleNamespace(applicationVersion="5.10.0"), raising=False)
    sys.modules.pop("MedColorModuleLib.Widget", None)
    module = importlib.import_module("MedColorModuleLib.Widget")
    module.made = []
    yield module
    for widget in module.made:  # remove the scene observers, as Slicer does on module cleanup
        widget.cleanup()
    sys.modules.pop("MedColorModuleLib.Widget", None)


def make(widget_module, node=None, install=None):
    node = node or FakeParameterNode()
    logic = FakeLogic(node)
    widget = widget_module.Widget(SimpleNamespace(isEntered=True), FakeUi(), logic, installLogic=install or FakeInstall(),
                                  doShowInfoWindows=False)
    widget_module.made.append(widget)
    return widget, logic, node


def test_run_finishing_after_exit_is_shown(widget_module):
    widget, logic, node = make(widget_module)
    assert node.connected == 1
    widget.exit()
    assert node.connected == 0 and node.observers == {} and widget._parameterNode is node  # kept, as the template
    output = FakeOutput()
    widget._onFinished(output)
    assert node.outputVolume is output and logic.shown == [output]
    widget.enter()  # connects again, once
    assert node.connected == 1 and len(node.observers) == 2  # the GUI update and the path blanking


def test_run_finishing_after_scene_close_uses_the_logic_parameter_node(widget_module):
    widget, logic, node = make(widget_module)
    widget.setParameterNode(None)
    output = FakeOutput()
    widget._onFinished(output)
    assert node.outputVolume is output


def test_consent_and_installs_run_without_busy_cursor_then_start_with_it(widget_module, monkeypatch):
    install = FakeInstall(imagenetCached=False, agreeDownload=True)
    widget, logic, node = make(widget_module, install=install)
    monkeypatch.setattr(widget_module, "ensureLibrary", lambda folder: Path("/library"))
    widget.onApplyButton()
    assert install.log == [("dependencies", False), ("ask download", False)]
    args, kwargs, waitCursor = logic.started[0]
    assert waitCursor is True and args[2].weights == "auto" and kwargs["library"] == Path("/library")
    assert widget._timer.active


def test_auto_declined_download_uses_medical_and_records_the_choice(widget_module, monkeypatch):
    install = FakeInstall(imagenetCached=False, agreeDownload=False)
    widget, logic, node = make(widget_module, install=install)
    monkeypatch.setattr(widget_module, "ensureLibrary", lambda folder: Path("/library"))
    widget.onApplyButton()
    assert ("medical", False) in install.log and logic.started[0][0][2].weights == "medical"
    output = FakeOutput()
    widget._onFinished(output)
    assert output.attributes["MedColor.weightsChoice"] == "auto"


def test_unset_weights_file_refused_before_install_or_start(widget_module):
    install = FakeInstall(imagenetCached=True)
    widget, logic, node = make(widget_module, FakeParameterNode(weights=SimpleNamespace(value="file")), install)
    with pytest.raises(MedColorError, match="no weights file"):
        widget.onApplyButton()
    assert install.log == [] and logic.started == []


def test_old_slicer_refused_with_supported_versions(widget_module, monkeypatch):
    import slicer

    monkeypatch.setattr(slicer, "app", SimpleNamespace(applicationVersion="5.8.1"), raising=False)
    widget, logic, node = make(widget_module)
    with pytest.raises(MedColorError, match="Slicer 5.10 or later"):
        widget.onApplyButton()
    assert logic.started == []


def test_unset_paths_show_empty_fields_not_a_dot(widget_module, tmp_path):
    # issue 21 point 10: the PathSerializer's default is Path(), and the connector writes str(Path()) = "."
    reference = tmp_path / "ref.png"
    reference.write_bytes(b"a picture")
    widget, logic, node = make(widget_module, FakeParameterNode(referenceFile=reference))
    ui = widget.ui
    assert ui.libraryFolderPathLineEdit.currentPath == "" and ui.weightsFilePathLineEdit.currentPath == ""
    assert ui.referenceFilePathLineEdit.currentPath == str(reference)
    node.Modified()  # the connector writes "." again; the widget's observer (priority -1) runs after it
    assert ui.libraryFolderPathLineEdit.currentPath == "" and ui.weightsFilePathLineEdit.currentPath == ""
    assert not ui.libraryFolderPathLineEdit.signalsBlocked  # blocked only while blanking (nothing written back)
    assert node.libraryFolder == Path(".")  # still unset: the default library


def test_reference_thumbnail_is_read_once_per_file(widget_module, tmp_path):
    # issue 21 point 11: _updateGui runs on every parameter change
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    first.write_bytes(b"a picture")
    second.write_bytes(b"another picture")
    FakePixmap.loads = []
    node = FakeParameterNode(referenceSource=SimpleNamespace(value="file"), referenceFile=first)
    widget, logic, node = make(widget_module, node)
    for _ in range(5):
        node.Modified()
    assert FakePixmap.loads == [str(first)] and widget.ui.referenceThumbnailLabel.pixmap.path == str(first)
    node.referenceFile = second
    node.Modified()
    node.referenceFile = first
    node.Modified()
    assert FakePixmap.loads == [str(first), str(second)]  # back to the first one: from the cache
    assert widget.ui.referenceThumbnailLabel.pixmap.path == str(first)


def test_show_in_3d_uses_the_scan_and_the_chosen_preset(widget_module):
    scan = object()
    widget, logic, node = make(widget_module, FakeParameterNode(inputVolume=scan, preset3D="bone"))
    output = FakeOutput()
    node.outputVolume = output
    widget.onShowIn3DButton()
    assert logic.shown == [output] and logic.presets == [(scan, "bone")] and logic.started3D == []
    assert state["waitCursor"] is False      # restored after the busy cursor


def test_show_in_3d_makes_the_render_volume_in_the_worker_then_shows_it(widget_module):
    """Not made yet (another preset, or the run had Show in 3D off): the worker makes it, with progress and Cancel;
    the UI thread only shows it when it arrives."""
    scan, output = object(), FakeOutput()
    widget, logic, node = make(widget_module, FakeParameterNode(inputVolume=scan, preset3D="soft-tissue"))
    node.outputVolume = output
    logic.ready3D = False
    widget.onShowIn3DButton()
    assert logic.started3D == [(scan, output, "soft-tissue", True)] and logic.shown == []
    assert widget.ui.applyButton.text == "Cancel" and widget.ui.progressBar.visible
    assert "soft-tissue" in widget.ui.statusLabel.text
    logic.running, logic.ready3D = False, True
    logic.rendered3D.emit(output)
    assert logic.shown == [output] and logic.presets == [(scan, "soft-tissue")]
    assert widget.ui.applyButton.text == "Apply" and "3-D colour" in widget.ui.statusLabel.text


def test_a_run_with_show_in_3d_asks_the_worker_for_the_render_volume(widget_module, monkeypatch):
    widget, logic, node = make(widget_module, FakeParameterNode(inputVolume=object(), preset3D="bone"))
    monkeypatch.setattr(widget_module, "ensureLibrary", lambda folder: Path("/library"))
    widget.onApplyButton()
    assert logic.started[-1][1]["render3D"] == "bone"
    widget.onApplyButton()                     # Cancel
    node.showIn3D = False
    widget.onApplyButton()
    assert len(logic.started) == 2 and logic.started[-1][1]["render3D"] is None


def test_fly_through_hands_the_scan_to_the_logic_and_shows_the_endoscopy_colour(widget_module):
    scan, output = object(), FakeOutput()
    widget, logic, node = make(widget_module, FakeParameterNode(inputVolume=scan, outputVolume=output))
    assert widget.ui.flyThroughButton.enabled
    widget.onFlyThroughButton()                # the endoscopy render volume is there: shown at once
    assert logic.flown == (scan, None) and logic.presets == [(scan, "endoscopy")] and logic.started3D == []
    assert "Endoscopy" in widget.ui.statusLabel.text and "airway" in widget.ui.statusLabel.text
    logic.ready3D = False                      # not there: made in the worker, then shown
    widget.onFlyThroughButton()
    assert logic.started3D == [(scan, output, "endoscopy", True)]
    logic.running, logic.ready3D = False, True
    logic.rendered3D.emit(output)
    assert logic.presets == [(scan, "endoscopy")] * 2


def test_fly_through_disabled_without_a_scan(widget_module):
    widget, logic, node = make(widget_module, FakeParameterNode(inputVolume=None))
    assert not widget.ui.flyThroughButton.enabled


def test_region_field_goes_to_the_job_and_the_reference_why_is_shown(widget_module, monkeypatch, tmp_path):
    """The panel's body region (parameter node field "region") is passed as the job's region for the automatic
    reference; a finished run shows which reference was used and why, under the thumbnail."""
    monkeypatch.setattr(widget_module, "ensureLibrary", lambda folder: Path("/library"))
    widget, logic, node = make(widget_module, FakeParameterNode(region="pelvis"), FakeInstall(imagenetCached=True))
    widget.onApplyButton()
    assert logic.started[-1][1]["region"] == "pelvis" and widget.ui.referenceWhyLabel.text == ""
    logic.running = False
    node.region = "auto"
    widget.onApplyButton()
    assert logic.started[-1][1]["region"] is None
    logic.running = False
    node.region = "liver"
    with pytest.raises(MedColorError, match="not a body region"):
        widget.onApplyButton()
    assert len(logic.started) == 2
    used = tmp_path / "body_ct_pelvis_iliac_body.png"
    used.write_bytes(b"a picture")
    why = "region pelvis (given by the user (--region)), modality CT; nearest by D-hash (median distance 20, ...)"
    output = FakeOutput()
    output.SetAttribute("MedColor.reference", json.dumps({"path": str(used), "why": why}))
    widget._onFinished(output)
    assert widget.ui.referenceWhyLabel.text == f"Reference body_ct_pelvis_iliac_body.png: {why}"
    widget._onFinished(FakeOutput())  # a pinned reference: no library provenance, nothing to explain
    assert widget.ui.referenceWhyLabel.text == ""


def test_a_failed_fly_through_starts_no_3d_colour(widget_module, monkeypatch):
    """Slicer's tryWithErrorDisplay shows the error and swallows it (unlike the fixture's, which re-raises):
    with no airway found, nothing else is started."""
    import slicer.util

    shown = []

    @contextlib.contextmanager
    def swallowing(message=None, show=True, waitCursor=False):
        try:
            yield
        except Exception as exc:  # as Slicer's: an error dialog, no exception
            shown.append(str(exc))

    monkeypatch.setattr(slicer.util, "tryWithErrorDisplay", swallowing)
    scan, output = object(), FakeOutput()
    widget, logic, node = make(widget_module, FakeParameterNode(inputVolume=scan, outputVolume=output))
    logic.ready3D = False

    def noAirway(inputNode, colourNode=None):
        raise MedColorError("no airway found: no air tube in the scan")

    logic.flyThrough = noAirway
    widget.onFlyThroughButton()
    assert shown == ["no airway found: no air tube in the scan"] and logic.started3D == []
