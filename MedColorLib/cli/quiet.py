"""Third-party chatter kept off the terminal, in the command and in every batch worker process."""

from __future__ import annotations

import logging


def quiet_third_party() -> None:
    """Third-party warnings (ITK WARNINGs, scikit-learn ConvergenceWarning, ...) go to the log, not stderr:
    the one line a user reads is medcolor's own."""
    logging.captureWarnings(True)
    log = logging.getLogger("py.warnings")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    try:
        import SimpleITK as sitk  # noqa: N813

        sitk.ProcessObject.SetGlobalWarningDisplay(False)
    except ImportError:  # pragma: no cover - SimpleITK is a dependency
        pass
