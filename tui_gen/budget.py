"""A run's budget as a person types it: "6" or "6 minutes", or "2000 steps". No torch, no UI."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import ConfigError

MAX_MINUTES = 60 * 24 * 365  # TrainConfig.validate's limit
MAX_STEPS = 10**9

_MINUTES = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:m|min|mins|minute|minutes)?\s*$", re.IGNORECASE)
_STEPS = re.compile(r"^\s*(\d+)\s*(?:step|steps)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Budget:
    minutes: float | None = None
    steps: int | None = None

    def __str__(self) -> str:
        if self.steps is not None:
            return f"{self.steps} steps"
        return f"{self.minutes:g} minutes"


def parse_budget(text: str) -> Budget:
    if m := _STEPS.match(text):
        steps = int(m.group(1))
        if not 1 <= steps <= MAX_STEPS:
            raise ConfigError(f"give 1 to {MAX_STEPS:,} steps, not {steps:,}")
        return Budget(steps=steps)
    if m := _MINUTES.match(text):
        minutes = float(m.group(1))
        if not (math.isfinite(minutes) and 0 < minutes <= MAX_MINUTES):
            raise ConfigError(f"give more than 0 and at most {MAX_MINUTES:,} minutes, not {minutes:g}")
        return Budget(minutes=minutes)
    shown = text.strip()[:40]
    raise ConfigError(f"{shown!r} is not a budget: type minutes (like 6) or steps (like 2000 steps)")
