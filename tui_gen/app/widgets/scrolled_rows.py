"""What a ScrollView that draws its own rows shows at one line of the screen: the output's StreamView
and the explorer's ActivationView each keep their text as rows and draw only those on screen."""

from __future__ import annotations

from collections.abc import Callable

from textual.scroll_view import ScrollView
from textual.strip import Strip


def visible_row(view: ScrollView, y: int, rows: int, strip_of: Callable[[int], Strip]) -> Strip:
    """Screen line y of `view`: strip_of(row) for the row scrolled there, cut to the view's width, or a
    blank line below its last row (of `rows`)."""
    scroll_x, scroll_y = view.scroll_offset
    width = view.scrollable_content_region.width
    row = scroll_y + y
    if row >= rows:
        return Strip.blank(width, view.rich_style)
    return strip_of(row).crop_extend(scroll_x, scroll_x + width, None).apply_style(view.rich_style)
