"""The ground-truth benchmark: a two-pair configuration through `medcolor evaluate`, its figures and report,
and bad sections as one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.color import rgb2lab

from MedColorLib.cli.main import build_parser
from MedColorLib.errors import MedColorError
from MedColorLib.evaluation.config import load_config
from MedColorLib.evaluation.ground_truth import check_section, load_truth_pair, source_rgb, wins
from MedColorLib.evaluation.runner import run_evaluation

VW = "color_ref/itk_VisibleWomanHeadSlice.png"


def _config(tmp_path, data_dir, **section) -> str:
    gt = {"methods": ["gray", "welsh", "cluster_histogram", "paper",
                      {"label": "paper k=3", "k": 3, "loss": {"swap": 0.0}},
                      {"label": "paper from welsh", "start": "welsh"}],
          "pairs": [{"name": "vw_left", "kind": "real", "modality": "cryosection",
                     "truth": {"image": str(data_dir / VW), "crop": [0, 0, 1, 0.5]},
                     "reference": {"image": str(data_dir / VW), "crop": [0, 0.5, 1, 1]}},
                    {"name": "mni_mr", "kind": "pseudo", "truth": {"mni": "mr", "view": "axial", "mm": 8},
                     "reference": {"mni": "mr", "view": "axial", "mm": 24}}], **section}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"settings": {"size": 48, "iterations": [2, 1], "side": 64, "device": "cpu"},
                                "ground_truth": gt}))
    return str(path)


def test_sources_crop_and_render(data_dir):
    full = source_rgb({"image": data_dir / VW, "crop": (0, 0, 1, 1)})
    left = source_rgb({"image": data_dir / VW, "crop": (0, 0, 1, 0.5)})
    assert left.shape == (full.shape[0], full.shape[1] // 2, 3) and np.array_equal(left, full[:, :full.shape[1] // 2])
    mni = source_rgb({"mni": "mr", "view": "axial", "mm": 8})
    assert mni.ndim == 3 and np.ptp(mni, axis=-1).max() > 0.2   # a colour rendering, not gray


def test_report_on_two_pairs(tmp_path, data_dir):
    config = _config(tmp_path, data_dir)
    args = build_parser().parse_args(["evaluate", config, "--out", str(tmp_path / "out"), "--name", "gt",
                                      "--weights", "random", "--quiet"])
    assert args.func(args) == 0
    data = json.loads((tmp_path / "out" / "gt" / "figures.json").read_text())
    recs = [r for r in data["records"] if r["section"] == "ground_truth"]
    assert len(recs) == 12 and {r["pair"] for r in recs} == {"vw_left", "mni_mr"}
    by = {(r["pair"], r["method"]): r for r in recs}
    # "gray" is the input itself: its error is the truth's mean chroma, its colourfulness 0
    loaded = load_config(config)
    truth, gray, _ = load_truth_pair(check_section(loaded, loaded["root_dir"])["pairs"][0], loaded["settings"])
    assert truth.shape[0] == 64 and np.allclose(gray, truth @ [0.299, 0.587, 0.114], atol=1e-6)
    chroma = np.hypot(*np.moveaxis(rgb2lab(truth)[..., 1:], -1, 0)).mean()
    assert by[("vw_left", "gray")]["delta_e_ab"] == pytest.approx(chroma, abs=0.3)
    assert by[("vw_left", "gray")]["colourfulness_ratio"] == pytest.approx(0, abs=1e-6)
    # a real classical transfer from the other half beats no colour on the cryosection
    assert by[("vw_left", "welsh")]["delta_e_ab"] < by[("vw_left", "gray")]["delta_e_ab"]
    for pair in ("vw_left", "mni_mr"):   # MedColor keeps the luma and reports its gamut figure
        for m in ("paper", "paper k=3", "paper from welsh"):
            assert by[(pair, m)]["ssim_gray"] > 0.99 and 0 <= by[(pair, m)]["out_of_gamut"] <= 1
        assert by[(pair, "welsh")]["out_of_gamut"] is None
    md = (tmp_path / "out" / "gt.md").read_text()
    assert "## Colours against the truth" in md and "| vw_left | real |" in md and "| **mean** |" in md
    assert "lower Delta E than every baseline on" in md and "Random VGG19 weights" in md
    pngs = sorted(p.name for p in (tmp_path / "out" / "gt").glob("*.png"))
    assert pngs == ["truth_mni_mr.png", "truth_vw_left.png"] and all(f"gt/{n}" in md for n in pngs)


def test_wins_counts_pairs_below_every_baseline():
    recs = [{"pair": p, "method": m, "delta_e_ab": v} for p, m, v in [
        ("a", "paper", 5.0), ("a", "welsh", 6.0), ("a", "xiao_ma", 7.0),
        ("b", "paper", 9.0), ("b", "welsh", 8.0), ("b", "xiao_ma", 10.0)]]
    won, n, change = wins(recs, "paper")
    assert (won, n) == (1, 2) and change == pytest.approx(7.0 / 7.0 - 1)


@pytest.mark.parametrize("case", ["no pairs", "bad kind", "missing truth", "bad crop", "not found", "bad method",
                                  "bad option", "bad start", "bad mni"])
def test_bad_sections_are_one_line_errors(case, tmp_path, data_dir):
    raw = json.loads(open(_config(tmp_path, data_dir)).read())
    gt, pair = raw["ground_truth"], raw["ground_truth"]["pairs"][0]
    if case == "no pairs":
        gt["pairs"] = []
    elif case == "bad kind":
        pair["kind"] = "fake"
    elif case == "missing truth":
        del pair["truth"]
    elif case == "bad crop":
        pair["truth"]["crop"] = [0.5, 0, 0.2, 1]
    elif case == "not found":
        pair["reference"]["image"] = "nope.png"
    elif case == "bad method":
        gt["methods"] = ["magic"]
    elif case == "bad option":
        gt["methods"] = [{"label": "x", "colour": 2}]
    elif case == "bad start":
        gt["methods"] = [{"label": "x", "start": "magic"}]
    else:
        gt["pairs"][1]["truth"]["mni"] = "pet"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(MedColorError) as err:
        config = load_config(path)
        run_evaluation(config)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_trained_network_brings_colours_closer_to_the_truth_than_gray(tmp_path, data_dir):
    # the regression the issue names: with random weights MedColor was further from the truth than no colour
    from MedColorLib.engine.vgg import load_vgg
    try:
        load_vgg("medical")
    except MedColorError as err:
        pytest.skip(f"trained weights unavailable here: {err}")
    config = load_config(_config(tmp_path, data_dir, methods=["gray", "paper"]),
                         {"weights": "medical", "size": 64, "side": 64, "iterations": [40, 40]})
    config["ground_truth"]["pairs"] = config["ground_truth"]["pairs"][:1]      # the real cryosection pair
    result = run_evaluation(config)
    by = {r["method"]: r for r in result["records"]}
    assert by["paper"]["delta_e_ab"] < 0.75 * by["gray"]["delta_e_ab"]
    assert by["paper"]["ssim_gray"] > 0.99 and by["paper"]["air_chroma"] < 0.02
