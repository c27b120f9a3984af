"""``medcolor batch``: the arguments (its own and every shared option of ``colorize``) and the run: check the
whole batch, start or reach the cluster, run, stop the workers, write the summary, exit 0 / 1 (some volumes
failed) / 2 (bad invocation, nothing done) / 130 (Ctrl-C; complete outputs kept)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from pathlib import Path

from MedColorLib.cli.batch.colorize_args import (add_colorize_options, check_shared, client_options, option_tokens,
                                                  shared_actions)
from MedColorLib.errors import MedColorError

OUTPUT_FORMATS = ("nrrd", "nii.gz", "nii")
EXIT_SOME_FAILED = 1
EXIT_CANCELLED = 130


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="colorize many volumes on Dask (local worker processes, or a cluster)",
                       description="Colorize every volume of files, folders or a CSV manifest, one Dask task per "
                                   "volume; a rerun skips the volumes already done. Needs `pip install "
                                   "medcolor[batch]`; see docs/batch.md.")
    p.add_argument("inputs", nargs="*", help="volume files (NRRD, NIfTI, MHA/MHD) and folders, searched for them "
                   "and for DICOM series")
    p.add_argument("--manifest", help="CSV with columns input, output and optionally reference, region, mode, "
                   "series (relative inputs: from the CSV's folder; relative outputs: under --out)")
    p.add_argument("-o", "--out", required=True, help="output folder: colour volumes (subfolders mirror the "
                   "inputs'), NAME.png previews, NAME.json reports, batch_summary.csv/.json, batch_contact_sheet.png")
    p.add_argument("--format", default="nrrd", choices=OUTPUT_FORMATS, help="colour volume format (default nrrd)")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per core as memory allows; "
                   "one per GPU on a GPU machine)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://HOST:8786) to use instead of a "
                   "local cluster")
    p.add_argument("--threads", type=int, help="torch threads per worker (default: its cores / its task slots)")
    p.add_argument("--force", action="store_true", help="redo volumes whose outputs are complete and current")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_colorize_options(p)
    p.set_defaults(func=_run_batch)


def _run_batch(args: argparse.Namespace) -> int:
    """The whole command; returns the exit status."""
    _check_dask()
    _check_args(args)
    from MedColorLib.cli.batch import plan
    # the batch's own options checked once as colorize checks them (the default library built once, if used);
    # then each volume's in plan.check
    options = client_options(check_shared(option_tokens(args, shared_actions())), remote=bool(args.scheduler))
    out, roots = Path(args.out).absolute(), [Path(p) for p in args.inputs]
    jobs = _jobs(args, out)
    plan.check(jobs, out, roots, remote=bool(args.scheduler))
    if not args.reference and not args.library:
        from MedColorLib.reference.default_library import default_library_dir
        args.library = str(default_library_dir())      # named, so that no worker builds its own
        jobs = _jobs(args, out)
    return _execute(args, jobs, out, options)


def _check_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise MedColorError("medcolor batch needs Dask; install it with `pip install 'medcolor[batch]'` "
                            "(dask[distributed])") from None


def _check_args(args: argparse.Namespace) -> None:
    if bool(args.inputs) == bool(args.manifest):
        raise MedColorError("give volumes and folders, or --manifest CSV (not both)")
    if args.workers is not None and args.workers < 1:
        raise MedColorError(f"--workers must be at least 1, got {args.workers}")
    if args.workers is not None and args.scheduler:
        raise MedColorError("--workers is for the local cluster; an existing one (--scheduler) has its own workers")
    if args.threads is not None and args.threads < 1:
        raise MedColorError(f"--threads must be at least 1, got {args.threads}")


def _jobs(args: argparse.Namespace, out: Path) -> list:
    from MedColorLib.cli.batch.jobs import jobs_from_manifest, jobs_from_paths
    tokens = option_tokens(args, shared_actions())
    if args.manifest:
        return jobs_from_manifest(Path(args.manifest), out, tokens)
    return jobs_from_paths([Path(p) for p in args.inputs], out, args.format, tokens)


def _execute(args: argparse.Namespace, jobs: list, out: Path, options) -> int:
    """Run on the cluster; whatever happens next, stop the workers, clear their leftovers, write the summary."""
    from MedColorLib.cli.batch import cluster, plan, runner, summary
    start = time.perf_counter()
    todo, skipped = runner.pending(jobs, args.force, remote=bool(args.scheduler))
    if not args.quiet:
        print(f"medcolor batch: {len(todo)} of {len(jobs)} volumes to colour"
              + (f" ({len(skipped)} already done)" if skipped else "")
              + ("; starting the workers" if todo and not args.scheduler else ""), file=sys.stderr)
    planned = time.perf_counter()
    where = cluster.start(options, len(todo), args.workers, args.scheduler, args.threads) if todo else None
    startup = time.perf_counter() - planned     # worker processes started, imports done, weights loaded
    records, cancelled, ran = runner.complete(jobs, skipped), False, time.perf_counter()
    try:
        plan.make_folders(jobs, out)
        if where is not None:
            records, cancelled = runner.run(where.client, jobs, todo, skipped, resources=where.resources,
                                            quiet=args.quiet)
    except KeyboardInterrupt:
        cluster.hush_interrupted_loop()
        cancelled = True
    finally:
        ran = time.perf_counter() - ran
        if where is not None:
            with _no_interrupts():
                where.close()
                runner.sweep_temporaries(jobs)
                records = runner.settle(jobs, records, remote=bool(args.scheduler))
    with _no_interrupts():
        meta = {"seconds": round(time.perf_counter() - start, 3),
                "workers": where.workers if where else 0, "scheduler": args.scheduler or "local",
                "startup_seconds": round(startup, 3),
                "run_seconds": round(ran, 3), "cancelled": cancelled}
        written = summary.write(out, records, meta)
    return _report(records, cancelled, written)


@contextlib.contextmanager
def _no_interrupts():
    """A second Ctrl-C must not interrupt the stopping of the workers and the summary."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:      # not the main thread (tests): nothing to hold
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _report(records: list[dict], cancelled: bool, written) -> int:
    """One line of counts, one line per failed volume; the exit status."""
    counts = {s: sum(r["status"] == s for r in records) for s in ("done", "skipped", "failed", "cancelled")}
    print(f"medcolor batch: {len(records)} volumes: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
          + f"; summary {written[0]}, {written[2].name}")
    for r in records:
        if r["status"] == "failed":
            print(f"medcolor: failed: {r['label']}: {r['error']}", file=sys.stderr)
    if cancelled:
        print("medcolor: batch cancelled; complete outputs were kept; run the same command again to finish",
              file=sys.stderr)
        return EXIT_CANCELLED
    return EXIT_SOME_FAILED if counts["failed"] else 0
