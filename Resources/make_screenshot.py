"""Make Resources/screenshot.png with MedColor's own headless Slicer rendering: the abdomen CT colorized in
preview mode (no network needed), shown as an axial slice view beside the 3-D volume rendering.

    .venv/bin/python Resources/make_screenshot.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from MedColorLib.slicer import mrml
from MedColorLib.slicer import scene as slicer_scene
from MedColorLib.io.images import load_reference
from MedColorLib.options import Options


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "screenshot.png"))
    args = ap.parse_args()
    data = Path(args.data)
    app = slicer_scene.create_headless_slicer()
    ct = slicer_scene.load_volume(app, data / "ct" / "totalseg_example_ct_sm.nii.gz", "abdomen CT")
    ref = load_reference(data / "color_ref" / "itk_VisibleWomanHeadSlice.png")
    colour = mrml.run_colorization(ct, options=Options(mode="preview", weights="random"), reference=ref, name="colour")
    mrml.show_volume_rendering(colour, app.volume_rendering_logic)
    slice_view = slicer_scene.render_slice(app, colour, size=(512, 512))
    three_d = slicer_scene.render_3d(app, size=(512, 512), view_direction="anterior")
    Image.fromarray(np.concatenate([slice_view, three_d], axis=1)).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
