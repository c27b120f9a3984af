"""The SLURM example of docs/batch.md, as far as a machine without SLURM allows: dask-jobqueue builds the
cluster and its job script and starts the scheduler; the job script is then run by bash here, as sbatch would
run it on a node, and `medcolor batch --scheduler` colours a real volume on that worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from MedColorLib.cli.main import dispatch

pytest.importorskip("dask_jobqueue")


def _slurm_cluster(**extra):
    """docs/batch.md's GPU cluster (8 cores and one GPU per job, one task slot per worker)."""
    from dask_jobqueue import SLURMCluster
    return SLURMCluster(queue="gpu", cores=1, processes=1, job_cpu=8, memory="32GB", walltime="04:00:00",
                        job_extra_directives=["--gres=gpu:1"], worker_extra_args=["--resources", "GPU=1"],
                        **extra)


def test_the_job_script_asks_slurm_for_a_gpu_and_gives_the_worker_the_gpu_resource():
    with _slurm_cluster(python="python", job_script_prologue=["source ~/medcolor/.venv/bin/activate"]) as cluster:
        script = cluster.job_script()
        assert cluster.scheduler_address.startswith("tcp://")
    for line in ("#SBATCH -p gpu", "#SBATCH --cpus-per-task=8", "#SBATCH --gres=gpu:1",
                 "source ~/medcolor/.venv/bin/activate"):
        assert line in script, line
    worker = script.strip().splitlines()[-1]
    assert worker.startswith("python -m distributed.cli.dask_worker tcp://")
    assert "--nthreads 1" in worker and "--resources GPU=1" in worker


@pytest.mark.slow
def test_the_job_script_run_by_hand_gives_a_worker_that_colours_a_volume(data_dir, tmp_path):
    from dask_jobqueue import SLURMCluster
    # the CPU variant (no GPU here): same layout without the GPU directive and resource
    with SLURMCluster(cores=1, processes=1, job_cpu=2, memory="4GB", python=sys.executable) as cluster:
        script = tmp_path / "job.sh"
        script.write_text(cluster.job_script())
        worker = subprocess.Popen(["bash", str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            from distributed import Client
            with Client(cluster.scheduler_address, timeout="30s") as client:
                client.wait_for_workers(1, timeout=120)
            out = tmp_path / "out"
            assert dispatch(["batch", str(data_dir / "mri" / "dipy_aniso_vox.nii.gz"), "-o", str(out), "--scheduler",
                             cluster.scheduler_address, "--reference",
                             str(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png"), "--mode", "preview",
                             "--quiet"]) == 0
        finally:
            worker.terminate()
            worker.wait(60)
    summary = json.loads((out / "batch_summary.json").read_text())
    assert summary["counts"]["done"] == 1 and summary["workers"] == 1
    assert Path(summary["volumes"][0]["output"]).is_file()
