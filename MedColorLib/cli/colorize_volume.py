"""``medcolor colorize`` on a volume: read, colorize, write the colour volume, preview and report in one
transaction (all or none)."""

from __future__ import annotations

import argparse
from pathlib import Path

from MedColorLib.cli.progressbar import ProgressBar
from MedColorLib.io.atomic import transaction
from MedColorLib.io.paths import one_line
from MedColorLib.io.report import flat_metadata, write_json
from MedColorLib.options import Options
from MedColorLib.types import Stopwatch, peak_memory_mb


def colorize_volume_file(args: argparse.Namespace, options: Options, inp: Path, out: Path,
                         extra: dict | None = None) -> dict:
    """Returns the report (with ``extra`` added: a batch's provenance); nothing is written unless the whole run
    succeeds (destinations checked by the caller)."""
    from MedColorLib.io.images import load_reference
    from MedColorLib.io.volumes import read_volume
    from MedColorLib.io.write import check_storable, write_color_volume
    from MedColorLib.pipeline.preview import write_preview
    from MedColorLib.pipeline.volume import colorize_volume

    clock = Stopwatch()
    with clock("read"):
        volume = read_volume(inp, series=args.series)
        check_storable(out, volume)  # before any work: NIfTI cannot hold every grid and geometry
        reference = load_reference(args.reference) if args.reference else None
    with ProgressBar(args.quiet) as bar:
        result = colorize_volume(volume, options, reference=reference, library=args.library,
                                 library_set=args.library_set, window=args.window, progress=bar,
                                 library_tags={"region": args.region} if getattr(args, "region", None) else None)
    report = result.report
    if args.reference:
        report["reference"] = {"path": str(args.reference)}
    report["output"] = str(out)
    report.update(extra or {})
    if args.preview:
        report["preview"] = str(args.preview)
    with transaction():
        with clock("write"):
            write_color_volume(out, result.rgba, volume, metadata=flat_metadata(report), rgb=args.rgb)
        if args.preview:
            window = report["window"]
            with clock("preview"):
                write_preview(args.preview, volume, result.rgba, (window["low"], window["high"]))
        report["timing"] = {**{"read": round(clock.seconds["read"], 3)}, **report.get("timing", {}),
                            **{k: round(v, 3) for k, v in clock.seconds.items() if k != "read"}}
        report["peak_memory_mb"] = peak_memory_mb()
        if args.report:
            write_json(args.report, report)
    print(one_line(f"wrote {out}" + "".join(f" and {p}" for p in (args.preview, args.report) if p)))
    return report
