"""Samples written at each evaluation, newest first, each tagged with its step and temperature.

One sample is highlighted while the panel has the focus (up and down move it, from the newest on): the
copy and save keys (tui_gen.app.takeout) take it, its seed and continuation exactly, into the terminal's
clipboard or a new file in the run's samples/ folder.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui_gen.app.bindings import SAMPLES_BINDINGS
from tui_gen.app.takeout import copy, save
from tui_gen.core.textsafe import visible

MAX_BLOCKS = 40  # older evaluations are dropped from the screen (they are in the checkpoints' history)
SHOWN_CHARS = 2_000  # of each sample (--sample-length may be up to 100,000): the playground writes long text
EMPTY = "No samples yet: the model writes some at each evaluation, from the lecture's seeds where it can."
HIGHLIGHT_STYLE = "reverse"

Block = tuple[int, float, list[tuple[str, str]]]  # step, temperature, (seed, continuation) pairs


def literal(text: str, limit: int = SHOWN_CHARS) -> str:
    """Show text as it is: control characters as visible symbols, a newline as ⏎; cut after `limit`
    characters, saying how many more there were."""
    more = len(text) - limit
    shown = visible(text[:limit]).replace("\n", "⏎")
    return shown + (f" … ({more:,} more characters)" if more > 0 else "")


def sample_block(step: int, temperature: float, samples: list[tuple[str, str]], highlight: int | None = None) -> Text:
    """One evaluation's samples; the one at index `highlight` (if any) drawn highlighted."""
    out = Text()
    out.append(f"step {step:,} · T={temperature:.2f}", style="bold cyan")
    for i, (seed, continuation) in enumerate(samples):
        out.append("\n")
        start = len(out)
        out.append(literal(seed), style="bold")
        out.append(literal(continuation.rstrip("\n")))
        if i == highlight:
            out.stylize(HIGHLIGHT_STYLE, start, len(out))
    return out


def sample_text(seed: str, continuation: str) -> str:
    """A sample as it is taken out: its seed and continuation exactly, without the line's end."""
    return seed + continuation.rstrip("\n")


class SamplesPanel(VerticalScroll):
    """Call add() with each Samples event; the newest block is shown on top."""

    BINDINGS = [*SAMPLES_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant

    DEFAULT_CSS = """
    SamplesPanel {
        height: 1fr;
        & > .sample-block { height: auto; margin: 0 0 1 0; }
        & > #samples-empty { color: $text-muted; }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.blocks: list[Block] = []  # newest first
        self._serials: list[int] = []  # each block's number, in the order of blocks: what a highlight names
        self._added = 0
        self._fresh = 0  # blocks added since the widgets were last brought up to date
        self._chosen: tuple[int, int] | None = None  # (block's serial, sample) picked with up/down; None: newest
        self._painted: tuple[int, int] | None = None  # (serial, sample) drawn highlighted

    def compose(self):
        yield Static(EMPTY, id="samples-empty", markup=False)

    def add(self, step: int, temperature: float, samples: list[tuple[str, str]]) -> None:
        """Record an evaluation's samples; the widgets follow once the caller's handler is done, so a
        burst of evaluations (a batch of training events) costs one change of the screen, not one each."""
        self._added += 1
        self.blocks.insert(0, (step, temperature, list(samples)))
        self._serials.insert(0, self._added)
        del self.blocks[MAX_BLOCKS:]
        del self._serials[MAX_BLOCKS:]
        self._fresh += 1
        if self._fresh == 1:
            self.call_later(self._show_fresh)

    # ---- the highlighted sample ----------------------------------------------------------------------
    @property
    def highlighted(self) -> tuple[int, int] | None:
        """(block, sample) indices of the highlighted sample in `blocks`, or None when there is none."""
        if self._chosen is not None and self._chosen[0] in self._serials:
            return self._serials.index(self._chosen[0]), self._chosen[1]
        for block, (_, _, samples) in enumerate(self.blocks):  # the newest sample there is
            if samples:
                return block, 0
        return None

    def action_highlight(self, step: int) -> None:
        """The sample above (-1) or below (+1) the highlighted one, across evaluations."""
        at = self.highlighted
        if at is None:
            return
        order = [(b, i) for b, (_, _, samples) in enumerate(self.blocks) for i in range(len(samples))]
        block, index = order[max(0, min(order.index(at) + step, len(order) - 1))]
        self._chosen = (self._serials[block], index)
        self._paint_highlight()
        widgets = self._block_widgets()
        if block < len(widgets):
            self.scroll_to_widget(widgets[block], animate=False)

    def action_copy_text(self) -> None:
        text, what, _ = self._taken() or ("", "the samples panel", 0)
        copy(self, text, what)

    def action_save_text(self) -> None:
        text, what, step = self._taken() or ("", "the samples panel", 0)
        save(self, text, getattr(self.app, "run_folder", None), f"sample-step{step}", what)

    def _taken(self) -> tuple[str, str, int] | None:
        """(the highlighted sample's text, what it is in words, its step), or None."""
        at = self.highlighted
        if at is None:
            return None
        step, _, samples = self.blocks[at[0]]
        seed, continuation = samples[at[1]]
        source = f"from {seed!r}" if seed else "from a line's start"  # no lecture seed fits (sample_seeds)
        return sample_text(seed, continuation), f"the sample {source} at step {step:,}", step

    def on_focus(self) -> None:
        self._paint_highlight(focused=True)  # has_focus is set after this handler (Widget._on_focus)

    def on_blur(self) -> None:
        self._paint_highlight(focused=False)

    def _block_widgets(self) -> list[Static]:
        return list(self.query(".sample-block").results(Static))  # every block is a Static

    def _paint_highlight(self, focused: bool | None = None) -> None:
        """Draw the highlight where it is now, on the focused panel only (its keys act on it then)."""
        if self._fresh:  # the widgets are behind the blocks: _show_fresh paints once they are not
            return
        at = self.highlighted if (self.has_focus if focused is None else focused) else None
        target = (self._serials[at[0]], at[1]) if at is not None else None
        if target == self._painted:
            return
        touched = {p[0] for p in (self._painted, target) if p is not None}
        for block, widget in enumerate(self._block_widgets()[: len(self.blocks)]):
            serial = self._serials[block]
            if serial in touched:
                index = target[1] if target is not None and target[0] == serial else None
                widget.update(sample_block(*self.blocks[block], highlight=index))
        self._painted = target

    # ---- the widgets ---------------------------------------------------------------------------------
    def _show_fresh(self) -> None:
        fresh, self._fresh = min(self._fresh, len(self.blocks)), 0
        if not fresh or not self.is_attached:
            return
        self.query("#samples-empty").remove()
        children = self._block_widgets()
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
        if self._painted is not None and self._painted[0] not in self._serials:
            self._painted = None  # its block was dropped, and its widget rewritten
        self.call_after_refresh(self._paint_highlight)  # once the new widgets are mounted
        self.scroll_home(animate=False)

    def clear(self) -> None:
        self.blocks.clear()
        self._serials.clear()
        self._chosen = self._painted = None
        self._fresh = 0
        for widget in self.query(".sample-block"):
            widget.remove_class("sample-block")  # not to be reused while it is being removed
            widget.remove()
        if not self.query("#samples-empty"):
            self.mount(Static(EMPTY, id="samples-empty", markup=False))
