"""The core: what every layer stands on, with neither torch nor Textual.

Errors, the training configuration and its settings, budgets, the events a run reports and the
commands it accepts, the gates every outside value and file goes through (gate, files, textsafe,
atomic), and where tui-gen keeps its data. May import: the standard library and numpy-free helpers
only; nothing else of tui_gen."""
