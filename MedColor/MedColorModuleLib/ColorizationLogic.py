"""The module's computation, without Qt: nodes in, a colour node out, through ``MedColorLib``.

Two ways to run: ``process`` (blocking, in this process: scripts, tests) and ``start``/``poll``/``cancel``
(a worker process; the widget polls it from a timer). Nodes are created or changed only when a run
succeeds; an error or a cancel leaves the scene as it was.

>>> logic = ColorizationLogic()
>>> logic.finished.connect(lambda node: print(node.GetName()))
>>> logic.start(inputNode, None, Options(mode="preview"))
>>> while logic.poll(): time.sleep(0.2)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from MedColorLib.slicer import mrml, volume_rendering
from MedColorLib.errors import CancelledError, MedColorError
from MedColorLib.options import LossWeights, Options
from MedColorLib.types import Progress

from .Process import ProcessProtocol, WorkerProcess
from .Signal import Signal

CUSTOM_WINDOW = "custom"
EXIT_GRACE_SECONDS = 30.0  # after its result line the worker gets this long to exit before it is killed
WEIGHTS_CHOICES = ("auto", "imagenet", "medical", "file", "random")


@dataclass
class _Job:
    """One running worker: its folder and the nodes it will fill."""

    folder: Path
    inputNode: Any
    outputNode: Any
    name: str
    output: Path
    result: dict | None = None  # the worker's last line, kept while it exits
    resultSince: float = field(default=0.0)
    exitedSince: float = field(default=0.0)
    preset3D: str | None = None  # the render volume the worker makes for this preset (a "render3d" job: only it)
    task: str = "colorize"


def pythonSlicerExecutable(which=shutil.which, executable: str | None = None, insideSlicer: bool | None = None) -> str:
    """PythonSlicer (sets Slicer's library paths), found as Slicer's own executePythonModule does.

    Inside Slicer ``sys.executable`` is not a plain interpreter, so a missing PythonSlicer is an error there;
    in a PythonSlicer console it sits next to ``python-real``; in a plain Python (tests) this interpreter runs."""
    found = which("PythonSlicer")
    if found:
        return found
    executable = sys.executable if executable is None else executable
    if executable:
        candidate = Path(executable).with_name("PythonSlicer" + (".exe" if os.name == "nt" else ""))
        if candidate.is_file():
            return str(candidate)
    if insideSlicer is None:
        insideSlicer = hasattr(sys.modules.get("slicer"), "app")
    if insideSlicer:
        raise MedColorError("PythonSlicer executable not found on PATH: MedColor runs its worker with it; "
                            "reinstall Slicer or start it from its launcher")
    return executable


def pathOrNone(value: Any) -> Path | None:
    """A panel path, or None when unset: parameterNodeWrapper stores an unset Path as Path('.'), which is truthy."""
    return Path(value) if value is not None and str(value) not in ("", ".") else None


def libraryPath() -> str:
    """The folder that holds the ``MedColorLib`` package (for the worker's PYTHONPATH)."""
    import MedColorLib

    return str(Path(MedColorLib.__file__).resolve().parent.parent)


def optionsFromParameters(p: Any) -> Options:
    """Engine Options from a parameter node (any object with the MedColorParameterNode fields)."""
    weights = weightsFromParameters(p)
    loss = LossWeights(content=p.contentWeight, colour=p.colourWeight, luma=p.lumaWeight, luma_l1=p.lumaL1,
                       swap=p.swapWeight, tv=p.tvWeight, match=p.matchWeight)
    iterations = (int(p.iterationsStage1), int(p.iterationsStage2)) if getattr(p, "customIterations", True) else None
    refine = bool(getattr(p, "refine", False)) and _value(p.mode) == "volume"
    return Options(mode=_value(p.mode), weights=weights, device=_value(p.device), size=int(p.size),
                   iterations=iterations, seed=int(p.seed), loss=loss, refine=refine).check()


def weightsFromParameters(p: Any) -> str:
    """The weights string for Options (the resolver's names, or a file path); an unset or missing file is refused."""
    choice = _value(p.weights)
    if choice not in WEIGHTS_CHOICES:
        raise MedColorError(f"unknown weights choice '{choice}': choose one of {', '.join(WEIGHTS_CHOICES)}")
    if choice != "file":
        return choice
    path = pathOrNone(getattr(p, "weightsFile", None))
    if path is None:
        raise MedColorError("weights 'file' is chosen but no weights file is set: choose the file")
    if not path.is_file():
        raise MedColorError(f"weights file not found: {path}")
    return str(path)


def defaultLibraryFolder() -> Path:
    """The per-user reference library, the command line's too: $MEDCOLOR_LIBRARY, else ~/.medcolor/library."""
    from MedColorLib.reference.default_library import default_library_dir
    return default_library_dir()


def regionFromParameters(p: Any) -> str | None:
    """The body region chosen in the panel for the automatic reference, or None for "auto" (decided by the worker)."""
    from MedColorLib.reference.regions import check_region
    region = str(_value(getattr(p, "region", "auto")) or "auto").strip().lower()
    return None if region == "auto" else check_region(region)


def libraryFolderFromParameters(p: Any) -> Path | None:
    """The library folder chosen in the panel, or None for the default (an unset path reads as "" or ".")."""
    return pathOrNone(getattr(p, "libraryFolder", None))


def ensureLibrary(folder: Path | None = None) -> Path:
    """The library folder, building MedColor's default library there on first use (no download)."""
    from MedColorLib.reference.index import INDEX_NAME
    from MedColorLib.reference.default_library import build_default_library, ensure_default_library
    if not folder:  # the per-user default: built once, rebuilt when MedColor's default library grows
        ensure_default_library(defaultLibraryFolder(), note=lambda line: logging.warning("MedColor: %s", line))
        return defaultLibraryFolder()
    folder = Path(folder)
    if not (folder / INDEX_NAME).is_file():
        library = build_default_library(folder)
        for target, why in library.skipped:  # e.g. nilearn missing: the pseudo set is smaller, say so
            logging.warning("MedColor: default library: skipped %s: %s", target, why)
    return folder


def addReferenceToLibrary(imagePath: Path, folder: Path | None = None, setName: str = "user") -> Path:
    """Copy a colour reference into the library's ``setName`` folder and re-index; returns the copy.

    A gray or unreadable image raises MedColorError and leaves the library unchanged."""
    from MedColorLib.reference.index import index_library
    from MedColorLib.io.images import load_reference
    load_reference(imagePath)  # checks colour and size before anything is copied
    folder = ensureLibrary(folder)
    target = folder / setName / Path(imagePath).name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(imagePath, target)
    index_library(folder)
    return target


def _usedReference(outputNode) -> dict:
    """The ``reference`` record of a finished run's provenance on its output node ({} when absent or unreadable)."""
    raw = outputNode.GetAttribute("MedColor.reference") if outputNode is not None else None
    try:
        record = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def usedReferenceWhy(outputNode) -> str | None:
    """Why a finished run used its reference (region, how it was decided, D-hash), from the output's provenance."""
    why = _usedReference(outputNode).get("why")
    return str(why) if why else None


def usedReferencePath(outputNode) -> str | None:
    """The reference image a finished run used, from the output node's provenance (None if not a file)."""
    path = _usedReference(outputNode).get("path")
    return path if path and Path(path).is_file() else None


def windowFromParameters(p: Any) -> str | tuple[float, float] | None:
    """The pipeline's window argument: None (automatic), a preset name, or (low, high)."""
    preset = _value(p.windowPreset)
    if preset == "auto":
        return None
    if preset == CUSTOM_WINDOW:
        if not p.windowMin < p.windowMax:
            raise MedColorError(f"intensity window {p.windowMin:g}..{p.windowMax:g} is empty: low must be below high")
        return (float(p.windowMin), float(p.windowMax))
    return preset


def _checkPreset(preset: str) -> None:
    from MedColorLib.pipeline.render3d import PRESET_NAMES

    if preset not in PRESET_NAMES:
        raise MedColorError(f"unknown 3-D preset {preset!r}; choose one of {', '.join(PRESET_NAMES)}")


def _value(choice: Any) -> Any:
    return getattr(choice, "value", choice)


class ColorizationLogic:
    """Runs colorizations; reports through ``progressInfo``, ``errorOccurred`` and ``finished`` signals."""

    def __init__(self, process: ProcessProtocol | None = None, pythonExecutable: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)  # cooperative: MedColorLogic puts ScriptedLoadableModuleLogic next in the MRO
        self.progressInfo = Signal("Progress")
        self.errorOccurred = Signal("str")
        self.finished = Signal("vtkMRMLVectorVolumeNode")
        self.rendered3D = Signal("vtkMRMLVectorVolumeNode")  # a start3D job is done: its colour volume can be shown
        self._process = process or WorkerProcess()
        self._pythonExecutable = pythonExecutable or pythonSlicerExecutable()
        self._job: _Job | None = None

    # ------------------------------------------------------------ blocking
    def process(self, inputNode, outputNode=None, options: Options | None = None, *, reference=None,
                library: Path | None = None, librarySet: str | None = None, window=None, name: str | None = None,
                progress=None, cancel=None):
        """Colorize in this process (blocking); return the output node. Raises MedColorError on bad input."""
        return mrml.run_colorization(inputNode, outputNode, options, reference=self._referenceArray(reference),
                                     library=library, library_set=librarySet, window=window, name=name,
                                     progress=progress, cancel=cancel)

    # ------------------------------------------------------------ worker process
    def isRunning(self) -> bool:
        return self._job is not None

    def start(self, inputNode, outputNode=None, options: Options | None = None, *, reference=None,
              library: Path | None = None, librarySet: str | None = None, window=None, name: str | None = None,
              region: str | None = None, render3D: str | None = None) -> None:
        """Check the input, write it to a job folder and start the worker; returns at once. ``region``: the body
        region the library reference is chosen for (None: decided by the worker from DICOM or the volume).
        ``render3D``: a 3-D preset; the worker then also makes the render volume, so Show in 3-D is immediate."""
        self._checkIdle()
        mrml.check_input_node(inputNode)
        if outputNode is not None and not outputNode.IsA("vtkMRMLVectorVolumeNode"):
            raise MedColorError("the output must be a vector (colour) volume node")
        options = (options or Options()).check()
        if render3D is not None:
            _checkPreset(render3D)
        self._startWorker(lambda folder: self._writeJob(folder, inputNode, options, self._referenceArray(reference),
                                                        library, librarySet, window, region, render3D),
                          options, lambda folder, job: _Job(folder, inputNode, outputNode,
                                                            name or f"{inputNode.GetName()} colour",
                                                            Path(job["output"]), preset3D=render3D))

    def start3D(self, inputNode, colourNode, preset: str = "endoscopy") -> None:
        """Make the 3-D render volume of (scan, colour volume) for ``preset`` in the worker; returns at once.
        ``rendered3D`` is emitted with the colour volume when the render volume is in the scene."""
        self._checkIdle()
        mrml.check_input_node(inputNode)
        if colourNode is None or colourNode.GetScene() is None or colourNode.GetImageData() is None:
            raise MedColorError("no colour volume: colorize the scan first")
        _checkPreset(preset)
        if colourNode.GetImageData().GetDimensions() != inputNode.GetImageData().GetDimensions():
            raise MedColorError("the colour volume was not made from this scan (their sizes differ)")
        colour = mrml.array_from_node(colourNode)

        def write(folder: Path) -> dict:
            np.save(folder / "colour.npy", colour)
            job = {"task": "render3d", "input": str(mrml.write_volume_node(inputNode, folder / "input.nrrd")),
                   "colour": str(folder / "colour.npy"), "output": str(folder / "render.npy"), "preset": preset,
                   "modality": mrml.dicom_modality(inputNode) or None}
            (folder / "job.json").write_text(json.dumps(job, indent=1))
            return job

        self._startWorker(write, Options(device="cpu"),
                          lambda folder, job: _Job(folder, inputNode, colourNode, colourNode.GetName(),
                                                   Path(job["output"]), preset3D=preset, task="render3d"))

    def _checkIdle(self) -> None:
        if self.isRunning():
            raise MedColorError("MedColor is already working (colour or 3-D): wait for it or cancel it")

    def _startWorker(self, writeJob, options: Options, makeJob) -> None:
        folder = Path(tempfile.mkdtemp(prefix="MedColor-"))
        try:
            job = writeJob(folder)
            # cwd: ``python -m`` puts the working directory first on sys.path, and Slicer's may hold anything
            self._process.start([self._pythonExecutable, "-m", "MedColorLib.slicer.worker", str(folder / "job.json")],
                                env=self._workerEnvironment(options), stderrPath=str(folder / "stderr.txt"),
                                cwd=str(folder))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._job = makeJob(folder, job)

    def _writeJob(self, folder: Path, inputNode, options: Options, reference, library, librarySet, window,
                  region: str | None = None, render3D: str | None = None) -> dict:
        job = {"input": str(mrml.write_volume_node(inputNode, folder / "input.nrrd")),
               "output": str(folder / "output.nrrd"), "options": options.as_dict(),
               "reference": None, "library": str(library) if library else None, "library_set": librarySet,
               "window": list(window) if isinstance(window, tuple) else window,
               "modality": mrml.dicom_modality(inputNode) or None, "region": region,
               "rgb": True,  # the scene gets RGB: mrml.without_alpha
               "render3d": render3D, "render_output": str(folder / "render.npy") if render3D else None}
        if reference is not None:
            np.save(folder / "reference.npy", np.asarray(reference, dtype=np.float32))
            job["reference"] = str(folder / "reference.npy")
        (folder / "job.json").write_text(json.dumps(job, indent=1))
        return job

    @staticmethod
    def _workerEnvironment(options: Options) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (libraryPath(), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"  # the pipe is read as UTF-8 (Windows would write the ANSI code page)
        if options.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = "-1"
        return env

    @staticmethod
    def _referenceArray(reference):
        """A reference given as a node becomes an array; arrays and file paths pass through."""
        if reference is not None and hasattr(reference, "GetImageData"):
            return mrml.reference_from_node(reference)
        if isinstance(reference, (str, Path)):
            from MedColorLib.io.images import load_reference

            return load_reference(reference)
        return reference

    def poll(self) -> bool:
        """Handle the worker's new output (emits signals); return True while it still runs."""
        if self._job is None:
            return False
        running = self._process.isRunning()
        pending = not running and getattr(self._process, "outputPending", lambda: False)()
        result = self._job.result
        for event in self._process.readEvents():
            if "stage" in event:
                self.progressInfo.emit(Progress(str(event["stage"]), int(event.get("done", 0)),
                                                int(event.get("total", 0)), str(event.get("message", ""))))
            elif "error" in event:
                result = event
            elif "result" in event:
                result = event
        if running and result is None:
            return True
        if pending and result is None and self._drainingSince() < EXIT_GRACE_SECONDS:
            return True  # exited: its last lines are still in the pipe (read by the thread, polled again)
        if running and self._waitForExit(result):
            return True
        self._finish(result)
        return False

    def _drainingSince(self) -> float:
        """Seconds since the worker was first seen exited with output still pending."""
        job = self._job
        if not job.exitedSince:
            job.exitedSince = time.monotonic()
        return time.monotonic() - job.exitedSince

    def _waitForExit(self, result: dict) -> bool:
        """After its last line the worker is let exit on its own for a while (polled, never waited on)."""
        job = self._job
        if job.result is None:
            job.result, job.resultSince = result, time.monotonic()
        if time.monotonic() - job.resultSince < EXIT_GRACE_SECONDS:
            return True
        self._process.kill()  # it printed its result but hangs on exit
        return False

    def _finish(self, event: dict | None) -> None:
        job, self._job = self._job, None
        if self._process.isRunning():
            self._process.kill()
        try:
            if event is None or "error" in event:
                raise MedColorError(event["error"] if event else self._workerFailure(job))
            node = (self._store3D if job.task == "render3d" else self._store)(job, event)
        except Exception as exc:  # a timer slot: anything that escapes here is lost without a dialog
            self._reportFailure(exc)
        else:
            (self.rendered3D if job.task == "render3d" else self.finished).emit(node)
        finally:
            self._cleanUp(job)

    def _reportFailure(self, exc: Exception) -> None:
        """One line for the user (errorOccurred); the traceback of anything unexpected goes to the log."""
        expected = isinstance(exc, (MedColorError, CancelledError, OSError))
        if expected:
            message = str(exc)
        elif isinstance(exc, MemoryError):
            message = ("not enough memory to load the result into the scene: close other volumes, or colorize a "
                       "smaller or cropped volume")
        else:
            message = f"loading the result failed: {type(exc).__name__}: {exc}"
        logging.error("MedColor: %s", message, exc_info=not expected)
        self.errorOccurred.emit(message)

    def _store(self, job: _Job, event: dict):
        if job.inputNode.GetScene() is None:
            raise MedColorError("the input volume was removed from the scene during the run")
        outputNode = job.outputNode
        if outputNode is not None and outputNode.GetScene() is None:  # deleted meanwhile: never fill a dangling node
            logging.warning("MedColor: the output volume was removed during the run; the result goes to a new volume")
            outputNode = None
        image = mrml.read_color_image(event["result"])  # one copy in memory: the file's voxels become the node's
        node = mrml.store_result(job.inputNode, image, event.get("report"), outputNode, job.name)
        volume_rendering.mark_render_stale(node)   # made from the colour volume this run replaced
        if event.get("render"):
            self._storeRender(job, node, event["render"])
        return node

    def _store3D(self, job: _Job, event: dict):
        """A render3d job: its render volume into the scene; returns the colour volume it was made from."""
        for node, what in ((job.inputNode, "input volume"), (job.outputNode, "colour volume")):
            if node.GetScene() is None:
                raise MedColorError(f"the {what} was removed from the scene while the 3-D colour was being made")
        self._storeRender(job, job.outputNode, event["result"])
        return job.outputNode

    @staticmethod
    def _storeRender(job: _Job, colourNode, path: str) -> None:
        volume_rendering.store_render_volume(colourNode.GetScene(), job.inputNode, colourNode, job.preset3D,
                                             np.load(path, allow_pickle=False))

    def _workerFailure(self, job: _Job) -> str:
        code = self._process.returnCode()
        lines = (job.folder / "stderr.txt").read_text(errors="replace").strip().splitlines() \
            if (job.folder / "stderr.txt").is_file() else []
        return f"the MedColor worker stopped (exit status {code}){': ' + lines[-1] if lines else ''}"

    def _cleanUp(self, job: _Job) -> None:
        if hasattr(self._process, "close"):
            self._process.close()
        shutil.rmtree(job.folder, ignore_errors=True)

    def cancel(self) -> None:
        """Kill the worker and its children; nothing is added to the scene; the job folder is removed."""
        job, self._job = self._job, None
        if job is None:
            return
        self._process.kill()
        self._process.readEvents()
        self._cleanUp(job)

    def runAndWait(self, *args, pollSeconds: float = 0.2, **kwargs):
        """``start`` then poll until done (scripts/tests); return the output node or raise MedColorError."""
        import time

        outcome: dict[str, Any] = {}
        onDone, onError = (lambda node: outcome.update(node=node)), (lambda text: outcome.update(error=text))
        self.finished.connect(onDone)
        self.errorOccurred.connect(onError)
        try:
            self.start(*args, **kwargs)
            while self.poll():
                time.sleep(pollSeconds)
        finally:
            self.finished.disconnect(onDone)
            self.errorOccurred.disconnect(onError)
        if "error" in outcome:
            raise MedColorError(outcome["error"])
        return outcome.get("node")
