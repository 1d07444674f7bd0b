"""Keeping the keys a user types while the app starts.

Between `tui-gen launch` and the moment Textual puts the terminal into raw mode (about a second of
imports), the terminal is in its ordinary mode: it echoes what is typed, holds it until Enter, and
its flow control swallows ctrl+q (XON) and ctrl+s (XOFF). A ctrl+q typed then never reached the app.
keys_kept() switches to the same input settings Textual uses as soon as we run, so every key typed
from then on waits, intact, for the app to read; the user's settings come back when the app ends.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


@contextmanager
def keys_kept(stream=None):
    stream = stream if stream is not None else sys.stdin
    try:
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, AttributeError, OSError, ValueError):  # not a terminal (or not POSIX)
        yield
        return
    except termios.error:
        yield
        return
    raw = termios.tcgetattr(fd)
    # What Textual's Linux driver clears, so that the hand-over to it changes nothing.
    signals = 0 if os.environ.get("TEXTUAL_ALLOW_SIGNALS") else termios.ISIG
    raw[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | signals)  # lflag
    raw[0] &= ~(termios.IXON | termios.IXOFF | termios.ICRNL | termios.INLCR | termios.IGNCR)  # iflag
    raw[6][termios.VMIN] = 1
    raw[6][termios.VTIME] = 0
    try:
        termios.tcsetattr(fd, termios.TCSANOW, raw)
    except termios.error:
        yield
        return
    try:
        yield
    finally:
        try:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
        except termios.error:
            pass
