"""A red panel that says why training stopped working and what to do about it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui_gen.core.textsafe import visible


class ErrorPanel(Static):
    """Hidden until show(); never reads its text as markup."""

    DEFAULT_CSS = """
    ErrorPanel {
        display: none;
        height: auto;
        border: round $error;
        border-title-color: $error;
        border-title-style: bold;
        padding: 0 1;
        &.-visible { display: block; }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Training stopped"
        self.message: str | None = None

    def show(self, message: str, log_path: str | None = None, hint: str | None = None) -> None:
        self.message = message
        text = Text(visible(message))
        if log_path and log_path not in message:
            text.append("\nlog: ", style="dim")
            text.append(visible(log_path))
        if hint:
            text.append("\n" + visible(hint), style="bold")
        self.update(text)
        self.add_class("-visible")

    def hide(self) -> None:
        self.message = None
        self.update("")
        self.remove_class("-visible")

    @property
    def visible_message(self) -> str | None:
        return self.message if self.has_class("-visible") else None
