"""tui-gen: train and play with a character-level GRU language model in the terminal, or from Python.

    import tui_gen

    run = tui_gen.load("models/trump-tweets-20261128-101500")
    print(run.generate("Hillary", temperature=0.8, random_seed=1))

The Python API (tui_gen/api.py, the README's "Python API"): load, train, Run, Score, History, Point,
TrainingError, and events (the trainer's event types, tui_gen.core.events). Each name is imported when
it is first used, not here: `import tui_gen` loads no torch, and every module of the package, which
imports this one first, stays as cheap to import as it was.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers see; at run time, __getattr__ below
    from tui_gen.api import History as History
    from tui_gen.api import Point as Point
    from tui_gen.api import Run as Run
    from tui_gen.api import Score as Score
    from tui_gen.api import TrainingError as TrainingError
    from tui_gen.api import load as load
    from tui_gen.api import train as train
    from tui_gen.core import events as events

# Each public name, and the module it comes from (a name of its own: that module itself).
_LAZY = {
    "load": "tui_gen.api",
    "train": "tui_gen.api",
    "Run": "tui_gen.api",
    "Score": "tui_gen.api",
    "History": "tui_gen.api",
    "Point": "tui_gen.api",
    "TrainingError": "tui_gen.api",
    "events": "tui_gen.core.events",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    """A public name, imported on first use (PEP 562), then kept in the package as if imported here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tui_gen' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if module.endswith("." + name) else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
