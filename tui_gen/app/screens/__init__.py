"""The app's dialogs: help, confirm (quit, resume), new run, open a run, train more, change the budget."""

from tui_gen.app.screens.change_budget import ChangeBudgetScreen
from tui_gen.app.screens.confirm import Choice, ConfirmScreen
from tui_gen.app.screens.help import HelpScreen
from tui_gen.app.screens.new_run import NewRunScreen
from tui_gen.app.screens.open_run import OpenRunScreen
from tui_gen.app.screens.train_more import TrainMoreScreen

__all__ = [
    "ChangeBudgetScreen",
    "Choice",
    "ConfirmScreen",
    "HelpScreen",
    "NewRunScreen",
    "OpenRunScreen",
    "TrainMoreScreen",
]
