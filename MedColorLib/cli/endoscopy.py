"""``medcolor endoscopy``: a virtual endoscopy movie of a colour volume along an automatic (airway, colon) or
given path; movie, contact sheet, frames and path written together or not at all."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from MedColorLib.cli.colorize import add_engine_arguments, options_from_args, use_default_library
from MedColorLib.cli.progressbar import ProgressBar
from MedColorLib.cli import validate
from MedColorLib.errors import MedColorError
from MedColorLib.types import Progress

GEOMETRY_TOLERANCE_MM = 1e-3


def add_commands(sub: argparse._SubParsersAction) -> None:
    # "resolve": the engine's optimisation --size gives way to the frame --size (WxH) below; its default stays
    p = sub.add_parser("endoscopy", help="fly a camera through the airway or colon of a colour volume (movie)",
                       conflict_handler="resolve")
    add_engine_arguments(p)
    p.add_argument("input", help="the scan: NRRD/NIfTI/MHA volume or DICOM series folder (CT for airway/colon)")
    p.add_argument("-o", "--output", required=True, help="the movie: .mp4 or .gif")
    colour = p.add_mutually_exclusive_group()
    colour.add_argument("--colour", "--color", dest="colour", help="its colour volume from `medcolor colorize` "
                        "(without it, or --library/--reference, the scan is coloured on the fly from the default "
                        "library, as colorize does)")
    colour.add_argument("--library", help="colour it on the fly from this reference library")
    colour.add_argument("--reference", help="colour it on the fly from this reference image")
    p.add_argument("--set", dest="library_set", help="library set to search (on-the-fly colour)")
    p.add_argument("--window", type=validate.window, help="intensity window for the on-the-fly colour (as colorize)")
    p.add_argument("--series", help="DICOM SeriesInstanceUID when a folder holds several")
    p.add_argument("--path", default="airway", help="airway (trachea, carina, both main bronchi) | colon | a points "
                   "file (.json list of [x, y, z] mm, {\"points_ras\": ...}, or a Slicer .mrk.json curve)")
    p.add_argument("--points-space", default="ras", choices=("ras", "lps"), help="space of a bare JSON point list")
    p.add_argument("--preset", default="endoscopy", help="3-D opacity preset: endoscopy | soft-tissue | bone")
    p.add_argument("--frames", type=validate.whole("frames", (1, 10000)), default=48,
                   help="frames along the path (default 48)")
    p.add_argument("--size", dest="frame_size", default="400x400", help="frame size WxH in px (default 400x400)")
    p.add_argument("--view-angle", type=validate.number((60.0, 90.0), "the view angle (an endoscope's field of view)"),
                   default=80.0, help="camera view angle, 60-90 degrees (default 80)")
    p.add_argument("--fps", type=validate.number((0.5, 120.0), "--fps"), default=12.0,
                   help="movie frames per second (default 12)")
    p.add_argument("--contact-sheet", help="also write a PNG sheet of up to 16 frames")
    p.add_argument("--frames-dir", help="also write every colour frame as frame_0001.png ... into this new folder")
    p.add_argument("--path-out", help="also write the path used as JSON {\"points_ras\": [[x, y, z], ...]} (mm)")
    p.add_argument("--compare-gray", action="store_true", help="the gray scan rendered from the same cameras, "
                   "side by side (colour | gray) in the movie and the sheet")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run, size=224)     # the on-the-fly colour's optimisation size (its --size gave way)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise MedColorError(f"--size must be WxH in pixels like 400x400, got {text!r}") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise MedColorError(f"--size {text}: width and height must be 16-4096 px")
    return w, h


def _check_arguments(args: argparse.Namespace) -> tuple[int, int]:
    # --frames, --view-angle, --fps and --window are checked by their argparse types (cli/validate.py)
    from MedColorLib.pipeline.render3d import PRESET_NAMES
    if args.preset.replace("_", "-") not in PRESET_NAMES:
        raise MedColorError(f"unknown --preset {args.preset!r}; choose one of {', '.join(PRESET_NAMES)}")
    return _size(args.frame_size)


def _check_destinations(args: argparse.Namespace) -> None:
    from MedColorLib.cli.movie import MOVIE_SUFFIXES
    from MedColorLib.io.outputs import check_outputs

    outputs = [("-o", args.output, MOVIE_SUFFIXES)]
    outputs += [("--contact-sheet", args.contact_sheet, (".png",))] if args.contact_sheet else []
    outputs += [("--path-out", args.path_out, (".json",))] if args.path_out else []
    inputs = [args.input, args.colour, args.reference, args.library]
    inputs += [args.path] if args.path not in ("airway", "colon") else []
    check_outputs(outputs, inputs)
    if args.frames_dir:
        folder = Path(args.frames_dir)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise MedColorError(f"--frames-dir {folder} must be a new or empty folder")
        if not folder.parent.is_dir():
            raise MedColorError(f"--frames-dir {folder}: folder {folder.parent} does not exist; create it first")


def _colour(args: argparse.Namespace, volume, bar) -> np.ndarray:
    """The colour volume (K, J, I, C) uint8: read and checked against the scan's geometry, or made now."""
    if args.colour:
        from MedColorLib.io.volumes import read_color_volume
        rgba, geometry, _ = read_color_volume(args.colour)
        _same_geometry(volume, geometry, args.colour)
        return rgba
    from MedColorLib.io.images import load_reference
    from MedColorLib.pipeline.volume import colorize_volume
    reference = load_reference(args.reference) if args.reference else None
    return colorize_volume(volume, options_from_args(args, "volume"), reference=reference, library=args.library,
                           library_set=args.library_set, window=args.window, progress=bar).rgba


def _same_geometry(volume, geometry, name) -> None:
    checks = {"size": volume.array.shape == geometry.array.shape,
              "spacing": np.allclose(volume.spacing, geometry.spacing, atol=GEOMETRY_TOLERANCE_MM),
              "origin": np.allclose(volume.origin, geometry.origin, atol=GEOMETRY_TOLERANCE_MM),
              "direction": np.allclose(volume.direction, geometry.direction, atol=1e-4)}
    wrong = [k for k, ok in checks.items() if not ok]
    if wrong:
        raise MedColorError(f"the colour volume {name} does not match the scan ({', '.join(wrong)} differ): "
                            "give the colour volume made from this scan")


def _path(args: argparse.Namespace, volume):
    from MedColorLib.pipeline.flythrough import check_inside
    from MedColorLib.pipeline.lumen_path import find_path

    if args.path in ("airway", "colon"):
        points = find_path(volume, args.path).points_ras
    else:
        from MedColorLib.io.points import read_points
        points = read_points(args.path, args.points_space)
    check_inside(volume, points)
    return points


def _run(args: argparse.Namespace) -> int:
    size = _check_arguments(args)
    _check_destinations(args)
    if not args.colour:
        use_default_library(args)
    from MedColorLib.io.volumes import read_volume
    from MedColorLib.pipeline.flythrough import cameras_along
    from MedColorLib.pipeline.render3d import preset_for, render_volume

    volume = read_volume(args.input, series=args.series)
    with ProgressBar(args.quiet) as bar:
        rgba = _colour(args, volume, bar)
        bar(Progress("path", 0, 1, args.path))
        points = _path(args, volume)
        cameras = cameras_along(points, args.frames, args.view_angle)
        bar(Progress("3-D colour", 0, 1, args.preset))
        render = render_volume(volume, rgba, preset_for(volume, args.preset))
        kinds = ["colour", "gray"] if args.compare_gray else ["colour"]
        frames = render_in_child(volume, render, cameras, args.preset, size, kinds, bar)
    from MedColorLib.cli.endoscopy_outputs import write_outputs
    write_outputs(args, frames, points)
    return 0


def render_in_child(volume, render: np.ndarray, cameras, preset: str, size: tuple[int, int], kinds: list[str],
                    progress) -> dict[str, np.ndarray]:
    """Frames {kind: (N, H, W, 3) uint8} rendered by ``python -m MedColorLib.slicer.render_job`` in a private
    temporary folder (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="medcolor-endoscopy-") as folder:
        folder = Path(folder)
        np.save(folder / "scalar.npy", np.asarray(volume.array))
        np.save(folder / "render.npy", render)
        job = {"folder": str(folder), "scalar": "scalar.npy", "render": "render.npy",
               "spacing": list(volume.spacing), "origin": list(volume.origin),
               "direction": np.asarray(volume.direction).tolist(), "modality": volume.modality,
               "cameras": [vars(c) for c in cameras], "preset": preset.replace("_", "-"), "size": list(size),
               "kinds": kinds}
        (folder / "job.json").write_text(json.dumps(job))
        result = _follow(folder / "job.json", progress)
        return {kind: np.load(folder / name) for kind, name in zip(kinds, result)}


def _follow(job: Path, progress) -> list[str]:
    """Run the render job, relaying its progress; its error line becomes a MedColorError."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    env.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    log = job.with_name("stderr.txt")
    with open(log, "w") as stderr:   # a file, not a pipe: VTK's warnings can never fill it and block the child
        child = subprocess.Popen([sys.executable, "-m", "MedColorLib.slicer.render_job", str(job)], env=env,
                                 stdout=subprocess.PIPE, stderr=stderr, text=True)
        result, error = None, None
        try:
            for line in child.stdout:
                event = _event(line)
                if "stage" in event:
                    progress(Progress(event["stage"], event["done"], event["total"], event.get("message", "")))
                result, error = event.get("result", result), event.get("error", error)
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    if result is None:
        if error:
            raise MedColorError(error)
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        raise MedColorError(f"rendering failed: {lines[-1] if lines else f'exit status {child.returncode}'}")
    return result


def _event(line: str) -> dict:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return event if isinstance(event, dict) else {}
