"""A text coloured by one unit's activation at each character: the neuron explorer's view.

A diverging palette (ColorBrewer RdBu): blue below zero, white at zero, red above, scaled to the
unit's largest |activation| over the text. The text is wrapped once (per width); a new unit only
recomputes one colour level per character, and only the rows on screen are drawn, so stepping
through units stays quick on a 20,000-character text.
"""

from __future__ import annotations

import numpy as np
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui_gen.app.widgets.scrolled_rows import visible_row
from tui_gen.core.textsafe import NEWLINE, safe_char

# RdBu, reversed: index 0 the most negative, the middle 0, the last the most positive.
PALETTE = (
    "#053061",
    "#2166ac",
    "#4393c3",
    "#92c5de",
    "#d1e5f0",
    "#f7f7f7",
    "#fddbc7",
    "#f4a582",
    "#d6604d",
    "#b2182b",
    "#67001f",
)
MIDDLE = len(PALETTE) // 2
DARK = {0, 1, 9, 10}  # white letters on these
LEVEL_STYLES = tuple(Style(color="white" if i in DARK else "black", bgcolor=c) for i, c in enumerate(PALETTE))


def scale_of(values: np.ndarray) -> float:
    """The colour scale's end: the largest |value| (0 for none)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    return float(np.abs(values).max()) if values.size else 0.0


def levels(values: np.ndarray) -> np.ndarray:
    """Each value's palette index: -max|v| -> 0, 0 -> the middle, +max|v| -> the last."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    scale = scale_of(values)
    if scale == 0.0:
        return np.full(values.shape, MIDDLE, dtype=np.int64)
    return np.clip(np.rint((values / scale + 1) / 2 * (len(PALETTE) - 1)), 0, len(PALETTE) - 1).astype(np.int64)


class ActivationView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    ActivationView {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
        height: 1fr;
    }
    """
    ALLOW_SELECT = False

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._shown: list[str] = []  # per character of the text, what is drawn (a newline: ⏎, then a break)
        self._breaks: list[bool] = []  # a row ends after this character
        self._rows: list[tuple[int, int]] = [(0, 0)]  # display rows: [start, end) character indices
        self._levels = np.zeros(0, dtype=np.int64)
        self._wrap = 80

    @property
    def text_length(self) -> int:
        return len(self._shown)

    def set_text(self, text: str) -> None:
        self._shown = [NEWLINE if ch == "\n" else safe_char(ch) for ch in text]
        self._breaks = [ch == "\n" for ch in text]
        self._levels = np.full(len(text), MIDDLE, dtype=np.int64)
        self._rewrap()
        self.scroll_to(0, 0, animate=False, immediate=True, force=True)
        self.refresh()

    def set_values(self, values: np.ndarray | None) -> None:
        """Colour each character by its value (one per character), or plainly (None)."""
        if values is None:
            self._levels = np.full(len(self._shown), MIDDLE, dtype=np.int64)
        else:
            if len(values) != len(self._shown):
                raise ValueError(f"{len(values)} values for {len(self._shown)} characters")
            self._levels = levels(values)
        self.refresh()

    def level_at(self, index: int) -> int:
        return int(self._levels[index])

    def row_of(self, index: int) -> int:
        """The display row that holds character index (for scrolling it into view)."""
        lo, hi = 0, len(self._rows) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._rows[mid][0] <= index:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _rewrap(self) -> None:
        rows, start, cells = [], 0, 0
        for i, shown in enumerate(self._shown):
            width = cell_len(shown)
            if cells and cells + width > self._wrap:
                rows.append((start, i))
                start, cells = i, 0
            cells += width
            if self._breaks[i]:
                rows.append((start, i + 1))
                start, cells = i + 1, 0
        rows.append((start, len(self._shown)))
        self._rows = rows
        self.virtual_size = Size(self._wrap, len(rows))

    def on_resize(self, event: events.Resize) -> None:
        wrap = max(1, self.scrollable_content_region.width)
        if wrap != self._wrap:
            self._wrap = wrap
            self._rewrap()
            self.refresh()

    def row_segments(self, row: int) -> list[Segment]:
        """The segments of one display row: runs of characters of the same colour level."""
        start, end = self._rows[row]
        segments: list[Segment] = []
        run: list[str] = []
        level = 0  # set by the first character, before any run is drawn
        for i in range(start, end):
            lv = int(self._levels[i])
            if lv != level and run:
                segments.append(Segment("".join(run), LEVEL_STYLES[level]))
                run = []
            run.append(self._shown[i])
            level = lv
        if run:
            segments.append(Segment("".join(run), LEVEL_STYLES[level]))
        return segments

    def render_line(self, y: int) -> Strip:
        return visible_row(self, y, len(self._rows), self._row_strip)

    def _row_strip(self, row: int) -> Strip:
        segments = self.row_segments(row)
        return Strip(segments, sum(s.cell_length for s in segments))
