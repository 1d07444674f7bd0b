"""The built-in corpora: their names, where they come from, and whether one is on disk yet.

No torch and no network: the app lists them and the CLI checks a name without paying for either.
Fetching and opening a corpus is tui_gen.data.sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tui_gen.core.errors import CorpusError
from tui_gen.core.paths import default_data_dir


@dataclass(frozen=True)
class BuiltinCorpus:
    name: str
    description: str
    filename: str
    framing: str  # "lines": one sample per line; "stream": one continuous text
    end_marker: str | None  # generation stops at this token
    url: str | None  # None: built locally
    url_env: str | None  # env var that overrides url (mirrors, tests)
    sha256: str | None
    size: int | None  # bytes


BUILTINS: dict[str, BuiltinCorpus] = {
    c.name: c
    for c in (
        BuiltinCorpus(
            name="trump-tweets",
            description="19,469 tweets, one per line (Stanford CS20 data set, 2.2 MB download)",
            filename="trump_tweets.txt",
            framing="lines",
            end_marker="_E_",
            url="https://raw.githubusercontent.com/chiphuyen/stanford-tensorflow-tutorials/"
            "master/examples/data/trump_tweets.txt",
            url_env="TUI_GEN_TWEETS_URL",
            sha256="5b600bae4ade78714433caf1d84f2aee40b17e0627fba4584742de5e2635e286",
            size=2_214_480,
        ),
        BuiltinCorpus(
            name="tiny-shakespeare",
            description="40,000 lines of Shakespeare's plays as one text (char-rnn's classic corpus, 1.1 MB download)",
            filename="tinyshakespeare.txt",
            framing="stream",
            end_marker=None,
            url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
            url_env="TUI_GEN_SHAKESPEARE_URL",
            sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            size=1_115_394,
        ),
        BuiltinCorpus(
            name="python-help",
            description="Python's built-in help topics as one text (offline, built from this Python)",
            filename="python-help.txt",
            framing="stream",
            end_marker=None,
            url=None,
            url_env=None,
            sha256=None,
            size=None,
        ),
    )
}
DEFAULT_CORPUS = "trump-tweets"
OFFLINE_CORPUS = "python-help"


def builtin(name: str) -> BuiltinCorpus:
    """The built-in corpus of that name, or a CorpusError listing them."""
    try:
        return BUILTINS[name]
    except KeyError:
        known = ", ".join(BUILTINS)
        raise CorpusError(f"unknown built-in corpus {name!r}; use one of: {known}") from None


def cached_path(name: str, data_dir: Path | None = None) -> Path | None:
    corpus = builtin(name)
    path = (data_dir if data_dir is not None else default_data_dir()) / corpus.filename
    try:
        size = path.stat().st_size
    except OSError:
        return None
    # Files are only ever put in place whole (temp + os.replace), so the size is enough to catch
    # a foreign or hand-truncated file without hashing megabytes on every start.
    ok = size == corpus.size if corpus.size is not None else size > 0
    return path if ok and path.is_file() else None
