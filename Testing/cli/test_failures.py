"""Bad inputs, faults and signals against `medcolor colorize` / `medcolor library` (issue 14), on real files
and corrupted copies: each case exits with its status, prints one `medcolor: error:` line, leaves no file
behind (hidden ones included) and changes no input byte."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import hostile_cases
import nibabel as nib
import numpy as np
import pytest
import torch

from MedColorLib.cli.main import dispatch

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
REF = DATA / "color_ref" / "itk_VisibleWomanHeadSlice.png"
CT = DATA / "ct" / "totalseg_example_ct_sm.nii.gz"
T1 = DATA / "mri" / "itk_BrainT1Slice.png"
PREVIEW = ["--reference", str(REF), "--mode", "preview", "--weights", "random", "--quiet"]
FAST_2D = ["--reference", str(REF), "--weights", "random", "--size", "64", "--iterations", "2,2", "--quiet"]


# ------------------------------------------------------------------------------------------ helpers
def snapshot(root: Path) -> dict[str, str]:
    """Every entry under root (hidden ones too) -> sha256 of its bytes, or its link target / 'dir'."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            elif not path.is_file():  # a FIFO: never read (it would block)
                out[rel] = "special"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_cli(argv: list[str], capfd, limit_s: int = 120) -> tuple[int, str]:
    """dispatch() in this process; (exit status, everything written to stderr incl. C-level ITK output). A run
    that blocks (a FIFO opened) is stopped by an alarm after ``limit_s`` and fails the test."""
    def hung(signum, frame):
        raise TimeoutError(f"medcolor {' '.join(argv[:2])} still running after {limit_s} s (blocked?)")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(limit_s)
    try:
        code = dispatch(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, capfd.readouterr().err


def nifti(path: Path, array: np.ndarray, zooms=(1.0, 1.0, 1.0)) -> Path:
    image = nib.Nifti1Image(array, np.diag([*zooms, 1.0]))
    image.header.set_zooms(zooms)
    nib.save(image, str(path))
    return path


def _tmpfs(folder: Path, options: str, why: str):
    """Mount a tmpfs with these options on a new folder (root only, else skip); unmount it afterwards."""
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                           capture_output=True).returncode:
        pytest.skip(f"needs root to mount {why}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture()
def ro_mount(tmp_path):
    """An empty read-only tmpfs (root only); always unmounted."""
    yield from _tmpfs(tmp_path / "ro", "ro,size=200k", "a read-only tmpfs")


@pytest.fixture()
def full_mount(tmp_path):
    """A 200 KiB tmpfs: too small for the colour volume (root only); always unmounted."""
    yield from _tmpfs(tmp_path / "full", "size=200k", "a tmpfs")


# -------------------------------------------------------------------------------- the case table
def _ct(t: Path) -> Path:
    return Path(shutil.copy(CT, t / "in" / "ct.nii.gz"))


def _t1(t: Path) -> Path:
    return Path(shutil.copy(T1, t / "in" / "t1.png"))


def _loop(path: Path) -> Path:
    os.symlink(path.name, path)
    return path


def _truncated(t: Path) -> Path:
    data = CT.read_bytes()
    path = t / "in" / "half.nii.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def _float_ct(t: Path, bad: float, everywhere: bool) -> Path:
    array = np.asanyarray(nib.load(str(CT)).dataobj).astype(np.float32)
    if everywhere:
        array[:] = bad
    else:
        array[3:5, 10:20, 4:6] = bad
    return nifti(t / "in" / "bad.nii.gz", array, (3.0, 3.0, 3.0))


def _with_spacing(t: Path, value: float) -> Path:
    """The CT as .nii (qform only) whose pixdim[2] is patched to ``value`` in the header bytes."""
    array = np.asanyarray(nib.load(str(CT)).dataobj).astype(np.int16)
    image = nib.Nifti1Image(array, np.diag([3.0, 3.0, 3.0, 1.0]))
    image.set_qform(image.affine, code=1)
    image.set_sform(None, code=0)
    path = t / "in" / "spacing.nii"
    nib.save(image, str(path))
    data = bytearray(path.read_bytes())
    data[84:88] = np.float32(value).tobytes()  # pixdim[2] (pixdim starts at byte 76)
    path.write_bytes(bytes(data))
    return path


def _mixed_dicom(t: Path) -> Path:
    import pydicom

    folder = t / "in" / "mixed"
    folder.mkdir()
    for n, src in enumerate([DATA / "ct" / "pydicom_CT_small.dcm", DATA / "mri" / "pydicom_MR_small.dcm"]):
        ds = pydicom.dcmread(src)
        del ds.SeriesInstanceUID
        ds.save_as(folder / f"{n}.dcm")
    return folder


def _npz(t: Path) -> Path:
    path = t / "in" / "ct.npz"
    np.savez(path, volume=np.zeros((4, 32, 32), np.int16))
    return path


def _weights_dir(t: Path) -> Path:
    (t / "in" / "weights").mkdir()
    return t / "in" / "weights"


def _dicom_copy(t: Path) -> Path:
    return Path(shutil.copytree(DATA / "ct" / "totalseg_example_ct_dicom", t / "in" / "dicom"))


def _tiny(t: Path) -> Path:
    array = np.random.default_rng(0).integers(-1000, 1000, (2, 2, 100)).astype(np.int16)
    return nifti(t / "in" / "tiny.nii.gz", array)


O = lambda t: str(t / "out" / "o.nrrd")  # noqa: E731
CASES = {
    # data loss
    "report-is-the-input": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW, "--report", str(t / "in" / "ct.nii.gz")], "input"),
    "report-is-the-2d-input": (lambda t: ["colorize", str(_t1(t)), "-o", str(t / "out" / "c.png"), *FAST_2D,
                                          "--report", str(t / "in" / "t1.png")], "input"),
    "preview-is-the-reference": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), "--mode", "preview", "--weights", "random",
                                            "--quiet", "--reference", str(shutil.copy(REF, t / "in" / "ref.png")),
                                            "--preview", str(t / "in" / "ref.png")], "input"),
    "report-is-the-output": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW, "--report", O(t)], "same file"),
    "output-inside-dicom-folder": (lambda t: ["colorize", str(_dicom_copy(t)), "-o", str(t / "in" / "dicom" / "o.nrrd"),
                                              *PREVIEW], "input"),
    "-o-is-the-input": (lambda t: ["colorize", str(_ct(t)), "-o", str(t / "in" / "ct.nii.gz"), *PREVIEW], "input"),
    # one transaction: every destination checked before computing
    "preview-folder-missing": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW,
                                          "--preview", str(t / "out" / "no" / "p.png")], "does not exist"),
    "preview-wrong-extension": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW,
                                           "--preview", str(t / "out" / "p.gif")], "unknown file type"),
    "report-wrong-extension": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW,
                                          "--report", str(t / "out" / "r.nrrd")], "unknown file type"),
    "output-is-a-folder": (lambda t: ["colorize", str(_ct(t)), "-o", str(t / "out"), *PREVIEW], "unknown file type"),
    "output-folder-named-nrrd": (lambda t: ["colorize", str(_ct(t)), "-o", str((t / "out" / "d.nrrd").mkdir() or
                                                                                t / "out" / "d.nrrd"), *PREVIEW], "is a folder"),
    "output-symlink-loop": (lambda t: ["colorize", str(_ct(t)), "-o", str(_loop(t / "out" / "loop.nrrd")), *PREVIEW],
                            "symbolic link loop"),
    "output-wrong-extension": (lambda t: ["colorize", str(_ct(t)), "-o", str(t / "out" / "o.png"), *PREVIEW], "unknown file type"),
    # corrupt input refused
    "truncated-nii-gz": (lambda t: ["colorize", str(_truncated(t)), "-o", O(t), *PREVIEW], "truncated"),
    "all-nan-nifti": (lambda t: ["colorize", str(_float_ct(t, np.nan, True)), "-o", O(t), *PREVIEW], "NaN"),
    "partly-inf-nifti": (lambda t: ["colorize", str(_float_ct(t, np.inf, False)), "-o", O(t), *PREVIEW], "NaN or infinite"),
    "slices-too-small": (lambda t: ["colorize", str(_tiny(t)), "-o", O(t), *PREVIEW], "at least 16x16 px"),
    "zero-spacing": (lambda t: ["colorize", str(_with_spacing(t, 0.0)), "-o", O(t), *PREVIEW], "spacing 0"),
    "huge-spacing": (lambda t: ["colorize", str(_with_spacing(t, 1e30)), "-o", O(t), *PREVIEW], "spacing 1e+30"),
    # messages
    "dicom-folder-mixing-sizes": (lambda t: ["colorize", str(_mixed_dicom(t)), "-o", O(t), *PREVIEW], "several sizes or series"),
    "npz-input": (lambda t: ["colorize", str(_npz(t)), "-o", O(t), *PREVIEW], "input format .npz of"),
    "library-index-a-file": (lambda t: ["library", "index", str(_ct(t))], "is a file, not a folder"),
    "weights-a-directory": (lambda t: ["colorize", str(_t1(t)), "-o", str(t / "out" / "c.png"), "--reference", str(REF),
                                       "--weights", str(_weights_dir(t)), "--quiet"], "is a directory"),
    "window-not-finite": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW, "--window", "nan,inf"], "finite"),
    "input-symlink-loop": (lambda t: ["colorize", str(_loop(t / "in" / "loop.nii.gz")), "-o", O(t), *PREVIEW], "symbolic link loop"),
    "volume-as-reference": (lambda t: ["colorize", str(_t1(t)), "-o", str(t / "out" / "c.png"), "--weights", "random",
                                       "--quiet", "--reference", str(_ct(t))], "is a volume"),
    "negative-iterations": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW, "--iterations", "-3,3"], "--iterations"),
    "window-spelling": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW, "--window", "softest"], "soft_tissue, lung"),
    "negative-match-weight": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW, "--match-weight", "-1"],
                              "correspondence weight"),
    "unknown-init": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW, "--init", "zeros"], "correspondence"),
    # already right before issue 14: kept
    "input-missing": (lambda t: ["colorize", str(t / "in" / "missing.nii.gz"), "-o", O(t), *PREVIEW], "not found"),
    "output-folder-missing": (lambda t: ["colorize", str(_ct(t)), "-o", str(t / "out" / "no" / "o.nrrd"), *PREVIEW], "does not exist"),
    "4d-input": (lambda t: ["colorize", str(DATA / "mri" / "nibabel_example4d_epi.nii.gz"), "-o", O(t), *PREVIEW], "4-D"),
    "window-reversed": (lambda t: ["colorize", str(_ct(t)), "-o", O(t), *PREVIEW, "--window", "240,-160"], "smaller than HIGH"),
}
CASES.update(hostile_cases.ISSUE)  # issue 23: the second hostile round
CASES.update(hostile_cases.OWN)    # issue 23: our own pass over the same families


@pytest.mark.parametrize("name", list(CASES))
def test_bad_case_is_one_line_and_writes_nothing(name, tmp_path, capfd, data_dir):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    if name == "cuda-in-preview-without-gpu" and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    make_argv, words = CASES[name]
    argv = make_argv(tmp_path)
    before, ref_before = snapshot(tmp_path), hashlib.sha256(REF.read_bytes()).hexdigest()
    code, err = run_cli(argv, capfd)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("medcolor: error: "), err
    for word in (words,) if isinstance(words, str) else words:
        assert word in lines[0], lines[0]
    if name == "window-spelling":
        assert "soft-tissue" not in lines[0]
    assert snapshot(tmp_path) == before  # nothing added (hidden files too), no input byte changed
    assert hashlib.sha256(REF.read_bytes()).hexdigest() == ref_before


def test_read_only_destinations_are_found_before_computing(tmp_path, ro_mount, capfd, data_dir, monkeypatch):
    from MedColorLib.pipeline import volume as pipeline_volume

    def never(*args, **kwargs):
        raise AssertionError("computed although a destination is read-only")

    monkeypatch.setattr(pipeline_volume, "colorize_volume", never)
    (tmp_path / "out").mkdir()
    before = snapshot(tmp_path)
    for argv in (["colorize", str(CT), "-o", str(ro_mount / "o.nrrd"), *PREVIEW],
                 ["colorize", str(CT), "-o", str(tmp_path / "out" / "o.nrrd"), *PREVIEW, "--report", str(ro_mount / "r.json")],
                 ["library", "build", str(ro_mount / "lib")]):
        code, err = run_cli(argv, capfd)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("medcolor: error: "), err
        assert "read-only" in lines[0].lower(), lines[0]
    assert snapshot(tmp_path) == before


def test_disk_full_leaves_nothing(tmp_path, full_mount, capfd, data_dir):
    before = snapshot(tmp_path)
    code, err = run_cli(["colorize", str(CT), "-o", str(full_mount / "o.nrrd"), *PREVIEW,
                         "--preview", str(full_mount / "p.png")], capfd)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "disk full" in lines[0], err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("fault", ["preview-fails", "report-fails", "ctrl-c-after-volume"])
def test_a_late_failure_removes_the_volume_already_written(fault, tmp_path, capfd, data_dir, monkeypatch):
    import errno

    from MedColorLib.io import report as report_io
    from MedColorLib.pipeline import preview

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    if fault == "preview-fails":
        monkeypatch.setattr(preview.Image.Image, "save", full)
    elif fault == "report-fails":
        monkeypatch.setattr(report_io.Path, "write_text", full)
    else:
        monkeypatch.setattr(preview, "montage", interrupt)
    code, err = run_cli(["colorize", str(CT), "-o", str(tmp_path / "o.nrrd"), *PREVIEW, "--preview",
                         str(tmp_path / "p.png"), "--report", str(tmp_path / "r.json")], capfd)
    assert code == (130 if fault == "ctrl-c-after-volume" else 2), err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_run_leaves_nothing(sig, tmp_path, data_dir):
    """The CLI as a subprocess; the signal arrives after its first progress output."""
    out = tmp_path / "o.nrrd"
    argv = [sys.executable, "-m", "MedColorLib", "colorize", str(CT), "-o", str(out), "--reference", str(REF),
            "--weights", "random", "--size", "64", "--iterations", "30,30", "--key-slices", "4"]
    proc = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    first = proc.stderr.read(1)  # tqdm draws the first progress line
    assert first, "no progress output"
    proc.send_signal(sig)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, (first + rest).decode(errors="replace")
    assert rest.decode().strip().splitlines()[-1].endswith("medcolor: cancelled; nothing was written")
    assert list(tmp_path.iterdir()) == []


def test_two_identical_runs_give_identical_bytes(tmp_path, capfd, data_dir):
    runs = []
    for n in range(2):
        folder = tmp_path / str(n)
        folder.mkdir()
        files = [folder / "o.nrrd", folder / "o.nii.gz"]
        for out in files:
            assert run_cli(["colorize", str(CT), "-o", str(out), *PREVIEW], capfd)[0] == 0
        runs.append([f.read_bytes() for f in files])
    assert runs[0] == runs[1]


def test_third_party_warnings_stay_off_stderr(tmp_path, capfd, data_dir):
    """A DICOM series whose slices hold two values (scikit-learn: ConvergenceWarning for 4 clusters): the run
    succeeds and stderr stays empty. (A missing slice, which made ITK warn, is refused since issue 23.)"""
    import pydicom

    folder = Path(shutil.copytree(DATA / "ct" / "totalseg_example_ct_dicom", tmp_path / "dicom"))
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        ds.decompress()
        pixels = ds.pixel_array
        ds.PixelData = np.where(pixels > pixels.mean(), pixels.max(), pixels.min()).astype(pixels.dtype).tobytes()
        ds.save_as(path)
    code, err = run_cli(["colorize", str(folder), "-o", str(tmp_path / "o.nrrd"), *PREVIEW], capfd)
    assert code == 0 and err.strip() == "", err


def test_short_reason_cuts_at_a_word_and_skips_itk_locations():
    from MedColorLib.errors import short_reason

    long = RuntimeError("the quick brown fox jumps over the lazy dog " * 10)
    text = short_reason(long)
    assert text.endswith("...") and len(text) <= 210
    assert str(long).startswith(text[:-3]) and str(long)[len(text) - 3] == " "
    itk = RuntimeError("Exception thrown in SimpleITK ImageFileReader_Execute: /src/sitkImageReaderBase.cxx:99:\n"
                       "sitk::ERROR: Unable to determine ImageIO reader for \"x.npz\"")
    assert short_reason(itk) == "Unable to determine ImageIO reader for \"x.npz\""
