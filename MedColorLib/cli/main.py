"""The ``medcolor`` command line: ``dispatch(argv)`` parses, runs one subcommand, returns an exit code."""

from __future__ import annotations

import argparse
import signal
import sys

from MedColorLib import __version__
from MedColorLib.cli.quiet import quiet_third_party
from MedColorLib.errors import CancelledError, MedColorError

CANCELLED = "medcolor: cancelled; nothing was written"


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other medcolor error (exit status 2)."""

    def error(self, message: str):  # noqa: D102 - argparse API
        from MedColorLib.io.paths import one_line
        hint = message
        if "expected one argument" in message:
            hint += " (a value that starts with '-' is written as --option=VALUE)"
        self.exit(2, f"medcolor: error: {one_line(hint)}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="medcolor", description=__doc__)
    parser.add_argument("--version", action="version", version=f"medcolor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _command_modules():
        module.add_commands(sub)
    return parser


def _command_modules() -> list:
    # each module adds its subparsers and sets `func(args) -> int`; imported here to keep start-up light
    from MedColorLib.cli import colorize as cli_colorize
    from MedColorLib.cli.batch import command as cli_batch
    from MedColorLib.cli import endoscopy as cli_endoscopy
    from MedColorLib.cli import evaluate as cli_evaluate
    from MedColorLib.cli import library as cli_library
    from MedColorLib.cli import weights as cli_weights
    return [cli_colorize, cli_batch, cli_library, cli_evaluate, cli_weights, cli_endoscopy]


def dispatch(argv: list[str]) -> int:
    """Run one command; bad input -> one-line message on stderr and exit status 2."""
    _tolerant_stdout()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # a usage error (one line printed, status 2), --help or --version
        return exit_.code if isinstance(exit_.code, int) else 2
    quiet_third_party()
    try:
        return int(args.func(args) or 0)
    except MedColorError as err:
        from MedColorLib.io.paths import one_line
        print(f"medcolor: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except (CancelledError, KeyboardInterrupt):
        print(CANCELLED, file=sys.stderr)
        return 130


def _tolerant_stdout() -> None:
    """A file name that is not UTF-8 is printed with its own bytes (stdout, as ls does) or escaped (stderr),
    never raised as UnicodeEncodeError after the work is done."""
    for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
        try:
            stream.reconfigure(errors=errors)
        except (AttributeError, ValueError):  # a replaced stream (tests, pipes of other kinds)
            pass


def _cancel(signum: int, frame) -> None:
    """SIGINT/SIGTERM: cancel like Ctrl-C, so every temporary file is removed; while a finished run renames
    its outputs the signal waits (the outputs are then complete)."""
    from MedColorLib.io.atomic import committing
    if committing():
        return
    raise KeyboardInterrupt


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _cancel)
    sys.exit(dispatch(sys.argv[1:]))
