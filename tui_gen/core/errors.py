"""The one family of errors a user may see.

Every failure caused by user input (files, flags, checkpoints, network) is raised as a subclass of
TuiGenError whose message says what happened and what to do. The CLI prints it as one line; the
app shows it in a notification. Anything else escaping is a bug.

Each class has a `kind`, and an error may carry a short `reason` (a download's "Name or service not
known"): code that must decide what happened (the app falling back to the offline corpus when the
tweets cannot be had) reads those, never the message's wording.
"""


class TuiGenError(Exception):
    """A clear, user-facing error."""

    kind = "error"

    def __init__(self, message: str, *, reason: str | None = None):
        super().__init__(message)
        self.reason = reason  # the short why, where there is one worth showing on its own


class ConfigError(TuiGenError):
    """An absurd or inconsistent hyperparameter or flag."""

    kind = "config"


class CorpusError(TuiGenError):
    """A corpus file or folder that cannot be used."""

    kind = "corpus"


class DownloadError(TuiGenError):
    """A built-in corpus could not be fetched or verified."""

    kind = "download"


class CheckpointError(TuiGenError):
    """A checkpoint that is missing, truncated, corrupted, mismatched or hostile."""

    kind = "checkpoint"


class VocabularyError(TuiGenError):
    """Text with characters the model has never seen, where that matters."""

    kind = "vocabulary"


class RunFolderError(TuiGenError):
    """A run folder that cannot be used: it holds another run, is a file, or cannot be written."""

    kind = "run-folder"


class OutputError(TuiGenError):
    """Standard output is closed, full, or otherwise cannot be written."""

    kind = "output"
