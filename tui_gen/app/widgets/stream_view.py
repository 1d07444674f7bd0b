"""A line-based view for text that streams in one character at a time, with an optional cursor.

The cursor (off unless set_cursor() is called) sits on one character of the text; the view keeps every
character's display position, so moving it, or clicking a character, costs a lookup, not a re-layout.
A whole coloured text can also be laid out off the UI thread (Layout) and shown at once (show_layout).

Text can be selected with the mouse (Textual's selection): the rows drawn while the mouse is over the
view carry their row and column offsets (what Textual reads to know where in the text the mouse is),
and get_selection() joins the selected parts of the rows, a row wrapped from the one before without a
line break. What it gives is the text as shown (control characters as symbols). Marking every segment
with its offsets costs a style per segment, and text coloured by probability has many: about 4x the
cost of drawing a screen at 160x48. So it is done only while the mouse is over the view (Textual finds
the offsets by drawing the row under the mouse again), and each row's strip is kept (ROW_CACHE) until
the row, the cursor on it or the selection changes, so Textual reuses the strip's own cached crops and
offsets when it draws again.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from tui_gen.app.widgets.scrolled_rows import visible_row
from tui_gen.core import textsafe

TAB = textsafe.TAB  # the one sanitiser lives in the core (the CLI uses it too)

# Red -> green (ColorBrewer RdYlGn), low -> high probability.
PROB_STYLES = tuple(Style(color=c) for c in ("#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"))
SEED_STYLE = Style(bold=True)
UNKNOWN_STYLE = Style(color="magenta", underline=True)  # a character outside the model's vocabulary
CURSOR_STYLE = Style(reverse=True)
COL_BITS = 20  # a character's position is packed as row << COL_BITS | column: one int each
ROW_CACHE = 512  # rows whose drawn strip is kept: several screens of scrolling back and forth


def prob_style(prob: float) -> Style:
    """Colour-scale bucket for a probability in [0, 1]."""
    if not math.isfinite(prob):
        return PROB_STYLES[0]
    index = int(min(max(prob, 0.0), 1.0) * len(PROB_STYLES))
    return PROB_STYLES[min(index, len(PROB_STYLES) - 1)]


class Layout:
    """Logical lines as runs of (original text, style), their wrap into display rows, and where each
    character of the text starts (packed row and column, for the cursor and for clicks). Plain data:
    a thread worker may build one (add), the view then shows it."""

    def __init__(self, wrap: int) -> None:
        self.wrap = max(1, wrap)
        self.lines: list[list[tuple[str, Style]]] = [[]]
        self.rows: list[list[Segment]] = [[]]
        self.row_cells: list[int] = [0]
        self.row_breaks: list[bool] = [True]  # per row: it starts a line of the text (False: wrapped on)
        self.pos = array("q")  # per character of the text (line breaks included)

    def add(self, text: str, style: Style) -> None:
        """Append text (one run per call: merging runs by concatenation would be quadratic)."""
        start = 0
        for i, ch in enumerate(text):
            if ch == "\n":
                if i > start:
                    self.lines[-1].append((text[start:i], style))
                self.pos.append((len(self.rows) - 1) << COL_BITS | self.row_cells[-1])
                self.lines.append([])
                self._new_row(starts_line=True)
                start = i + 1
                continue
            self._place(ch, style)
        if len(text) > start:
            self.lines[-1].append((text[start:], style))

    def _place(self, ch: str, style: Style) -> None:
        shown = textsafe.safe_char(ch)
        width = cell_len(shown)
        # A row always takes at least one char, so a too-wide char can't loop.
        if self.row_cells[-1] and self.row_cells[-1] + width > self.wrap:
            self._new_row()
        self.pos.append((len(self.rows) - 1) << COL_BITS | self.row_cells[-1])
        row = self.rows[-1]
        if row and row[-1].style is style:
            row[-1] = Segment(row[-1].text + shown, style)
        else:
            row.append(Segment(shown, style))
        self.row_cells[-1] += width

    def _new_row(self, starts_line: bool = False) -> None:
        self.rows.append([])
        self.row_cells.append(0)
        self.row_breaks.append(starts_line)

    def rewrapped(self, wrap: int) -> Layout:
        out = Layout(wrap)
        for index, line in enumerate(self.lines):
            if index:
                out.add("\n", SEED_STYLE)
            for text, style in line:
                out.add(text, style)
        return out

    def char_at(self, row: int, col: int) -> int | None:
        """The index of the character drawn at (row, col), or the last one before it on that row."""
        if not self.pos:
            return None
        i = bisect_right(self.pos, row << COL_BITS | min(col, (1 << COL_BITS) - 1)) - 1
        if i < 0:
            return 0
        return i


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

    ALLOW_SELECT = True  # the mouse selects text (render_line gives each row its offsets)

    # The cursor's keys (while a cursor is shown; otherwise they scroll, as ScrollView's do).
    BINDINGS = [
        Binding("left", "cursor(-1)", show=False),
        Binding("right", "cursor(1)", show=False),
        Binding("home", "cursor_to('start')", show=False),
        Binding("end", "cursor_to('end')", show=False),
    ]

    DEFAULT_WRAP = 80  # used until the widget has a size

    class CursorMoved(Message):
        """The cursor is on character `index` of the text (user moves and set_cursor alike)."""

        def __init__(self, view: StreamView, index: int) -> None:
            super().__init__()
            self.view = view
            self.index = index

        @property
        def control(self) -> StreamView:
            return self.view

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
        self.cursor: int | None = None  # index into the text; None: no cursor
        self.cursor_floor = 0  # the cursor stays at or after this character (after the seed, say)
        self._reset()

    def _reset(self) -> None:
        self._layout = Layout(self._wrap)
        self.cursor = None
        self._strips: LRUCache[int, Strip] = LRUCache(ROW_CACHE)  # row -> its strip as drawn (see the docstring)
        self._drawn_selection: Selection | None = None  # the selection the kept strips show

    # The layout's parts under their old names (tests and callers read them).
    @property
    def _lines(self) -> list[list[tuple[str, Style]]]:
        return self._layout.lines

    @property
    def _rows(self) -> list[list[Segment]]:
        return self._layout.rows

    @property
    def _row_cells(self) -> list[int]:
        return self._layout.row_cells

    @property
    def text(self) -> str:
        """The plain text shown so far (sanitised, tabs expanded)."""
        return "\n".join("".join(textsafe.visible(t) for t, _ in line) for line in self._lines)

    @property
    def length(self) -> int:
        """Characters of the text as given (before sanitising): the cursor's range."""
        return len(self._layout.pos)

    @property
    def row_count(self) -> int:
        """Number of display rows after wrapping."""
        return len(self._rows)

    @property
    def wrap_width(self) -> int:
        return self._wrap

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

    def show_layout(self, layout: Layout) -> None:
        """Show a text laid out elsewhere (a thread worker), replacing what is shown; rewrapped here
        if the view's width changed meanwhile."""
        self._layout = layout if layout.wrap == self._wrap else layout.rewrapped(self._wrap)
        self._strips.clear()
        if self.cursor is not None:
            self.cursor = min(self.cursor, max(self.length - 1, 0)) if self.length else None
        self.virtual_size = Size(self._wrap, len(self._rows))
        self.refresh()

    def set_cursor(self, index: int | None, floor: int | None = None) -> None:
        """Show the cursor on character `index` (kept within cursor_floor and the text), or hide it."""
        if floor is not None:
            self.cursor_floor = floor
        if index is None or self.length <= self.cursor_floor:
            old, self.cursor = self.cursor, None
            if old is not None:
                self._strips.clear()
                self.refresh()
            return
        index = max(self.cursor_floor, min(index, self.length - 1))
        old, self.cursor = self.cursor, index
        for i in (old, index):
            if i is not None and i < self.length:
                self._strips.discard(self._layout.pos[i] >> COL_BITS)
                self.refresh_lines(self._layout.pos[i] >> COL_BITS, 1)
        if old is None:
            self.refresh()
        row = self._layout.pos[index] >> COL_BITS
        self.scroll_to_region(Region(0, row, 1, 1), animate=False, immediate=True, force=True)
        self.post_message(self.CursorMoved(self, index))

    # Keys and mouse ---------------------------------------------------------

    def action_cursor(self, step: int) -> None:
        if self.cursor is None:
            self.scroll_left() if step < 0 else self.scroll_right()
            return
        self.set_cursor(self.cursor + step)

    def action_cursor_to(self, where: str) -> None:
        if self.cursor is None:
            self.scroll_home() if where == "start" else self.scroll_end()
            return
        self.set_cursor(self.cursor_floor if where == "start" else self.length - 1)

    def on_click(self, event: events.Click) -> None:
        if self.cursor is None:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        scroll_x, scroll_y = self.scroll_offset
        index = self._layout.char_at(scroll_y + offset.y, scroll_x + offset.x)
        if index is not None:
            self.set_cursor(index)

    # Internals ------------------------------------------------------------

    def _append(self, text: str, style: Style) -> None:
        if not text:
            return
        at_end = self.is_vertical_scroll_end
        first_dirty = len(self._rows) - 1
        self._layout.add(text, style)
        rows = len(self._rows)
        for row in range(first_dirty, rows):
            self._strips.discard(row)
        grew = rows - 1 != first_dirty
        if grew:
            self.virtual_size = Size(self._wrap, rows)
        self.refresh_lines(first_dirty, rows - first_dirty)
        # Scroll only when rows were added: a scroll makes the screen reflow, far dearer than a line.
        if at_end and grew:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def on_resize(self, event: events.Resize) -> None:
        wrap = max(1, self.scrollable_content_region.width)
        if wrap != self._wrap:
            at_end = self.is_vertical_scroll_end
            self._wrap = wrap
            self._layout = self._layout.rewrapped(wrap)
            self._strips.clear()
            self.virtual_size = Size(self._wrap, len(self._rows))
            if at_end:
                self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
            self.refresh()

    def on_mount(self) -> None:
        # (ScrollView.on_mount runs too: Textual dispatches along the MRO.)
        self.virtual_size = Size(self._wrap, len(self._rows))

    def render_line(self, y: int) -> Strip:
        strip = visible_row(self, y, len(self._rows), self._row_strip)
        scroll_x, scroll_y = self.scroll_offset
        if self.app.mouse_over is self and scroll_y + y < len(self._rows):  # for the mouse's selection
            strip = strip.apply_offsets(scroll_x, scroll_y + y)
        return strip

    def _row_strip(self, row: int) -> Strip:
        strip = self._strips.get(row)
        if strip is None:
            strip = self._draw_row(row)
            self._strips.set(row, strip)
        return strip

    def _draw_row(self, row: int) -> Strip:
        strip = Strip(self._rows[row], self._row_cells[row])
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(row)) is not None:
            start, end = span
            strip = self._styled(strip, start, strip.cell_length if end == -1 else end, self._selection_style())
        if self.cursor is not None and self.cursor < self.length:
            packed = self._layout.pos[self.cursor]
            if packed >> COL_BITS == row:
                strip = self._with_cursor(strip, packed & ((1 << COL_BITS) - 1))
        return strip

    def _selection_style(self) -> Style:
        return self.screen.get_component_rich_style("screen--selection")

    @staticmethod
    def _styled(strip: Strip, start: int, end: int, style: Style) -> Strip:
        """The strip with cells start..end (end excluded) in `style` too."""
        end = min(end, strip.cell_length)
        if start >= end:
            return strip
        before, part, after = strip.divide([start, end, strip.cell_length])
        return Strip.join([before, part.apply_style(style), after])

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text as shown: the selected part of each row, a line break only where the text has
        one (a row wrapped from the one before joins it directly)."""
        layout = self._layout
        parts: list[str] = []
        first = True
        for row, segments in enumerate(layout.rows):
            span = selection.get_span(row)
            if span is None:
                continue
            shown = "".join(segment.text for segment in segments)
            start, end = span
            if not first and layout.row_breaks[row]:
                parts.append("\n")
            parts.append(shown[start:] if end == -1 else shown[start:end])
            first = False
        return "".join(parts), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        """Draw again the rows whose selected part changed (a drag changes one or two rows at a time)."""
        old, self._drawn_selection = self._drawn_selection, selection
        changed = [
            row
            for row in range(len(self._rows))
            if (old.get_span(row) if old is not None else None)
            != (selection.get_span(row) if selection is not None else None)
        ]
        for row in changed:
            self._strips.discard(row)
        if changed:
            self.refresh_lines(changed[0], changed[-1] - changed[0] + 1)

    def _with_cursor(self, strip: Strip, col: int) -> Strip:
        """The row with the cursor's cells reversed (a line break's cursor: the cell after the row)."""
        width = 1
        pos, i = self._layout.pos, self.cursor
        if i is not None and i + 1 < len(pos) and pos[i + 1] >> COL_BITS == pos[i] >> COL_BITS:
            width = max(1, (pos[i + 1] & ((1 << COL_BITS) - 1)) - col)  # a wide character, a tab
        elif i is not None and i + 1 == len(pos):
            width = max(1, strip.cell_length - col)  # the last character: to the end of its row
        return self._styled(strip.extend_cell_length(col + width), col, col + width, CURSOR_STYLE)
