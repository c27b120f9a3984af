"""The volume ground truth: the rendered MNI volume is its own truth, every mode runs through the real pipeline,
and the figures are measured against that truth (random weights here: the mechanics; docs/performance.md has
the trained network's figures)."""

from __future__ import annotations

import numpy as np
import pytest

from MedColorLib.errors import MedColorError
from MedColorLib.evaluation.config import Settings
from MedColorLib.evaluation.volume_truth import check_section, evaluate_volume_truth, render_truth, truth_volume
from MedColorLib.metrics.truth import delta_e_ab


def test_the_truth_is_the_library_rendering_and_its_gray_is_the_input():
    truth, ref = render_truth((0, 8), 4, 40)
    assert truth.shape[0] == 3 and truth.shape[-1] == 3 and ref.shape[-1] == 3
    volume = truth_volume(truth, 4)
    assert volume.array.shape == truth.shape[:3] and volume.spacing == (4.0, 4.0, 4.0)
    chroma = np.ptp(truth, axis=-1)
    assert chroma[volume.array > 0.05].mean() > 0.03      # tissue is coloured, not gray
    assert not np.allclose(truth[0], ref)                  # the reference lies outside the volume


def test_every_mode_is_closer_to_the_truth_than_gray():
    config = {"settings": Settings(weights="random", size=48, key_slices=2),
              "volume_truth": {"axial_mm": [0, 12], "step_mm": 4, "reference_mm": 40,
                               "modes": [{"label": "paper", "mode": "paper", "iterations": [0, 0]},
                                         {"label": "volume", "mode": "volume"},
                                         {"label": "preview", "mode": "preview"}]}}
    records, images = evaluate_volume_truth(config, lambda line: None)
    by = {r["method"]: r for r in records}
    assert set(by) == {"paper", "volume", "preview", "truth itself"}
    assert by["truth itself"]["delta_e_ab"] < 1e-3 and by["truth itself"]["slices"] == 4
    truth = images["volume_truth"]["truth"] / 255.0
    gray = np.repeat(images["volume_truth"]["gray"][..., None], 3, -1)
    gray_error = np.mean([delta_e_ab(g, t) for g, t in zip(gray, truth)])
    for mode in ("paper", "volume", "preview"):
        assert by[mode]["delta_e_ab"] < gray_error, (mode, by[mode]["delta_e_ab"], gray_error)
        assert len(by[mode]["delta_e_per_slice"]) == 4 and np.isfinite(by[mode]["flicker"])


@pytest.mark.parametrize("raw, message", [
    ({"axial_mm": [0, 20], "reference_mm": 10}, "lies inside the volume"),
    ({"axial_mm": [20, 0]}, "must rise"),
    ({"modes": [{"label": "x", "mode": "fast"}]}, "needs a label and a mode"),
    ([1, 2], "must be an object")])
def test_bad_sections_are_refused_in_one_line(raw, message):
    with pytest.raises(MedColorError, match=message):
        check_section(raw)
