"""The one exception type the pipelines raise for problems a person must fix."""

import re


class TaxiDataError(Exception):
    """A problem with the input, the configuration or a sink, explained in one sentence.

    ``str(error)`` is the sentence: what is wrong (naming the file, line and column when
    known) and what to do. Blocks let it propagate so Mage fails the run with that message.
    """

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence

    def __str__(self) -> str:
        return self.sentence


def short_reason(error: BaseException, limit: int = 200) -> str:
    """The gist of a library error for a one-sentence message.

    A refused or dropped connection is reported as the OS error (e.g. ``[Errno 111] Connection
    refused``) rather than urllib3's nested ``HTTPConnectionPool(...)`` repr; otherwise the first
    line of the error, cut to ``limit`` characters.
    """
    text = str(error).strip()
    errno = re.search(r"\[Errno -?\d+\] [^\"'()]+", text)
    if errno:
        return errno[0].strip().rstrip(".,;:")
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:limit]
