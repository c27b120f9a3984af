"""A CT truth with calibrated luma: each real CT of ../shared/data is rendered slice by slice exactly as the library's
CT references are (``body_slices``: tissues from HU, the measured/published palette over the soft-tissue window),
turned gray and coloured from the default library (its region's reference, rendered from another patient's CT),
then compared with its own rendering: mean Delta E_ab (a*b* distance; the luma is kept) over the body. Run for
several weights of the luma in the correspondence search (Options.luma_match; 1 was the default, 8 is the default
for a CT in its reference's window), and preview mode as a classical baseline. Trained medical VGG16, CPU. Writes bench/results/ct_truth.json.

    MEDCOLOR_LIBRARY=/tmp/lib python bench/ct_truth.py [--weights 1,4,8,12]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
VOLUMES = {"abdomen_ct_dicom": "ct/totalseg_example_ct_dicom", "abdomen_ct": "ct/totalseg_example_ct_sm.nii.gz",
           "chest_ct": "ct/itkelastix_chest_ct_phase00.nii.gz"}


def truth(name: str) -> tuple[object, np.ndarray, np.ndarray, str]:
    """(volume, truth (N, H, W, 3) uint8 display slices, body (N, H, W) bool, region)."""
    from MedColorLib import prepare
    from MedColorLib.io.volumes import read_volume
    from MedColorLib.reference.regions import decide_region
    from MedColorLib.reference.body_slices import CT_WINDOW
    from MedColorLib.reference.tissues import body_mask, compose, ct_tissues

    volume = read_volume(DATA / VOLUMES[name])
    region = decide_region(volume).region
    axis = prepare.check_volume(volume)
    view = prepare.slice_view(volume.direction, axis)
    low, high = prepare.CT_PRESETS[CT_WINDOW]
    pixel_mm = prepare.in_plane_mm(volume, axis)
    rgb, body = [], []
    for raw in prepare.iter_slices(volume.array, axis):
        hu = np.asarray(prepare.to_display(raw, view), np.float64)
        rgb.append(compose(prepare.apply_window(hu, low, high), ct_tissues(hu, pixel_mm, region)))
        body.append(body_mask(hu, pixel_mm))
    return volume, np.stack(rgb), np.stack(body), region


def main(argv: list[str] | None = None) -> int:
    from MedColorLib import prepare
    from MedColorLib.metrics.truth import chroma_error_map
    from MedColorLib.options import Options
    from MedColorLib.pipeline.volume import colorize_volume
    from results_io import write_results

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="1,4,8,12")
    parser.add_argument("--volumes", default=",".join(VOLUMES))
    args = parser.parse_args(argv)
    results = {}
    for name in args.volumes.split(","):
        volume, true_rgb, body, region = truth(name)
        axis = prepare.check_volume(volume)
        view = prepare.slice_view(volume.direction, axis)
        row = {"file": VOLUMES[name], "region": region, "body_voxels": int(body.sum())}
        runs = {f"luma_match {float(w):g}": Options(mode="volume", weights="medical", device="cpu", luma_match=float(w))
                for w in args.weights.split(",")}
        runs["preview (per-cluster histogram transfer, no network)"] = Options(mode="preview", device="cpu")
        for label, options in runs.items():
            result = colorize_volume(volume, options)
            out = np.stack([prepare.to_display(s, view)[..., :3] for s in prepare.iter_slices(result.rgba, axis)])
            error = np.concatenate([chroma_error_map(o / 255.0, t / 255.0)[b] for o, t, b in zip(out, true_rgb, body)])
            row[label] = {"delta_e_ab": round(float(error.mean()), 3),
                          "reference": Path(result.report["reference"]["path"]).name}
        results[name] = row
        print(name, json.dumps(row), file=sys.stderr)
    write_results("ct_truth", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
