"""A pure-Python signal: PythonQt ``qt.Signal`` is not usable from Python classes in Slicer."""

from __future__ import annotations

from typing import Any, Callable


class Signal:
    """connect / emit / disconnect, with blockSignals; ``typeInfo`` only documents the payload.

    >>> progress = Signal("Progress"); progress.connect(print); progress.emit("half")
    half
    """

    def __init__(self, *typeInfo: str) -> None:
        self._typeInfo = typeInfo
        self._callbacks: list[Callable[..., Any]] = []
        self._isBlocked = False

    def connect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        if self._isBlocked:
            return
        for callback in list(self._callbacks):
            callback(*args)

    def blockSignals(self, isBlocked: bool) -> bool:
        """Block (or unblock) emission; return the previous state."""
        previous, self._isBlocked = self._isBlocked, isBlocked
        return previous
