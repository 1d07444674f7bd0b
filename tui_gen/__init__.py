"""tui-gen: train and play with a character-level GRU language model in the terminal."""

__version__ = "0.1.0"
