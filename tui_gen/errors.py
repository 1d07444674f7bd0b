"""The one family of errors a user may see.

Every failure caused by user input (files, flags, checkpoints, network) is raised as a subclass of
TuiGenError whose message says what happened and what to do. The CLI prints it as one line; the
app shows it in a notification. Anything else escaping is a bug.
"""


class TuiGenError(Exception):
    """A clear, user-facing error."""


class ConfigError(TuiGenError):
    """An absurd or inconsistent hyperparameter or flag."""


class CorpusError(TuiGenError):
    """A corpus file or folder that cannot be used."""


class DownloadError(TuiGenError):
    """A built-in corpus could not be fetched or verified."""


class CheckpointError(TuiGenError):
    """A checkpoint that is missing, truncated, corrupted, mismatched or hostile."""


class VocabularyError(TuiGenError):
    """Text with characters the model has never seen, where that matters."""


class RunFolderError(TuiGenError):
    """A run folder that cannot be used: it holds another run, is a file, or cannot be written."""


class OutputError(TuiGenError):
    """Standard output is closed, full, or otherwise cannot be written."""
