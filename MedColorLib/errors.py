"""The one exception type for bad user input, and the one way to shorten a third-party message."""

import re

REASON_LIMIT = 200  # characters of a third-party message kept in a one-line error


class MedColorError(ValueError):
    """Bad input or an impossible request; the message is one line that says what to do."""


class CancelledError(RuntimeError):
    """The user cancelled a running job."""


def short_reason(err: BaseException, limit: int = REASON_LIMIT) -> str:
    """The informative line of an exception message, cut at a word boundary to about ``limit`` characters.

    ITK messages put the reason on the last line after a ``sitk::ERROR:``/``itk::ERROR:`` prefix and a source
    location; other messages on the first line."""
    text = str(err).strip()
    if not text:
        return type(err).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # ITK: "Exception thrown in SimpleITK X: /src/file.cxx:99:" then the reason, often after "sitk::ERROR:"
    reasons = [ln for ln in lines if not re.match(r"^Exception thrown in .*:\d+:$", ln)] or lines
    flagged = [ln for ln in reasons if re.search(r"\b(s?itk)::(ERROR|EXCEPTION):", ln, flags=re.IGNORECASE)]
    line = (flagged or reasons)[0]
    line = re.sub(r"^.*?\b(sitk|itk)::(ERROR|EXCEPTION):\s*", "", line, flags=re.IGNORECASE)
    line = re.sub(r"^\S+\.(cxx|cpp|h|hxx|txx):\d+:\s*", "", line)  # ITK source location
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return (cut if len(cut) > limit // 2 else line[:limit]) + "..."
