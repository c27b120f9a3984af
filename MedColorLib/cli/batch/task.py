"""What runs on a Dask worker: the set-up of each worker process (threads, GPU, the weights loaded once) and
one volume as one task (colorize's own checks and transactional outputs; a failure becomes a record)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import time
from pathlib import Path

from distributed import WorkerPlugin

from MedColorLib.cli.batch.colorize_args import parse_volume
from MedColorLib.cli.batch.jobs import Job
from MedColorLib.cli.batch.provenance import KEY, provenance, weights_label
from MedColorLib.errors import MedColorError, short_reason
from MedColorLib.options import Options


class WorkerSetup(WorkerPlugin):
    """Runs in every worker process when it starts (also one restarted after a crash)."""

    name = "medcolor-worker-setup"

    def __init__(self, threads: int | None = None, preload: Options | None = None) -> None:
        self.threads, self.preload = threads, preload

    def setup(self, worker) -> None:  # noqa: D102 - WorkerPlugin API
        import torch

        from MedColorLib.cli.quiet import quiet_third_party
        from MedColorLib.engine.slices import keep_networks
        with contextlib.suppress(ValueError):     # only possible in the main thread
            signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the client's: it stops the workers
        quiet_third_party()
        # Dask starts workers with OMP_NUM_THREADS=1; give torch the cores this worker's tasks may use
        torch.set_num_threads(self.threads or max(1, cores() // max(1, worker.state.nthreads)))
        if torch.cuda.is_available() and "GPU" in (worker.state.total_resources or {}) and isinstance(worker.name, int):
            torch.cuda.set_device(worker.name % torch.cuda.device_count())
        import MedColorLib.cli.colorize_file  # noqa: F401 - the pipeline's imports belong to the start-up
        import MedColorLib.pipeline.volume  # noqa: F401
        keep_networks()
        if self.preload is not None:
            with contextlib.suppress(MedColorError):   # the tasks then fail with the reason, one by one
                weights_label(self.preload)


def run_job(job: Job) -> dict:
    """Colorize one volume exactly as ``medcolor colorize`` would; returns its summary record, never raises
    for a bad input (the record says why)."""
    from MedColorLib.cli.colorize import complete_args
    from MedColorLib.cli.colorize_file import colorize_file, is_volume_path
    from MedColorLib.engine.slices import network_loads
    start = time.perf_counter()
    record = job.record("failed", pid=os.getpid())
    try:
        args = parse_volume(job.argv)
        if not is_volume_path(Path(args.input)):
            raise MedColorError(f"{args.input} is not a volume; give NRRD, NIfTI, MHA/MHD or a DICOM series folder")
        options = complete_args(args)
        extra = {KEY: provenance(job, args, options, weights_label(options))}
        with contextlib.redirect_stdout(io.StringIO()):     # colorize's "wrote ..." line
            report = colorize_file(args, options, extra)
        record |= {"status": "done", "reference": reference_of(report), "region": region_of(report, args)}
    except MedColorError as err:
        record["error"] = " ".join(str(err).split())
    except Exception as err:  # noqa: BLE001 - any other failure of one volume is recorded, the batch goes on
        record["error"] = f"{type(err).__name__}: {short_reason(err)}"
    record["seconds"] = round(time.perf_counter() - start, 3)
    record["network_loads"] = network_loads()
    record["peak_rss_mb"] = peak_rss_mb()
    return record


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB; the current one where the peak is not kept)."""
    try:
        import resource
        scale = 1 if sys.platform == "darwin" else 1024      # ru_maxrss: bytes on macOS, KiB on Linux
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / (1 << 20), 1)
    except ImportError:                                       # Windows
        import psutil
        return round(psutil.Process().memory_info().rss / (1 << 20), 1)


def reference_of(report: dict) -> str:
    """The reference a report records (its path)."""
    ref = report.get("reference") or {}
    return str(ref.get("path", "")) if isinstance(ref, dict) else str(ref)


def region_of(report: dict, args) -> str:
    """The body region the reference was retrieved for (the report's reference.region), else the one asked for."""
    reference = report.get("reference")
    decided = reference.get("region") if isinstance(reference, dict) else None
    if isinstance(decided, dict):
        decided = decided.get("region")
    return str(decided or getattr(args, "region", None) or "")
