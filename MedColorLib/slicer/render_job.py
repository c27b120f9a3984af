"""Render fly-through frames in a child process with headless Slicer: ``python -m MedColorLib.slicer.render_job
JOB.json``. ``medcolor endoscopy`` starts it, as the Slicer module starts its worker, so VTK stays in the slicer
room and an OpenGL/EGL crash becomes one error line instead of killing the command.

JOB.json: ``{"folder": dir, "scalar": "scalar.npy", "render": "render.npy", "spacing", "origin", "direction"
(LPS), "modality", "cameras": [{"position", "focal_point", "view_up", "view_angle"}], "preset", "size": [w, h],
"kinds": ["colour", "gray"]}``. Writes ``frames_<kind>.npy`` (N, H, W, 3) uint8 into the folder. stdout: JSON
progress lines ``{"stage", "done", "total", "message"}``, then ``{"result": [files]}`` or ``{"error": line}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from MedColorLib.errors import MedColorError
from MedColorLib.types import Progress, Volume


def _emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _cameras(job: dict) -> list:
    from MedColorLib.pipeline.flythrough import Camera

    return [Camera(tuple(c["position"]), tuple(c["focal_point"]), tuple(c["view_up"]), float(c["view_angle"]))
            for c in job["cameras"]]


def scalar_node(app, volume: Volume, name: str):
    """A scalar volume node holding ``volume`` (array and geometry) in the app's scene."""
    import slicer
    import vtk

    from MedColorLib.slicer import mrml

    node = slicer.util.addVolumeFromArray(np.ascontiguousarray(volume.array), name=name)
    matrix = vtk.vtkMatrix4x4()
    for r, row in enumerate(mrml.ijk_to_ras_from_volume(volume)):
        for c, value in enumerate(row):
            matrix.SetElement(r, c, float(value))
    node.SetIJKToRASMatrix(matrix)
    if volume.modality:
        node.SetAttribute("DICOM.Modality", volume.modality)
    return node


def run(job: dict) -> list[str]:
    """Render every kind of frame the job asks for; returns the files written."""
    from MedColorLib.slicer import mrml
    from MedColorLib.slicer.endoscopy import render_frames
    from MedColorLib.slicer.scene import create_headless_slicer

    folder = Path(job["folder"])
    volume = Volume(array=np.load(folder / job["scalar"]), spacing=tuple(job["spacing"]),
                    origin=tuple(job["origin"]), direction=np.asarray(job["direction"]),
                    modality=job.get("modality", ""))
    app = create_headless_slicer()
    scan = scalar_node(app, volume, "scan")
    render = None
    if "colour" in job["kinds"]:
        render = mrml.create_color_node(app.scene, np.load(folder / job["render"]), scan, "colour 3-D")
    cameras, size = _cameras(job), tuple(int(v) for v in job["size"])
    written = []
    for kind in job["kinds"]:
        frames = render_frames(app, scan, render, cameras, job["preset"], size=size, gray=kind == "gray",
                               progress=lambda p, k=kind: _emit(vars(Progress(f"render {k}", p.done, p.total,
                                                                               p.message))),
                               label=f"render {kind}")
        np.save(folder / f"frames_{kind}.npy", np.stack(frames))
        written.append(f"frames_{kind}.npy")
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        job = json.loads(Path(argv[0]).read_text())
        _emit({"result": run(job)})
        return 0
    except MedColorError as err:
        _emit({"error": str(err)})
        return 2
    except Exception as err:  # noqa: BLE001 - the parent shows one line; the type helps a bug report
        _emit({"error": f"rendering failed: {type(err).__name__}: {err}"})
        return 1


if __name__ == "__main__":
    sys.exit(main())
