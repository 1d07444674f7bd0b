"""The app's dialogs: help, confirm (quit, resume), new run, open a run, train more."""

from tui_gen.app.screens.confirm import Choice, ConfirmScreen
from tui_gen.app.screens.help import HelpScreen
from tui_gen.app.screens.new_run import NewRunScreen
from tui_gen.app.screens.open_run import OpenRunScreen
from tui_gen.app.screens.train_more import TrainMoreScreen

__all__ = ["Choice", "ConfirmScreen", "HelpScreen", "NewRunScreen", "OpenRunScreen", "TrainMoreScreen"]
