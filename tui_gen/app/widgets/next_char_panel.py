"""The model's top candidates for the character it just wrote, with their probabilities."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui_gen.app.widgets.stream_view import printable, prob_style

BAR_WIDTH = 6
SHOWN = {" ": "␣", "\n": "⏎"}


def show_char(ch: str) -> str:
    return SHOWN.get(ch) or printable(ch)


def candidates_text(top: list[tuple[str, float]], chosen: str | None = None, width: int = BAR_WIDTH) -> Text:
    if not top:
        return Text("–", style="dim")
    out = Text()
    for i, (ch, p) in enumerate(top):
        if i:
            out.append("\n")
        mark = "▸" if ch == chosen else " "
        out.append(f"{mark}{show_char(ch):<2}", style="bold" if ch == chosen else "")
        filled = max(0, min(width, round(p * width)))
        out.append("█" * filled + "·" * (width - filled), style=prob_style(p))
        out.append(f" {p * 100:4.1f}%")
    return out


class NextCharPanel(Static):
    """show(top, chosen): the candidates at the latest position, the chosen one marked."""

    DEFAULT_CSS = """
    NextCharPanel {
        width: 18;
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        padding: 0 0 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(candidates_text([]), id=id, classes=classes)
        self.border_title = "next char"
        self.top: list[tuple[str, float]] = []
        self.chosen: str | None = None

    def show(self, top: list[tuple[str, float]], chosen: str | None = None) -> None:
        self.top, self.chosen = list(top), chosen
        self.update(candidates_text(self.top, chosen), layout=False)  # fixed size: no layout pass

    def clear(self) -> None:
        self.show([], None)
