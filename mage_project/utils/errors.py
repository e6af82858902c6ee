"""The one exception type the pipelines raise for problems a person must fix."""


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
