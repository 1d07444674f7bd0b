"""Samples written at each evaluation, newest first, each tagged with its step and temperature."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui_gen.app.widgets.stream_view import printable

MAX_BLOCKS = 40  # older evaluations are dropped from the screen (they are in the checkpoints' history)
SHOWN_CHARS = 2_000  # of each sample (--sample-length may be up to 100,000): the playground writes long text
EMPTY = "No samples yet: the model writes some from the lecture's seeds at each evaluation."


def literal(text: str, limit: int = SHOWN_CHARS) -> str:
    """Show text as it is: control characters as visible symbols, a newline as ⏎; cut after `limit`
    characters, saying how many more there were."""
    more = len(text) - limit
    shown = "".join("⏎" if c == "\n" else printable(c) for c in text[:limit])
    return shown + (f" … ({more:,} more characters)" if more > 0 else "")


def sample_block(step: int, temperature: float, samples: list[tuple[str, str]]) -> Text:
    out = Text()
    out.append(f"step {step:,} · T={temperature:.2f}", style="bold cyan")
    for seed, continuation in samples:
        out.append("\n")
        out.append(literal(seed), style="bold")
        out.append(literal(continuation.rstrip("\n")))
    return out


class SamplesPanel(VerticalScroll):
    """Call add() with each Samples event; the newest block is shown on top."""

    DEFAULT_CSS = """
    SamplesPanel {
        height: 1fr;
        & > .sample-block { height: auto; margin: 0 0 1 0; }
        & > #samples-empty { color: $text-muted; }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.blocks: list[tuple[int, float, list[tuple[str, str]]]] = []  # newest first

    def compose(self):
        yield Static(EMPTY, id="samples-empty", markup=False)

    def add(self, step: int, temperature: float, samples: list[tuple[str, str]]) -> None:
        self.blocks.insert(0, (step, temperature, list(samples)))
        del self.blocks[MAX_BLOCKS:]
        empty = self.query("#samples-empty")
        if empty:
            empty.remove()
        block = Static(sample_block(step, temperature, samples), classes="sample-block")
        children = list(self.query(".sample-block"))
        if children:
            self.mount(block, before=children[0])
        else:
            self.mount(block)
        for old in children[MAX_BLOCKS - 1:]:
            old.remove()
        self.scroll_home(animate=False)

    def clear(self) -> None:
        self.blocks.clear()
        self.query(".sample-block").remove()
        if not self.query("#samples-empty"):
            self.mount(Static(EMPTY, id="samples-empty", markup=False))
