"""A batch checked as a whole before any work starts: every volume's colorize options parse, no two outputs
share a name, no output lands on an input or inside an input folder, the output folder can be written."""

from __future__ import annotations

from pathlib import Path

from MedColorLib.cli.batch import summary
from MedColorLib.cli.batch.colorize_args import client_options, parse_volume
from MedColorLib.cli.batch.jobs import Job
from MedColorLib.errors import MedColorError
from MedColorLib.io.outputs import probe_writable


def check(jobs: list[Job], out: Path, roots: list[Path], remote: bool = False) -> None:
    """MedColorError (one line) on the first problem of the batch; nothing is written."""
    if out.exists() and not out.is_dir():
        raise MedColorError(f"--out {out} is a file; give a folder")
    if not out.parent.is_dir():
        raise MedColorError(f"--out {out}: folder {out.parent} does not exist; create it first")
    for job in jobs:
        try:
            client_options(parse_volume(job.argv), remote)
        except MedColorError as err:
            raise MedColorError(f"{job.label}: {err}") from None
    _unique_destinations(jobs, out)
    _outside_inputs(jobs, out, roots)


def _unique_destinations(jobs: list[Job], out: Path) -> None:
    owner = {p.resolve(): "the batch summary" for p in summary.paths(out)}
    for job in jobs:
        for dest in job.destinations():
            key = dest.resolve()
            if key in owner:
                raise MedColorError(f"{job.label} and {owner[key]} would both write {dest}; give the volumes "
                                    "distinct names (or list them in a --manifest with their own outputs)")
            owner[key] = job.label


def _outside_inputs(jobs: list[Job], out: Path, roots: list[Path]) -> None:
    """No destination is an input file or lies inside an input folder (a rerun would find it as input)."""
    inputs = {Path(j.input).resolve() for j in jobs} | {r.resolve() for r in roots}
    folders = {p for p in inputs if p.is_dir()}
    for job in jobs:
        for dest in (out / "x", *job.destinations()):
            key = dest.resolve()
            inside = next((p for p in key.parents if p in folders), None)
            if key in inputs or inside:
                raise MedColorError(f"{dest} would overwrite or add to the input {inside or key}; choose an "
                                    "output folder outside the inputs")


def make_folders(jobs: list[Job], out: Path) -> None:
    """Create the output folder and its subfolders (after the checks), then probe that they can be written."""
    folders = sorted({out} | {d.parent for job in jobs for d in job.destinations()})
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MedColorError(f"cannot create {folder}: {err.strerror or err}") from None
    probe_writable(out / summary.NAMES[0])
