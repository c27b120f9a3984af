"""Worker launch details (issue 12 points 5, 9, 10, 11): hidden Windows console, PythonSlicer lookup,
unset Path parameters, and a logic that never blocks the GUI thread on the worker.

Windows is simulated: ``subprocess.STARTUPINFO`` and ``CREATE_NEW_PROCESS_GROUP`` exist only there, so a
stand-in class records the fields; the Popen keywords are what the test checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "MedColor"))

from MedColorModuleLib import ColorizationLogic, optionsFromParameters  # noqa: E402
from MedColorModuleLib.ColorizationLogic import pathOrNone, pythonSlicerExecutable  # noqa: E402
from MedColorModuleLib.Process import hiddenConsoleKwargs, popenKwargs  # noqa: E402

from MedColorLib.errors import MedColorError  # noqa: E402
from MedColorLib.options import Options  # noqa: E402


class FakeStartupInfo:
    def __init__(self):
        self.dwFlags, self.wShowWindow = 0, 1


def test_windows_popen_hides_the_console_and_keeps_the_process_group(monkeypatch):
    monkeypatch.setattr(subprocess, "STARTUPINFO", FakeStartupInfo, raising=False)
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    kwargs = popenKwargs("win32")
    assert kwargs["creationflags"] == 0x200
    info = kwargs["startupinfo"]
    assert info.dwFlags & 1 and info.wShowWindow == 0  # STARTF_USESHOWWINDOW, SW_HIDE: as launchConsoleProcess
    assert hiddenConsoleKwargs("win32")["startupinfo"].wShowWindow == 0  # also for taskkill
    assert popenKwargs("linux") == {"start_new_session": True} and hiddenConsoleKwargs("darwin") == {}


def test_taskkill_is_started_hidden(monkeypatch):
    from MedColorModuleLib import Process

    monkeypatch.setattr(subprocess, "STARTUPINFO", FakeStartupInfo, raising=False)
    calls = []
    monkeypatch.setattr(Process.sys, "platform", "win32")
    monkeypatch.setattr(Process.subprocess, "run", lambda args, **kw: calls.append((args, kw)))
    process = Process.WorkerProcess()
    process._popen = SimpleNamespace(pid=4242, poll=lambda: None, wait=lambda timeout=None: 0)
    process.kill()
    args, kw = calls[0]
    assert args[:3] == ["taskkill", "/F", "/T"] and kw["startupinfo"].wShowWindow == 0


def test_python_slicer_lookup(tmp_path):
    assert pythonSlicerExecutable(which=lambda name: "/opt/Slicer/bin/PythonSlicer") == "/opt/Slicer/bin/PythonSlicer"
    real = tmp_path / "python-real"
    real.write_text("")
    (tmp_path / "PythonSlicer").write_text("")
    # in a PythonSlicer console sys.executable is python-real, next to the launcher
    assert pythonSlicerExecutable(lambda name: None, str(real)) == str(tmp_path / "PythonSlicer")
    with pytest.raises(MedColorError, match="PythonSlicer executable not found"):
        pythonSlicerExecutable(lambda name: None, "", insideSlicer=True)  # inside Slicer sys.executable is ""
    assert pythonSlicerExecutable(lambda name: None, "/usr/bin/python3", insideSlicer=False) == "/usr/bin/python3"


def parameters(**changes):
    values = dict(mode="preview", weights="auto", weightsFile=Path("."), device="cpu", size=64, iterationsStage1=1,
                  iterationsStage2=1, seed=0, contentWeight=1.0, colourWeight=100.0, lumaWeight=1e4, lumaL1=0.0,
                  swapWeight=10.0, tvWeight=1e-3, matchWeight=1e5, customIterations=False)
    return SimpleNamespace(**{**values, **changes})


def test_unset_weights_file_is_refused_before_anything_starts():
    # parameterNodeWrapper's PathSerializer gives Path() == Path('.') for an unset path: truthy, shows "."
    assert pathOrNone(Path(".")) is None and pathOrNone("") is None and pathOrNone(None) is None
    with pytest.raises(MedColorError, match="no weights file is set"):
        optionsFromParameters(parameters(weights="file"))
    with pytest.raises(MedColorError, match="weights file not found"):
        optionsFromParameters(parameters(weights="file", weightsFile=Path("/no/such/vgg.pth")))


@pytest.mark.parametrize("choice", ["auto", "imagenet", "medical", "random"])
def test_weights_choice_passes_unchanged_to_options(choice):
    assert optionsFromParameters(parameters(weights=SimpleNamespace(value=choice))).weights == choice


class SlowExitProcess:
    """Prints its result, then takes several polls to exit; wait() with a timeout would block, so it fails."""

    def __init__(self, pollsToExit: int):
        self.pollsToExit, self.killed, self.events = pollsToExit, False, []

    def start(self, args, env=None, stderrPath=None, cwd=None):
        self.job = json.loads(Path(args[-1]).read_text())
        self.events = [{"error": "worker said no"}]

    def readEvents(self):
        events, self.events = self.events, []
        return events

    def isRunning(self):
        self.pollsToExit -= 1
        return self.pollsToExit >= 0

    def returnCode(self):
        return 0

    def kill(self):
        self.killed = True

    def wait(self, timeout=None):
        raise AssertionError("the GUI thread must never wait on the worker")


def _started(process, node) -> tuple[ColorizationLogic, list[str]]:
    """A logic on this fake process, started in preview mode, and the list its errors go to."""
    logic = ColorizationLogic(process=process, pythonExecutable="python-for-test")
    errors = []
    logic.errorOccurred.connect(errors.append)
    logic.start(node, None, Options(mode="preview"))
    return logic, errors


def test_poll_never_waits_on_a_worker_that_is_still_exiting(app, ct_node):
    process = SlowExitProcess(pollsToExit=3)
    logic, errors = _started(process, ct_node)
    polls = 0
    while logic.poll():
        polls += 1
    assert polls >= 2 and errors == ["worker said no"] and not process.killed


def test_a_worker_that_never_exits_is_killed_after_the_grace_period(app, ct_node, monkeypatch):
    from MedColorModuleLib import ColorizationLogic as module  # noqa: F401
    import importlib

    logic_module = importlib.import_module("MedColorModuleLib.ColorizationLogic")
    monkeypatch.setattr(logic_module, "EXIT_GRACE_SECONDS", 0.0)
    process = SlowExitProcess(pollsToExit=10**6)
    logic, _ = _started(process, ct_node)
    while logic.poll():
        pass
    assert process.killed


class ExitedWithLinesInThePipe(SlowExitProcess):
    """Has exited; its reader thread delivers the result line only on the third poll."""

    def start(self, args, env=None, stderrPath=None, cwd=None):
        self.job = json.loads(Path(args[-1]).read_text())
        self.reads = 0

    def isRunning(self):
        return False

    def outputPending(self):
        return self.reads < 3

    def readEvents(self):
        self.reads += 1
        return [{"error": "last line"}] if self.reads == 3 else []


def test_lines_still_in_the_pipe_are_polled_not_waited_for(app, ct_node):
    process = ExitedWithLinesInThePipe(pollsToExit=0)
    logic, errors = _started(process, ct_node)
    while logic.poll():
        pass
    assert errors == ["last line"] and process.reads == 3
