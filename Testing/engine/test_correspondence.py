"""The deep-feature correspondence: the principal-component search finds what the full search finds, a repeated
reference is analysed once, and the result is the same bytes twice."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from MedColorLib.engine import correspondence as corr
from MedColorLib.engine.color import luma
from MedColorLib.engine.vgg import load_vgg


ALL_AXES = corr.principal_axes


def _brute_force(net, gray: torch.Tensor, reference: torch.Tensor, luma_weight: float = 1.0) -> torch.Tensor:
    """The definition, written out: every layer upsampled to full size, normalised, all channels + the weighted
    luma, the nearest of the evenly spaced reference pixels -> (2, H, W) chroma."""
    def features(g):
        maps = net(g.expand(-1, 3, -1, -1), corr.MATCH_LAYERS)
        parts = [F.normalize(F.interpolate(maps[n], size=g.shape[-2:], mode="bilinear", align_corners=False), dim=1)
                 for n in corr.MATCH_LAYERS]
        return torch.cat([torch.cat(parts, 1) / len(parts) ** 0.5, g * luma_weight], 1)[0].flatten(1).T
    keys = features(luma(reference[None]))
    flat = corr.sample_positions(reference.shape[-2:], corr.REFERENCE_SAMPLES, keys.device)
    from kornia.color import rgb_to_ycbcr
    values = rgb_to_ycbcr(reference[None])[0, 1:].flatten(1).T[flat]
    return values[torch.cdist(features(gray), keys[flat]).argmin(1)].T.reshape(2, *gray.shape[-2:])


def test_all_components_give_the_full_search_and_few_components_stay_close(brain_t1, visible_woman, monkeypatch):
    net = load_vgg("random", "cpu", seed=0)
    gray = torch.as_tensor(brain_t1)[None, None]
    ref = torch.as_tensor(visible_woman).permute(2, 0, 1).contiguous()
    exact = _brute_force(net, gray, ref)
    # every component: the projection is a rotation, the distances are the full search's
    monkeypatch.setattr(corr, "principal_axes", functools.partial(ALL_AXES, dims=10_000))
    full = corr.correspondence_chroma(net, gray, ref[None])[0]
    assert (full - exact).abs().max() < 1e-6
    monkeypatch.undo()
    few = corr.correspondence_chroma(net, gray, ref[None])[0]   # MATCH_DIMS components
    assert (few - exact).abs().mean() < 0.25 * (exact - exact.mean((1, 2), keepdim=True)).abs().mean()


def test_a_repeated_reference_is_analysed_once_and_the_result_repeats(brain_t1, visible_woman, monkeypatch):
    net = load_vgg("random", "cpu", seed=0)
    gray = torch.as_tensor(brain_t1)[None, None].repeat(3, 1, 1, 1)
    ref = torch.as_tensor(visible_woman).permute(2, 0, 1)[None].repeat(3, 1, 1, 1)
    calls = []
    original = corr.reference_keys
    monkeypatch.setattr(corr, "reference_keys", lambda *a, **k: calls.append(1) or original(*a, **k))
    first = corr.correspondence_chroma(net, gray, ref)
    assert len(calls) == 1 and first.shape == (3, 2, 64, 64)
    assert torch.equal(first[0], first[2]) and torch.equal(first, corr.correspondence_chroma(net, gray, ref))


def test_principal_axes_are_orthonormal_sorted_and_sign_fixed():
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(500, 20, generator=g) * torch.linspace(3, 0.1, 20)
    mean, basis = corr.principal_axes(keys, 5)
    assert basis.shape == (20, 5) and torch.allclose(basis.T @ basis, torch.eye(5), atol=1e-5)
    variances = ((keys - mean) @ basis).var(0)
    assert torch.all(variances[:-1] >= variances[1:])
    _, flipped = corr.principal_axes(-keys + 2 * mean, 5)      # the mirrored cloud has the same axes
    assert torch.allclose(basis, flipped, atol=1e-5)


def test_the_luma_weight_is_the_definitions_scale_of_the_luma(brain_t1, visible_woman, monkeypatch):
    """With every component kept, the search with luma_weight w is the brute-force search on [features, w * luma]."""
    net = load_vgg("random", "cpu", seed=0)
    gray = torch.as_tensor(brain_t1)[None, None]
    ref = torch.as_tensor(visible_woman).permute(2, 0, 1).contiguous()
    monkeypatch.setattr(corr, "principal_axes", functools.partial(ALL_AXES, dims=10_000))
    exact = _brute_force(net, gray, ref, luma_weight=8.0)
    assert (corr.correspondence_chroma(net, gray, ref[None], luma_weight=8.0)[0] - exact).abs().max() < 1e-6
    assert not torch.equal(exact, _brute_force(net, gray, ref))


def test_a_heavier_luma_weight_matches_pixels_of_the_same_luma(brain_t1, visible_woman):
    """A reference whose Cb encodes its own luma (in gamut: Y in 0.2..0.8) reads back, through the match, the luma
    of the reference pixel each target pixel took: the heavier the weight, the closer it is to the target's."""
    from kornia.color import ycbcr_to_rgb

    net = load_vgg("random", "cpu", seed=0)
    y = 0.2 + 0.6 * luma(torch.as_tensor(visible_woman).permute(2, 0, 1)[None])       # (1, 1, h, w)
    ref = ycbcr_to_rgb(torch.cat([y, 0.5 + 0.2 * (y - 0.5), torch.full_like(y, 0.5)], 1))
    assert ref.min() >= 0 and ref.max() <= 1
    gray = 0.2 + 0.6 * torch.as_tensor(brain_t1)[None, None]
    errors = []
    for weight in (1.0, 8.0, 100.0):
        cb = corr.correspondence_chroma(net, gray, ref, luma_weight=weight)[0, 0]
        errors.append(float(((0.5 + (cb - 0.5) / 0.2) - gray[0, 0]).abs().mean()))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.02, errors
