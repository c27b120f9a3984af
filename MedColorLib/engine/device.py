"""Where the engine runs: the torch device for an ``--device`` choice."""

from __future__ import annotations

import torch

from MedColorLib.errors import MedColorError


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; cuda without a GPU -> MedColorError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MedColorError("--device cuda was requested but no CUDA GPU is available; use --device cpu")
    return torch.device(name)
