"""What makes a batch output complete and current: its report (written in the same transaction as the colour
volume and the preview) carries the input's hash, the options and the weights; a rerun skips an output
whose three files exist and whose recorded provenance equals the one it would record now."""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

from MedColorLib.cli.batch.colorize_args import PER_VOLUME
from MedColorLib.cli.batch.jobs import Job
from MedColorLib.io.hashing import sha256_file
from MedColorLib.options import Options

KEY = "batch"   # the report's field holding the provenance


def input_sha256(path: Path) -> str:
    """sha256 of a volume file, or of a DICOM folder's files (names and contents, sorted; hidden ones left out)."""
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
        h.update(f"{f.name}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def weights_label(options: Options) -> str | None:
    """The weights a run with ``options`` uses (source, architecture, preprocessing, sha256); None in preview
    mode, which uses no network. Loads the network (a worker keeps it: engine.slices.keep_networks)."""
    if options.mode == "preview":
        return None
    from MedColorLib.engine.slices import network
    return network(options).label


def provenance(job: Job, args: argparse.Namespace, options: Options, weights: str | None) -> dict:
    """The provenance a run of ``job`` records: input and reference hashes, every option, the weights."""
    settings = {k: v for k, v in vars(args).items() if k not in PER_VOLUME and not callable(v)}
    reference = getattr(args, "reference", None)
    record = {"input": job.input, "input_sha256": input_sha256(Path(job.input)),
              "reference_sha256": sha256_file(reference) if reference and Path(reference).is_file() else None,
              "settings": settings, "options": options.as_dict(), "weights": weights}
    return json.loads(json.dumps(record, default=str))   # tuples -> lists: compared with the JSON on disk


def recorded(job: Job) -> dict | None:
    """The provenance in ``job``'s report when all three outputs exist, else None."""
    if not all(p.is_file() for p in job.destinations()):
        return None
    try:
        return json.loads(Path(job.report).read_text()).get(KEY)
    except (OSError, ValueError, AttributeError):
        return None


class Planner:
    """Decides which jobs are already done; loads each distinct network once (on the CPU) to learn its label."""

    def __init__(self) -> None:
        self._labels: dict[tuple[str, int], str | None] = {}

    def is_current(self, job: Job, args: argparse.Namespace, options: Options) -> bool:
        """All outputs exist and their recorded provenance is what a run now would record."""
        old = recorded(job)
        if not old or old.get("input_sha256") is None:
            return False
        key = (options.weights, options.seed) if options.mode != "preview" else ("", 0)
        if key not in self._labels:
            self._labels[key] = weights_label(replace(options, device="cpu"))
        return old == provenance(job, args, options, self._labels[key])
