"""Change the budget while training: how long the run trains, in minutes or steps, counted from where
this run started (as `--minutes` / `--steps` count on resume). Less than it has already trained ends
it at the next step, saved. Dismisses with a Budget, or None."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui_gen.app.bindings import DIALOG_BINDINGS
from tui_gen.app.state import TrainingState, fmt_duration
from tui_gen.budget import Budget, parse_budget
from tui_gen.errors import ConfigError


def budget_question(state: TrainingState) -> str:
    """What the dialog says: where the count starts and what has been trained since."""
    start = f"step {state.start_step:,}" if state.start_step else "its start"
    trained = max(0, state.step - state.start_step)
    seconds = max(0.0, (state.elapsed or state.start_elapsed) - state.start_elapsed)
    return (f"Train this run for how long, counted from {start}: minutes (like 20) or steps (like 2000 steps). "
            f"So far it has trained {trained:,} step{'s' if trained != 1 else ''} in {fmt_duration(seconds)}. "
            "A budget below that ends the run at the next step, and saves it.")


class ChangeBudgetScreen(ModalScreen[Budget | None]):
    BINDINGS = DIALOG_BINDINGS
    AUTO_FOCUS = "#budget"

    def __init__(self, state: TrainingState, current: Budget | None) -> None:
        super().__init__(classes="dialog-screen")
        self.question = budget_question(state)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Change the budget", classes="dialog-title")
            yield Static(Text(self.question), classes="dialog-body")
            yield Input(str(self.current) if self.current else "", id="budget",
                        placeholder="20 minutes, or 2000 steps")
            yield Static("", id="budget-error", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Set", id="set", variant="primary")
                yield Button("Cancel", id="cancel")

    def _submit(self) -> None:
        try:
            budget = parse_budget(self.query_one("#budget", Input).value)
        except ConfigError as e:
            self.query_one("#budget-error", Static).update(Text(str(e), style="red"))
            return
        self.dismiss(budget)

    @on(Input.Submitted, "#budget")
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    @on(Button.Pressed, "#set")
    def _set_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
