"""What the app asks its training process to do, over the command pipe (TrainingProcess.send).

Most commands are words (Command); changing the budget carries a value (SetBudget). Both are plain
picklable values, checked on the way in by TrainingProcess.send and read back by the training process.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tui_gen.core.budget import Budget


class Command(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"  # evaluate, save `last`, finish
    SAVE = "save"  # save `last` (at the next step; at once while paused)
    EVAL = "eval"  # evaluate at the next step
    SNAPSHOT = "snapshot"  # send the weights now, for the playground


@dataclass(frozen=True)
class SetBudget:
    """Change the run's budget while it trains: `budget` counts from where this run started
    (Trainer.set_budget). The trainer confirms with a BudgetChanged event."""

    budget: Budget


ProcessCommand = Command | SetBudget  # everything the command pipe carries


def as_command(value: object) -> ProcessCommand:
    """A command from a word ("pause") or a command itself; ValueError for anything else."""
    match value:
        case Command() | SetBudget():  # before str: a Command is a str too, and already one
            return value
        case str():
            try:
                return Command(value)
            except ValueError:
                pass
    raise ValueError(f"unknown command {value!r}; one of {', '.join(Command)} or a SetBudget")
