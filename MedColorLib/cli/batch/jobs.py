"""The volumes of a batch: found in files and folders (NRRD, NIfTI, MHA/MHD, DICOM series folders) or read
from a CSV manifest, each with its destinations (colour volume, preview PNG, report JSON) and the colorize
command line that makes them."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from MedColorLib.cli.batch.colorize_args import accepts, volume_argv
from MedColorLib.cli.colorize_file import VOLUME_OUTPUTS, VOLUME_SUFFIXES
from MedColorLib.errors import MedColorError
from MedColorLib.io.images import is_dicom

MANIFEST_COLUMNS = ("input", "output", "reference", "region", "mode", "series")


@dataclass(frozen=True)
class Job:
    """One volume: absolute paths, a short label (the input relative to what was given), its colorize argv."""

    input: str
    output: str
    preview: str
    report: str
    label: str
    argv: tuple[str, ...]

    def destinations(self) -> tuple[Path, Path, Path]:
        return Path(self.output), Path(self.preview), Path(self.report)

    def record(self, status: str, error: str = "", **fields) -> dict:
        """This job's line of the summary (status: done, skipped, failed or cancelled)."""
        return {"input": self.input, "label": self.label, "status": status, "seconds": 0.0, "reference": "",
                "region": "", "output": self.output, "preview": self.preview, "report": self.report,
                "error": error, **fields}


@dataclass(frozen=True)
class Found:
    """A volume found on disk: its path, its output name (relative, no suffix), a DICOM series UID or None."""

    path: Path
    stem: str
    series: str | None = None


def volume_stem(path: Path) -> str:
    """The file name without its volume suffix (``ct.nii.gz`` -> ``ct``); a folder keeps its name."""
    name = path.name
    for suffix in sorted(VOLUME_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def find_volumes(root: Path, split_series: bool = True) -> list[Found]:
    """Every volume under ``root`` (a volume file, or a folder searched recursively; hidden entries skipped).
    A folder holding DICOM files is one series (one per SeriesInstanceUID when it holds several)."""
    if root.is_file():
        if not root.name.lower().endswith(VOLUME_SUFFIXES):
            raise MedColorError(f"{root} is not a volume; give NRRD, NIfTI, MHA/MHD files or folders")
        return [Found(root, volume_stem(root))]
    if not root.is_dir():
        raise MedColorError(f"input not found: {root}")
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        folder = Path(folder)
        rel = folder.relative_to(root)
        names = sorted(f for f in files if not f.startswith("."))
        found += [Found(folder / f, str(rel / volume_stem(Path(f)))) for f in names
                  if f.lower().endswith(VOLUME_SUFFIXES)]
        if any(is_dicom(folder / f) for f in names if not f.lower().endswith(VOLUME_SUFFIXES)):
            stem = str(rel) if str(rel) != "." else root.name
            found += _series(folder, stem, split_series)
    return found


def _series(folder: Path, stem: str, split: bool) -> list[Found]:
    """A DICOM folder: one volume, or one per series when it holds several (``stem_series2`` ...)."""
    import SimpleITK as sitk  # noqa: N813
    uids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))) if split else []
    if len(uids) < 2:
        return [Found(folder, stem)]
    return [Found(folder, f"{stem}_series{n}", uid) for n, uid in enumerate(uids, 1)]


def jobs_from_paths(roots: list[Path], out: Path, fmt: str, tokens: dict[str, list[str]]) -> list[Job]:
    """Jobs for every volume under ``roots``, outputs mirrored under ``out`` (``out/sub/name.nrrd``)."""
    jobs = []
    for root in roots:
        for item in find_volumes(root.absolute(), split_series="series" not in tokens):
            extra = {"series": [f"--series={item.series}"]} if item.series else {}
            jobs.append(_job(item.path, out / f"{item.stem}.{fmt}", item.stem, tokens | extra))
    if not jobs:
        raise MedColorError(f"no volume found in {', '.join(map(str, roots))}; give NRRD, NIfTI, MHA/MHD files "
                            "or folders holding them or DICOM series")
    return jobs


def _job(inp: Path, output: Path, label: str, tokens: dict[str, list[str]]) -> Job:
    base = output.with_name(volume_stem(output))
    preview, report = base.with_name(base.name + ".png"), base.with_name(base.name + ".json")
    return Job(str(inp), str(output), str(preview), str(report), label,
               volume_argv(inp, output, preview, report, tokens))


def jobs_from_manifest(manifest: Path, out: Path, tokens: dict[str, list[str]]) -> list[Job]:
    """Jobs from a CSV with columns input, output (+ optional reference, region, mode, series per row).
    Relative inputs and references are read from the manifest's folder, relative outputs go under ``out``."""
    rows = _read_manifest(manifest)
    jobs = []
    for n, row in enumerate(rows, 2):   # line 1 is the header
        where = f"{manifest} line {n}"
        if not row.get("input") or not row.get("output"):
            raise MedColorError(f"{where}: every row needs an input and an output")
        output = out / row["output"]
        if not output.name.lower().endswith(VOLUME_OUTPUTS):
            raise MedColorError(f"{where}: output {row['output']} must end in {', '.join(VOLUME_OUTPUTS)}")
        inp = manifest.parent.absolute() / row["input"]
        jobs.append(_job(inp, output.absolute(), row["input"], tokens | _row_tokens(row, manifest.parent, where)))
    if not jobs:
        raise MedColorError(f"manifest {manifest} lists no volume")
    return jobs


def _read_manifest(manifest: Path) -> list[dict[str, str]]:
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            rows = [{c.strip().lower(): (v or "").strip() for c, v in row.items() if c} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise MedColorError(f"cannot read manifest {manifest}: {err}") from None
    unknown = [c for c in columns if c not in MANIFEST_COLUMNS]
    if unknown or not {"input", "output"} <= set(columns):
        raise MedColorError(f"manifest {manifest} has columns {', '.join(columns) or '(none)'}; use input, output "
                            f"and optionally {', '.join(MANIFEST_COLUMNS[2:])}")
    return rows


def _row_tokens(row: dict[str, str], folder: Path, where: str) -> dict[str, list[str]]:
    """A row's own settings as colorize tokens; a row's reference replaces the batch's reference or library."""
    tokens: dict[str, list[str]] = {}
    if row.get("reference"):
        tokens |= {"reference": [f"--reference={folder.absolute() / row['reference']}"], "library": [],
                   "library_set": []}
    for column in ("mode", "series", "region"):
        if row.get(column):
            if not accepts(column):
                raise MedColorError(f"{where}: column {column!r} needs `medcolor colorize --{column}`, which this "
                                    "medcolor does not have")
            tokens[column] = [f"--{column}={row[column]}"]
    return tokens
