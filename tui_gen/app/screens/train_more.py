"""Train more: a finished run continues for another budget (minutes or steps), from its last checkpoint,
as `tui-gen train --resume RUN --minutes M` (or --steps N) would. Dismisses with a Budget, or None."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui_gen.app.bindings import DIALOG_BINDINGS
from tui_gen.app.widgets.stream_view import visible
from tui_gen.budget import Budget, parse_budget
from tui_gen.errors import ConfigError


class TrainMoreScreen(ModalScreen[Budget | None]):
    BINDINGS = DIALOG_BINDINGS
    AUTO_FOCUS = "#budget"

    def __init__(self, run: str, step: int, default: Budget) -> None:
        super().__init__(classes="dialog-screen")
        self.run = run
        self.step = step
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Train more", classes="dialog-title")
            yield Static(Text(visible(f"Continue {self.run} from step {self.step:,} (its last checkpoint) for "
                                      "another budget: minutes (like 6) or steps (like 2000 steps).")),
                         classes="dialog-body")
            yield Input(str(self.default), id="budget", placeholder="6 minutes, or 2000 steps")
            yield Static("", id="budget-error", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Train", id="train", variant="primary")
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

    @on(Button.Pressed, "#train")
    def _train_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
