"""Run the jobs of a batch on a Dask client: skip the ones already done, one task per volume, a progress bar
over volumes, a record per volume; Ctrl-C cancels what is left and returns what finished."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from MedColorLib.cli.batch.cluster import hush_interrupted_loop
from MedColorLib.cli.batch.colorize_args import client_options, parse_volume
from MedColorLib.cli.batch.jobs import Job
from MedColorLib.cli.batch.provenance import Planner
from MedColorLib.cli.batch.task import run_job

TEMPORARY = re.compile(r"^\.medcolor-[0-9a-f]{8}-(?P<name>.+)$")   # io.atomic.temporary_name
STATUSES = ("done", "skipped", "failed", "cancelled")


def pending(jobs: list[Job], force: bool, remote: bool = False) -> tuple[list[Job], dict[str, dict]]:
    """The jobs to run, and the records (by output) of those whose outputs are complete and current."""
    planner, todo, skipped = Planner(), [], {}
    for job in jobs:
        if not force and _current(planner, job, remote):
            skipped[job.output] = job.record("skipped", **_recorded(job) | {"seconds": 0.0})
        else:
            todo.append(job)
    return todo, skipped


def _current(planner: Planner, job: Job, remote: bool = False) -> bool:
    args = parse_volume(job.argv)
    return planner.is_current(job, args, client_options(args, remote))


def run(client, jobs: list[Job], todo: list[Job], skipped: dict[str, dict], *, resources: dict | None = None,
        quiet: bool = False) -> tuple[list[dict], bool]:
    """Run ``todo`` (one task per volume); records in the order of ``jobs``, and whether Ctrl-C cancelled."""
    from distributed import as_completed
    records = dict(skipped)
    sweep_temporaries(jobs)
    futures = [client.submit(run_job, job, key=f"medcolor-volume-{n}-{os.getpid()}-{id(job):x}", pure=False,
                             resources=resources) for n, job in enumerate(todo)]
    by_key = {f.key: job for f, job in zip(futures, todo)}
    cancelled = False
    with tqdm(total=len(jobs), initial=len(records), disable=quiet, unit="volume", desc="volumes",
              dynamic_ncols=True) as bar:
        try:
            for future in as_completed(futures):
                job = by_key[future.key]
                records[job.output] = _result(future, job)
                bar.update()
                bar.set_postfix_str(_counts(records.values()), refresh=False)
        except KeyboardInterrupt:
            hush_interrupted_loop()
            cancelled = True
            client.cancel(futures)
    return complete(jobs, records), cancelled


def complete(jobs: list[Job], records: dict[str, dict]) -> list[dict]:
    """One record per job in order; a job without one was cancelled."""
    return [records.get(job.output) or job.record("cancelled", "stopped by Ctrl-C before it finished")
            for job in jobs]


def settle(jobs: list[Job], records: list[dict], remote: bool = False) -> list[dict]:
    """After the workers stopped: a cancelled volume whose outputs a worker completed while stopping (Dask
    lets a running task finish for a few seconds) is done."""
    planner = Planner()
    finished = [r["status"] == "cancelled" and _current(planner, job, remote) for job, r in zip(jobs, records)]
    return [job.record("done", **_recorded(job)) if done else r for job, r, done in zip(jobs, records, finished)]


def _result(future, job: Job) -> dict:
    """The worker's record, or a failure record when the task itself failed (its workers kept dying)."""
    from distributed import KilledWorker
    try:
        return future.result()
    except KilledWorker:
        return job.record("failed", "the worker processes running it died repeatedly (out of memory or a crash)")
    except Exception as err:  # noqa: BLE001 - a task that could not run is one failed volume
        return job.record("failed", f"{type(err).__name__}: {' '.join(str(err).split())}"[:300])


def _counts(records) -> str:
    counts = defaultdict(int)
    for r in records:
        counts[r["status"]] += 1
    return " ".join(f"{s} {counts[s]}" for s in STATUSES if counts[s])


def _recorded(job: Job) -> dict:
    """Reference, region and seconds of a complete job, from its report."""
    import json

    from MedColorLib.cli.batch.task import reference_of, region_of
    try:
        report = json.loads(Path(job.report).read_text())
        return {"reference": reference_of(report), "region": region_of(report, None),
                "seconds": round(float(report.get("seconds", 0.0)), 3)}
    except (OSError, ValueError, AttributeError):
        return {}


def sweep_temporaries(jobs: list[Job]) -> list[Path]:
    """Delete the hidden temporary files of the jobs' destinations that killed workers left behind (each
    output folder is listed once)."""
    wanted = defaultdict(set)
    for job in jobs:
        for dest in job.destinations():
            wanted[dest.parent].add(dest.name)
    removed = []
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = TEMPORARY.match(entry.name)
            if match and match["name"] in names and entry.is_file(follow_symlinks=False):
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    return removed
