"""The command line on real files: outputs, reports, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from PIL import Image

from MedColorLib.cli.main import dispatch
from MedColorLib.io.volumes import read_color_volume, read_nrrd_header

FAST = ["--weights", "random", "--size", "64", "--iterations", "3,3", "--quiet"]


@pytest.fixture()
def files(data_dir, tmp_path):
    return {"mr": data_dir / "mri" / "itk_BrainT1Slice.png", "ct_dcm": data_dir / "ct" / "pydicom_CT_small.dcm",
            "ref": data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png",
            "ct": data_dir / "ct" / "totalseg_example_ct_sm.nii.gz", "out": tmp_path}


def _error(capsys, argv) -> str:
    assert dispatch(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("medcolor: error:") and "\n" not in err and "Traceback" not in err, err
    return err


def test_colorize_2d_writes_image_and_report(files):
    out, report = files["out"] / "c.png", files["out"] / "r.json"
    assert dispatch(["colorize", str(files["ct_dcm"]), "-o", str(out), "--reference", str(files["ref"]),
                     "--report", str(report), *FAST]) == 0
    rgb = np.asarray(Image.open(out))
    assert rgb.shape == (128, 128, 3)
    data = json.loads(report.read_text())
    for key in ("seconds", "device", "weights", "mode", "reference", "params"):
        assert key in data, key
    assert data["weights"].startswith("random") and data["mode"] == "volume"   # a 2-D image is its own key slice
    assert {"network", "correspondence", "optimisation", "imaging"} <= set(data["timing"]) and data["peak_memory_mb"] > 0
    for key in ("ssim_gray", "psnr_gray", "chroma_distance", "air_chroma"):
        assert key in data["metrics"], key
    assert data["metrics"]["ssim_gray"] > 0.99  # the luma is the input's
    assert data["params"]["init"] == "correspondence" and data["params"]["loss"]["match"] == 1e5


def test_a_2d_image_by_default_gets_the_correspondence_alone(files):
    report = files["out"] / "r.json"
    assert dispatch(["colorize", str(files["mr"]), "-o", str(files["out"] / "c.png"), "--reference", str(files["ref"]),
                     "--report", str(report), "--weights", "random", "--size", "64", "--quiet"]) == 0
    data = json.loads(report.read_text())
    assert data["mode"] == "volume" and data["params"]["iterations"] == [0, 0]
    assert "optimisation" not in data["timing"] and data["timing"]["correspondence"] > 0


def test_paper_objective_flags_reach_the_engine_and_change_the_colours(files):
    outs = [files["out"] / f"{n}.png" for n in ("default", "paper")]
    common = ["--reference", str(files["ref"]), *FAST]
    assert dispatch(["colorize", str(files["mr"]), "-o", str(outs[0]), *common]) == 0
    assert dispatch(["colorize", str(files["mr"]), "-o", str(outs[1]), "--init", "input", "--match-weight", "0",
                     "--report", str(files["out"] / "p.json"), *common]) == 0
    params = json.loads((files["out"] / "p.json").read_text())["params"]
    assert params["init"] == "input" and params["loss"]["match"] == 0
    assert not np.array_equal(*(np.asarray(Image.open(o)) for o in outs))


def test_colorize_2d_from_a_library_records_the_distance(files, tmp_path):
    lib = tmp_path / "lib"
    (lib / "real").mkdir(parents=True)
    shutil.copy(files["ref"], lib / "real")
    assert dispatch(["library", "index", str(lib)]) == 0
    report = tmp_path / "r.json"
    assert dispatch(["colorize", str(files["mr"]), "-o", str(tmp_path / "c.png"), "--library", str(lib),
                     "--report", str(report), *FAST]) == 0
    ref = json.loads(report.read_text())["reference"]
    assert ref["path"].endswith("itk_VisibleWomanHeadSlice.png") and isinstance(ref["hamming_distance"], int)


def test_colorize_volume_writes_rgba_nrrd_preview_and_report(files, tmp_path):
    out, preview, report = tmp_path / "c.nrrd", tmp_path / "p.png", tmp_path / "r.json"
    assert dispatch(["colorize", str(files["ct"]), "-o", str(out), "--reference", str(files["ref"]), "--mode", "preview",
                     "--preview", str(preview), "--report", str(report), "--quiet"]) == 0
    rgba, geometry, meta = read_color_volume(out)
    src = sitk.ReadImage(str(files["ct"]))
    assert rgba.shape == (*sitk.GetArrayFromImage(src).shape, 4)
    assert np.allclose(geometry.spacing, src.GetSpacing()) and np.allclose(geometry.origin, src.GetOrigin(), atol=1e-4)
    fields, _ = read_nrrd_header(out)
    assert fields["kinds"].startswith("RGBA-color")
    assert json.loads(meta["MedColor.window"])["name"] == "soft-tissue"
    assert Image.open(preview).size[0] > 200
    assert json.loads(report.read_text())["metrics"]["ssim_gray"] > 0.99


def test_ctrl_c_leaves_no_output(files, tmp_path, monkeypatch):
    from MedColorLib.cli import progressbar

    def interrupt(self, p):
        raise KeyboardInterrupt

    monkeypatch.setattr(progressbar.ProgressBar, "__call__", interrupt)
    out = tmp_path / "c.nrrd"
    assert dispatch(["colorize", str(files["ct"]), "-o", str(out), "--reference", str(files["ref"]), *FAST]) == 130
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_give_one_line_errors_and_no_output(files, tmp_path, capsys, data_dir):
    out = tmp_path / "c.png"
    base = ["-o", str(out), *FAST]
    assert "not found" in _error(capsys, ["colorize", str(tmp_path / "missing.png"), "--reference", str(files["ref"]), *base])
    assert "colour" in _error(capsys, ["colorize", str(files["ref"]), "--reference", str(files["ref"]), *base])
    assert "gray" in _error(capsys, ["colorize", str(files["mr"]), "--reference", str(files["mr"]), *base])
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.arange(400, dtype=np.uint8).reshape(20, 20)).save(tiny)
    assert "smaller" in _error(capsys, ["colorize", str(tiny), "--reference", str(files["ref"]), *base])
    epi = data_dir / "mri" / "nibabel_example4d_epi.nii.gz"
    assert "4-D" in _error(capsys, ["colorize", str(epi), "--reference", str(files["ref"]), "-o", str(tmp_path / "v.nrrd"), *FAST])
    nan = tmp_path / "nan.nrrd"
    arr = np.random.default_rng(0).random((4, 40, 40)).astype(np.float32)
    arr[1, 2, 3] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(nan))
    assert "NaN" in _error(capsys, ["colorize", str(nan), "--reference", str(files["ref"]), "-o", str(tmp_path / "v.nrrd"), *FAST])
    wrong = tmp_path / "vgg11.pth"  # VGG16 and VGG19 are both accepted since the weights resolver (issue 13)
    from torchvision.models import vgg11
    torch.save(vgg11(weights=None).state_dict(), wrong)
    args = ["colorize", str(files["mr"]), "--reference", str(files["ref"]), "-o", str(out), "--weights", str(wrong), "--quiet"]
    assert "VGG19" in _error(capsys, args)
    assert "window" in _error(capsys, ["colorize", str(files["ct"]), "--reference", str(files["ref"]), "--window", "240,-160",
                                       "-o", str(tmp_path / "v.nrrd"), *FAST]).lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.nrrd", "tiny.png", "vgg11.pth"]


def test_luma_match_is_taken_from_the_command_line_and_checked(files, tmp_path, capsys):
    """--luma-match wins over the automatic weight and is recorded; with a pinned picture the default is 1."""
    report = tmp_path / "r.json"
    common = [str(files["ct"]), "--reference", str(files["ref"]), "--weights", "random", "--size", "48",
              "--key-slices", "1", "--report", str(report), "--quiet"]
    assert dispatch(["colorize", *common, "-o", str(tmp_path / "a.nrrd"), "--luma-match", "2.5"]) == 0
    assert json.loads(report.read_text())["params"]["luma_match"] == 2.5
    assert dispatch(["colorize", *common, "-o", str(tmp_path / "b.nrrd")]) == 0
    assert json.loads(report.read_text())["params"]["luma_match"] == 1.0     # a user's picture: not calibrated
    assert "luma" in _error(capsys, ["colorize", *common, "-o", str(tmp_path / "c.nrrd"), "--luma-match", "-1"])
    assert not (tmp_path / "c.nrrd").exists()
