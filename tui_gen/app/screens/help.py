"""Every key, built from the bindings data (tui_gen/app/bindings.py)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tui_gen.app.bindings import HELP_SCREEN_BINDINGS, help_rows


def keys_table(rows: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True, min_width=14)
    table.add_column()
    for keys, text in rows:
        table.add_row(Text(keys), Text(text))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [*HELP_SCREEN_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant
    AUTO_FOCUS = "#help-body"

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help-dialog"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                for title, rows in help_rows(self.app):
                    yield Label(Text(title), classes="help-section")
                    yield Static(keys_table(rows))
            yield Label("escape, ? or q closes this", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
