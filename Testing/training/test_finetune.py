"""medcolor finetune: the loss falls from random weights on real images, the file loads, bad input errors."""

from __future__ import annotations

import pytest
import torch

from conftest import load_gray, load_rgb
from MedColorLib.cli.main import build_parser
from MedColorLib.errors import MedColorError
from MedColorLib.training.finetune import FinetuneSettings, finetune, finetune_files, save_state
from MedColorLib.engine.vgg import load_vgg

FAST = dict(weights="random", steps=5, size=64, batch=1, lr=1e-5, augment=False, device="cpu")


@pytest.fixture(scope="module")
def trained(data_dir):
    refs = [load_rgb(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png", 64)]
    grays = [load_gray(data_dir / "mri" / "itk_BrainT1Slice.png", 64)]
    return finetune(refs, grays, FinetuneSettings(**FAST))


def test_loss_falls_from_random_weights(trained):
    assert len(trained.losses) == FAST["steps"]
    assert trained.losses[-1] < 0.95 * trained.losses[0]
    assert all(b < a for a, b in zip(trained.losses, trained.losses[1:]))   # one fixed batch: Adam descends
    assert trained.start_label.startswith("random")


def test_saved_state_loads_and_differs_from_start(trained, tmp_path):
    path = save_state(trained.state, tmp_path / "vgg_med.pth")
    tuned, start = load_vgg(str(path)), load_vgg("random", seed=0)
    tuned_w, start_w = tuned.layers.state_dict(), start.layers.state_dict()
    assert tuned_w.keys() == start_w.keys()
    assert any(not torch.equal(tuned_w[k], start_w[k]) for k in tuned_w)
    assert all(torch.equal(tuned_w[k], trained.state[k]) for k in tuned_w)


def test_command_writes_a_loadable_file(data_dir, tmp_path, capsys):
    out = tmp_path / "tuned.pth"
    args = build_parser().parse_args(["finetune", "--references", str(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png"),
                   "--images", str(data_dir / "mri" / "itk_BrainT1Slice.png"), "--out", str(out),
                   "--weights", "random", "--steps", "2", "--size", "48", "--batch", "1", "--device", "cpu", "--quiet"])
    assert args.func(args) == 0
    assert "loss" in capsys.readouterr().out
    load_vgg(str(out))


@pytest.mark.parametrize("case", ["missing reference", "gray reference", "no steps", "missing folder", "tiny size"])
def test_bad_input_is_a_one_line_error(case, data_dir, tmp_path):
    ref = str(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png")
    refs, out, settings = [ref], tmp_path / "w.pth", FinetuneSettings(**FAST)
    if case == "missing reference":
        refs = [str(tmp_path / "nope.png")]
    elif case == "gray reference":
        refs = [str(data_dir / "mri" / "itk_BrainT1Slice.png")]
    elif case == "no steps":
        settings.steps = 0
    elif case == "missing folder":
        out = tmp_path / "absent" / "w.pth"
    else:
        settings.size = 16
    with pytest.raises(MedColorError) as err:
        finetune_files([], refs, out, settings)
    assert "\n" not in str(err.value)
    assert not out.exists()
