"""The neuron explorer (n): which units of the model track simple features of a text, and the text
coloured by one unit's activation.

The text is the playground's last output by default, editable (or pasted; at most MAX_CHARS are
read, with a notice). tui_gen.model.neurons.explore runs in a thread; the ranked list (feature, layer:unit,
r) picks a unit, and `[` `]` step through the units of its layer, `{` `}` through the layers. The
header names the feature the unit was ranked for (the highlighted row's) and the unit's r with it.
A regular expression of your own is one more feature. `g` reads the text again for the gates instead
of the hidden units (a GRU's z and r, an LSTM's i, f and o: tui_gen.model.neurons.GATES), and back; a
gate is coloured around 0.5 (blue towards 0, shut; red towards 1, open), since it lies between 0 and 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Label, Static, TextArea

from tui_gen.app.bindings import NEURON_BINDINGS
from tui_gen.app.messages import ModelReady, TextExplored
from tui_gen.app.widgets.activation_view import ActivationView, scale_of
from tui_gen.core.model_size import CELL_TYPES
from tui_gen.core.textsafe import one_line, safe_char, visible

if TYPE_CHECKING:  # annotations only: tui_gen.model imports torch, which only the reading thread loads
    import numpy as np

    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.app.widgets.playground import Playground
    from tui_gen.core.events import Snapshot
    from tui_gen.model.neurons import Activations, RankedUnit

MAX_CHARS = 20_000  # read at once: the ranking is over every unit and character
TOP = 5  # units listed per feature
REGEX_CHARS = 200


def check_pattern_speed(pattern: str, text: str) -> None:
    """Refuse a regex that takes long over the text: Python's re holds the GIL while it matches, so
    it would freeze the screen. tui_gen.core.regex_time.check_regex, as for `tui-gen neurons --regex`,
    measures it in a child process: call from a thread."""
    from tui_gen.core.regex_time import check_regex

    check_regex(pattern, text)


@dataclass
class Exploration:
    """What the thread hands over: tui_gen.model.neurons' Activations, ranking and features of the text."""

    text: str
    acts: Activations
    ranked: dict[str, list[RankedUnit]]  # feature -> its units, best first
    features: dict[str, np.ndarray]  # feature -> float32 [len(text)]
    patterns: dict[str, str]  # the user's feature: name -> regex
    cell: str
    sizes: list[int]
    show: str = "hidden"  # tui_gen.model.neurons.SHOWN: the hidden units, or the gates


def symbols(text: str) -> str:
    """Control characters and escape sequences as their symbols (ESC as ␛), newlines and tabs kept:
    a TextArea draws what it holds as it is, and ESC would reach the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c in "\n\t" else safe_char(c) for c in text)


class BoundedTextArea(TextArea):
    """A TextArea that keeps at most `limit` characters (a huge paste is cut, with a notice), and
    holds what is pasted with its control characters as symbols."""

    def __init__(self, text: str, limit: int, **kwargs) -> None:
        super().__init__(symbols(text[:limit]), **kwargs)
        self.limit = limit

    async def _on_paste(self, event: events.Paste) -> None:
        if self.read_only:
            return
        event.prevent_default()  # instead of TextArea's own paste, which inserts it all as it is
        start, end = sorted(self.selection)
        replaced = len(self.get_text_range(start, end))
        room = max(0, self.limit - (len(self.text) - replaced))
        pasted = event.text.replace("\r\n", "\n").replace("\r", "\n")
        if len(pasted) > room:
            self.app.notify(
                f"The pasted text has {len(pasted):,} characters; the box keeps at most "
                f"{self.limit:,}, so {room:,} of them went in.",
                title="Text cut",
                severity="warning",
                markup=False,
            )
            pasted = pasted[:room]
        if pasted:
            result = self.replace(symbols(pasted), start, end)
            self.move_cursor(result.end_location)


class NeuronScreen(ModalScreen[None]):
    BINDINGS = [*NEURON_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant
    CSS_PATH = "lens.tcss"
    AUTO_FOCUS = "#neurons-ranked"

    def __init__(self, playground: Playground, text: str) -> None:
        super().__init__(classes="dialog-screen")
        self.playground = playground  # for its current weights, read at each exploration
        self.initial_text = text[:MAX_CHARS]
        self.cut_from = len(text) if len(text) > MAX_CHARS else None
        self.request = 0
        self.result: Exploration | None = None
        self.rows: list[RankedUnit] = []  # the list's rows, in order
        self.unit_layer: str | None = None  # the unit shown
        self.unit = 0
        self.feature: str | None = None  # the feature the header correlates it with
        self.exploring = False
        self.show = "hidden"  # or "gates" (g): what is read, ranked and stepped through
        self.unit_words = ""  # the header over the coloured text

    def compose(self) -> ComposeResult:
        with Vertical(classes="lens-dialog"):
            yield Label("Neuron explorer", classes="dialog-title")
            yield BoundedTextArea(
                self.initial_text, MAX_CHARS, id="neurons-text", soft_wrap=True, show_line_numbers=False
            )
            with Horizontal(classes="lens-row"):
                yield Label("Regex", classes="field-label")
                yield Input(
                    "",
                    id="neurons-regex",
                    compact=True,
                    max_length=REGEX_CHARS,
                    placeholder="a feature of your own, like [A-Z]{2,}",
                )
                yield Label("Unit", classes="field-label")
                yield Input("", id="neurons-goto", compact=True, max_length=12, placeholder="h1:12")
            yield Static("", id="neurons-status", classes="dialog-hint")
            with Horizontal(id="neurons-body"):
                table: DataTable[Text] = DataTable(id="neurons-ranked", cursor_type="row", zebra_stripes=True)
                table.add_columns("feature", "unit", "r")
                yield table
                with Vertical(id="neurons-right"):
                    yield Static("", id="neurons-unit")
                    yield ActivationView(id="neurons-view")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.cut_from is not None:
            self.app.notify(
                f"The text has {self.cut_from:,} characters; the explorer reads its first {MAX_CHARS:,}.",
                title="Text cut",
                severity="warning",
                markup=False,
            )
        if not self.initial_text.strip():  # nothing to read yet: the box is where to start
            self.query_one("#neurons-text", TextArea).focus()
        self.call_after_refresh(self.action_explore)

    # ---- reading the text ------------------------------------------------------------------------------
    def action_explore(self) -> None:
        text = self.query_one("#neurons-text", TextArea).text
        if len(text) > MAX_CHARS:
            self.app.notify(
                f"The text has {len(text):,} characters; the explorer reads its first {MAX_CHARS:,}.",
                title="Text cut",
                severity="warning",
                markup=False,
            )
            text = text[:MAX_CHARS]
        if len(text) < 2:
            self._status(
                Text(
                    "Type or paste a text of at least 2 characters above, then ctrl+r: with fewer "
                    "there is nothing to correlate."
                )
            )
            return
        regex = self.query_one("#neurons-regex", Input).value
        patterns: dict[str, str] = {}
        if regex:
            from tui_gen.core.errors import ConfigError
            from tui_gen.core.regex_time import compile_regex

            try:
                compile_regex(regex)
            except ConfigError as e:
                self.app.notify(
                    f"{str(e)[0].upper()}{str(e)[1:]}, or empty the box.",
                    title="Bad regex",
                    severity="warning",
                    markup=False,
                )
                return
            patterns = {f"matches {one_line(regex)}": regex}
        weights = self.playground.weights
        if weights is None:
            self._status(Text("There is no model to read the text with.", style="red"))
            return
        self.request += 1
        self.exploring = True
        self._status(Text(f"reading {len(text):,} characters{' for the gates' if self.show == 'gates' else ''}…"))
        self._explore(self.request, weights, text, patterns, self.show)

    @on(Input.Submitted, "#neurons-regex")
    def _regex_entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_explore()

    @work(thread=True, exclusive=True, group="explore", exit_on_error=False)
    def _explore(
        self, request: int, weights: PlaygroundModel | Snapshot, text: str, patterns: dict[str, str], show: str
    ) -> None:
        try:
            from tui_gen.app.playground_model import model_for
            from tui_gen.core.errors import TuiGenError
            from tui_gen.model.neurons import explore, features

            try:
                for pattern in patterns.values():
                    check_pattern_speed(pattern, text)
                model, built = model_for(weights)
                if built:
                    self.playground.post_message(ModelReady(model))  # the playground keeps what was built
                acts, ranked = explore(model.model, model.vocab, model.framing, text, TOP, patterns, show)
                feats = features(text, model.framing, patterns)
                cfg = model.model.config
                self.post_message(
                    TextExplored(
                        request,
                        Exploration(text, acts, ranked, feats, patterns, cfg.cell, list(cfg.hidden_sizes), show),
                    )
                )
            except TuiGenError as e:
                self.post_message(TextExplored(request, error=str(e)))
        except Exception as e:  # noqa: BLE001 - a bug: say so here rather than kill the app
            self.post_message(TextExplored(request, error=f"reading the text failed: {type(e).__name__}: {e}"))

    def on_text_explored(self, message: TextExplored) -> None:
        message.stop()
        if message.request != self.request:
            return  # an earlier reading's late answer
        self.exploring = False
        if message.error:
            words = message.error[0].upper() + message.error[1:]
            self._status(Text(visible(words), style="red"))
            self.app.notify(words, title="Cannot read the text", severity="warning", markup=False)
            return
        result: Exploration = message.result
        self.result = result
        self.rows = [u for units in result.ranked.values() for u in units]
        table = self.query_one("#neurons-ranked", DataTable)
        table.clear()
        for i, u in enumerate(self.rows):
            table.add_row(Text(one_line(u.feature)), Text(u.name), Text(f"{u.correlation:+.2f}"), key=str(i))
        self.query_one(ActivationView).set_text(result.text)
        units = sum(v.shape[1] for v in result.acts.layers.values())
        model = f"{result.cell.upper()} {','.join(map(str, result.sizes))}"
        if result.show == "gates":
            from tui_gen.model.neurons import GATE_WORDS, GATES  # loaded already, by the reading's thread

            layers = len(result.sizes)
            kinds = "; ".join(
                f"{g}1{f'…{g}{layers}' if layers > 1 else ''}: {GATE_WORDS[g]}" for g in GATES[result.cell]
            )
            line = f"{units:,} gate units ({model}: {kinds}) over {len(result.text):,} characters · g: hidden units"
        else:
            line = (
                f"{units:,} units ({model}"
                f"{', cell states c1, c2, …' if CELL_TYPES[result.cell].cell_state else ''})"
                f" over {len(result.text):,} characters"
            )
        missing = [
            f
            for f in ("inside quotes", "inside brackets", "inside a URL", "inside a @/# word", *result.patterns)
            if f not in result.ranked
        ]
        if missing:
            line += f" · not in this text, so not ranked: {', '.join(missing)}"
        self._status(Text(visible(line)))
        if self.rows:
            table.move_cursor(row=0)
            self._pick(0)
            if isinstance(self.focused, TextArea):  # read from the box: now the units, where the keys step
                table.focus()
        else:
            self.unit_layer, self.unit, self.feature = next(iter(result.acts.layers)), 0, None
            self._show_unit()

    # ---- choosing a unit -------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#neurons-ranked")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.cursor_row is not None and 0 <= event.cursor_row < len(self.rows):
            self._pick(event.cursor_row)

    def _pick(self, row: int) -> None:
        u = self.rows[row]
        self.unit_layer, self.unit, self.feature = u.layer, u.unit, u.feature
        self._show_unit()

    @on(Input.Submitted, "#neurons-goto")
    def _goto_entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.go_to(event.value)

    def go_to(self, name: str) -> bool:
        """Show the unit named like "h2:17" (layer:unit). False (said why) if there is none."""
        if self.result is None:
            return False
        from tui_gen.model.neurons import parse_unit_name  # loaded already, by the reading's thread

        layers = self.result.acts.layers
        layer, unit = parse_unit_name(name) or ("", -1)
        if layer not in layers or not 0 <= unit < layers[layer].shape[1]:
            have = ", ".join(f"{n} (units 0 to {v.shape[1] - 1})" for n, v in layers.items())
            self.app.notify(
                f"There is no unit {one_line(name)!r}: name one as layer:unit, like {next(iter(layers))}:3, "
                f"from {have}.",
                title="No such unit",
                severity="warning",
                markup=False,
            )
            return False
        self.unit_layer, self.unit = layer, unit
        self._show_unit()
        return True

    def action_unit(self, step: int) -> None:
        if self.result is None or self.unit_layer is None:
            return
        size = self.result.acts.layers[self.unit_layer].shape[1]
        self.unit = (self.unit + step) % size
        self._show_unit()

    def action_layer(self, step: int) -> None:
        if self.result is None or self.unit_layer is None:
            return
        names = list(self.result.acts.layers)
        self.unit_layer = names[(names.index(self.unit_layer) + step) % len(names)]
        self.unit = min(self.unit, self.result.acts.layers[self.unit_layer].shape[1] - 1)
        self._show_unit()

    def _show_unit(self) -> None:
        result = self.result
        if result is None or self.unit_layer is None:
            return  # nothing read yet
        from tui_gen.model.neurons import GATE_WORDS, correlations, is_gate, unit_name  # loaded by the reading

        values = result.acts.unit(self.unit_layer, self.unit)
        gate = is_gate(self.unit_layer)
        # a gate lies in (0, 1): coloured around its middle, blue towards shut, red towards open
        self.query_one(ActivationView).set_values(values - 0.5 if gate else values)
        words = unit_name(self.unit_layer, self.unit)
        if gate:
            words += f" ({GATE_WORDS[self.unit_layer[0]]})"
        if self.feature is not None:
            r = float(correlations(values[:, None], result.features[self.feature])[0])
            rank = next(
                (
                    k
                    for k, u in enumerate(result.ranked.get(self.feature, []), 1)
                    if (u.layer, u.unit) == (self.unit_layer, self.unit)
                ),
                None,
            )
            words += f" · {one_line(self.feature)}: r = {r:+.3f}"
            words += f" (ranked #{rank})" if rank else " (not among its top units)"
        if len(values) and gate:
            half = scale_of(values - 0.5)
            words += (
                f" · from {float(values.min()):.2f} to {float(values.max()):.2f}"
                f" (blue {0.5 - half:.2f}, white 0.50, red {0.5 + half:.2f})"
            )
        elif len(values):
            words += (
                f" · from {float(values.min()):+.2f} to {float(values.max()):+.2f}"
                f" (blue -{scale_of(values):.2f}, white 0, red +{scale_of(values):.2f})"
            )
        self.unit_words = words
        self.query_one("#neurons-unit", Static).update(Text(words, no_wrap=True, overflow="ellipsis"), layout=False)

    def action_gates(self) -> None:
        """The gates instead of the hidden units, or back: the text is read again (the gates of an RNN,
        which has none, are a notice)."""
        if self.result is not None and self.show == "hidden":
            from tui_gen.model.neurons import has_gates  # loaded already, by the reading's thread

            if not has_gates(self.result.cell):
                self.app.notify(
                    f"This model's cell ({self.result.cell.upper()}) has no gates: a GRU's or an LSTM's has them.",
                    title="No gates",
                    severity="warning",
                    markup=False,
                )
                return
        self.show = "gates" if self.show == "hidden" else "hidden"
        self.action_explore()

    def _status(self, text: Text) -> None:
        self.query_one("#neurons-status", Static).update(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
