"""A terminal progress bar (tqdm) fed by pipeline Progress events; one bar per stage."""

from __future__ import annotations

from tqdm import tqdm

from MedColorLib.types import Progress


class ProgressBar:
    """Callable ProgressFn drawing a tqdm bar; a new stage resets the bar. Use as a context manager."""

    def __init__(self, quiet: bool = False) -> None:
        self.bar = tqdm(total=0, disable=quiet, dynamic_ncols=True, leave=True)
        self.stage = None

    def __call__(self, p: Progress) -> None:
        if p.stage != self.stage:
            self.stage = p.stage
            self.bar.reset(total=p.total)
            self.bar.set_description(p.stage)
        self.bar.n = p.done
        self.bar.set_postfix_str(p.message, refresh=False)
        self.bar.refresh()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
