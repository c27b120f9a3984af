"""Slicer-side classes of the MedColor module (SlicerNNUnet-style). Qt-free except ``Widget``, imported apart."""

from .ColorizationLogic import ColorizationLogic, optionsFromParameters, windowFromParameters
from .InstallLogic import InstallLogic
from .Process import ProcessProtocol, WorkerProcess
from .Signal import Signal
from .ThreeDLogic import ThreeDLogic

__all__ = ["ColorizationLogic", "InstallLogic", "ProcessProtocol", "Signal", "ThreeDLogic", "WorkerProcess",
           "optionsFromParameters", "windowFromParameters"]
