"""Bilateral-grid propagation on real slices: one read of the blended grid equals blending the two reads."""

from __future__ import annotations

import numpy as np
import torch

from conftest import load_gray, load_rgb
from MedColorLib.engine.color import luma
from MedColorLib.pipeline.propagate import blend, prior, read, splat

CELL, BINS = 4.0, 16


def _grid(gray: np.ndarray, rgb: np.ndarray) -> torch.Tensor:
    colour = torch.as_tensor(rgb).permute(2, 0, 1)[None]
    return splat(torch.as_tensor(gray), (colour - luma(colour))[0], CELL, BINS)


def test_blend_between_keys_equals_the_blend_of_both_reads(data_dir):
    gray = load_gray(data_dir / "mri" / "itk_BrainT1Slice.png", 64)
    colours = [load_rgb(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png", 64), np.full((64, 64, 3), 0.5, np.float32)]
    colours[1][..., 0] = gray  # a second key coloured differently: red follows intensity
    grids = [_grid(gray, c) for c in colours]
    weak = prior(grids)
    target = torch.as_tensor(gray[::-1].copy())  # a slice between the keys, unlike both
    z, keys = 3.0, [0.0, 10.0]
    t = 0.3
    both = (1 - t) * read(grids[0], target, CELL) + t * read(grids[1], target, CELL)
    d = weak.shape[1]
    both = both + weak[:, (target * (d - 1)).round().long().clamp(0, d - 1), 0, 0]
    expected = both[:3] / both[3:].clamp_min(1e-12)
    got = blend(z, keys, grids, weak, target, CELL)
    assert torch.allclose(got, expected, atol=1e-5)
    at_key = blend(0.0, keys, grids, weak, target, CELL)  # on a key slice only that key's grid counts
    assert not torch.allclose(at_key, got, atol=1e-3)
    assert torch.allclose(blend(10.0, keys, grids, weak, target, CELL),
                          blend(10.0, keys, [grids[1], grids[1]], weak, target, CELL))
