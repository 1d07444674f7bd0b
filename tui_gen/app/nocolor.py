"""NO_COLOR without the crash: Textual's Monochrome filter, taught that a segment may have no style.

With NO_COLOR set (and a truecolor terminal), Textual's App.__init__ adds textual.filter.Monochrome
to its line filters. Monochrome.apply calls monochrome_style(style) for every segment, and that
reads style.color without checking for None, though a Rich Segment's style may be None (NoColor.apply,
its sibling, checks). textual_plot's canvas (textual_hires_canvas.Canvas.render_line) returns
Strip.blank(cell_length=0), a segment with style None, whenever its size is still zero, i.e. on the
first frame: `NO_COLOR=1 tui-gen launch` died with AttributeError: 'NoneType' object has no attribute
'color'. Any other widget returning an unstyled strip would do the same. Seen in textual 8.2.8 and
textual-hires-canvas 0.14.0; drop this file once Textual checks for None.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.filter import Monochrome, monochrome_style

_NULL = Style.null()


class SafeMonochrome(Monochrome):
    """Monochrome, with an unstyled segment passed through unstyled (what NoColor does)."""

    def apply(self, segments: list[Segment], background) -> list[Segment]:
        return [Segment(text, None if style is None else monochrome_style(style), None) for text, style, _ in segments]


def patch_filters(filters: list) -> None:
    """Replace Textual's Monochrome in an app's line filters (App._filters) with SafeMonochrome."""
    for i, f in enumerate(filters):
        if type(f) is Monochrome:
            filters[i] = SafeMonochrome(enabled=f.enabled)
