"""Engine options: the fast default (the correspondence alone), refinement on request, the paper's schedule."""

from __future__ import annotations

import pytest

from MedColorLib.errors import MedColorError
from MedColorLib.options import DEFAULT_ITERATIONS, Options


def test_volume_mode_is_the_correspondence_alone_unless_refined():
    assert Options(mode="volume").check().iterations == (0, 0)
    assert Options(mode="volume", refine=True).check().iterations == DEFAULT_ITERATIONS["volume"] == (100, 100)
    assert Options(mode="paper").check().iterations == (1000, 1000)     # the paper's schedule stays
    assert Options(mode="preview").check().iterations == (0, 0)
    assert Options(mode="volume", iterations=(5, 7)).check().iterations == (5, 7)   # explicit counts win


def test_refining_a_preview_is_refused():
    with pytest.raises(MedColorError, match="preview mode uses no network"):
        Options(mode="preview", refine=True).check()


def test_the_luma_weight_is_unset_by_default_and_checked_when_given():
    assert Options().check().luma_match is None and Options().luma_weight() == 1.0
    assert Options(luma_match=0).check().luma_weight() == 0.0          # 0 is a weight (features alone), not "unset"
    for bad, why in ((-1, "out of range"), (float("nan"), "finite"), ("8", "must be a number"), (True, "number")):
        with pytest.raises(MedColorError, match=f"luma_match.*{why}"):
            Options(luma_match=bad).check()
