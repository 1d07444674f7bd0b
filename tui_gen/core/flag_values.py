"""How a typed setting becomes a value: the parsers behind `tui-gen train`'s flags, shared with the
app's new-run form so a value means the same in both. Torch-free; errors are argparse's
ArgumentTypeError with a message fit to show the user.

The text goes through the gate (tui_gen.core.gate): ASCII digits only, a bounded length before int() or
float() sees it, floats finite. Ranges are TrainConfig.validate's, which names the setting."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import overload

from tui_gen.core.gate import OutsideValueError, parse_float, parse_int


def hidden_sizes(text: str) -> list[int]:
    """ "128,256" -> [128, 256]: one size per layer."""
    try:
        sizes = [parse_int(p) for p in text.replace(" ", "").split(",") if p]
    except OutsideValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 128,256, got {text[:40]!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one hidden size, like 128,256")
    return sizes


@overload
def number(kind: type[int]) -> Callable[[str], int]: ...
@overload
def number(kind: type[float]) -> Callable[[str], float]: ...
def number(kind: type[int] | type[float]) -> Callable[[str], int] | Callable[[str], float]:
    """A parser for one int or float, saying what is wrong with the text rather than Python's ValueError."""
    gate_parse: Callable[..., int | float] = parse_int if kind is int else parse_float

    def parse(text: str) -> int | float:
        try:
            return gate_parse(text, what="the value")
        except OutsideValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse
