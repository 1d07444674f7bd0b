"""Standard output for `generate` and `eval`: what reaches it, and what happens when it cannot; and the
Rich console every other message of the CLI goes through.

- A terminal gets text through the sanitiser (textsafe.visible): a model can write escape sequences.
  Piped or redirected output gets the text byte-exact.
- An output encoding that cannot hold a character (PYTHONIOENCODING=ascii, a Latin-1 locale) gets
  it as a backslash escape (\\u00e9), and one note on stderr at the end says how many and what to
  set; the exit status stays 0. Refusing would lose the whole output over one rare character.
- A closed stdout (`>&-`), a full disk (`>/dev/full`), any other write error: OutputError, which
  the CLI prints as one line (exit 2). A broken pipe (`| head`) is left to the CLI: it exits 0.
- Text made as it is shown (`generate`, write_live) goes out in chunks, at most LIVE_SECONDS apart:
  a write and a flush per character cost as much as the model's step (issue 22), and 20 chunks a
  second still read as text appearing, to a person at a terminal or a program reading a pipe.
- Messages (train's lines, `data list`'s table) go through console(): on a terminal, Rich wraps them
  to its width; to a pipe or a file, every line is written whole, however long (a log line is one line).

Rich is imported inside console() only: `generate` writes through Output and never loads it.
"""

from __future__ import annotations

import codecs
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tui_gen.core.errors import OutputError
from tui_gen.core.textsafe import visible

if TYPE_CHECKING:
    from rich.console import Console

# The longest that text written with write_live waits before it is written out: 50 ms is 20 updates a
# second, which a reader sees as text appearing, not as a stall; and the number of writes is then
# bounded by time, never by the text (no corpus of short lines makes it a write per character again).
# Not flushed at each newline besides: that would add nothing a person sees, and cost a write per line.
LIVE_SECONDS = 0.05

# The width a console to a pipe or a file lays out to. Such output has no width, and Rich's default for
# it (80 columns, or $COLUMNS) hard-wraps every longer line: a start line split in two, a long corpus
# path cut, and grep no longer finds them. Text is written unwrapped whatever the width (soft wrap);
# this is for what Rich lays out in columns (a table, the progress line), so that no row of them is
# ever wider. Nothing the CLI prints fills the whole width (no rules, no expanding panels).
UNWRAPPED_WIDTH = 1_000_000


def console(*, stderr: bool = False) -> Console:
    """The Rich console for the CLI's messages on stdout (or stderr), with no highlighting: numbers and
    paths are shown as written. On a terminal it is Rich's own, wrapping to the terminal's width. To a
    pipe or a file (`tui-gen train ... > train.log`) every line is written whole, however long."""
    from rich.console import Console

    shown = Console(stderr=stderr, highlight=False)
    if shown.is_terminal:
        return shown
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=UNWRAPPED_WIDTH)


def _describe(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


class Output:
    """A text sink over sys.stdout (or `stream`), for the generated text and result lines."""

    def __init__(self, stream=None, clock: Callable[[], float] = time.monotonic) -> None:
        stream = sys.stdout if stream is None else stream
        if stream is None:  # Python sets sys.stdout to None when fd 1 is closed at start-up
            raise OutputError(
                "standard output is closed, so there is nowhere to write: run without `>&-`, or redirect it to a file"
            )
        self.stream = stream
        try:
            self.terminal = stream.isatty()
        except (OSError, ValueError):
            self.terminal = False
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            self.encoding = codecs.lookup(encoding).name
        except LookupError:
            self.encoding = encoding
        self._utf8 = self.encoding in ("utf-8", "utf_8")
        self.escaped = 0  # characters the encoding could not hold, written as escapes
        self._live: list[str] = []  # write_live's text not yet written
        self._clock = clock
        self._flushed_at = clock()

    def write_live(self, text: str) -> None:
        """Text being made as it is shown (a character at a time): kept, and written out with what
        came before it once LIVE_SECONDS have passed since the last flush (then flushed). What reaches
        the stream is what write() would have made of the pieces one by one: the sanitiser and the
        encoding work character by character, so a chunk of them comes out the same. Any other
        write, flush() and finish() write it out first."""
        self._live.append(text)
        if self._clock() - self._flushed_at >= LIVE_SECONDS:
            self.flush()

    def write(self, text: str) -> None:
        if self._live:
            self._write_live()
        self._write(text)

    def _write_live(self) -> None:
        text = "".join(self._live)
        self._live.clear()
        self._write(text)

    def _write(self, text: str) -> None:
        shown = visible(text) if self.terminal else text
        if not self._utf8:
            self._count_unencodable(shown)
        try:
            self.stream.write(shown)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise self._error(e) from None

    def write_styled(self, text: str) -> None:
        """Text holding colour escapes this program made itself around text already made safe
        (textsafe.safe_char): written as it is, so the colours work. Nothing from outside may come
        here unsanitised."""
        if self._live:
            self._write_live()
        if not self._utf8:
            self._count_unencodable(text)
        try:
            self.stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise self._error(e) from None

    def flush(self) -> None:
        if self._live:
            self._write_live()
        self._flushed_at = self._clock()
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise self._error(e) from None

    def finish(self) -> None:
        """Flush, then say (once, on stderr) if any character had to be escaped."""
        self.flush()
        if self.escaped:
            print(
                f"tui-gen: note: {self.escaped:,} character{'s' if self.escaped != 1 else ''} could not be "
                f"written in the output encoding {self.encoding} and {'were' if self.escaped != 1 else 'was'} "
                "written as backslash escapes (like \\xe9 or \\u20ac); set PYTHONIOENCODING=utf-8 "
                "or use a UTF-8 locale to get the text itself",
                file=sys.stderr,
            )

    def _count_unencodable(self, text: str) -> None:
        try:
            text.encode(self.encoding)
        except UnicodeEncodeError:
            for c in text:
                try:
                    c.encode(self.encoding)
                except UnicodeEncodeError:
                    self.escaped += 1
        except LookupError:
            pass

    def _error(self, e: OSError) -> OutputError:
        return OutputError(
            f"cannot write to standard output: {_describe(e)} "
            "(is the disk full, or the output closed?); nothing more was written"
        )


def silence_stdout() -> None:
    """After a write error: point fd 1 at /dev/null, so that Python's own flush of sys.stdout at exit
    does not print a second error (and a traceback-like 'Exception ignored') after our one line."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)  # file-access: os.devnull
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
