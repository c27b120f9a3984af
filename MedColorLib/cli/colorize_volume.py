"""``medcolor colorize`` on a volume: read, colorize, write the colour volume, preview and report in one
transaction (all or none)."""

from __future__ import annotations

import argparse
from pathlib import Path

from MedColorLib.cli.progressbar import ProgressBar
from MedColorLib.io.atomic import transaction
from MedColorLib.io.report import flat_metadata, write_json
from MedColorLib.options import Options


def colorize_volume_file(args: argparse.Namespace, options: Options, inp: Path, out: Path,
                         extra: dict | None = None) -> dict:
    """Returns the report (with ``extra`` added: a batch's provenance); nothing is written unless the whole run
    succeeds (destinations checked by the caller)."""
    from MedColorLib.io.images import load_reference
    from MedColorLib.io.volumes import read_volume
    from MedColorLib.io.write import write_color_volume
    from MedColorLib.pipeline.preview import write_preview
    from MedColorLib.pipeline.volume import colorize_volume

    volume = read_volume(inp, series=args.series)
    reference = load_reference(args.reference) if args.reference else None
    with ProgressBar(args.quiet) as bar:
        result = colorize_volume(volume, options, reference=reference, library=args.library,
                                 library_set=args.library_set, window=args.window, progress=bar)
    report = result.report
    if args.reference:
        report["reference"] = {"path": str(args.reference)}
    report["output"] = str(out)
    report.update(extra or {})
    if args.preview:
        report["preview"] = str(args.preview)
    with transaction():
        write_color_volume(out, result.rgba, volume, metadata=flat_metadata(report), rgb=args.rgb)
        if args.preview:
            window = report["window"]
            write_preview(args.preview, volume, result.rgba, (window["low"], window["high"]))
        if args.report:
            write_json(args.report, report)
    print(f"wrote {out}" + "".join(f" and {p}" for p in (args.preview, args.report) if p))
    return report
