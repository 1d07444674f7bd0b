"""A question with a few answers, as a modal dialog. Dismisses with the chosen answer's value, or None."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static
from textual.widgets.button import ButtonVariant

from tui_gen.app.bindings import CONFIRM_BINDINGS
from tui_gen.core.textsafe import visible


@dataclass(frozen=True)
class Choice:
    value: str
    label: str  # plain text, shown on the button
    key: str | None = None  # a letter that picks it
    variant: ButtonVariant = "default"  # Button variant: "primary", "error", ...
    default: bool = False  # has the focus when the dialog opens


class ConfirmScreen(ModalScreen[str | None]):
    BINDINGS = [*CONFIRM_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant
    AUTO_FOCUS = ".default-choice"

    def __init__(self, title: str, body: str, choices: list[Choice], purpose: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.body = body
        self.choices = choices
        self.purpose = purpose  # lets the app recognise its own dialogs ("quit", "resume")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(visible(self.title_text)), classes="dialog-title")
            yield Static(Text(visible(self.body)), classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                for c in self.choices:
                    label = f"{c.label} ({c.key})" if c.key else c.label
                    yield Button(
                        Text(label),
                        id=f"choice-{c.value}",
                        variant=c.variant,
                        classes="default-choice" if c.default else "",
                    )

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def on_key(self, event: events.Key) -> None:
        for c in self.choices:
            if c.key and event.key == c.key:
                event.stop()
                self.dismiss(c.value)
                return

    def choose(self, value: str) -> None:
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
