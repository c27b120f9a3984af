"""The one exception type for bad user input."""


class MedColorError(ValueError):
    """Bad input or an impossible request; the message is one line that says what to do."""


class CancelledError(RuntimeError):
    """The user cancelled a running job."""
