"""The one exception type for bad user input."""


class MedColorError(ValueError):
    """Bad input or an impossible request; the message is one line that says what to do."""


class CancelledError(RuntimeError):
    """The user cancelled a running job."""


def short_reason(err: BaseException) -> str:
    """First line of an exception message, kept short, for one-line errors."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:160]
