"""Run ``medcolor colorize`` on files: read, pick the reference, colorize, write atomically, report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .errors import MedColorError
from .io2d import read_gray
from .library import load_library, load_reference, search
from .progressbar import ProgressBar
from .report import provenance, write_json

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


def colorize_file(args: argparse.Namespace) -> dict:
    """The whole ``colorize`` command; returns the report."""
    from .cli_colorize import options_from_args

    inp, out = Path(args.input), Path(args.output)
    check_paths(inp, out)
    if is_volume_path(inp):
        from .run_volume import colorize_volume_file
        return colorize_volume_file(args, inp, out)
    if not out.name.lower().endswith(IMAGE_SUFFIXES):
        raise MedColorError(f"2-D output must be an image file ({', '.join(IMAGE_SUFFIXES)}), got {out.name}")
    options = options_from_args(args, "paper")
    if options.mode != "paper":
        raise MedColorError(f"a 2-D image is colorized in paper mode; --mode {options.mode} is for volumes")
    gray = read_gray(inp)
    ref, ref_info = pick_reference(args.reference, args.library, args.library_set, gray)
    report = colorize_image(gray, ref, options, ref_info, quiet=args.quiet)
    from .volume_io import write_image_2d
    write_image_2d(out, report.pop("rgb"))
    report["output"] = str(out)
    if args.report:
        write_json(args.report, report)
    print(f"wrote {out}" + (f" and {args.report}" if args.report else ""))
    return report


def colorize_image(gray: np.ndarray, reference: np.ndarray, options, ref_info: dict, quiet: bool = True) -> dict:
    """Paper mode on one 2-D image; returns the report with the (H, W, 3) uint8 result under "rgb"."""
    from . import metrics
    from .pipeline2d import colorize_slices, network

    t0 = time.perf_counter()
    net = network(options)
    with ProgressBar(quiet) as bar:
        res = colorize_slices(net, gray[None], reference, options, progress=bar)
    seconds = time.perf_counter() - t0
    rgb = res.rgb[0]
    figures = metrics.summary(rgb / 255.0, gray, reference)
    figures["out_of_gamut"] = metrics.out_of_gamut_fraction(res.out_of_gamut[0])
    device = str(next(net.parameters()).device)
    return {"seconds": seconds, **provenance(options, net.label, device, ref_info), "metrics": figures, "rgb": rgb}
