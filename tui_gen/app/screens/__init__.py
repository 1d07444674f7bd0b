"""The app's dialogs: help, confirm (quit, resume) and open a run."""

from tui_gen.app.screens.confirm import Choice, ConfirmScreen
from tui_gen.app.screens.help import HelpScreen
from tui_gen.app.screens.open_run import OpenRunScreen

__all__ = ["Choice", "ConfirmScreen", "HelpScreen", "OpenRunScreen"]
