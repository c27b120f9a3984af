"""Where the tasks run: a local cluster of worker processes (by default one per core, fewer when memory is
short) or an existing Dask scheduler. GPU work asks for the worker resource ``GPU``, so it goes only to
workers started with ``--resources GPU=1``; a local cluster on a GPU machine gives one such worker per GPU."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from MedColorLib.cli.batch.task import WorkerSetup, cores
from MedColorLib.errors import MedColorError
from MedColorLib.options import Options

GIB = 1 << 30
# memory one worker needs: measured worker peaks (bench/results/batch_*_cpu.json) of 1.17 GB in preview,
# 1.77 GB in volume mode (the correspondence, medical VGG16) and 4.4 GB with the 100+100-step optimisation of
# the key slices (--refine; paper mode optimises every slice), over volumes up to 512x512x20, plus room
PREVIEW_MEMORY, VOLUME_MEMORY, OPTIMISED_MEMORY = 2 * GIB, 3 * GIB, 6 * GIB
CONNECT_TIMEOUT = "10s"


@dataclass
class Cluster:
    """A connected client, the local cluster it owns (None for an existing scheduler), the task resources."""

    client: object
    local: object | None
    resources: dict[str, float] | None
    workers: int

    def close(self) -> None:
        """Disconnect; a local cluster's worker processes are stopped (killed if busy)."""
        self.client.close()
        if self.local is not None:
            self.local.close()


def worker_memory(options: Options) -> int:
    """Bytes of memory to allow one worker for one volume with these options."""
    if options.mode == "preview":
        return PREVIEW_MEMORY
    return OPTIMISED_MEMORY if options.mode == "paper" or options.refine else VOLUME_MEMORY


def default_workers(options: Options, jobs: int) -> int:
    """One worker per core, as many as the available memory holds (worker_memory), never more than jobs."""
    import psutil
    fit = int(psutil.virtual_memory().available // worker_memory(options))
    return max(1, min(cores(), fit, jobs))


def local_gpus(device: str) -> int:
    """GPUs a local cluster gives to its workers: every visible one for --device cuda or auto, none for cpu."""
    if device == "cpu":
        return 0
    import torch
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device == "cuda" and count == 0:
        raise MedColorError("--device cuda was requested but this machine has no CUDA GPU; use --device cpu, "
                            "or --scheduler with GPU workers")
    return count


def hush_interrupted_loop() -> None:
    """After Ctrl-C interrupts a client call in the main thread, the event loop's callback for that call fails (its
    result was never bound) and tornado logs the traceback: an artifact of the interrupt, not an error of the run,
    and it would break the one-line cancel message."""
    logging.getLogger("tornado.application").setLevel(logging.CRITICAL)


def start(options: Options, jobs: int, workers: int | None, scheduler: str | None,
          threads: int | None) -> Cluster:
    """Connect to ``scheduler`` or start a local cluster; every worker runs WorkerSetup (weights preloaded)."""
    from distributed import Client, LocalCluster
    logging.getLogger("distributed").setLevel(logging.ERROR)
    preload = options if options.mode != "preview" else None
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as err:
            raise MedColorError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
        try:
            cluster = Cluster(client, None, _remote_resources(client, options.device), len(client.nthreads()))
        except MedColorError:
            client.close()
            raise
    else:
        gpus = local_gpus(options.device)
        n = workers or (min(gpus, jobs) if gpus else default_workers(options, jobs))
        threads = threads or max(1, cores() // n)
        local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                             silence_logs=logging.ERROR, resources={"GPU": 1} if gpus else None)
        cluster = Cluster(Client(local), local, {"GPU": 1} if gpus else None, n)
    cluster.client.register_plugin(WorkerSetup(threads, preload))
    return cluster


def _remote_resources(client, device: str) -> dict[str, float] | None:
    """--device cuda on an existing cluster: tasks need the GPU resource, which some worker must offer."""
    if device != "cuda":
        return None
    workers = client.scheduler_info().get("workers", {})
    if workers and not any(w.get("resources", {}).get("GPU") for w in workers.values()):
        raise MedColorError("--device cuda: no worker of the cluster offers the resource GPU; start GPU workers "
                            "with `--resources GPU=1`")
    return {"GPU": 1}
