"""The Slicer module's Qt-free logic (MedColor/MedColorModuleLib) against a real MRML scene (slicer-core).

The widget (MedColor/MedColorModuleLib/Widget.py) and MedColor.py import qt/ctk and
slicer.ScriptedLoadableModule, which exist only inside the Slicer application: run MedColorTest there
(``Slicer --testing --python-code "import slicer.testing; slicer.testing.runUnitTest(...)"``, see README).
Here the process runner is injected, so no test waits for VGG19; one test runs the real worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("slicer")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "MedColor"))

from MedColorModuleLib import ColorizationLogic, InstallLogic, Signal, WorkerProcess  # noqa: E402
from MedColorModuleLib import optionsFromParameters, windowFromParameters  # noqa: E402
from MedColorModuleLib.InstallLogic import IMAGENET_WEIGHTS_FILE, missingRequirements, readRequirements  # noqa: E402

from MedColorLib.slicer import mrml  # noqa: E402
from MedColorLib.errors import MedColorError  # noqa: E402
from MedColorLib.options import Options  # noqa: E402



class FakeProcess:
    """Stands in for WorkerProcess: on start, writes a colour output like the worker and queues its events.

    It writes RGBA whatever the job's "rgb" says (an older worker's file): the logic must still put RGB in the scene."""

    def __init__(self, fail: str | None = None, finishAtOnce: bool = True) -> None:
        self.fail, self.finishAtOnce = fail, finishAtOnce
        self.args, self.env, self.cwd, self.killed, self.running = None, None, None, False, False
        self._events: list[dict] = []

    def start(self, args, env=None, stderrPath=None, cwd=None):
        self.args, self.env, self.cwd, self.running = args, env, cwd, True
        job = json.loads(Path(args[-1]).read_text())
        self.job = job
        self._events = [{"stage": "slices", "done": i, "total": 2, "message": f"slice {i}"} for i in (1, 2)]
        if self.fail:
            self._events.append({"error": self.fail})
            return
        if job.get("task") == "render3d":   # the worker's render job: a 16-bit RGBA volume of the colour's size
            colour = np.load(job["colour"])
            self.render = np.full((*colour.shape[:3], 4), 1234, np.uint16)
            np.save(job["output"], self.render)
            self._events.append({"result": job["output"], "render3d": job["preset"]})
            return
        rgba = write_fake_output(job["input"], job["output"])
        self.rgba = rgba
        event = {"result": job["output"], "report": {"mode": "preview", "seed": 7}}
        if job.get("render3d"):
            self.render = np.full((*rgba.shape[:3], 4), 4321, np.uint16)
            np.save(job["render_output"], self.render)
            event["render"] = job["render_output"]
        self._events.append(event)

    def readEvents(self):
        if not self.finishAtOnce:  # still computing: progress only
            events = [e for e in self._events if "stage" in e]
            self._events = [e for e in self._events if "stage" not in e]
            return events
        events, self._events, self.running = self._events, [], False
        return events

    def isRunning(self):
        return self.running

    def returnCode(self):
        return None if self.running else (1 if self.fail else 0)

    def kill(self):
        self.killed, self.running, self._events = True, False, []

    def wait(self, timeout=None):
        return self.returnCode()


def write_fake_output(inputPath: str, outputPath: str) -> np.ndarray:
    """Read the worker input with a private headless scene and write an RGBA NRRD with its geometry."""
    import slicer

    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "in")
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(inputPath)
    assert storage.ReadData(node)
    hu = mrml.array_from_node(node).astype(np.float32)
    rgba = np.stack([np.clip((hu + 200) / 2, 0, 255)] * 3 + [np.clip(hu + 600, 0, 255)], -1).astype(np.uint8)
    rgba[..., 1] //= 2
    out = mrml.create_color_node(scene, rgba, node, "out")
    mrml.write_volume_node(out, outputPath)
    return rgba


@pytest.fixture(scope="module")
def small_ct(app, ct_node):
    """Eight slices of the CT with its geometry: keeps the real-worker tests short."""
    import slicer

    array = mrml.array_from_node(ct_node)[11:19]
    matrix = mrml.ijk_to_ras(ct_node)
    matrix[:3, 3] += matrix[:3, 2] * 11  # origin of slice 11
    return slicer.util.addVolumeFromArray(array, ijkToRAS=matrix, name="small ct")


def collect(logic):
    seen = {"progress": [], "errors": [], "nodes": []}
    logic.progressInfo.connect(seen["progress"].append)
    logic.errorOccurred.connect(seen["errors"].append)
    logic.finished.connect(seen["nodes"].append)
    return seen


def test_worker_run_creates_colour_node_with_provenance(app, ct_node):
    process = FakeProcess()
    logic = ColorizationLogic(process=process, pythonExecutable="python-for-test")
    seen = collect(logic)
    count = app.scene.GetNumberOfNodes()
    logic.start(ct_node, None, Options(mode="preview", device="cpu"), window=(-200.0, 300.0))
    assert process.args[:3] == ["python-for-test", "-m", "MedColorLib.slicer.worker"]
    assert process.env["CUDA_VISIBLE_DEVICES"] == "-1" and process.env["PYTHONIOENCODING"] == "utf-8"
    assert process.cwd == str(Path(process.args[-1]).parent)  # the job folder, not Slicer's working directory
    assert process.job["window"] == [-200.0, 300.0] and process.job["options"]["mode"] == "preview"
    assert process.job["rgb"] is True and process.job["modality"] is None  # a NIfTI has no DICOM Modality
    assert app.scene.GetNumberOfNodes() == count  # nothing added while it runs
    while logic.poll():
        pass
    assert [p.done for p in seen["progress"]] == [1, 2] and seen["errors"] == []
    node = seen["nodes"][0]
    assert np.array_equal(mrml.array_from_node(node), process.rgba[..., :3])  # RGB: test_slice_view_colour.py
    assert node.GetVoxelVectorType() == node.VoxelVectorTypeColorRGB
    assert np.array_equal(mrml.ijk_to_ras(node), mrml.ijk_to_ras(ct_node))
    assert node.GetAttribute("MedColor.seed") == "7"
    assert not Path(process.job["output"]).parent.exists()  # job folder removed
    app.scene.RemoveNode(node)


def test_worker_run_updates_given_output_node(app, ct_node):
    output = app.scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "existing")
    logic = ColorizationLogic(process=FakeProcess())
    volumes = app.scene.GetNumberOfNodesByClass("vtkMRMLVolumeNode")
    node = logic.runAndWait(ct_node, output, Options(mode="preview"), pollSeconds=0)
    assert node is output and output.GetImageData().GetNumberOfScalarComponents() == 3
    assert app.scene.GetNumberOfNodesByClass("vtkMRMLVolumeNode") == volumes
    app.scene.RemoveNode(output)


def test_worker_error_reports_and_changes_nothing(app, ct_node):
    logic = ColorizationLogic(process=FakeProcess(fail="the reference is gray: choose a colour picture"))
    seen = collect(logic)
    count = app.scene.GetNumberOfNodes()
    with pytest.raises(MedColorError, match="reference is gray"):
        logic.runAndWait(ct_node, None, Options(), pollSeconds=0)
    assert app.scene.GetNumberOfNodes() == count and seen["nodes"] == []


def test_cancel_kills_and_changes_nothing(app, ct_node):
    process = FakeProcess(finishAtOnce=False)
    logic = ColorizationLogic(process=process)
    count = app.scene.GetNumberOfNodes()
    logic.start(ct_node, None, Options())
    assert logic.poll() and logic.isRunning()
    logic.cancel()
    assert process.killed and not logic.isRunning() and not logic.poll()
    assert app.scene.GetNumberOfNodes() == count
    assert not Path(process.job["output"]).parent.exists()


def test_a_run_with_render3d_brings_the_render_volume_and_a_rerun_without_makes_it_stale(app, ct_node):
    from MedColorLib.slicer.volume_rendering import current_render_volume

    process = FakeProcess()
    logic = ColorizationLogic(process=process)
    node = logic.runAndWait(ct_node, None, Options(mode="preview"), render3D="bone", pollSeconds=0)
    assert process.job["render3d"] == "bone" and process.job["render_output"].endswith(".npy")
    render = current_render_volume(node, "bone")
    assert render is not None and render is not node and current_render_volume(node, "endoscopy") is None
    assert np.array_equal(mrml.array_from_node(render), process.render)
    logic.runAndWait(ct_node, node, Options(mode="preview"), pollSeconds=0)     # the colour remade, no 3-D asked
    assert current_render_volume(node, "bone") is None                          # the old one is not shown again
    for n in (node, render):
        app.scene.RemoveNode(n)


def test_start3d_makes_the_render_volume_in_the_worker(app, ct_node):
    from MedColorLib.slicer.volume_rendering import current_render_volume

    colour = ColorizationLogic(process=FakeProcess()).runAndWait(ct_node, None, Options(mode="preview"), pollSeconds=0)
    before = mrml.array_from_node(colour).copy()
    process = FakeProcess()
    logic = ColorizationLogic(process=process)
    seen = {"rendered": [], "finished": []}
    logic.rendered3D.connect(seen["rendered"].append)
    logic.finished.connect(seen["finished"].append)
    count = app.scene.GetNumberOfNodes()
    logic.start3D(ct_node, colour, "soft-tissue")
    assert process.job["task"] == "render3d" and process.job["preset"] == "soft-tissue"
    assert np.array_equal(np.load(process.job["colour"]), before)          # the worker gets the colour volume
    assert app.scene.GetNumberOfNodes() == count                            # nothing added while it runs
    while logic.poll():
        pass
    assert seen == {"rendered": [colour], "finished": []}
    render = current_render_volume(colour, "soft-tissue")
    assert render is not None and np.array_equal(mrml.array_from_node(render), process.render)
    assert np.array_equal(mrml.array_from_node(colour), before)
    assert not Path(process.job["output"]).parent.exists()
    app.scene.RemoveNode(render)
    app.scene.RemoveNode(colour)


def test_start3d_refuses_bad_requests_and_cancel_leaves_the_scene(app, ct_node):
    import slicer

    process = FakeProcess(finishAtOnce=False)
    logic = ColorizationLogic(process=process)
    colour = ColorizationLogic(process=FakeProcess()).runAndWait(ct_node, None, Options(mode="preview"), pollSeconds=0)
    other = slicer.util.addVolumeFromArray(np.zeros((4, 5, 6, 3), np.uint8), nodeClassName="vtkMRMLVectorVolumeNode")
    for bad, preset, message in ((None, "bone", "colorize the scan first"), (colour, "skin", "unknown 3-D preset"),
                                 (other, "bone", "not made from this scan")):
        with pytest.raises(MedColorError, match=message):
            logic.start3D(ct_node, bad, preset)
    with pytest.raises(MedColorError, match="unknown 3-D preset"):
        logic.start(ct_node, None, Options(), render3D="skin")
    assert process.args is None                                             # no worker started
    count = app.scene.GetNumberOfNodes()
    logic.start3D(ct_node, colour, "bone")
    with pytest.raises(MedColorError, match="already working"):
        logic.start(ct_node, None, Options())
    logic.cancel()
    assert process.killed and not logic.isRunning() and app.scene.GetNumberOfNodes() == count
    assert not Path(process.job["output"]).parent.exists()
    for n in (colour, other):
        app.scene.RemoveNode(n)


def test_bad_input_refused_before_any_process(app):
    import slicer

    process = FakeProcess()
    logic = ColorizationLogic(process=process)
    label = slicer.util.addVolumeFromArray(np.zeros((4, 4, 4), np.uint8), nodeClassName="vtkMRMLLabelMapVolumeNode")
    count = app.scene.GetNumberOfNodes()
    for node in (None, label):
        with pytest.raises(MedColorError):
            logic.start(node, None, Options())
    assert process.args is None and app.scene.GetNumberOfNodes() == count
    app.scene.RemoveNode(label)


def test_options_and_window_from_parameters(tmp_path):
    (tmp_path / "vgg.pth").write_bytes(b"checked by the engine's resolver, not here")
    p = SimpleNamespace(mode="paper", weights="file", weightsFile=tmp_path / "vgg.pth", device="cpu", size=128,
                        iterationsStage1=10, iterationsStage2=5, seed=4, contentWeight=1.0, colourWeight=50.0,
                        lumaWeight=1e4, lumaL1=0.5, swapWeight=10.0, tvWeight=1e-3, matchWeight=1e5,
                        windowPreset="custom", windowMin=-100.0, windowMax=200.0)
    options = optionsFromParameters(p)
    assert (options.mode, options.weights, options.iterations, options.seed) == ("paper", str(tmp_path / "vgg.pth"),
                                                                                 (10, 5), 4)
    assert options.loss.colour == 50.0 and options.loss.luma_l1 == 0.5
    assert windowFromParameters(p) == (-100.0, 200.0)
    assert windowFromParameters(SimpleNamespace(windowPreset="auto")) is None
    with pytest.raises(MedColorError, match="window"):
        windowFromParameters(SimpleNamespace(windowPreset="custom", windowMin=5.0, windowMax=5.0))
    with pytest.raises(MedColorError, match="mode"):
        optionsFromParameters(SimpleNamespace(**{**vars(p), "mode": "fast"}))


def test_weights_import_checks_hash_and_clear_removes(tmp_path):
    install = InstallLogic(confirm=lambda text: False, weightsFolder=tmp_path / "checkpoints")
    assert not install.hasImagenetWeights() and not install.confirmImagenetDownload()
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(b"not vgg")
    with pytest.raises(MedColorError, match="hash"):
        install.importWeightsFile(wrong)
    assert install.clearWeights() == []
    install.imagenetWeightsPath().parent.mkdir(parents=True)
    install.imagenetWeightsPath().write_bytes(b"x")
    assert install.hasImagenetWeights() and install.confirmImagenetDownload()
    assert install.clearWeights() == [tmp_path / "checkpoints" / IMAGENET_WEIGHTS_FILE]


def test_requirements_file_excludes_torch():
    requirements = readRequirements()
    names = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in requirements}
    assert names and not names & {"torch", "torchvision"}
    assert missingRequirements(["numpy", "surely-not-installed-medcolor-x"]) == ["surely-not-installed-medcolor-x"]


def test_worker_options_round_trip_through_json():
    from MedColorLib.slicer.worker import options_from_dict

    options = Options(mode="paper", iterations=(7, 3), seed=9)
    assert options_from_dict(json.loads(json.dumps(options.as_dict()))) == options
    with pytest.raises(MedColorError):
        options_from_dict({"colours": 3})


def test_signal_block_and_disconnect():
    signal, got = Signal("int"), []
    signal.connect(got.append)
    signal.emit(1)
    signal.blockSignals(True)
    signal.emit(2)
    signal.blockSignals(False)
    signal.disconnect(got.append)
    signal.emit(3)
    assert got == [1]


def test_worker_process_reads_json_lines_and_kills_tree(tmp_path):
    script = ("import json,sys,time,subprocess\n"
              "child=subprocess.Popen([sys.executable,'-c','import time; time.sleep(60)'])\n"
              "open(sys.argv[1],'w').write(str(child.pid))\n"
              "print('stray output'); print(json.dumps({'stage':'s','done':1,'total':2}), flush=True)\n"
              "time.sleep(60)\n")
    process = WorkerProcess()
    process.start([sys.executable, "-c", script, str(tmp_path / "child.pid")])
    events = []
    for _ in range(100):
        events += process.readEvents()
        if events:
            break
        process.wait(0.05)
    assert events == [{"stage": "s", "done": 1, "total": 2}] and process.isRunning()
    child = int((tmp_path / "child.pid").read_text())
    process.kill()
    assert not process.isRunning()
    assert subprocess.run(["kill", "-0", str(child)], capture_output=True).returncode != 0 or _zombie(child)


def _zombie(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" in status.read_text()


def test_real_worker_subprocess_end_to_end(app, small_ct, visible_woman, tmp_path, monkeypatch):
    # Slicer's working directory holds a broken MedColorLib: ``python -m`` would import it first (issue 21 point 7)
    (tmp_path / "MedColorLib").mkdir()
    (tmp_path / "MedColorLib" / "__init__.py").write_text("raise ImportError('the shadow in the working directory')\n")
    monkeypatch.chdir(tmp_path)
    logic = ColorizationLogic(pythonExecutable=sys.executable)
    seen = collect(logic)
    options = Options(mode="preview", weights="random", device="cpu", size=64, iterations=(3, 2), seed=0)
    count = app.scene.GetNumberOfNodes()
    node = logic.runAndWait(small_ct, None, options, reference=visible_woman, pollSeconds=0.1, render3D="bone")
    assert seen["progress"] and all(p.total >= p.done >= 0 for p in seen["progress"])
    assert app.scene.GetNumberOfNodes() > count
    assert np.array_equal(mrml.ijk_to_ras(node), mrml.ijk_to_ras(small_ct))
    rgba = mrml.array_from_node(node)
    assert rgba.shape == mrml.array_from_node(small_ct).shape + (3,)
    assert node.GetAttribute("MedColor.seed") == "0" and node.GetAttribute("MedColor.weights")
    # the 3-D colour made by the same worker run, from its RGBA result: what Show in 3D would make from the scene's RGB
    from MedColorLib.slicer.volume_rendering import current_render_volume, render_rgba
    render = current_render_volume(node, "bone")
    assert render is not None and np.array_equal(mrml.array_from_node(render), render_rgba(small_ct, node, "bone"))
    app.scene.RemoveNode(render)
    app.scene.RemoveNode(node)


def test_real_worker_makes_the_same_render_volume_as_this_process(app, small_ct):
    """The render job in a real worker subprocess gives the bytes pipeline.render3d gives here."""
    from MedColorLib.slicer.volume_rendering import current_render_volume, render_rgba

    colour = ColorizationLogic(process=FakeProcess()).runAndWait(small_ct, None, Options(mode="preview"),
                                                                 pollSeconds=0)
    logic = ColorizationLogic(pythonExecutable=sys.executable)
    seen = collect(logic)
    rendered = []
    logic.rendered3D.connect(rendered.append)
    logic.start3D(small_ct, colour, "endoscopy")
    while logic.poll():
        import time
        time.sleep(0.1)
    assert seen["errors"] == [] and rendered == [colour]
    assert [p.stage for p in seen["progress"]][-1] == "3-D colour"
    render = mrml.array_from_node(current_render_volume(colour, "endoscopy"))
    assert render.dtype == np.uint16 and np.array_equal(render, render_rgba(small_ct, colour, "endoscopy"))
    for node in (current_render_volume(colour, "endoscopy"), colour):
        app.scene.RemoveNode(node)


@pytest.mark.slow  # waits for torch, VGG19 and a first L-BFGS step in the worker (~20 s on 2 cores)
def test_real_worker_cancel_after_progress_leaves_nothing(app, small_ct, visible_woman):
    import time

    logic = ColorizationLogic(pythonExecutable=sys.executable)
    seen = collect(logic)
    options = Options(mode="paper", weights="random", device="cpu", size=64, iterations=(500, 500), seed=0)
    count = app.scene.GetNumberOfNodes()
    logic.start(small_ct, None, options, reference=visible_woman)
    folder = logic._job.folder
    deadline = time.monotonic() + 120
    while not seen["progress"] and logic.poll() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert seen["progress"] and logic.isRunning(), "the worker should still be optimising"
    logic.cancel()
    assert not folder.exists() and not logic.isRunning()
    assert app.scene.GetNumberOfNodes() == count and seen["nodes"] == []


@pytest.mark.parametrize("job", [{"input": "missing.nrrd", "output": "out.nrrd"},
                                 {"task": "render3d", "input": "missing.nrrd", "output": "out.nrrd", "preset": "bone"}])
def test_worker_module_reports_bad_job_with_exit_2(tmp_path, job):
    path = tmp_path / "job.json"
    path.write_text(json.dumps({key: str(tmp_path / value) if key in ("input", "output") else value
                                for key, value in job.items()}))
    run = subprocess.run([sys.executable, "-m", "MedColorLib.slicer.worker", str(path)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert run.returncode == 2
    error = json.loads(run.stdout.strip().splitlines()[-1])["error"]
    assert ("no 'colour'" in error) == (job.get("task") == "render3d")
    assert not (tmp_path / "out.nrrd").exists()


def test_library_is_built_once_and_grows_with_added_references(tmp_path, data_dir, monkeypatch):
    from MedColorModuleLib.ColorizationLogic import (addReferenceToLibrary, ensureLibrary, libraryFolderFromParameters,
                                                     usedReferencePath)
    from MedColorLib.reference.index import load_library

    folder = ensureLibrary(tmp_path / "lib")
    library = load_library(folder)
    assert {"pseudo", "real"} <= set(library.sets())
    stamp = (folder / "medcolor-library.json").stat().st_mtime_ns
    assert ensureLibrary(folder) == folder and (folder / "medcolor-library.json").stat().st_mtime_ns == stamp
    added = addReferenceToLibrary(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png", folder, "user")
    assert added == folder / "user" / "itk_VisibleWomanHeadSlice.png"
    assert [e.path for e in load_library(folder).entries if e.set == "user"] == ["user/itk_VisibleWomanHeadSlice.png"]
    before = len(load_library(folder).entries)
    with pytest.raises(MedColorError, match="gray"):
        addReferenceToLibrary(data_dir / "mri" / "itk_BrainT1Slice.png", folder, "user")
    assert len(load_library(folder).entries) == before and not (folder / "user" / "itk_BrainT1Slice.png").exists()
    node = SimpleNamespace(GetAttribute=lambda key: json.dumps({"path": str(added)}))
    assert usedReferencePath(node) == str(added)
    assert usedReferencePath(SimpleNamespace(GetAttribute=lambda key: None)) is None
    # the panel's folder: an unset path (Slicer gives "" or ".") means the default library
    assert libraryFolderFromParameters(SimpleNamespace(libraryFolder=folder)) == folder
    assert libraryFolderFromParameters(SimpleNamespace(libraryFolder=Path("."))) is None
    assert libraryFolderFromParameters(SimpleNamespace(libraryFolder="")) is None


def test_job_carries_the_library_and_its_set(app, ct_node, tmp_path):
    process = FakeProcess()
    logic = ColorizationLogic(process=process, pythonExecutable="python-for-test")
    logic.start(ct_node, None, Options(mode="preview", device="cpu"), library=tmp_path, librarySet="real")
    assert process.job["library"] == str(tmp_path) and process.job["library_set"] == "real"
    logic.cancel()


def test_mode_schedule_refine_checkbox_and_custom_iterations():
    p = SimpleNamespace(mode="volume", weights="random", device="cpu", size=128, iterationsStage1=1000,
                        iterationsStage2=1000, seed=0, contentWeight=1.0, colourWeight=100.0, lumaWeight=1e4,
                        lumaL1=0.0, swapWeight=10.0, tvWeight=1e-3, matchWeight=1e5, customIterations=False)
    assert optionsFromParameters(p).iterations == (0, 0)            # the correspondence alone
    refined = optionsFromParameters(SimpleNamespace(**{**vars(p), "refine": True}))
    assert refined.iterations == (100, 100) and refined.refine
    assert optionsFromParameters(SimpleNamespace(**{**vars(p), "customIterations": True})).iterations == (1000, 1000)
    paper = SimpleNamespace(**{**vars(p), "mode": "paper", "refine": True})   # the checkbox is volume mode's only
    assert optionsFromParameters(paper).iterations == (1000, 1000) and not optionsFromParameters(paper).refine


def test_panel_region_reaches_the_job_and_the_worker_retrieves_within_it(app, small_ct, data_dir, tmp_path):
    """The panel's region field (regionFromParameters) travels in the job; the real worker code (run_job, preview
    mode: no network) then takes the library reference of that region and says why."""
    import io

    from PIL import Image

    from MedColorModuleLib.ColorizationLogic import regionFromParameters
    from MedColorLib.reference.index import index_library
    from MedColorLib.slicer.worker import run_job

    assert regionFromParameters(SimpleNamespace(region="auto")) is None
    assert regionFromParameters(SimpleNamespace(region="Pelvis")) == "pelvis"
    with pytest.raises(MedColorError, match="not a body region"):
        regionFromParameters(SimpleNamespace(region="liver"))
    process = FakeProcess()
    logic = ColorizationLogic(process=process, pythonExecutable="python-for-test")
    logic.start(small_ct, None, Options(mode="preview", device="cpu"), library=tmp_path, region="pelvis")
    assert process.job["region"] == "pelvis"
    logic.cancel()
    logic.start(small_ct, None, Options(mode="preview", device="cpu"), library=tmp_path)
    assert process.job["region"] is None
    logic.cancel()

    photo = np.asarray(Image.open(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png").convert("RGB"))
    library = tmp_path / "lib"
    (library / "pseudo").mkdir(parents=True)
    for region, picture in (("chest", photo), ("abdomen", photo[:, ::-1])):
        Image.fromarray(np.ascontiguousarray(picture)).save(library / "pseudo" / f"{region}.png")
        (library / "pseudo" / f"{region}.png.json").write_text(json.dumps(
            {"set": "pseudo", "tags": {"modality": "CT", "region": region}}))
    index_library(library)
    mrml.write_volume_node(small_ct, tmp_path / "in.nrrd")
    for region in ("chest", "abdomen"):
        stream = io.StringIO()
        run_job({"input": str(tmp_path / "in.nrrd"), "output": str(tmp_path / f"{region}.nrrd"),
                 "library": str(library), "region": region,
                 "options": Options(mode="preview", device="cpu", size=64).check().as_dict()}, stream)
        reference = json.loads(stream.getvalue().strip().splitlines()[-1])["report"]["reference"]
        assert Path(reference["path"]).name == f"{region}.png" and reference["reference_tags"]["region"] == region
        assert reference["why"].startswith(f"region {region} (given by the user")


def test_panel_default_library_folder_is_the_command_lines(monkeypatch, tmp_path):
    from MedColorModuleLib.ColorizationLogic import defaultLibraryFolder
    from MedColorLib.reference.default_library import default_library_dir

    monkeypatch.setenv("MEDCOLOR_LIBRARY", str(tmp_path / "shared-library"))
    assert defaultLibraryFolder() == default_library_dir() == tmp_path / "shared-library"
    monkeypatch.delenv("MEDCOLOR_LIBRARY")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert defaultLibraryFolder() == default_library_dir() == tmp_path / ".medcolor" / "library"
