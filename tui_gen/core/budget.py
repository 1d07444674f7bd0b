"""A run's budget as a person types it: "6" or "6 minutes", or "2000 steps". No torch, no UI.

The number goes through the gate (tui_gen.core.gate): ASCII digits only and a bounded length before any
conversion, so 4,400 digits or '²' are a message, never an exception from int() or float().
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tui_gen.core.config import MAX_MINUTES, MAX_STEPS  # TrainConfig.validate's limits  # noqa: F401 (re-exported)
from tui_gen.core.errors import ConfigError
from tui_gen.core.gate import OutsideValueError, parse_float, parse_int

# The number is any run of characters with an ASCII digit in it: the gate says what is wrong with it.
_MINUTES = re.compile(r"^\s*(\S*?[0-9]\S*?)\s*(?:m|min|mins|minute|minutes)?\s*$", re.IGNORECASE)
_STEPS = re.compile(r"^\s*(\S*?[0-9]\S*?)\s*(?:step|steps)\s*$", re.IGNORECASE)
_HOW = "type minutes (like 6) or steps (like 2000 steps)"


@dataclass(frozen=True)
class Budget:
    minutes: float | None = None
    steps: int | None = None

    def __str__(self) -> str:
        if self.steps is not None:
            return f"{self.steps} steps"
        return f"{self.minutes:g} minutes"


def parse_budget(text: str) -> Budget:
    """A Budget of 1 to MAX_STEPS steps or more than 0 and at most MAX_MINUTES minutes; ConfigError
    with one line saying what to type otherwise."""
    try:
        if m := _STEPS.match(text):
            return Budget(steps=parse_int(m.group(1), 1, MAX_STEPS, "a budget in steps"))
        if m := _MINUTES.match(text):
            minutes = parse_float(m.group(1), None, MAX_MINUTES, "a budget in minutes")
            if not minutes > 0:
                raise OutsideValueError(f"a budget in minutes must be more than 0 and at most {MAX_MINUTES:,}")
            return Budget(minutes=minutes)
    except OutsideValueError as e:
        raise ConfigError(f"{e}: {_HOW}") from None
    shown = text.strip()[:40]
    raise ConfigError(f"{shown!r} is not a budget: {_HOW}")
