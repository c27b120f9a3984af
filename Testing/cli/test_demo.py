"""`medcolor demo`, the README's first command: the embedded MNI volume, a reference from the default library it
builds, and its four files (random weights here: the mechanics; the README's picture is the medical VGG16's)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from MedColorLib.cli.main import dispatch
from MedColorLib.io.volumes import read_color_volume


def test_demo_writes_its_four_files_with_a_brain_mr_reference(tmp_path, capsys):
    out = tmp_path / "demo"
    assert dispatch(["demo", "--out", str(out), "--weights", "random", "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "volume" and report["params"]["iterations"] == [0, 0]
    assert report["reference"]["reference_tags"]["region"] == "head"
    assert report["reference"]["reference_tags"]["modality"] == "MR"
    rgba, _, _ = read_color_volume(out / "mni152_colour.nrrd")
    assert rgba.ndim == 4 and rgba.shape[-1] == 4 and rgba[..., 3].max() > 0
    picture = np.asarray(Image.open(out / "demo.png"))
    assert picture.shape[0] == 256 and picture.shape[-1] == 3
    assert (out / "preview.png").stat().st_size > 0
    assert "MedColor demo" in capsys.readouterr().out
