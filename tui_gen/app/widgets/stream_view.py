"""A line-based view for text that streams in one character at a time."""

from __future__ import annotations

import math

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui_gen import textsafe

# The one sanitiser lives in the engine (the CLI uses it too); these are its widget-side names.
TAB = textsafe.TAB
printable = textsafe.safe_char
visible = textsafe.visible

# Red -> green (ColorBrewer RdYlGn), low -> high probability.
PROB_STYLES = tuple(
    Style(color=c) for c in ("#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850")
)
SEED_STYLE = Style(bold=True)


def prob_style(prob: float) -> Style:
    """Colour-scale bucket for a probability in [0, 1]."""
    if not math.isfinite(prob):
        return PROB_STYLES[0]
    index = int(min(max(prob, 0.0), 1.0) * len(PROB_STYLES))
    return PROB_STYLES[min(index, len(PROB_STYLES) - 1)]


class StreamView(ScrollView, can_focus=True):
    """Streams text in, each generated character coloured by its probability.

    Keeps logical lines (split on "\\n") plus their wrap into display rows;
    an append only touches the last row, so only that row is re-rendered.
    """

    # Stable gutter: the vertical scrollbar appearing must not change the
    # wrap width (which would re-wrap everything mid-stream).
    DEFAULT_CSS = """
    StreamView {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
        height: 1fr;
    }
    """

    # Selection needs per-row offsets we don't keep; keep it off.
    ALLOW_SELECT = False

    DEFAULT_WRAP = 80  # used until the widget has a size

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._wrap = self.DEFAULT_WRAP
        self._reset()

    def _reset(self) -> None:
        # Logical lines as runs of (text, style), one run per append call.
        self._lines: list[list[tuple[str, Style]]] = [[]]
        # Display rows (wrapped), as segment lists plus their cell lengths.
        self._rows: list[list[Segment]] = [[]]
        self._row_cells: list[int] = [0]

    @property
    def text(self) -> str:
        """The plain text shown so far (sanitised, tabs expanded)."""
        return "\n".join("".join(t for t, _ in line) for line in self._lines)

    @property
    def row_count(self) -> int:
        """Number of display rows after wrapping."""
        return len(self._rows)

    def append_seed(self, text: str) -> None:
        """Append prompt text in the neutral seed style."""
        self._append(text, SEED_STYLE)

    def append_char(self, ch: str, prob: float) -> None:
        """Append generated text (normally one char) coloured by `prob`."""
        self._append(ch, prob_style(prob))

    def clear(self) -> None:
        self._reset()
        self.virtual_size = Size(self._wrap, 1)
        self.scroll_to(0, 0, animate=False, immediate=True, force=True)
        self.refresh()

    # Internals ------------------------------------------------------------

    def _append(self, text: str, style: Style) -> None:
        if not text:
            return
        at_end = self.is_vertical_scroll_end
        first_dirty = len(self._rows) - 1
        pending: list[str] = []
        for ch in text:
            if ch == "\n":
                self._flush(pending, style)
                self._lines.append([])
                self._new_row()
                continue
            shown = printable(ch)
            pending.append(shown)
            for c in shown:
                self._add_to_row(c, style)
        self._flush(pending, style)
        rows = len(self._rows)
        grew = rows - 1 != first_dirty
        if grew:
            self.virtual_size = Size(self._wrap, rows)
        self.refresh_lines(first_dirty, rows - first_dirty)
        # Scroll only when rows were added: a scroll makes the screen reflow, far dearer than a line.
        if at_end and grew:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def _flush(self, pending: list[str], style: Style) -> None:
        # One run per append call (not merged with the previous run): merging
        # by string concatenation would be quadratic on long same-style lines.
        if pending:
            self._lines[-1].append(("".join(pending), style))
            pending.clear()

    def _new_row(self) -> None:
        self._rows.append([])
        self._row_cells.append(0)

    def _add_to_row(self, ch: str, style: Style) -> None:
        width = cell_len(ch)
        # A row always takes at least one char, so a too-wide char can't loop.
        if self._row_cells[-1] and self._row_cells[-1] + width > self._wrap:
            self._new_row()
        row = self._rows[-1]
        if row and row[-1].style is style:
            row[-1] = Segment(row[-1].text + ch, style)
        else:
            row.append(Segment(ch, style))
        self._row_cells[-1] += width

    def _rewrap(self) -> None:
        self._rows = [[]]
        self._row_cells = [0]
        for index, line in enumerate(self._lines):
            if index:
                self._new_row()
            for text, style in line:
                for ch in text:
                    self._add_to_row(ch, style)
        self.virtual_size = Size(self._wrap, len(self._rows))

    def on_resize(self, event: events.Resize) -> None:
        wrap = max(1, self.scrollable_content_region.width)
        if wrap != self._wrap:
            at_end = self.is_vertical_scroll_end
            self._wrap = wrap
            self._rewrap()
            if at_end:
                self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
            self.refresh()

    def on_mount(self) -> None:
        # (ScrollView.on_mount runs too: Textual dispatches along the MRO.)
        self.virtual_size = Size(self._wrap, len(self._rows))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = scroll_y + y
        if index >= len(self._rows):
            return Strip.blank(width, base)
        strip = Strip(self._rows[index], self._row_cells[index])
        return strip.crop_extend(scroll_x, scroll_x + width, None).apply_style(base)
