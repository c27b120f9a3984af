"""medcolor evaluate: aggregation (mean/sd), the report on a two-pair configuration, bad configurations."""

from __future__ import annotations

import json
import math

import pytest

from MedColorLib.cli.main import build_parser
from MedColorLib.errors import MedColorError
from MedColorLib.evaluation.pairs import ablation_variants
from MedColorLib.evaluation.config import load_config
from MedColorLib.evaluation.report import aggregate, mean_sd, table


def test_mean_sd_skips_missing_and_infinite_values():
    agg = mean_sd([1.0, 2.0, 3.0, None, math.inf])
    assert (agg.mean, agg.sd, agg.n) == (2.0, 1.0, 3)        # sample sd (ddof = 1)
    assert mean_sd([5.0]).sd == 0.0
    assert mean_sd([None]).mean is None and mean_sd([]).text() == "—"
    assert mean_sd([0.5, 0.7]).text(2) == "0.60 ± 0.14"


def test_aggregate_groups_by_keys_in_first_seen_order():
    records = [{"modality": "CT", "method": "paper", "ssim_gray": 0.9}, {"modality": "MR", "method": "paper", "ssim_gray": 0.5},
               {"modality": "CT", "method": "paper", "ssim_gray": 0.7}, {"modality": "CT", "method": "welsh", "ssim_gray": None}]
    rows = aggregate(records, ("modality", "method"), ("ssim_gray",))
    assert [(r["modality"], r["method"], r["n"]) for r in rows] == [("CT", "paper", 2), ("MR", "paper", 1), ("CT", "welsh", 1)]
    assert rows[0]["ssim_gray"].mean == pytest.approx(0.8) and rows[0]["ssim_gray"].sd == pytest.approx(0.1414, abs=1e-4)
    assert rows[2]["ssim_gray"].mean is None
    lines = table(records, ("modality", "method"), ("ssim_gray",))
    assert lines[0].startswith("| modality | method | n | SSIM(gray)") and len(lines) == 5
    assert "| CT | paper | 2 | 0.800 ± 0.141 |" in lines


def test_ablation_variants_cover_the_papers_tables():
    groups = [g for g, _, _ in ablation_variants({"gamma": [1, 100], "ratio": [1e2], "luma_l1": [1]})]
    assert groups[0] == "reference" and groups.count("loss terms (Fig. 13/14)") == 2
    changes = dict((label, c) for _, label, c in ablation_variants({"ratio": [1e3]}))
    assert changes["colour + Y"] == {"content": 0.0, "swap": 0.0}
    assert changes["lambda/gamma=1000 (lambda=10000)"] == {"luma": 1e4}


def _config(tmp_path, data_dir, **extra) -> str:
    config = {"settings": {"size": 48, "iterations": [2, 1], "side": 48, "device": "cpu"},
              "methods": ["paper", "reinhard", "cluster_histogram"],
              "pairs": [{"name": "mr_t1", "modality": "MR", "target": str(data_dir / "mri" / "itk_BrainT1Slice.png"),
                         "reference": str(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png")},
                        {"name": "ct_small", "modality": "CT", "target": str(data_dir / "ct" / "pydicom_CT_small.dcm"),
                         "reference": str(data_dir / "color_ref" / "skimage_ihc.png"), "reference_kind": "pseudo"}],
              **extra}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_report_on_two_pairs(tmp_path, data_dir):
    config = _config(tmp_path, data_dir, ablations={"pairs": ["mr_t1"], "iterations": [1, 1], "loss_combinations": False,
                                                    "gamma": [], "ratio": [], "luma_l1": [1]})
    args = build_parser().parse_args(["evaluate", config, "--out", str(tmp_path / "out"), "--weights", "random", "--quiet"])
    assert args.func(args) == 0
    md = (tmp_path / "out" / "evaluation.md").read_text()
    assert "Random VGG19 weights" in md and "48x48 px" in md and "L-BFGS 2+1" in md
    for row in ("| MR | paper | 1 |", "| CT | reinhard | 1 |", "| MR | cluster_histogram | 1 |", "| aY (Fig. 8) | aY=1 | 1 |"):
        assert row in md
    data = json.loads((tmp_path / "out" / "evaluation" / "figures.json").read_text())
    two_d = [r for r in data["records"] if r["section"] == "2d"]
    assert len(two_d) == 6 and {r["pair"] for r in two_d} == {"mr_t1", "ct_small"}
    kept = [r for r in two_d if r["method"] in ("paper", "cluster_histogram")]   # these keep the input's luma
    assert len(kept) == 4 and all(r["ssim_gray"] > 0.99 and r["fsim"] > 0.99 for r in kept)
    assert all(r[f] is not None for r in two_d for f in ("fsim", "entropy", "colourfulness", "chroma_distance"))
    assert data["settings"]["weights"] == "random"
    pngs = sorted(p.name for p in (tmp_path / "out" / "evaluation").glob("*.png"))
    assert pngs == ["2d_ct_small.png", "2d_mr_t1.png", "ablations_mr_t1.png"]
    assert all(f"evaluation/{name}" in md for name in pngs)


@pytest.mark.parametrize("case", ["missing", "not json", "no pairs", "missing key", "unknown method",
                                  "unknown setting", "target not found", "bad iterations", "bad notes"])
def test_bad_config_is_a_medcolor_error(case, tmp_path, data_dir):
    path = tmp_path / "c.json"
    config = json.loads(open(_config(tmp_path, data_dir)).read())
    if case == "not json":
        path.write_text("{pairs: oops")
    elif case != "missing":
        if case == "no pairs":
            config["pairs"] = []
        elif case == "missing key":
            del config["pairs"][0]["reference"]
        elif case == "unknown method":
            config["methods"] = ["paper", "magic"]
        elif case == "unknown setting":
            config["settings"]["colour"] = 3
        elif case == "target not found":
            config["pairs"][0]["target"] = "nope.png"
        elif case == "bad notes":
            config["notes"] = "one string, not a list"
        else:
            config["settings"]["iterations"] = [-1, 2]
        path.write_text(json.dumps(config))
    with pytest.raises(MedColorError) as err:
        load_config(tmp_path / "absent.json" if case == "missing" else path)
    assert "\n" not in str(err.value)


def test_volume_section_reports_flicker_and_distance_to_paper(tmp_path, data_dir):
    path = tmp_path / "vol.json"
    path.write_text(json.dumps({
        "notes": ["**Read me:** a note from whoever ran it."],
        "settings": {"size": 48, "iterations": [2, 1], "device": "cpu", "key_slices": 2, "metric_slices": 2},
        "volumes": [{"name": "ct_vol", "modality": "CT volume", "target": str(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz"),
                     "reference": str(data_dir / "color_ref" / "skimage_ihc.png"), "slices": [14, 18], "stride": 2,
                     "modes": ["paper", "volume"], "baselines": ["reinhard"]}]}))
    args = build_parser().parse_args(["evaluate", str(path), "--out", str(tmp_path / "out"), "--weights", "random",
                                      "--quiet"])
    assert args.func(args) == 0
    data = json.loads((tmp_path / "out" / "evaluation" / "figures.json").read_text())
    by = {r["method"]: r for r in data["records"] if r["section"] == "volume"}
    assert set(by) == {"paper", "volume", "reinhard"} and all(r["slices"] == 4 for r in by.values())
    assert by["paper"]["delta_e_to_paper"] == 0                      # paper against itself
    assert by["volume"]["delta_e_to_paper"] > 0 and by["reinhard"]["delta_e_to_paper"] > by["volume"]["delta_e_to_paper"]
    assert all(r["flicker"] >= 0 and r["context_spread"] >= 0 for r in by.values())
    md = (tmp_path / "out" / "evaluation.md").read_text()
    assert "Delta E to paper" in md and "\n\n**Read me:** a note from whoever ran it.\n" in md
