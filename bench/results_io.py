"""Where the benchmark scripts keep their figures: ``bench/results/<name>.json``, also printed."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, figures: dict) -> None:
    """Write ``figures`` as indented JSON to ``bench/results/<name>.json`` and print it."""
    text = json.dumps(figures, indent=1)
    (RESULTS / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    print(text)
