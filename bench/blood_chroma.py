"""Where the contrast blood class (100..250 HU) gets or loses its chroma, stage by stage, on a real CT with the
default library and default options (trained medical VGG16): the gamut bound (the library's blood colour painted
on every class voxel at its own luma: the most any reference can give), the correspondence on the key slices,
after the post-filter and imaging, after propagation, and on the whole volume. CIELAB of the mean colour.

    MEDCOLOR_LIBRARY=/tmp/lib python bench/blood_chroma.py ../shared/data/ct/totalseg_example_ct_dicom [...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def stages(path: str) -> dict:
    """The class's CIELAB figures per stage for one CT."""
    from MedColorLib import prepare
    from MedColorLib.engine.correspondence import correspondence_chroma, with_chroma
    from MedColorLib.engine.slices import colorize_slices, network, resize_batch
    from MedColorLib.evaluation.tissues import lab_of_mean
    from MedColorLib.io.volumes import read_volume
    from MedColorLib.options import Options
    from MedColorLib.pipeline.volume import colorize_volume, display_slices, key_slice_indices, with_luma_match
    from MedColorLib.reference.resolve import resolve_reference
    from MedColorLib.reference.tissues import compose

    volume = read_volume(path)
    axis = prepare.check_volume(volume)
    low, high, _ = prepare.choose_window(volume, None)
    view = prepare.slice_view(volume.direction, axis)
    gray, air = display_slices(volume.array, axis, view, low, high)
    keys = key_slice_indices(air, 4)
    hu = np.stack([prepare.to_display(prepare.take_slice(volume.array, axis, k), view) for k in keys])
    cls = (hu >= 100) & (hu < 250)
    reference, info = resolve_reference(volume, list(gray))
    options = with_luma_match(Options(mode="volume", weights="medical", device="cpu").check(), info, (low, high))
    net = network(options)
    size = min(options.size, max(gray.shape[1:]))
    gray_t = resize_batch(gray[keys], size, torch.device("cpu"))
    chroma = correspondence_chroma(net, gray_t, resize_batch(reference[None], size, torch.device("cpu")),
                                   luma_weight=options.luma_weight())
    corr = np.round(with_chroma(gray_t, chroma).permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
    hu_small = F.interpolate(torch.as_tensor(hu, dtype=torch.float32)[:, None], size=(size, size), mode="nearest")
    cls_small = ((hu_small >= 100) & (hu_small < 250))[:, 0].numpy()
    bound = np.stack([compose(g, {"blood": np.ones(g.shape, bool)}, soften=0) for g in gray[keys]])
    keyed = colorize_slices(net, gray[keys], reference, options).rgb
    result = colorize_volume(volume, options)
    shown = np.stack([prepare.to_display(prepare.take_slice(result.rgba, axis, k), view) for k in keys])[..., :3]
    every = (volume.array >= 100) & (volume.array < 250)
    return {"file": path, "reference": Path(info["path"]).name, "luma_match": options.luma_match,
            "class_voxels": int(every.sum()),
            "bound": lab_of_mean(bound[cls]), "correspondence": lab_of_mean(corr[cls_small]),
            "key_slices": lab_of_mean(keyed[cls]), "propagated_key_slices": lab_of_mean(shown[cls]),
            "whole_volume": lab_of_mean(result.rgba[..., :3][every])}


def main(argv: list[str] | None = None) -> int:
    paths = (argv if argv is not None else sys.argv[1:]) or ["../shared/data/ct/totalseg_example_ct_dicom"]
    print(json.dumps([stages(p) for p in paths], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
