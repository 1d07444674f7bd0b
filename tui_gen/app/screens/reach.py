"""Gradient reach (the palette's "Gradient reach"): how far back the gradient of the loss reaches in the
current model, on a log scale, with training's window marked; and other runs of the models folder
overlaid, so that an RNN, a GRU and an LSTM trained on the same text show the lecture's point side by side.

Each curve is tui_gen.model.reach's, as `tui-gen gradients` measures it: lags 0 to DEFAULT_MAX_LAG over
windows of the run's held-out text, in a thread (about a second for the default model on one thread).
The current model is the playground's weights (a checkpoint, or the newest training snapshot: its
corpus and training settings are read from the checkpoint header, or from the run folder's); an
overlaid run is loaded from its folder's best checkpoint. Space marks runs in the list to overlay,
ctrl+r measures the current model again (training moves on), escape closes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, Static
from textual_plot import HiResMode, LegendLocation, PlotWidget
from textual_plot.axis_formatter import AxisFormatter

from tui_gen.app.bindings import REACH_BINDINGS
from tui_gen.app.messages import ModelReady, ReachMeasured, RunInfosListed
from tui_gen.app.widgets.loss_plot import OVERLAY_COLOURS
from tui_gen.core.textsafe import one_line, visible

if TYPE_CHECKING:  # annotations only: tui_gen.model imports torch, which only the measuring threads load
    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.app.widgets.playground import Playground
    from tui_gen.core.events import Snapshot
    from tui_gen.runs.listing import RunInfo

CURRENT = ""  # the current model's key among the curves (an overlaid run's is its folder)
CURRENT_COLOUR = "#ffaf00"
WINDOW_COLOUR = "#808080"
GUIDE_COLOUR = "#585858"  # the thresholds (1%, 0.1%), drawn as faint lines


class DecadeFormatter(AxisFormatter):
    """A log10 axis over many decades: a tick at each power of ten (every other one, or further apart,
    when they would crowd), labelled 1, 0.1, 0.01, 1e-3, ..."""

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        if not (math.isfinite(min_) and math.isfinite(max_)) or max_ <= min_:
            return []
        first, last = math.ceil(min_), math.floor(max_)
        step = max(1, math.ceil((last - first + 1) / max(1, max_ticks)))
        return [float(e) for e in range(last, first - 1, -step)][::-1]

    def get_labels_for_ticks(self, ticks: list[float] | Any) -> list[str]:
        return [f"{10.0**t:g}" if -2 <= t <= 2 else f"1e{int(t)}" for t in ticks]


@dataclass
class Measured:
    """One model's reach, as the thread hands it over."""

    label: str  # the legend's name: "this model (GRU 128,256)", or the run's
    relative: np.ndarray  # [max lag + 1]: NaN where no window reaches
    below: list[tuple[float, int | None]]  # (fraction, the first lag under it; None: not by the max lag)
    seq_len: int | None  # training's window, when the checkpoint says it
    edge: int | None  # the furthest lag that window's gradient spans (tui_gen.model.reach.window_edge)
    carried: str  # how training carried the state between windows, in words (model.reach.state_words)
    text: str  # what it was measured over, in words

    @property
    def max_lag(self) -> int:
        return len(self.relative) - 1

    @property
    def legend(self) -> str:
        """Its legend entry: its name and where it falls below each threshold."""
        below = ", ".join(
            f"{100 * f:g}% " + (f"at {lag}" if lag is not None else f"beyond {self.max_lag}") for f, lag in self.below
        )
        return f"{self.label} · under {below}"


def measure(model: Any, vocab: Any, framing: str, meta: dict[str, Any], label: str) -> Measured:
    """Measure a model (a CharRNN) over its run's held-out text, as `tui-gen gradients RUN` does. meta: the
    checkpoint's header (corpus, corpus_digest, train_config). Call from a thread."""
    from tui_gen.core.config import TrainConfig
    from tui_gen.core.errors import TuiGenError
    from tui_gen.model.reach import (
        DEFAULT_MAX_LAG,
        THRESHOLDS,
        gradient_reach,
        measured_text,
        state_words,
        window_edge,
        windows_of,
    )

    config, known = TrainConfig(), False
    saved = meta.get("train_config")
    if isinstance(saved, dict):
        try:
            config, known = TrainConfig.from_json(dict(saved)), True
        except (TuiGenError, TypeError, ValueError):  # from outside: a damaged one says nothing of its window
            pass
    part, name = measured_text(meta.get("corpus"), framing, config.val_fraction, config.seed, meta.get("corpus_digest"))
    reach = gradient_reach(model, windows_of(part, vocab, DEFAULT_MAX_LAG, seed=config.seed), DEFAULT_MAX_LAG)
    return Measured(
        label,
        reach.relative,
        [(f, reach.below(f)) for f in THRESHOLDS],
        config.seq_len if known else None,
        window_edge(config.seq_len) if known else None,
        state_words(framing, config.overlap, config.state_reset_every),
        name,
    )


def current_meta(weights: PlaygroundModel | Snapshot, run_dir: str | None) -> dict[str, Any]:
    """The header the current weights come with: a checkpoint's own; a training snapshot's meta, with the
    training settings of its run folder's checkpoint (a snapshot carries none) when there is one."""
    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.core.errors import CheckpointError
    from tui_gen.runs.header import RESUME_ORDER, read_meta, resolve_checkpoint

    if isinstance(weights, PlaygroundModel):
        return dict(read_meta(weights.path)) if weights.path else {}
    meta = dict(weights.meta or {})
    if run_dir:
        try:
            meta.setdefault("train_config", read_meta(resolve_checkpoint(run_dir, RESUME_ORDER)).get("train_config"))
        except (CheckpointError, OSError):
            pass  # no checkpoint yet: the window is not known
    return meta


class ReachScreen(ModalScreen[None]):
    BINDINGS = [*REACH_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant
    CSS_PATH = "lens.tcss"
    AUTO_FOCUS = "#reach-runs"
    DEFAULT_CSS = """
    #reach-status { height: auto; max-height: 4; margin: 0 0 1 0; }
    #reach-body { height: 1fr; }
    #reach-plot { width: 1fr; height: 1fr; }
    #reach-side { width: 44; height: 1fr; margin: 0 0 0 1; }
    #reach-runs { height: 1fr; }
    """

    def __init__(self, playground: Playground, models_dir: str, run_dir: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.playground = playground  # its current weights, read at each measurement
        self.models_dir = models_dir
        self.run_dir = run_dir  # the app's training run: its settings, for a snapshot's window
        self.status_words = ""  # the status line's text, as shown
        self.curves: dict[str, Measured] = {}  # by key: CURRENT, then overlaid runs' folders, in marked order
        self.errors: dict[str, str] = {}
        self.requests: dict[str, int] = {}
        self.pending: set[str] = set()
        self.runs: list[RunInfo] = []
        self.marked: list[str] = []  # run folders to overlay, in the order marked
        self.drawn: list[tuple[str, np.ndarray, np.ndarray]] = []  # (label, lags, log10 relative) of the last redraw
        self.window_drawn: int | None = None  # the lag training's window is marked at, if it is

    def compose(self) -> ComposeResult:
        with Vertical(classes="lens-dialog"):
            yield Label("Gradient reach", classes="dialog-title")
            yield Static("", id="reach-status", classes="dialog-hint")
            with Horizontal(id="reach-body"):
                plot = PlotWidget(id="reach-plot", allow_pan_and_zoom=False)
                plot.can_focus = False
                yield plot
                with Vertical(id="reach-side"):
                    yield Label("Overlay other runs (space marks)")
                    table: DataTable[Text] = DataTable(id="reach-runs", cursor_type="row", zebra_stripes=True)
                    table.add_columns("", "run", "model", "steps")
                    yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        plot = self.query_one(PlotWidget)
        plot.set_xlabel("lag: characters back from the loss")
        plot.set_ylabel("relative (log)")
        plot.set_y_formatter(DecadeFormatter())
        plot.show_legend(LegendLocation.BOTTOMLEFT, is_visible=False)
        self.action_measure()
        self._list_runs()

    # ---- the current model ---------------------------------------------------------------------------
    def action_measure(self) -> None:
        weights = self.playground.weights
        if weights is None:
            self._say()
            return
        self._start(CURRENT)
        self._measure_current(self.requests[CURRENT], weights)

    @work(thread=True, exclusive=True, group="reach-current", exit_on_error=False)
    def _measure_current(self, request: int, weights: PlaygroundModel | Snapshot) -> None:
        try:
            from tui_gen.app.playground_model import model_for
            from tui_gen.runs.listing import describe_model

            model, built = model_for(weights)
            if built:
                self.playground.post_message(ModelReady(model))  # the playground keeps what was built
            described = describe_model(model.model.config.to_json()) or model.model.config.cell.upper()
            meta = current_meta(weights, self.run_dir)
            result = measure(model.model, model.vocab, model.framing, meta, f"this model ({described})")
            self.post_message(ReachMeasured(CURRENT, request, result))
        except Exception as e:  # noqa: BLE001 - a TuiGenError says what is wrong; anything else is a bug: said, not a crash
            self.post_message(ReachMeasured(CURRENT, request, error=_words(e)))

    # ---- overlaid runs -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="reach-list", exit_on_error=False)
    def _list_runs(self) -> None:
        from tui_gen.runs.listing import list_runs

        try:
            self.post_message(RunInfosListed(list_runs(self.models_dir)))
        except Exception as e:  # noqa: BLE001 - a folder that cannot be listed: said in the status
            self.post_message(RunInfosListed([], f"cannot read {self.models_dir}: {_words(e)}"))

    def on_run_infos_listed(self, message: RunInfosListed) -> None:
        message.stop()
        self.runs = [r for r in message.rows if r.has_checkpoint]
        if message.error:
            self.errors["list"] = message.error
        self._fill_runs()
        self._say()

    def _fill_runs(self) -> None:
        table = self.query_one("#reach-runs", DataTable)
        row = table.cursor_row
        table.clear()
        for run in self.runs:
            table.add_row(
                Text("●" if run.path in self.marked else " ", style="bold"),
                Text(one_line(run.name)),
                Text(run.model or "–"),
                Text(f"{run.step:,}" if run.step is not None else "–"),
                key=run.path,
            )
        if self.runs:
            table.move_cursor(row=min(max(row, 0), len(self.runs) - 1))

    def action_mark(self) -> None:
        table = self.query_one("#reach-runs", DataTable)
        if not self.runs or not 0 <= table.cursor_row < len(self.runs):
            return
        path = self.runs[table.cursor_row].path
        if path in self.marked:
            self.marked.remove(path)
            self.curves.pop(path, None)
            self.errors.pop(path, None)
            self.pending.discard(path)
            self.requests[path] = self.requests.get(path, 0) + 1  # a measurement under way is dropped
        else:
            self.marked.append(path)
            self._start(path)
            self._measure_run(path, self.requests[path])
        self._fill_runs()
        self._redraw()
        self._say()

    @work(thread=True, exit_on_error=False)
    def _measure_run(self, path: str, request: int) -> None:
        try:
            from tui_gen.app.playground_model import use_one_thread
            from tui_gen.training.checkpoint import load_checkpoint

            use_one_thread()
            ck = load_checkpoint(path, device="cpu")
            result = measure(ck.model, ck.vocab, ck.framing, dict(ck.meta), one_line(Path(path).name))
            self.post_message(ReachMeasured(path, request, result))
        except Exception as e:  # noqa: BLE001 - a run that cannot be read or measured: said, the others stay
            self.post_message(ReachMeasured(path, request, error=_words(e)))

    def _start(self, key: str) -> None:
        self.requests[key] = self.requests.get(key, 0) + 1
        self.pending.add(key)
        self._say()

    def on_reach_measured(self, message: ReachMeasured) -> None:
        message.stop()
        if message.request != self.requests.get(message.key):
            return  # an earlier measurement's late answer, or a run unmarked since
        self.pending.discard(message.key)
        if message.error:
            self.errors[message.key] = message.error
            self.curves.pop(message.key, None)
        else:
            self.errors.pop(message.key, None)
            self.curves[message.key] = message.result
        self._redraw()
        self._say()

    # ---- drawing -------------------------------------------------------------------------------------
    def _ordered(self) -> list[tuple[str, Measured]]:
        keys = [CURRENT, *self.marked]
        return [(k, self.curves[k]) for k in keys if k in self.curves]

    def _redraw(self) -> None:
        plot = self.query_one(PlotWidget)
        plot.clear()
        self.drawn = []
        self.window_drawn = None
        lows, highs = [0.0], [0.0]
        for n, (key, m) in enumerate(self._ordered()):
            lags = np.arange(len(m.relative), dtype=float)
            keep = np.isfinite(m.relative) & (m.relative > 0)  # log scale: a zero or unmeasured lag is not drawn
            x, y = lags[keep], np.log10(m.relative[keep])
            if not len(x):
                continue
            colour = CURRENT_COLOUR if key == CURRENT else OVERLAY_COLOURS[(n - 1) % len(OVERLAY_COLOURS)]
            plot.plot(x, y, line_style=colour, hires_mode=HiResMode.BRAILLE, label=m.legend)
            self.drawn.append((m.label, x, y))
            lows.append(float(y.min()))
            highs.append(float(y.max()))
        measured = [m for _, m in self._ordered()]
        if not measured:
            plot.show_legend(is_visible=False)
            return
        max_lag = max(m.max_lag for m in measured)
        for fraction, _ in measured[0].below:
            y = math.log10(fraction)
            plot.plot([0, max_lag], [y, y], line_style=GUIDE_COLOUR, hires_mode=HiResMode.BRAILLE)
        current = self.curves.get(CURRENT)
        if current is not None and current.edge is not None and current.edge <= max_lag:
            self.window_drawn = current.edge
            plot.add_v_line(current.edge, WINDOW_COLOUR, f"training's window (seq_len {current.seq_len})")
        plot.set_xlimits(0, max_lag)
        guides = [math.log10(f) for f, _ in measured[0].below]
        plot.set_ylimits(min(*lows, *guides) - 0.25, max(highs) + 0.25)
        plot.show_legend(is_visible=True)

    def _say(self) -> None:
        """The status lines: what the curves are, over which text, training's window, and what is wrong."""
        parts: list[str] = []
        if self.playground.weights is None:
            parts.append("There is no model yet: wait for training's first evaluation, or open a saved run (ctrl+o).")
        current = self.curves.get(CURRENT)
        if current is not None:
            parts.append(
                f"The mean gradient of the loss with respect to the input k characters back, as a share of k = 0's, "
                f"over {current.text}; faint lines at {' and '.join(f'{100 * f:g}%' for f, _ in current.below)}"
            )
            if current.seq_len is None:
                parts.append("training's window: not known (the checkpoint does not say its settings)")
            else:
                parts.append(
                    f"training's window (the grey line): seq_len {current.seq_len}, so a step's gradient reaches "
                    f"back at most {current.edge} characters (truncated BPTT); {current.carried}"
                )
        if self.pending:
            parts.append(f"measuring {len(self.pending)} model{'s' if len(self.pending) > 1 else ''}…")
        for key, error in self.errors.items():
            what = "this model" if key == CURRENT else ("the models folder" if key == "list" else Path(key).name)
            parts.append(f"{one_line(what)}: {error}")
        if not self.runs and "list" not in self.errors:
            parts.append(f"no other runs with a checkpoint in {self.models_dir} to overlay")
        self.status_words = visible("\n".join(parts))
        self.query_one("#reach-status", Static).update(Text(self.status_words))

    @on(DataTable.RowSelected, "#reach-runs")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_mark()

    def action_cancel(self) -> None:
        self.dismiss(None)


def _words(e: Exception) -> str:
    from tui_gen.core.errors import TuiGenError

    if isinstance(e, TuiGenError):
        return one_line(str(e))
    return one_line(f"measuring failed: {type(e).__name__}: {e}")
