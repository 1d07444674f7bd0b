"""A one-line horizontal slider for the sampling temperature."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

LABEL, SHORT_LABEL = "Temperature ", "T "
VALUE_WIDTH = 5  # " 2.00"
MIN_TRACK = 20  # the full label only where the track keeps at least this many columns


class TemperatureSlider(Widget, can_focus=True):
    """Slider for a float in [min, max], snapped to a grid of `step`."""

    COMPONENT_CLASSES = {
        "temperature-slider--label",
        "temperature-slider--filled",
        "temperature-slider--knob",
        "temperature-slider--empty",
        "temperature-slider--value",
    }

    DEFAULT_CSS = """
    TemperatureSlider {
        height: 1;
        width: 1fr;
        min-width: 12;
        pointer: pointer;

        & > .temperature-slider--label { color: $text-muted; }
        & > .temperature-slider--filled { color: $primary; }
        & > .temperature-slider--knob { color: $foreground; text-style: bold; }
        & > .temperature-slider--empty { color: $foreground-muted; }
        & > .temperature-slider--value { color: $foreground; }

        &:focus {
            background: $boost;
            & > .temperature-slider--label { color: $accent; text-style: bold; }
            & > .temperature-slider--filled { color: $accent; }
            & > .temperature-slider--knob { color: $accent; }
            & > .temperature-slider--value { text-style: bold; }
        }
    }
    """

    BINDINGS = [
        Binding("left", "step(-1)", "Colder", show=False),
        Binding("right", "step(1)", "Hotter", show=False),
        Binding("shift+left,pagedown", "big_step(-1)", "Much colder", show=False),
        Binding("shift+right,pageup", "big_step(1)", "Much hotter", show=False),
        Binding("home", "to_min", "Min", show=False),
        Binding("end", "to_max", "Max", show=False),
    ]

    class Changed(Message):
        """Posted when the slider's value changes."""

        def __init__(self, slider: TemperatureSlider, value: float) -> None:
            super().__init__()
            self.slider = slider
            self.value = value

        @property
        def control(self) -> TemperatureSlider:
            # Lets handlers use @on(TemperatureSlider.Changed, "#id").
            return self.slider

    # init=False: no Changed message for the initial value.
    value: reactive[float] = reactive(1.0, init=False)

    def __init__(
        self,
        value: float = 1.0,
        *,
        min: float = 0.05,
        max: float = 2.0,
        step: float = 0.05,
        big_step: float = 0.25,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        if not min < max:
            raise ValueError(f"min ({min}) must be below max ({max})")
        if step <= 0 or big_step <= 0:
            raise ValueError("step and big_step must be positive")
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.min = float(min)
        self.max = float(max)
        self.step = float(step)
        self.big_step = float(big_step)
        self._dragging = False
        self.set_reactive(TemperatureSlider.value, self.validate_value(value))

    def validate_value(self, value: float) -> float:
        # Snap to the grid anchored at min, then round away float drift
        # (0.1 + 0.2 style), then clamp; clamping last keeps min/max reachable
        # even when max is not on the grid.
        snapped = self.min + round((float(value) - self.min) / self.step) * self.step
        snapped = round(snapped, 10)
        return min(self.max, max(self.min, snapped))

    def watch_value(self, value: float) -> None:
        self.post_message(self.Changed(self, value))

    # Geometry -----------------------------------------------------------

    @property
    def label(self) -> str:
        """ "Temperature" where it fits beside a usable track, "T" where it does not."""
        return LABEL if self.size.width - len(LABEL) - VALUE_WIDTH >= MIN_TRACK else SHORT_LABEL

    @property
    def _track_width(self) -> int:
        return max(1, self.size.width - len(self.label) - VALUE_WIDTH)

    def _value_at(self, x: int) -> float:
        """The value under content column `x` (clamped to the track)."""
        span = self._track_width - 1
        if span <= 0:
            return self.value
        fraction = (x - len(self.label)) / span
        return self.min + fraction * (self.max - self.min)

    def render(self) -> Text:
        track = self._track_width
        fraction = (self.value - self.min) / (self.max - self.min)
        knob = round(fraction * (track - 1))
        style = self.get_component_rich_style
        return Text.assemble(
            (self.label, style("temperature-slider--label")),
            ("━" * knob, style("temperature-slider--filled")),
            ("●", style("temperature-slider--knob")),
            ("─" * (track - 1 - knob), style("temperature-slider--empty")),
            (f" {self.value:4.2f}", style("temperature-slider--value")),
            no_wrap=True,
            overflow="crop",
            end="",
        )

    # Keys -----------------------------------------------------------------

    def action_step(self, direction: int) -> None:
        self.value = self.value + direction * self.step

    def action_big_step(self, direction: int) -> None:
        self.value = self.value + direction * self.big_step

    def action_to_min(self) -> None:
        self.value = self.min

    def action_to_max(self) -> None:
        self.value = self.max

    # Mouse ----------------------------------------------------------------

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button != 1:
            return
        event.stop()
        self._dragging = True
        self.capture_mouse()
        self.value = self._value_at(event.get_content_offset_capture(self).x)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        # Track the drag via our own flag: while captured, moves outside the
        # widget still arrive here, and some terminals report button 0 on drag.
        if self._dragging:
            self.value = self._value_at(event.get_content_offset_capture(self).x)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._dragging:
            self.value = self._value_at(event.get_content_offset_capture(self).x)
            self._dragging = False
            self.release_mouse()

    def on_mouse_release(self, event: events.MouseRelease) -> None:
        # Capture can be taken away (e.g. a modal opens) without a mouse up.
        self._dragging = False

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        # Stop it so an enclosing scroll container doesn't scroll as well.
        event.stop()
        event.prevent_default()
        self.action_step(1)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        event.prevent_default()
        self.action_step(-1)
