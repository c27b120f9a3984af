"""``medcolor colorize`` on files: check the input and every destination, pick the reference, colorize,
write all outputs in one transaction, report (volumes: ``colorize_volume``)."""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path

import numpy as np

from MedColorLib.cli.progressbar import ProgressBar
from MedColorLib.errors import MedColorError
from MedColorLib.io.atomic import transaction
from MedColorLib.io.images import DICOM_SUFFIXES, is_dicom, load_reference, read_gray
from MedColorLib.io.outputs import check_outputs
from MedColorLib.io.paths import check_regular_file, kind_of, one_line
from MedColorLib.io.pictures import PICTURE_SUFFIXES
from MedColorLib.io.report import write_json
from MedColorLib.options import Options
from MedColorLib.pipeline.image import colorize_image
from MedColorLib.reference.index import load_library
from MedColorLib.reference.retrieval import search

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
VOLUME_OUTPUTS = (".nrrd", ".nii", ".nii.gz")
REPORT_SUFFIXES = (".json",)
SUPPORTED_INPUTS = "PNG, JPEG, TIFF, BMP or DICOM slices; NRRD, NIfTI, MHA/MHD volumes; DICOM series folders"


def is_volume_path(path: Path) -> bool:
    """A DICOM series folder or a volume file (by suffix)."""
    return path.is_dir() or any(path.name.lower().endswith(s) for s in VOLUME_SUFFIXES)


def check_input(inp: Path) -> None:
    """The input exists (a link loop is named as such), is a regular file or a folder (a FIFO or a device is
    never opened) and has a supported format."""
    try:
        os.stat(inp)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise MedColorError(f"input {inp} is a symbolic link loop; give the real file") from None
        raise MedColorError(f"input not found: {inp}") from None
    if kind_of(inp) not in (None, "a folder"):
        raise MedColorError(f"input {inp} is {kind_of(inp)}, not a regular file or a DICOM folder; give a file")
    if is_volume_path(inp) or inp.name.lower().endswith(IMAGE_SUFFIXES + DICOM_SUFFIXES) or is_dicom(inp):
        return
    raise MedColorError(f"input format {inp.suffix or '(no extension)'} of {inp} is not supported; "
                        f"give {SUPPORTED_INPUTS}")


def check_reference(reference: str | None) -> None:
    """A pinned reference is a regular file holding a colour picture, never a volume."""
    if reference:
        check_regular_file(reference, "--reference")
    if reference and is_volume_path(Path(reference)):
        raise MedColorError(f"--reference {reference} is a volume; the reference must be a colour picture "
                            "(PNG, JPEG, TIFF, BMP or colour DICOM)")


def check_paths(inp: Path, out: Path) -> None:
    """The input exists and is never overwritten; the output folder exists."""
    check_input(inp)
    check_outputs([("-o", out, ())], [inp])


def run_outputs(args: argparse.Namespace, inp: Path, volume: bool) -> list[Path]:
    """Every destination of the run checked against each other and every input, before computing."""
    outputs = [("-o", args.output, VOLUME_OUTPUTS if volume else PICTURE_SUFFIXES)]
    if volume and getattr(args, "preview", None):
        outputs.append(("--preview", args.preview, PICTURE_SUFFIXES))
    if args.report:
        outputs.append(("--report", args.report, REPORT_SUFFIXES))
    return check_outputs(outputs, [inp, args.reference, args.library])


def check_2d_options(args: argparse.Namespace, options: Options) -> None:
    """Options that only volumes use are refused for a 2-D input rather than ignored."""
    for option, given in (("--preview", getattr(args, "preview", None)), ("--window", getattr(args, "window", None)),
                          ("--series", getattr(args, "series", None)), ("--rgb", getattr(args, "rgb", False))):
        if given:
            raise MedColorError(f"{option} is for volumes; {args.input} is a 2-D image (its output -o is the picture)")


def pick_reference(reference: str | None, library: str | None, library_set: str | None,
                   gray: np.ndarray, inp: Path | None = None, region: str | None = None) -> tuple[np.ndarray, dict]:
    """The pinned reference, or the library's nearest by D-hash (a DICOM slice or a given region: among the
    references of its region and modality, reference.resolve); returns (rgb, provenance info)."""
    if reference:
        return load_reference(reference), {"path": str(reference)}
    if region or (inp is not None and is_dicom(inp)):
        from MedColorLib.reference.resolve import resolve_reference
        return resolve_reference(_dicom_volume(inp), [gray], library=library, library_set=library_set, region=region)
    best = search(load_library(library), gray, set=library_set, k=1)
    if not best:
        raise MedColorError(f"no reference in library {library}" + (f" set {library_set!r}" if library_set else ""))
    m = best[0]
    return load_reference(m.path), {"path": str(m.path), "set": m.set, "hamming_distance": m.distance,
                                    "library": str(library)}


def _dicom_volume(inp: Path | None):
    """A DICOM slice as a one-slice Volume (HU, BodyPartExamined) for the region, or None."""
    if inp is None or not is_dicom(inp):
        return None
    from MedColorLib.io.volumes import read_volume
    try:
        return read_volume(inp)
    except MedColorError:  # e.g. a colour DICOM: no region from the pixels
        return None


def colorize_file(args: argparse.Namespace, options: Options, extra: dict | None = None) -> dict:
    """The whole ``colorize`` command on checked ``options``; returns the report (volumes: ``extra`` added to it)."""
    inp, out = Path(args.input), Path(args.output)
    check_input(inp)
    check_reference(args.reference)
    volume = is_volume_path(inp)
    if not volume:
        check_2d_options(args, options)
    elif getattr(args, "series", None) and not inp.is_dir():
        raise MedColorError(f"--series chooses a series of a DICOM folder; {args.input} is a volume file")
    run_outputs(args, inp, volume)
    if volume:
        from MedColorLib.cli.colorize_volume import colorize_volume_file
        return colorize_volume_file(args, options, inp, out, extra)
    gray = read_gray(inp)
    ref, ref_info = pick_reference(args.reference, args.library, args.library_set, gray, inp,
                                   getattr(args, "region", None))
    with ProgressBar(args.quiet) as bar:
        report = colorize_image(gray, ref, options, ref_info, progress=bar)
    from MedColorLib.io.pictures import write_image_2d
    report["output"] = str(out)
    with transaction():
        write_image_2d(out, report.pop("rgb"))
        if args.report:
            write_json(args.report, report)
    print(one_line(f"wrote {out}" + (f" and {args.report}" if args.report else "")))
    return report
