"""One 2-D image, with its figures and provenance (the 2-D counterpart of ``pipeline.volume``): the image is its
own key slice, so ``volume`` mode is the deep-feature correspondence (``refine``: plus the loss stack), ``paper``
the paper's optimisation, ``preview`` per-cluster chroma matching without a network."""

from __future__ import annotations

import time

import numpy as np

from MedColorLib.io.report import provenance
from MedColorLib.options import Options
from MedColorLib.types import ProgressFn, peak_memory_mb


def colorize_image(gray: np.ndarray, reference: np.ndarray, options: Options, ref_info: dict,
                   progress: ProgressFn | None = None) -> dict:
    """(H, W) gray in [0, 1] -> the report, with the (H, W, 3) uint8 result under "rgb"."""
    from MedColorLib.metrics import image as metrics

    t0 = time.perf_counter()
    options.check()
    if options.mode == "preview":
        from MedColorLib.baselines.transfers import cluster_histogram
        from MedColorLib.engine.slices import check_gray, check_reference
        check_gray(gray[None])
        check_reference(reference, options.size)
        rgb = np.round(cluster_histogram(gray, reference, options.k) * 255).astype(np.uint8)
        label, device, timing, gamut = "none (preview: no network)", "cpu", {}, None
    else:
        from MedColorLib.engine.slices import colorize_slices, network
        t_net = time.perf_counter()
        net = network(options)
        timing = {"network": time.perf_counter() - t_net}
        res = colorize_slices(net, gray[None], reference, options, progress=progress)
        rgb, label, device, gamut = res.rgb[0], net.label, str(next(net.parameters()).device), res.out_of_gamut[0]
        timing.update(res.seconds)
    seconds = time.perf_counter() - t0
    figures = metrics.summary(rgb / 255.0, gray, reference)
    if gamut is not None:
        figures["out_of_gamut"] = metrics.out_of_gamut_fraction(gamut)
    return {"seconds": seconds, **provenance(options, label, device, ref_info), "metrics": figures,
            "timing": {k: round(v, 3) for k, v in timing.items()}, "peak_memory_mb": peak_memory_mb(), "rgb": rgb}
