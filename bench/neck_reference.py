"""The neck reference against the head reference it replaced, on the only neck anatomy in ../shared/data: the top
24 slices (48 mm) of the 512x512x141 chest CT (thoracic inlet: trachea, clavicles, shoulder girdle, neck muscles).
The slab is coloured twice with default options and the default library (volume mode, trained medical VGG16, CPU),
region forced to neck (its own reference, dicompyler-core's slice) and to head (what a neck input got before);
CIELAB of the mean colour per HU class on the whole slab (MedColorLib.evaluation.tissues). Writes
bench/results/neck_reference.json and docs/neck_reference.png (per region: the top slice | the reference).

    MEDCOLOR_LIBRARY=/tmp/lib python bench/neck_reference.py [--out docs]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
CHEST = "ct/itkelastix_chest_ct_phase00.nii.gz"
SLAB = 24


def main(argv: list[str] | None = None) -> int:
    from MedColorLib.evaluation.tissues import check_acceptance, tissue_table
    from MedColorLib.io.images import load_reference
    from MedColorLib.io.volumes import read_volume
    from MedColorLib.options import Options
    from MedColorLib.pipeline.volume import colorize_volume
    from results_io import write_results

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    chest = read_volume(DATA / CHEST)
    # (K, J, I) array: K is the slice axis, superior last (LPS+ affine); the slab keeps the top SLAB slices
    slab = replace(chest, array=np.ascontiguousarray(chest.array[-SLAB:]),
                   origin=tuple(np.asarray(chest.origin) + np.asarray(chest.direction).reshape(3, 3)[:, 2]
                                * chest.spacing[2] * (chest.array.shape[0] - SLAB)))
    figures, tiles = {"input": f"{CHEST}, top {SLAB} slices", "shape": list(slab.array.shape)}, []
    for region in ("neck", "head"):
        result = colorize_volume(slab, Options(mode="volume", weights="medical", device="cpu", size=224),
                                 library_tags={"region": region})
        table = tissue_table(slab.array, result.rgba, "CT")
        ref = result.report["reference"]
        figures[region] = {"reference": Path(ref["path"]).name, "why": ref["why"], "tissues": table,
                           "acceptance": check_acceptance(table, contrast=False)}
        reference = np.round(load_reference(ref["path"]) * 255).astype(np.uint8)
        tiles += [result.rgba[-3, ..., :3], np.asarray(Image.fromarray(reference).resize(result.rgba.shape[2:0:-1]))]
    out = Path(args.out)
    Image.fromarray(np.concatenate(tiles, 1)).resize((256 * len(tiles), 256), Image.LANCZOS).save(
        out / "neck_reference.png")
    write_results("neck_reference", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
