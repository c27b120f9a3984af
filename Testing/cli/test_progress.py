"""Progress on the command line: a live bar on a terminal, one line per stage anywhere else."""

from __future__ import annotations

import io

from MedColorLib.cli.progressbar import ProgressBar
from MedColorLib.types import Progress, Stopwatch


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _feed(bar: ProgressBar) -> None:
    bar(Progress("prepare", 1, 1, "30 slices"))
    for i in range(200):
        bar(Progress("propagate", i + 1, 200, f"slice {i + 1}/200"))
    bar(Progress("write", 1, 1))


def test_a_log_gets_one_line_per_stage_with_its_last_count():
    log = io.StringIO()
    with ProgressBar(stream=log) as bar:
        _feed(bar)
    lines = log.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["prepare", "propagate", "write"]
    assert "200/200 slice 200/200" in lines[1] and "\r" not in log.getvalue()


def test_a_terminal_gets_the_live_bar_and_quiet_gets_nothing():
    tty = Terminal()
    with ProgressBar(stream=tty) as bar:
        _feed(bar)
    assert "\r" in tty.getvalue() and "propagate" in tty.getvalue()
    quiet = Terminal()
    with ProgressBar(quiet=True, stream=quiet) as bar:
        _feed(bar)
    assert quiet.getvalue() == ""


def test_a_failed_run_prints_no_stage_line():
    log = io.StringIO()
    try:
        with ProgressBar(stream=log) as bar:
            bar(Progress("prepare", 1, 1))
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert log.getvalue() == ""


def test_stopwatch_sums_repeats_per_stage():
    clock, synced = Stopwatch(sync=lambda: synced.append(1)), []
    for _ in range(3):
        with clock("a"):
            pass
    with clock("b"):
        pass
    assert set(clock.seconds) == {"a", "b"} and all(v >= 0 for v in clock.seconds.values())
    assert len(synced) == 8   # before and after every reading
