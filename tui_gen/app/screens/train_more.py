"""Train more: a finished run continues for another budget (minutes or steps), from its last checkpoint,
as `tui-gen train --resume RUN --minutes M` (or --steps N) would. Dismisses with a Budget, or None."""

from __future__ import annotations

from tui_gen.app.screens.budget_dialog import BudgetDialog
from tui_gen.core.budget import Budget


class TrainMoreScreen(BudgetDialog):
    TITLE_TEXT = "Train more"
    ACTION = ("Train", "train")

    def __init__(self, run: str, step: int, default: Budget) -> None:
        super().__init__(
            f"Continue {run} from step {step:,} (its last checkpoint) for another budget: "
            "minutes (like 6) or steps (like 2000 steps).",
            default,
        )
        self.run = run
        self.step = step
        self.default = default
