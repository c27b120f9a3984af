"""The ``medcolor`` command line: ``dispatch(argv)`` parses, runs one subcommand, returns an exit code."""

from __future__ import annotations

import argparse
import sys

from MedColorLib import __version__
from MedColorLib.errors import CancelledError, MedColorError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medcolor", description=__doc__)
    parser.add_argument("--version", action="version", version=f"medcolor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _command_modules():
        module.add_commands(sub)
    return parser


def _command_modules() -> list:
    # each module adds its subparsers and sets `func(args) -> int`; imported here to keep start-up light
    from MedColorLib.cli import colorize as cli_colorize
    from MedColorLib.cli import evaluate as cli_evaluate
    from MedColorLib.cli import library as cli_library
    from MedColorLib.cli import weights as cli_weights
    return [cli_colorize, cli_library, cli_evaluate, cli_weights]


def dispatch(argv: list[str]) -> int:
    """Run one command; bad input -> one-line message on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MedColorError as err:
        print(f"medcolor: error: {err}", file=sys.stderr)
        return 2
    except (CancelledError, KeyboardInterrupt):
        print("medcolor: cancelled; nothing was written", file=sys.stderr)
        return 130


def main() -> None:
    sys.exit(dispatch(sys.argv[1:]))
