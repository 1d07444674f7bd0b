"""Text you can take out of the app: copied to the terminal's clipboard, or saved to a new file in the
run's samples/ folder. The playground (its output), the samples panel (the highlighted sample) and the
sweep (all its samples) call these from the same two keys (bindings.TAKEOUT_BINDINGS).

The copy is Textual's App.copy_to_clipboard: an OSC 52 escape sequence, which reaches the clipboard of
the terminal the app is drawn in, over SSH too, if that terminal supports it (macOS Terminal does not;
tmux passes it on with `set-clipboard on`). Nothing comes back to say whether it arrived, so the notice
says what was sent and how to save instead. What the mouse selected, if anything, is copied instead of
the whole text: ctrl+c quits, so this key is the selection's only way out.

The save is written off the UI thread (tui_gen.runs.saved_text, an fsync): a full disk or a run folder
deleted meanwhile is a notice saying so, and the text is still on screen to copy or save again.
"""

from __future__ import annotations

from textual.widget import Widget

from tui_gen.app.bindings import COPY_KEY, SAVE_KEY
from tui_gen.core.errors import TuiGenError
from tui_gen.core.textsafe import safe_char


def clipboard_text(text: str) -> str:
    """The text as it goes to the clipboard: line breaks and tabs as they are, any other control character
    as the symbol the screen shows for it (␛), so that pasting it into a terminal cannot act on that
    terminal. A saved file has the text exactly."""
    if text.isprintable():
        return text
    return "".join(ch if ch in "\n\t" else safe_char(ch) for ch in text)


def copy(widget: Widget, text: str, what: str) -> None:
    """Send the mouse's selection on widget's screen, else `text` (`what` it is, for the notice), to the
    terminal's clipboard, and say how many characters went."""
    app = widget.app
    selected = widget.screen.get_selected_text()
    if selected:
        text, what = selected, "the selected text"
    if not text:
        app.notify(f"Nothing to copy: {what} is empty.", title="Nothing copied", severity="warning", markup=False)
        return
    sent = clipboard_text(text)
    app.copy_to_clipboard(sent)
    app.notify(
        f"Sent {what} ({len(sent):,} characters) to the terminal's clipboard. A terminal without OSC 52 "
        f"receives nothing: {SAVE_KEY} saves it to a file instead.",
        title="Copied",
        markup=False,
    )


def save(widget: Widget, text: str, folder: str | None, stem: str, what: str) -> None:
    """Write `text` to a new file <stem>-<time>.txt in folder/samples/, in a thread; a notice says where it
    went, or why it did not (the text stays where it is)."""
    app = widget.app
    if not text:
        app.notify(f"Nothing to save: {what} is empty.", title="Nothing saved", severity="warning", markup=False)
        return
    if folder is None:
        app.notify(
            f"There is no run folder to save {what} in yet (no run has started, and no checkpoint is open). "
            f"Copy it with {COPY_KEY} instead.",
            title="Not saved",
            severity="warning",
            markup=False,
        )
        return

    def write() -> None:
        from tui_gen.runs.saved_text import save_text

        try:
            path = save_text(folder, stem, text)
        except TuiGenError as e:
            app.call_from_thread(
                app.notify,
                f"Could not save {what}: {e}. Nothing was lost: the text is still "
                f"here, to copy with {COPY_KEY} or save again with {SAVE_KEY}.",
                title="Not saved",
                severity="error",
                markup=False,
            )
            return
        app.call_from_thread(
            app.notify, f"Saved {what} ({len(text):,} characters) to {path}", title="Saved", markup=False
        )

    widget.run_worker(write, thread=True, group="save-text", exit_on_error=False)
