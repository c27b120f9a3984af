"""Whole volumes on a real CT: modes, geometry, consistency across slices, cancel."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from MedColorLib import prepare
from MedColorLib.errors import CancelledError, MedColorError
from MedColorLib.options import Options
from MedColorLib.pipeline.volume import colorize_volume
from MedColorLib.io.volumes import read_volume
from MedColorLib.metrics.volume import flicker

from conftest import load_rgb


@pytest.fixture(scope="module")
def ct(data_dir):
    """The abdomen CT, cropped in-plane to 64 x 64 around the body and to 10 slices (real HU values)."""
    v = read_volume(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz")
    return replace(v, array=np.ascontiguousarray(v.array[10:20, 20:84, 30:94]))


@pytest.fixture(scope="module")
def reference(data_dir):
    return load_rgb(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png", 96)


def _opts(mode: str, **kw) -> Options:
    return Options(mode=mode, weights="random", size=64, iterations=(4, 4), key_slices=3, **kw)


def _axial(volume, res):
    """Output and windowed input, slices first (raw storage order, both)."""
    axis, w = prepare.axial_axis(volume.direction), res.report["window"]
    return np.moveaxis(res.rgba, axis, 0), prepare.apply_window(np.moveaxis(volume.array, axis, 0), w["low"], w["high"])


@pytest.fixture(scope="module")
def runs(ct, reference):
    # the crop has little air, so the CT preset is named explicitly (auto-detection needs 5 % below -500 HU)
    return {mode: colorize_volume(ct, _opts(mode), reference=reference, window="soft_tissue")
            for mode in ("paper", "volume", "preview")}


def test_output_has_the_input_layout_and_transparent_air(ct, runs):
    for mode, res in runs.items():
        assert res.rgba.shape == (*ct.array.shape, 4) and res.rgba.dtype == np.uint8, mode
        rgba, gray = _axial(ct, res)
        dark = rgba[..., 3][gray < 0.01]
        assert (dark <= 3).all() and (dark == 0).mean() > 0.9, f"{mode}: air is not transparent"
        assert rgba[..., 3][gray > 0.5].min() > 100, mode
        assert res.report["mode"] == mode and res.report["window"]["name"] == "soft-tissue"


def test_luma_is_the_windowed_input_in_every_mode(ct, runs):
    for mode, res in runs.items():
        rgba, gray = _axial(ct, res)
        luma = rgba[..., :3].astype(float) @ np.array([0.299, 0.587, 0.114]) / 255
        assert np.abs(luma - gray).max() <= 1 / 255 + 1e-6, mode


def test_volume_mode_keeps_tissue_colour_steady_across_slices(ct, runs):
    # the same tissue gets the same colour on neighbouring slices: far less flicker than per-slice paper mode
    tissue = {}
    for mode in ("paper", "volume"):
        rgba, gray = _axial(ct, runs[mode])
        tissue[mode] = flicker(rgba[..., :3], gray, gray > 0.05)
    assert tissue["volume"] < 0.5 * tissue["paper"], tissue
    rgba, _ = _axial(ct, runs["volume"])
    assert np.ptp(rgba[..., :3].astype(int), axis=-1).mean() > 2, "volume mode output has no colour"


def test_same_seed_same_output_and_input_untouched(ct, reference):
    before = ct.array.copy()
    a = colorize_volume(ct, _opts("volume"), reference=reference).rgba
    b = colorize_volume(ct, _opts("volume"), reference=reference).rgba
    assert np.array_equal(a, b) and np.array_equal(ct.array, before)


def test_cancel_stops_the_run(ct, reference):
    calls = []
    with pytest.raises(CancelledError):
        colorize_volume(ct, _opts("volume"), reference=reference, cancel=lambda: len(calls) > 2,
                        progress=calls.append)


def test_storage_order_does_not_change_the_colours(ct, reference):
    # the same physical volume stored with the slice axis last colours the same axial slices
    flipped = replace(ct, array=np.ascontiguousarray(np.moveaxis(ct.array, 0, 2)),
                      direction=ct.direction[:, [2, 0, 1]], spacing=(ct.spacing[2], ct.spacing[0], ct.spacing[1]))
    a = colorize_volume(ct, _opts("preview"), reference=reference).rgba
    b = colorize_volume(flipped, _opts("preview"), reference=reference).rgba
    assert np.array_equal(np.moveaxis(b, 2, 0), a)


def test_bad_volumes_are_refused(ct, reference, tmp_path):
    with pytest.raises(MedColorError, match="constant"):
        colorize_volume(replace(ct, array=np.zeros_like(ct.array)), _opts("volume"), reference=reference)
    with pytest.raises(MedColorError, match="LOW"):
        colorize_volume(ct, _opts("volume"), reference=reference, window="240,-160")
    with pytest.raises(MedColorError, match="library"):   # no reference: a library, which must be indexed
        colorize_volume(ct, _opts("volume"), library=tmp_path)


def test_gpu_out_of_memory_halves_the_batch_then_uses_the_cpu(ct, reference, monkeypatch):
    # a GPU cannot be had in CI: the device is reported as cuda and colorize_slices fails with the real
    # torch OutOfMemoryError while the batch is large or the device is not the CPU
    from MedColorLib.engine import device as engine_device
    from MedColorLib.engine import slices as pipeline2d
    real = pipeline2d.colorize_slices
    seen = []

    def fake_device(name):
        return torch.device("cpu") if name == "cpu" else torch.device("cuda")

    def network_on_cpu(options):
        return real.__globals__["load_vgg"](options.weights, "cpu", options.seed)

    def colorize(net, gray, ref, opts, **kw):
        seen.append((opts.device, len(gray)))
        if opts.device != "cpu":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(net, gray, ref, opts, **kw)

    monkeypatch.setattr(engine_device, "resolve_device", fake_device)
    monkeypatch.setattr(pipeline2d, "network", network_on_cpu)
    monkeypatch.setattr(pipeline2d, "colorize_slices", colorize)
    messages = []
    res = colorize_volume(ct, _opts("volume"), reference=reference, window="soft_tissue", progress=messages.append)
    assert seen[:3] == [("cuda", 3), ("cuda", 1), ("cpu", 1)]  # halve the batch, then move to the CPU
    assert all(d == "cpu" for d, _ in seen[2:]) and res.report["device"] == "cpu"
    assert res.rgba.shape == (*ct.array.shape, 4)
    assert any(m.stage == "out of memory" and "cpu" in m.message for m in messages)
