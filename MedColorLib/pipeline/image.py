"""Paper mode on one 2-D image, with its figures and provenance (the 2-D counterpart of ``pipeline.volume``)."""

from __future__ import annotations

import time

import numpy as np

from MedColorLib.io.report import provenance
from MedColorLib.options import Options
from MedColorLib.types import ProgressFn


def colorize_image(gray: np.ndarray, reference: np.ndarray, options: Options, ref_info: dict,
                   progress: ProgressFn | None = None) -> dict:
    """(H, W) gray in [0, 1] -> the report, with the (H, W, 3) uint8 result under "rgb"."""
    from MedColorLib.engine.slices import colorize_slices, network
    from MedColorLib.metrics import image as metrics

    t0 = time.perf_counter()
    net = network(options)
    res = colorize_slices(net, gray[None], reference, options, progress=progress)
    seconds = time.perf_counter() - t0
    rgb = res.rgb[0]
    figures = metrics.summary(rgb / 255.0, gray, reference)
    figures["out_of_gamut"] = metrics.out_of_gamut_fraction(res.out_of_gamut[0])
    device = str(next(net.parameters()).device)
    return {"seconds": seconds, **provenance(options, net.label, device, ref_info), "metrics": figures, "rgb": rgb}
