"""Change the budget while training: how long the run trains, in minutes or steps, counted from where
this run started (as `--minutes` / `--steps` count on resume). Less than it has already trained ends
it at the next step, saved. Dismisses with a Budget, or None."""

from __future__ import annotations

from tui_gen.app.screens.budget_dialog import BudgetDialog
from tui_gen.app.state import TrainingState, fmt_duration
from tui_gen.core.budget import Budget


def budget_question(state: TrainingState) -> str:
    """What the dialog says: where the count starts and what has been trained since."""
    start = f"step {state.start_step:,}" if state.start_step else "its start"
    trained = max(0, state.step - state.start_step)
    seconds = max(0.0, (state.elapsed or state.start_elapsed) - state.start_elapsed)
    return (
        f"Train this run for how long, counted from {start}: minutes (like 20) or steps (like 2000 steps). "
        f"So far it has trained {trained:,} step{'s' if trained != 1 else ''} in {fmt_duration(seconds)}. "
        "A budget below that ends the run at the next step, and saves it."
    )


class ChangeBudgetScreen(BudgetDialog):
    TITLE_TEXT = "Change the budget"
    PLACEHOLDER = "20 minutes, or 2000 steps"
    ACTION = ("Set", "set")

    def __init__(self, state: TrainingState, current: Budget | None) -> None:
        super().__init__(budget_question(state), current)
        self.question = self.body
        self.current = current
