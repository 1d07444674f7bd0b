"""The model's top candidates at one position (the character it just wrote, or the one under a
cursor), with their probabilities; clicking one (or picking it with a number key) asks to branch."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from tui_gen.app.widgets.stream_view import prob_style
from tui_gen.core.textsafe import safe_char

BAR_WIDTH = 6
SHOWN = {" ": "␣", "\n": "⏎"}


def show_char(ch: str) -> str:
    return SHOWN.get(ch) or safe_char(ch)


def candidates_text(
    top: list[tuple[str, float]], chosen: str | None = None, width: int = BAR_WIDTH, note: str = ""
) -> Text:
    if not top:
        return Text("–" + (f"\n\n{note}" if note else ""), style="dim")
    out = Text()
    for i, (ch, p) in enumerate(top):
        if i:
            out.append("\n")
        mark = "▸" if ch == chosen else " "
        out.append(f"{mark}{show_char(ch):<2}", style="bold" if ch == chosen else "")
        filled = max(0, min(width, round(p * width)))
        out.append("█" * filled + "·" * (width - filled), style=prob_style(p))
        out.append(f" {p * 100:4.1f}%")
    if note:
        out.append("\n\n" + note, style="dim")
    return out


class NextCharPanel(Static, can_focus=True):
    """show(top, chosen): the candidates at one position, the chosen one marked, and a note under them
    (the character there and its probability, say)."""

    DEFAULT_CSS = """
    NextCharPanel {
        width: 18;
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        padding: 0 0 0 1;
        &:focus {
            border: round $accent;
        }
    }
    """

    class Picked(Message):
        """Candidate `index` (0: the likeliest) was clicked."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(candidates_text([]), id=id, classes=classes)
        self.border_title = "next char"
        self.top: list[tuple[str, float]] = []
        self.chosen: str | None = None
        self.note = ""

    def show(self, top: list[tuple[str, float]], chosen: str | None = None, note: str = "") -> None:
        self.top, self.chosen, self.note = list(top), chosen, note
        self.update(candidates_text(self.top, chosen, note=note), layout=False)  # fixed size: no layout pass

    def clear(self) -> None:
        self.show([], None)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and 0 <= offset.y < len(self.top):
            self.post_message(self.Picked(offset.y))
