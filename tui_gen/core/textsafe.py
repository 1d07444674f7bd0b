"""The one sanitiser for text from outside on its way to a terminal or a widget.

File names, file contents, checkpoint headers, paths, a server's reply, the environment and the
model's own output may hold control characters. Written to a terminal, ESC and the C1 controls
start escape sequences (retitle the window, move the cursor, rewrite what is shown), bidi controls
reorder the rest of the line, and a lone surrogate (a file name that was not UTF-8, decoded with
surrogateescape) cannot even be encoded. Everything shown goes through here, and is then printed as
plain text, never as Rich markup.

Engine code: no textual or rich import, so the CLI and the app share it.
"""

from __future__ import annotations

import unicodedata

TAB = "    "
NEWLINE = "\u23ce"  # ⏎, for one-line display
REPLACEMENT = "\ufffd"

# Bidi embeddings, overrides and isolates reorder everything after them on the line.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def safe_char(ch: str) -> str:
    """What to show for one character so that it cannot act on the terminal.

    C0 controls and DEL become their Unicode control picture (ESC -> ␛, BEL -> ␇), so one can see
    what was there; C1 controls, lone surrogates, line/paragraph separators and bidi controls become
    U+FFFD. Tab becomes spaces (a tab's width depends on the column). "\\n" is returned as is: the
    caller decides whether it breaks the line (visible) or is shown as ⏎ (one_line).
    """
    if ch == "\n":
        return ch
    if ch == "\t":
        return TAB
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    if ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
        return REPLACEMENT
    return ch


def visible(text: str) -> str:
    """Text made safe to show, newlines kept (for multi-line places: panels, notifications)."""
    text = str(text)
    if text.isprintable():  # the common case, and fast: no control, format or separator character
        return text
    return "".join(safe_char(c) for c in text)


def one_line(text: str) -> str:
    """Text made safe to show on one line: as visible(), with each newline shown as ⏎ (error lines,
    table cells, status lines)."""
    return visible(text).replace("\n", NEWLINE)
