"""How a typed setting becomes a value: the parsers behind `tui-gen train`'s flags, shared with the
app's new-run form so a value means the same in both. Torch-free; errors are argparse's
ArgumentTypeError with a message fit to show the user."""

from __future__ import annotations

import argparse


def hidden_sizes(text: str) -> list[int]:
    """ "128,256" -> [128, 256]: one size per layer."""
    try:
        sizes = [int(p) for p in text.replace(" ", "").split(",") if p]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 128,256, got {text!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one hidden size, like 128,256")
    return sizes


def number(kind):
    """A parser for one int or float, saying "expected a number" rather than Python's ValueError."""
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return parse
