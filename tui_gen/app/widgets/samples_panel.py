"""Samples written at each evaluation, newest first, each tagged with its step and temperature."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui_gen.core.textsafe import visible

MAX_BLOCKS = 40  # older evaluations are dropped from the screen (they are in the checkpoints' history)
SHOWN_CHARS = 2_000  # of each sample (--sample-length may be up to 100,000): the playground writes long text
EMPTY = "No samples yet: the model writes some from the lecture's seeds at each evaluation."


def literal(text: str, limit: int = SHOWN_CHARS) -> str:
    """Show text as it is: control characters as visible symbols, a newline as ⏎; cut after `limit`
    characters, saying how many more there were."""
    more = len(text) - limit
    shown = visible(text[:limit]).replace("\n", "⏎")
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
        self._fresh = 0  # blocks added since the widgets were last brought up to date

    def compose(self):
        yield Static(EMPTY, id="samples-empty", markup=False)

    def add(self, step: int, temperature: float, samples: list[tuple[str, str]]) -> None:
        """Record an evaluation's samples; the widgets follow once the caller's handler is done, so a
        burst of evaluations (a batch of training events) costs one change of the screen, not one each."""
        self.blocks.insert(0, (step, temperature, list(samples)))
        del self.blocks[MAX_BLOCKS:]
        self._fresh += 1
        if self._fresh == 1:
            self.call_later(self._show_fresh)

    def _show_fresh(self) -> None:
        fresh, self._fresh = min(self._fresh, len(self.blocks)), 0
        if not fresh or not self.is_attached:
            return
        self.query("#samples-empty").remove()
        children = list(self.query(".sample-block").results(Static))  # every block is a Static
        spare = children[MAX_BLOCKS - fresh :]  # the oldest blocks' widgets, which would be dropped
        new = []
        for block in reversed(self.blocks[:fresh]):  # oldest first, each put on top
            if spare:  # rewritten and moved up: no new widget to style and mount
                widget = spare.pop()
                widget.update(sample_block(*block))
                self.move_child(widget, before=0)
            else:
                new.append(Static(sample_block(*block), classes="sample-block"))
        if new:
            self.mount_all(reversed(new), before=0)
        self.scroll_home(animate=False)

    def clear(self) -> None:
        self.blocks.clear()
        self._fresh = 0
        for widget in self.query(".sample-block"):
            widget.remove_class("sample-block")  # not to be reused while it is being removed
            widget.remove()
        if not self.query("#samples-empty"):
            self.mount(Static(EMPTY, id="samples-empty", markup=False))
