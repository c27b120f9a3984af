"""``medcolor colorize`` on files: read, pick the reference, colorize, write atomically, report (volumes:
``colorize_volume``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from MedColorLib.cli.progressbar import ProgressBar
from MedColorLib.errors import MedColorError
from MedColorLib.io.images import read_gray
from MedColorLib.reference.index import load_library
from MedColorLib.io.images import load_reference
from MedColorLib.reference.retrieval import search
from MedColorLib.io.report import write_json
from MedColorLib.options import Options
from MedColorLib.pipeline.image import colorize_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def is_volume_path(path: Path) -> bool:
    """A DICOM series folder or a volume file (by suffix)."""
    return path.is_dir() or any(path.name.lower().endswith(s) for s in VOLUME_SUFFIXES)


def check_paths(inp: Path, out: Path) -> None:
    """The input exists and is never overwritten; the output folder exists."""
    if not inp.exists():
        raise MedColorError(f"input not found: {inp}")
    if out.exists() and inp.exists() and out.resolve() == inp.resolve():
        raise MedColorError("the output would overwrite the input; choose another output path")
    if not out.parent.is_dir():
        raise MedColorError(f"output folder does not exist: {out.parent}")


def pick_reference(reference: str | None, library: str | None, library_set: str | None,
                   gray: np.ndarray) -> tuple[np.ndarray, dict]:
    """The pinned reference, or the library's nearest by D-hash; returns (rgb, provenance info)."""
    if reference:
        return load_reference(reference), {"path": str(reference)}
    best = search(load_library(library), gray, set=library_set, k=1)
    if not best:
        raise MedColorError(f"no reference in library {library}" + (f" set {library_set!r}" if library_set else ""))
    m = best[0]
    return load_reference(m.path), {"path": str(m.path), "set": m.set, "hamming_distance": m.distance,
                                    "library": str(library)}


def colorize_file(args: argparse.Namespace, options: Options) -> dict:
    """The whole ``colorize`` command on checked ``options``; returns the report."""
    inp, out = Path(args.input), Path(args.output)
    check_paths(inp, out)
    if is_volume_path(inp):
        from MedColorLib.cli.colorize_volume import colorize_volume_file
        return colorize_volume_file(args, options, inp, out)
    if not out.name.lower().endswith(IMAGE_SUFFIXES):
        raise MedColorError(f"2-D output must be an image file ({', '.join(IMAGE_SUFFIXES)}), got {out.name}")
    if options.mode != "paper":
        raise MedColorError(f"a 2-D image is colorized in paper mode; --mode {options.mode} is for volumes")
    gray = read_gray(inp)
    ref, ref_info = pick_reference(args.reference, args.library, args.library_set, gray)
    with ProgressBar(args.quiet) as bar:
        report = colorize_image(gray, ref, options, ref_info, progress=bar)
    from MedColorLib.io.pictures import write_image_2d
    write_image_2d(out, report.pop("rgb"))
    report["output"] = str(out)
    if args.report:
        write_json(args.report, report)
    print(f"wrote {out}" + (f" and {args.report}" if args.report else ""))
    return report
