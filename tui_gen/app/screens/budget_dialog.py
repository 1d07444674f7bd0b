"""A dialog that asks for a training budget, minutes or steps (tui_gen.core.budget parses it), and dismisses
with a Budget, or None. Train more and Change the budget are this dialog with their own words."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui_gen.app.bindings import DIALOG_BINDINGS
from tui_gen.core.budget import Budget, parse_budget
from tui_gen.core.errors import ConfigError
from tui_gen.core.textsafe import visible


class BudgetDialog(ModalScreen[Budget | None]):
    BINDINGS = [*DIALOG_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant
    AUTO_FOCUS = "#budget"
    TITLE_TEXT = ""
    PLACEHOLDER = "6 minutes, or 2000 steps"
    ACTION = ("OK", "ok")  # the primary button: label, id

    def __init__(self, body: str, value: Budget | None) -> None:
        super().__init__(classes="dialog-screen")
        self.body = body
        self.value = value

    def compose(self) -> ComposeResult:
        label, button_id = self.ACTION
        with Vertical(classes="dialog"):
            yield Label(self.TITLE_TEXT, classes="dialog-title")
            yield Static(Text(visible(self.body)), classes="dialog-body")
            yield Input(str(self.value) if self.value else "", id="budget", placeholder=self.PLACEHOLDER)
            yield Static("", id="budget-error", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(label, id=button_id, variant="primary")
                yield Button("Cancel", id="cancel")

    def _submit(self) -> None:
        try:
            budget = parse_budget(self.query_one("#budget", Input).value)
        except ConfigError as e:
            self.query_one("#budget-error", Static).update(Text(visible(str(e)), style="red"))
            return
        self.dismiss(budget)

    @on(Input.Submitted, "#budget")
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.dismiss(None)
        else:
            self._submit()

    def action_cancel(self) -> None:
        self.dismiss(None)
