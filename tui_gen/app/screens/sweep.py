"""The sweep screen (w): several samples from the playground's seed at once, side by side.

Either one sample per temperature from a list ("0.5, 0.8, 1.2") or N samples at the playground's
temperature, all with its length, top-k, top-p and Seed# (a Seed# makes the sweep repeatable), from
its current weights. Each sample is headed by its temperature and mean surprisal (bits/char, under
the model at temperature 1: tui_gen.model.sweep) and coloured by probability as the playground colours.
Columns from 140 wide, stacked below. Drawn in a thread (tui_gen.model.sweep, one batch). The copy and
save keys (tui_gen.app.takeout) take all the samples, each under its heading, below the settings line.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, ScrollableContainer, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from tui_gen.app.bindings import SWEEP_BINDINGS
from tui_gen.app.messages import ModelReady, SweepDrawn
from tui_gen.app.takeout import copy, save
from tui_gen.app.widgets.stream_view import prob_style
from tui_gen.core.errors import ConfigError
from tui_gen.core.textsafe import one_line, safe_char

if TYPE_CHECKING:  # annotations only: tui_gen.model imports torch, which only the drawing thread loads
    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.app.widgets.playground import Draw, Playground
    from tui_gen.core.events import Snapshot
    from tui_gen.model.sweep import SweepSample

    Weights = PlaygroundModel | Snapshot  # Playground.weights

MAX_SAMPLES = 16  # side by side, more would not be readable
MAX_TEMPERATURE = 100.0  # as tui_gen.model.sample.check_temperature
DEFAULT_TEMPERATURES = "0.5, 0.8, 1.2"
SEED_SHOWN = 40  # characters of the seed on the settings line (a pasted seed may be 100 KB)


def parse_temperatures(text: str) -> list[float]:
    """A list like "0.5, 0.8, 1.2" (commas or spaces). Raises ConfigError naming every bad entry."""
    parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    if not parts:
        raise ConfigError("type one or more temperatures, like 0.5, 0.8, 1.2")
    if len(parts) > MAX_SAMPLES:
        raise ConfigError(f"at most {MAX_SAMPLES} temperatures at once; that list has {len(parts)}")
    bad, out = [], []
    for part in parts:
        try:
            t = float(part)
        except ValueError:
            bad.append(f"{one_line(part)!r} is not a number")
            continue
        if not (math.isfinite(t) and 0 < t <= MAX_TEMPERATURE):
            bad.append(f"{one_line(part)} is not above 0 and at most {MAX_TEMPERATURE:g}")
            continue
        out.append(t)
    if bad:
        raise ConfigError("each temperature is a number above 0 and at most 100: " + "; ".join(bad))
    return out


def parse_count(text: str) -> int:
    try:
        n = int(text.strip())
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_SAMPLES:
        raise ConfigError(f"the number of samples is a whole number from 1 to {MAX_SAMPLES}; it is {one_line(text)!r}")
    return n


def sample_text(sample: SweepSample, stops: tuple[str, ...]) -> Text:
    """A sample coloured as the playground colours: by the probability the model gave each character
    (2^-bits). The stop that ended it (a line's end) is not shown; other newlines break the line, and
    control characters are symbols."""
    text, bits = sample.text, sample.bits
    shown = len(text)
    for stop in stops:
        if stop and text.endswith(stop):
            shown = len(text) - len(stop)
            break
    out = Text(no_wrap=False, end="")
    for i in range(shown):
        ch = text[i]
        out.append("\n" if ch == "\n" else safe_char(ch), prob_style(2.0 ** -bits[i]))
    if not shown:
        out.append("(nothing: the model ended the sample at once)", "dim")
    return out


def heading(sample: SweepSample) -> str:
    bits = sample.mean_bits
    return f"T {sample.temperature:g} · " + ("no characters" if math.isnan(bits) else f"{bits:.2f} bits/char")


# What a sweep draws: a list of temperatures (one sample each), or a number of samples at the playground's.
Draws = list[float] | int


class SweepScreen(ModalScreen[None]):
    BINDINGS = [*SWEEP_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant
    CSS_PATH = "lens.tcss"
    AUTO_FOCUS = "#sweep-temperatures"

    def __init__(self, playground: Playground, seed: str, temperature: float, length: int, draw: Draw) -> None:
        super().__init__(classes="dialog-screen")
        self.playground = playground  # for its current weights, read at each draw
        self.seed = seed
        self.temperature = temperature
        self.length = length
        self.draw = draw  # the playground's Draw: top-k, top-p, Seed#
        self.request = 0
        self.last: Draws | None = None  # for Again
        self.samples: list[SweepSample] = []  # what is shown
        self.drawing = False
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="lens-dialog"):
            yield Label("Sweep", classes="dialog-title")
            yield Static(
                Text(self._settings_line(), no_wrap=True, overflow="ellipsis"),
                id="sweep-settings",
                classes="dialog-hint",
            )
            with Horizontal(classes="lens-row"):
                yield Label("Temperatures", classes="field-label")
                yield Input(DEFAULT_TEMPERATURES, id="sweep-temperatures", compact=True, select_on_focus=False)
                yield Label("or N samples", classes="field-label")
                yield Input("", id="sweep-count", type="integer", compact=True, max_length=3, placeholder="N")
            yield Static(
                Text(f"enter in Temperatures: one sample each · enter in N: N samples at T {self.temperature:g}"),
                id="sweep-status",
                classes="dialog-hint",
            )
            yield ScrollableContainer(id="sweep-results")
        yield Footer(compact=True)

    def _settings_line(self, seed_shown: int = SEED_SHOWN) -> str:
        d = self.draw
        seed = one_line(self.seed[:seed_shown]) + ("…" if len(self.seed) > seed_shown else "")
        parts = [
            f"from the seed {seed!r}" if self.seed else "from the start of a line",
            f"up to {self.length:,} characters",
            f"top-k {d.top_k or 'off'}",
            f"top-p {d.top_p:g}" if d.top_p < 1 else "top-p off",
            f"Seed# {d.seed}" if d.seed is not None else "a fresh draw each time",
        ]
        return " · ".join(parts) + " (the playground's settings)"

    # ---- drawing ---------------------------------------------------------------------------------------
    @on(Input.Submitted, "#sweep-temperatures")
    def _temperatures_entered(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            temperatures = parse_temperatures(event.value)
        except ConfigError as e:
            self._refuse(str(e))
            return
        self.start(temperatures)

    @on(Input.Submitted, "#sweep-count")
    def _count_entered(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            n = parse_count(event.value)
        except ConfigError as e:
            self._refuse(str(e))
            return
        self.start(n)

    def action_again(self) -> None:
        if self.last is None:
            self._refuse("nothing to draw again yet: press enter in Temperatures or N")
            return
        self.start(self.last)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @property
    def text(self) -> str:
        """The samples shown, as they are taken out: the settings line, then each sample's heading and its
        seed and continuation exactly ("" before any is drawn)."""
        if not self.samples:
            return ""
        pieces = [f"Sweep {self._settings_line(len(self.seed))}"]
        pieces += [f"{heading(sample)}\n{self.seed}{sample.text}" for sample in self.samples]
        return "\n\n".join(pieces) + "\n"

    def action_copy_text(self) -> None:
        copy(self, self.text, "the sweep")

    def action_save_text(self) -> None:
        save(self, self.text, self.playground.text_folder(), "sweep", "the sweep")

    def _refuse(self, reason: str) -> None:
        self.error = reason
        self._status(Text(reason[0].upper() + reason[1:], style="red"))

    def _status(self, text: Text) -> None:
        self.query_one("#sweep-status", Static).update(text)

    def start(self, what: Draws) -> None:
        weights = self.playground.weights
        if weights is None:
            self._refuse("there is no model to draw from")
            return
        self.last = what
        self.request += 1
        self.drawing = True
        self.error = None
        count = len(what) if isinstance(what, list) else what
        self._status(Text(f"drawing {count} sample{'s' if count != 1 else ''}…"))
        self._draw(self.request, weights, what)

    @work(thread=True, exclusive=True, group="sweep", exit_on_error=False)
    def _draw(self, request: int, weights: Weights, what: Draws) -> None:
        try:
            import torch

            from tui_gen.app.playground_model import model_for
            from tui_gen.core.errors import TuiGenError
            from tui_gen.model.sample import SamplingSettings
            from tui_gen.model.sweep import samples, sweep

            try:
                model, built = model_for(weights)
                if built:
                    self.playground.post_message(ModelReady(model))  # the playground keeps what was built
                d = self.draw
                rng = torch.Generator().manual_seed(d.seed) if d.seed is not None else None
                stops = model.generation_stops
                if isinstance(what, list):
                    drawn = sweep(
                        model.model,
                        model.vocab,
                        model.framing,
                        self.seed,
                        what,
                        self.length,
                        stops,
                        d.top_k,
                        d.top_p,
                        rng,
                    )
                else:
                    settings = SamplingSettings(temperature=self.temperature, top_k=d.top_k, top_p=d.top_p)
                    drawn = samples(
                        model.model, model.vocab, model.framing, self.seed, settings, what, self.length, stops, rng
                    )
                self.post_message(SweepDrawn(request, [(s, stops) for s in drawn]))
            except TuiGenError as e:
                self.post_message(SweepDrawn(request, [], str(e)))
        except Exception as e:  # noqa: BLE001 - a bug: say so here rather than kill the app
            self.post_message(SweepDrawn(request, [], f"the sweep failed: {type(e).__name__}: {e}"))

    async def on_sweep_drawn(self, message: SweepDrawn) -> None:
        message.stop()
        if message.request != self.request:
            return  # an earlier draw's late answer
        if message.error:
            self.drawing = False
            self._refuse(message.error)
            return
        results = self.query_one("#sweep-results", ScrollableContainer)
        await results.remove_children()
        columns = []
        for sample, stops in message.samples:
            column = VerticalScroll(Static(sample_text(sample, stops), classes="sweep-text"), classes="sweep-column")
            column.border_title = heading(sample)
            columns.append(column)
        await results.mount_all(columns)
        if message.request != self.request:
            return  # another draw began meanwhile: its answer redraws
        self.samples = [s for s, _ in message.samples]
        self.drawing = False
        means = [s.mean_bits for s in self.samples if not math.isnan(s.mean_bits)]
        line = f"{len(self.samples)} sample{'s' if len(self.samples) != 1 else ''}"
        if means:
            line += f" · mean {sum(means) / len(means):.2f} bits/char (under the model at T 1)"
        self._status(Text(line + " · ctrl+r draws again"))
