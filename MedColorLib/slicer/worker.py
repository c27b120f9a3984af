"""Out-of-process colorization for the Slicer module: ``python -m MedColorLib.slicer.worker JOB.json``.

JOB.json: ``{"input": path, "output": path, "options": Options.as_dict(), "reference": path|null
(.npy float RGB or an image file), "library": path|null, "window": "preset"|[low, high]|null,
"modality": "CT"|"MR"|...|null (the DICOM Modality, which the input file does not carry), "region": a body region
(``reference.regions.REGIONS``) the library reference is chosen for, or null (decided from the volume), "rgb": bool}``.
With ``"render3d": preset`` and ``"render_output": path.npy`` it also writes the 3-D render volume
(pipeline.render3d) of the result for that preset, and the result line names it (``"render"``).
``{"task": "render3d", "input": scalar volume, "colour": colour volume .npy (K, J, I, 3|4) uint8, "output": path.npy,
"preset": name, "modality"}`` makes only the render volume (Show in 3-D on an existing colour volume).
stdout carries one JSON object per line: ``{"stage", "done", "total", "message"}`` progress events, then
``{"result": output path, "report": {...}}`` (exit 0) or ``{"error": one-line message}`` (exit 1; 2 for
bad input). The output is written to a temporary name and renamed, so a killed worker leaves no output.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from MedColorLib.errors import CancelledError, MedColorError
from MedColorLib.options import LossWeights, Options
from MedColorLib.types import Progress


def emit(event: dict, stream: TextIO | None = None) -> None:
    """Print one JSON line and flush (the parent reads it live)."""
    stream = stream or sys.stdout
    stream.write(json.dumps(event, default=str) + "\n")
    stream.flush()


def options_from_dict(values: dict[str, Any] | None) -> Options:
    """Options from ``Options.as_dict()`` output (lists back to tuples, nested loss weights)."""
    values = dict(values or {})
    loss = values.pop("loss", None) or {}
    if "colour_layers" in loss:
        loss["colour_layers"] = tuple(loss["colour_layers"])
    if "iterations" in values:
        values["iterations"] = tuple(values["iterations"])
    try:
        return Options(**values, loss=LossWeights(**loss)).check()
    except TypeError as exc:
        raise MedColorError(f"bad options in job file: {exc}") from None


def read_job(path: str | Path) -> dict:
    """Parse and check a job file."""
    path = Path(path)
    try:
        job = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MedColorError(f"cannot read job file {path}: {exc}") from None
    for key in ("input", "output") + (("colour", "preset") if job.get("task") == "render3d" else ()):
        if not job.get(key):
            raise MedColorError(f"job file {path} has no '{key}'")
    return job


def load_reference(path: str | None):
    """The reference as (H, W, 3) float RGB in [0, 1]: ``.npy`` as saved by the module, else an image file."""
    if not path:
        return None
    if str(path).endswith(".npy"):
        return np.load(path, allow_pickle=False).astype("float32")
    from MedColorLib.io.images import load_reference as load_image

    return load_image(path)


def _window(value):
    return tuple(value) if isinstance(value, list) else value


def run_job(job: dict, stream: TextIO | None = None) -> Path:
    """Read the input, colorize it with progress lines, write the output atomically; return its path."""
    from MedColorLib.pipeline.volume import colorize_volume
    from MedColorLib.io.report import flat_metadata
    from MedColorLib.io.write import write_color_volume

    output = Path(job["output"])
    options = options_from_dict(job.get("options"))
    volume = _read_input(job)
    result = colorize_volume(volume, options, reference=load_reference(job.get("reference")),
                             library=Path(job["library"]) if job.get("library") else None,
                             library_set=job.get("library_set"),
                             library_tags={"region": job["region"]} if job.get("region") else None,
                             window=_window(job.get("window")),
                             progress=lambda p: emit(_progress_event(p), stream))
    write_color_volume(output, result.rgba, volume, flat_metadata(result.report),  # atomic: temporary file, then rename
                       rgb=bool(job.get("rgb")))
    event = {"result": str(output), "report": result.report}
    if job.get("render3d") and job.get("render_output"):
        event["render"] = str(write_render(volume, result.rgba, job["render3d"], Path(job["render_output"]), stream))
    emit(event, stream)
    return output


def _read_input(job: dict):
    from MedColorLib.io.volumes import read_volume

    volume = read_volume(job["input"])
    if job.get("modality"):  # the module's NRRD has no Modality tag: without it CT vs MR is guessed from the values
        volume = dataclasses.replace(volume, modality=str(job["modality"]))
    return volume


def write_render(volume, rgba, preset: str, path: Path, stream: TextIO | None = None) -> Path:
    """The 3-D render volume of (volume, colour) for ``preset``, saved as .npy (temporary name, then renamed)."""
    from MedColorLib.io.atomic import atomic_path
    from MedColorLib.pipeline.render3d import preset_for, render_volume

    emit(_progress_event(Progress("3-D colour", 0, 1, f"3-D colour ({preset})")), stream)
    render = render_volume(volume, rgba, preset_for(volume, preset))
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:   # a handle: np.save would append .npy to tmp
        np.save(handle, render)
    emit(_progress_event(Progress("3-D colour", 1, 1, f"3-D colour ({preset})")), stream)
    return path


def run_render_job(job: dict, stream: TextIO | None = None) -> Path:
    """Only the render volume: of the scan ``input`` and its colour volume ``colour`` (.npy), for ``preset``."""
    volume = _read_input(job)
    colour = np.load(job["colour"], allow_pickle=False)
    path = write_render(volume, colour, str(job["preset"]), Path(job["output"]), stream)
    emit({"result": str(path), "render3d": job["preset"]}, stream)
    return path


def _progress_event(progress: Progress) -> dict:
    return {"stage": progress.stage, "done": progress.done, "total": progress.total, "message": progress.message}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 done, 1 failure, 2 bad input)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        emit({"error": "usage: python -m MedColorLib.slicer.worker JOB.json"})
        return 2
    try:
        job = read_job(argv[0])
        (run_render_job if job.get("task") == "render3d" else run_job)(job)
    except MedColorError as exc:
        emit({"error": str(exc)})
        return 2
    except CancelledError as exc:
        emit({"error": str(exc) or "cancelled"})
        return 1
    except MemoryError:
        emit({"error": "out of memory: try preview mode, a smaller size, or the CPU"})
        return 1
    except Exception as exc:  # the parent shows one line; the traceback goes to stderr
        import traceback

        traceback.print_exc()
        emit({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
