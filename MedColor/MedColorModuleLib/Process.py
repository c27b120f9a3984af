"""Runs the MedColor worker out of the Slicer process and reads its JSON lines; kills its whole tree.

Qt-free on purpose: a reader thread queues stdout lines, the caller drains them from the UI thread
(a ``qt.QTimer`` in the widget, a loop in scripts), so no MRML or Qt object is touched off the main thread.

>>> process = WorkerProcess(); process.start(["PythonSlicer", "-m", "MedColorLib.slicer.worker", "job.json"])
>>> events = process.readEvents()  # [{"stage": ..., "done": ..., "total": ...}, ...]
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import Protocol


class ProcessProtocol(Protocol):
    """What the logic needs from a process runner (tests inject a fake)."""

    def start(self, args: list[str], env: dict[str, str] | None = None, stderrPath: str | None = None,
              cwd: str | None = None) -> None: ...

    def readEvents(self) -> list[dict]: ...

    def isRunning(self) -> bool: ...

    def returnCode(self) -> int | None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int | None: ...


def parseLine(line: str) -> dict | None:
    """A worker stdout line as a JSON object, or None for anything else (stray prints)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


STARTF_USESHOWWINDOW = 1  # Windows STARTUPINFO.dwFlags: honour wShowWindow
SW_HIDE = 0


def hiddenConsoleKwargs(platform: str) -> dict:
    """Popen keywords that keep a console program's window hidden on Windows (as Slicer's launchConsoleProcess)."""
    if platform != "win32":
        return {}
    info = subprocess.STARTUPINFO()
    info.dwFlags |= STARTF_USESHOWWINDOW
    info.wShowWindow = SW_HIDE
    return {"startupinfo": info}


def popenKwargs(platform: str) -> dict:
    """The worker's own process group (so kill reaches PythonSlicer's child) and, on Windows, no console window."""
    if platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP, **hiddenConsoleKwargs(platform)}
    return {"start_new_session": True}


class WorkerProcess:
    """subprocess.Popen in its own process group/session, stdout read by a thread into a queue."""

    def __init__(self) -> None:
        self._popen: subprocess.Popen | None = None
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._stderr = None

    def start(self, args: list[str], env: dict[str, str] | None = None, stderrPath: str | None = None,
              cwd: str | None = None) -> None:
        if self.isRunning():
            raise RuntimeError("a MedColor worker is already running")
        self._stderr = open(stderrPath, "wb") if stderrPath else subprocess.DEVNULL
        extra = popenKwargs(sys.platform)
        # errors="replace": one undecodable byte (a stray print) must not kill the reader thread and lose the result
        self._popen = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=self._stderr, text=True, encoding="utf-8", errors="replace", bufsize=1,
                                       **extra)
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._readStdout, args=(self._popen.stdout,), daemon=True)
        self._reader.start()

    def _readStdout(self, stream) -> None:
        for line in stream:
            self._lines.put(line)

    def readEvents(self) -> list[dict]:
        """JSON events printed since the last call; never waits (lines still in the pipe: ``outputPending``)."""
        events = []
        while True:
            try:
                event = parseLine(self._lines.get_nowait())
            except queue.Empty:
                return events
            if event is not None:
                events.append(event)

    def isRunning(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def outputPending(self) -> bool:
        """True while the reader thread may still queue lines (the pipe is not closed yet)."""
        return self._reader is not None and self._reader.is_alive()

    def returnCode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        if self._popen is None:
            return None
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Kill the worker and its children (PythonSlicer is a launcher: the real Python is a child)."""
        if not self.isRunning():
            return
        pid = self._popen.pid
        if sys.platform == "win32":
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(pid)], capture_output=True, check=False,
                           **hiddenConsoleKwargs(sys.platform))
        else:
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._popen.wait(timeout=10)
        self.close()

    def close(self) -> None:
        """Release the stderr file once the process is over."""
        if hasattr(self._stderr, "close"):
            self._stderr.close()
        self._stderr = None
