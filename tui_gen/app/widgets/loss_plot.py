"""Training curves: this app's run (smoothed train bits/char and validation bits/char) and any runs
overlaid to compare with it (tui_gen.runs.listing.RunCurves), each in its own colour with a legend.

The x axis is the step, the characters seen or the training time; the train curves are an exponential
moving average (the raw curve faint underneath while comparing), and the y axis may be logarithmic.
Every curve is stored bounded (tui_gen.runs.listing.EvenBuckets) and decimated to the plot's width at each
redraw, so ten runs of 100,000 steps draw as fast as one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.visual import VisualType
from textual.widget import Widget
from textual.widgets import Static
from textual_plot import HiResMode, LegendLocation, PlotWidget
from textual_plot.axis_formatter import AxisFormatter, DurationFormatter, NumericAxisFormatter

from tui_gen.core.gate import MAX_BPC, MAX_COUNT
from tui_gen.core.textsafe import one_line
from tui_gen.runs.listing import BPC, CHARS, STEP, TIME, EvenBuckets, RunCurves

TRAIN_STYLE = "#5fafff"
VAL_STYLE = "#ffaf00"
GRAD_STYLE = "#af87ff"
CLIP_STYLE = "#ff5f5f"
MIN_POINTS = 16
# Points kept per curve, at most. Beyond it, neighbours are merged in pairs and later points are
# averaged as many at a time, so the curve stays evenly spread over the steps, far finer than any
# screen, however long the run (20 Step events a second reach it after ~17 minutes).
MAX_STORED = 20_000


def decimate(xs: Sequence[float], ys: Sequence[float], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a series to at most `n` points.

    The first len-1 points are split into n-1 contiguous buckets replaced by
    their means; the last point is kept exactly, so the curve always ends at
    the latest value. Series of at most `n` points are returned unchanged.
    """
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("xs and ys must be 1-D and of equal length")
    if n <= 0:
        return x[:0], y[:0]
    if len(x) <= n:
        return x.copy(), y.copy()
    if n == 1:
        return x[-1:].copy(), y[-1:].copy()
    m = len(x) - 1  # >= n, so bucket starts below are strictly increasing
    starts = (np.arange(n - 1) * m) // (n - 1)
    counts = np.diff(np.append(starts, m))
    bx = np.add.reduceat(x[:m], starts) / counts
    by = np.add.reduceat(y[:m], starts) / counts
    return np.append(bx, x[-1]), np.append(by, y[-1])


def _limits(values: np.ndarray, pad_fraction: float, degenerate_pad: float):
    # The points are within PLOT_LIMIT (_redraw), so neither the span nor the padding can overflow
    # to an infinite limit, which the canvas cannot draw; clipped again all the same.
    lo, hi = (float(np.clip(v, -PLOT_LIMIT, PLOT_LIMIT)) for v in (values.min(), values.max()))
    if hi - lo <= 1e-9:
        return lo - degenerate_pad, hi + degenerate_pad
    pad = (hi - lo) * pad_fraction
    return lo - pad, hi + pad


# Overlaid runs' colours, in the order they were picked: apart from this run's two and from each other.
OVERLAY_COLOURS = (
    "#d787ff",
    "#5fd787",
    "#ff5f87",
    "#87d7d7",
    "#d7d75f",
    "#ff8700",
    "#8787ff",
    "#afaf87",
    "#ff87d7",
    "#00afaf",
)
X_AXES = ("step", "chars", "time")
X_COLUMN = {"step": STEP, "chars": CHARS, "time": TIME}
X_LABELS = {"step": "step", "chars": "characters seen", "time": "training time"}
SMOOTHINGS = (0.9, 0.97, 0.99, 0.0, 0.6)  # what the smoothing control steps through, from the default
LABEL_CHARS = 24  # an overlaid run's name in the legend
PLOT_LIMIT = float(MAX_COUNT)  # the largest coordinate drawn: steps, characters and seconds stay below it


def faint(colour: str, amount: float = 0.35) -> str:
    """A "#rrggbb" colour mixed toward dark grey: the raw train curve, under its average."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    grey = 0x3A
    return "#" + "".join(f"{round(grey + (c - grey) * amount):02x}" for c in (r, g, b))


def ema(steps: Sequence[float], values: Sequence[float], smoothing: float) -> list[float]:
    """Exponential moving average by step, debiased (as Adam and TensorBoard do, so the start is not
    pulled toward 0): a point `d` steps after the previous one weighs it by smoothing**d, so a point
    that stands for many steps (a metrics log line, a merged bucket) counts as that many."""
    if smoothing <= 0:
        return list(values)
    out = []
    num = den = 0.0
    prev = None
    for step, value in zip(steps, values, strict=False):
        gap = 1.0 if prev is None or not step > prev else min(step - prev, 1e6)
        decay = smoothing**gap
        num = decay * num + (1 - decay) * value
        den = decay * den + (1 - decay)
        out.append(num / den if den > 0 else value)
        prev = step
    return out


class CharsFormatter(NumericAxisFormatter):
    """Characters seen: 250k, 1.5M, 2G."""

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return [si(t) for t in ticks]


def si(value: float) -> str:
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


class FittedTicks(AxisFormatter):
    """Another formatter's ticks, as many as fit: textual-plot always asks for up to 8, and labels like
    "350k" or "1.5min" on a plot 30 cells wide then run into one another ("100150200k")."""

    def __init__(self, inner: AxisFormatter, cells: int) -> None:
        self.inner = inner
        self.cells = max(1, cells)  # the axis's width in terminal cells

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return self.get_ticks_and_labels(min_, max_, max_ticks)[0]

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return self.inner.get_labels_for_ticks(ticks)

    def get_ticks_and_labels(self, min_: float, max_: float, max_ticks: int = 8) -> tuple[list[float], list[str]]:
        ticks: list[float] = []
        labels: list[str] = []
        for n in range(max_ticks, 1, -1):
            ticks, labels = self.inner.get_ticks_and_labels(min_, max_, n)
            if self._fit(ticks, labels, min_, max_):
                return ticks, labels
        for every in range(2, len(ticks)):  # the formatter's fewest are still too many: every 2nd, 3rd, ...
            if self._fit(ticks[::every], labels[::every], min_, max_):
                return ticks[::every], labels[::every]
        return ticks[:1], labels[:1]

    def _fit(self, ticks: Sequence[float], labels: Sequence[str], min_: float, max_: float) -> bool:
        if len(ticks) < 2 or max_ <= min_:
            return True
        gap = min(b - a for a, b in zip(ticks, ticks[1:], strict=False)) / (max_ - min_) * self.cells
        return gap >= max(len(label) for label in labels) + 1  # a space between neighbours


class LogFormatter(AxisFormatter):
    """A log10 axis: values are log10(bits/char); ticks sit at nice bits/char values, labelled as such."""

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        lo, hi = 10.0**min_, 10.0**max_
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
            return []
        ticks = [math.log10(t) for t in NumericAxisFormatter().get_ticks(lo, hi, max_ticks) if t > 0]
        if len(ticks) < 2:  # a range too narrow for round values: its ends
            ticks = [min_, max_]
        return ticks

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return [f"{10.0**t:.3g}" for t in ticks]


@dataclass
class Drawn:
    """One series as the last redraw drew it (what tests and benchmarks look at)."""

    run: str | None  # an overlaid run's name; None for this app's run
    kind: str  # "train", "raw" (the unsmoothed train curve, faint) or "val"
    label: str | None  # its legend entry
    style: str
    x: np.ndarray
    y: np.ndarray  # as plotted: log10(bits/char) on a log scale


@dataclass
class _Overlay:
    curves: RunCurves
    colour: str
    label: str
    smoothed: tuple[float, list[float]] | None = field(default=None)  # (smoothing, train EMA): cached

    def train_ema(self, smoothing: float, steps: list[float], values: list[float]) -> list[float]:
        if self.smoothed is None or self.smoothed[0] != smoothing:
            self.smoothed = (smoothing, ema(steps, values, smoothing))
        return self.smoothed[1]


# One series to draw: (run, kind, label, style, x, bits/char), as LossPlot._series gives them.
_Series = tuple[str | None, str, str | None, str, list[float], list[float]]


class QuietLegendPlot(PlotWidget):
    """textual-plot's PlotWidget, whose legend costs a layout pass of the whole screen only when its
    text changes. textual-plot rewrites and re-places the legend at every plot(), scatter() and clear(),
    and each lays the screen out again: about 50 ms a redraw here, 5% of a core once a second, which on
    2 cores the training run pays for twice over (bench.watch_speed). Inside `quiet_legend()` the legend
    is left alone; at its end it is updated once, if its text changed."""

    _quiet = False
    _hearing = False  # inside _update_legend: the legend is not placed there (it is below, only if it changed)
    _legend_markup: str | None = None

    @contextmanager
    def quiet_legend(self):
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False
            self._update_legend()

    def _position_legend(self) -> None:
        if not self._hearing:
            super()._position_legend()

    def _update_legend(self) -> None:
        if self._quiet:
            return
        legend = self.query_one("#legend", Static)
        wanted: list[VisualType] = []
        # Hear what it would show. The legend is textual-plot's own Static, so its update is shadowed on
        # the instance for this call: deliberate, and what mypy's method-assign forbids.
        legend.update = lambda content="", **_: wanted.append(content)  # type: ignore[method-assign]
        self._hearing = True  # and place it below, only if it changed
        try:
            super()._update_legend()
        finally:
            del legend.update  # its own method again
            self._hearing = False
        if wanted:
            markup = wanted[-1].markup if isinstance(wanted[-1], Text) else str(wanted[-1])
            if markup != self._legend_markup:
                self._legend_markup = markup
                legend.update(wanted[-1])
                self._position_legend()


class LossPlot(Widget):
    """Live loss curve, and runs overlaid on it. Stores every point up to MAX_STORED per curve (then
    evenly spread means); redraws at most once per interval."""

    DEFAULT_CSS = """
    LossPlot {
        height: 1fr;
        & > PlotWidget { height: 1fr; }
    }
    """

    def __init__(
        self,
        *,
        smoothing: float = 0.9,
        redraw_interval: float = 1.0,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.smoothing = smoothing
        self.redraw_interval = redraw_interval
        self.redraw_count = 0
        # Points in the last redraw, (train, val), of this app's run: lets tests see decimation.
        self.plotted: tuple[int, int] = (0, 0)
        self.drawn: list[Drawn] = []  # every series of the last redraw
        self.x_axis = "step"
        self.log_scale = False
        self.overlay_train = False  # draw the overlaid runs' train curves too (validation always)
        self.controls_used = False  # a control was touched: say the settings, show the raw curve
        self.gradient = False  # show the gradient's norm before clipping (and the threshold), not the loss
        self.grad_clip: float | None = None  # the clipping threshold, drawn in the gradient view
        self._overlays: list[_Overlay] = []
        self._reset()

    def _reset(self) -> None:
        self._train = EvenBuckets(5, MAX_STORED)  # step, chars seen, time, bits/char, its EMA
        self._val = EvenBuckets(4, MAX_STORED)  # step, chars seen, time, bits/char
        self._grad = EvenBuckets(4, MAX_STORED)  # step, chars seen, time, gradient norm
        self._ema_num = self._ema_den = 0.0
        self._ema_step: float | None = None
        self._dirty = True

    def compose(self) -> ComposeResult:
        # Pan/zoom off: limits are reset on every redraw, so a zoom wouldn't stick.
        plot = QuietLegendPlot(allow_pan_and_zoom=False)
        plot.can_focus = False
        yield plot

    def on_mount(self) -> None:
        plot = self.query_one(PlotWidget)
        plot.set_xlabel("step")
        plot.set_ylabel("bits/char")
        plot.show_legend(LegendLocation.TOPRIGHT, is_visible=False)
        self._redraw()
        self._redraw_timer = self.set_interval(self.redraw_interval, self._tick)

    def set_redraw_interval(self, seconds: float) -> None:
        """Redraw new points at most every `seconds` from now on (keys still redraw at once)."""
        if seconds == self.redraw_interval:
            return
        self.redraw_interval = seconds
        if self.is_mounted:
            self._redraw_timer.stop()
            self._redraw_timer = self.set_interval(seconds, self._tick)

    def on_resize(self) -> None:
        # New width means a different decimation; picked up by the next tick.
        self._dirty = True

    # API: this app's run ---------------------------------------------------

    def add_train(self, step: int, bpc: float, chars_seen: float | None = None, elapsed: float | None = None) -> None:
        """Add a training-batch loss (and where the run was: characters seen, training time); the
        plotted curve is its EMA."""
        if not (math.isfinite(step) and math.isfinite(bpc)):
            return
        self._train.add(
            float(step),
            _coordinate(chars_seen),
            _coordinate(elapsed),
            float(bpc),
            self._smooth(float(step), float(bpc)),
        )
        self._dirty = True

    def _smooth(self, step: float, bpc: float) -> float:
        s = self.smoothing
        if s <= 0:
            return bpc
        gap = 1.0 if self._ema_step is None or not step > self._ema_step else min(step - self._ema_step, 1e6)
        decay = s**gap
        self._ema_num = decay * self._ema_num + (1 - decay) * bpc
        self._ema_den = decay * self._ema_den + (1 - decay)
        self._ema_step = step
        return self._ema_num / self._ema_den

    def add_grad(self, step: int, norm: float, chars_seen: float | None = None, elapsed: float | None = None) -> None:
        """Add a step's gradient norm before clipping (a coalesced step's: the mean of its steps')."""
        if not (math.isfinite(step) and math.isfinite(norm)):
            return
        self._grad.add(float(step), _coordinate(chars_seen), _coordinate(elapsed), float(norm))
        self._dirty = self._dirty or self.gradient

    def set_gradient(self, on: bool) -> None:
        """Show the gradient's norm and the clipping threshold (on), or the loss (off)."""
        self.gradient = on
        self.border_title = "Gradient norm" if on else "Loss"
        self._changed()

    def add_val(self, step: int, bpc: float, chars_seen: float | None = None, elapsed: float | None = None) -> None:
        """Add a validation bits/char measurement."""
        if not (math.isfinite(step) and math.isfinite(bpc)):
            return
        self._val.add(float(step), _coordinate(chars_seen), _coordinate(elapsed), float(bpc))
        self._dirty = True

    def clear(self) -> None:
        """Forget this app's run (a new one starts); the overlaid runs stay."""
        self._reset()

    def redraw_now(self) -> None:
        """Redraw at once rather than at the next tick (snapshots, a pane just shown)."""
        self._redraw()

    @property
    def train_points(self) -> list[tuple[float, float]]:
        """The stored (step, smoothed bpc) train points: all of them, up to MAX_STORED."""
        columns = self._train.points()
        return list(zip(columns[STEP], columns[4], strict=False))

    @property
    def val_points(self) -> list[tuple[float, float]]:
        """The stored (step, bpc) validation points: all of them, up to MAX_STORED."""
        columns = self._val.points()
        return list(zip(columns[STEP], columns[BPC], strict=False))

    # API: comparing ----------------------------------------------------------

    def set_overlays(self, runs: Sequence[RunCurves]) -> None:
        """Overlay these runs (replacing any before), each in its own colour, in this order."""
        self._overlays = [
            _Overlay(curves, OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)], _label(curves.name))
            for i, curves in enumerate(runs)
        ]
        self._changed()

    @property
    def overlays(self) -> list[RunCurves]:
        return [o.curves for o in self._overlays]

    def set_x_axis(self, axis: str) -> None:
        """ "step", "chars" (characters seen) or "time" (training time, pauses excluded)."""
        if axis not in X_AXES:
            raise ValueError(f"x axis {axis!r}: one of {', '.join(X_AXES)}")
        self.x_axis = axis
        self._changed(control=True)

    def next_x_axis(self) -> str:
        self.set_x_axis(X_AXES[(X_AXES.index(self.x_axis) + 1) % len(X_AXES)])
        return self.x_axis

    def set_smoothing(self, smoothing: float) -> None:
        """The train curves' EMA weight per step, 0 (raw) to below 1; this run's curve is recomputed."""
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing {smoothing}: from 0 to below 1")
        self.smoothing = smoothing
        columns = self._train.points()
        smoothed = ema(columns[STEP], columns[BPC], smoothing)
        stored = len(self._train.data[4])
        self._train.data[4][:] = smoothed[:stored]
        if self._train._last is not None and len(smoothed) > stored:  # the newest point, its bucket not full
            self._train._last = (*self._train._last[:4], smoothed[-1])
        # Go on from where the recomputed curve ends.
        self._ema_num, self._ema_den = (smoothed[-1], 1.0) if smoothed else (0.0, 0.0)
        self._ema_step = columns[STEP][-1] if smoothed else None
        self._changed(control=True)

    def next_smoothing(self) -> float:
        here = min(range(len(SMOOTHINGS)), key=lambda i: abs(SMOOTHINGS[i] - self.smoothing))
        self.set_smoothing(SMOOTHINGS[(here + 1) % len(SMOOTHINGS)])
        return self.smoothing

    def set_log_scale(self, on: bool) -> None:
        self.log_scale = bool(on)
        self._changed(control=True)

    def set_overlay_train(self, on: bool) -> None:
        """Draw the overlaid runs' train curves as well as their validation curves."""
        self.overlay_train = bool(on)
        self._changed(control=True)

    @property
    def comparing(self) -> bool:
        return bool(self._overlays) or self.controls_used

    def settings_text(self) -> str:
        """The plot's settings in words, for its border: "x: step · EMA 0.9 · log scale"."""
        parts = [f"x: {X_LABELS[self.x_axis]}", f"EMA {self.smoothing:g}" if self.smoothing > 0 else "raw"]
        if self.log_scale:
            parts.append("log scale")
        if self._overlays:
            parts.append(
                f"{len(self._overlays)} run{'s' if len(self._overlays) != 1 else ''} overlaid"
                + (" with train" if self.overlay_train else "")
            )
        return " · ".join(parts)

    def _changed(self, control: bool = False) -> None:
        self.controls_used = self.controls_used or control
        self._dirty = True
        if self.is_mounted:
            self._redraw()  # a key was pressed: answer it now, not at the next tick

    # Drawing --------------------------------------------------------------

    def _tick(self) -> None:
        if self._dirty:
            self._redraw()

    def _series(self) -> list[_Series]:
        """Every series to draw, bottom first: (run, kind, label, style, x, y), undecimated."""
        col = X_COLUMN[self.x_axis]
        if self.gradient:
            return self._gradient_series(col)
        raw_too = self.comparing and self.smoothing > 0
        out: list[_Series] = []
        for o in self._overlays:
            if self.overlay_train:
                t = o.curves.train_points()
                smoothed = o.train_ema(self.smoothing, t[STEP], t[BPC])
                if raw_too:
                    out.append((o.label, "raw", None, faint(o.colour), t[col], t[BPC]))
                out.append((o.label, "train", f"{o.label} train", o.colour, t[col], smoothed))
        t = self._train.points()
        if raw_too:
            out.append((None, "raw", None, faint(TRAIN_STYLE), t[col], t[BPC]))
        for o in self._overlays:
            v = o.curves.val_points()
            out.append((o.label, "val", o.label, o.colour, v[col], v[BPC]))
        live = "this run: " if self._overlays else ""
        out.append(
            (None, "train", live + ("train (EMA)" if self.smoothing > 0 else "train"), TRAIN_STYLE, t[col], t[4])
        )
        v = self._val.points()
        out.append((None, "val", live + "val", VAL_STYLE, v[col], v[BPC]))
        return out

    def _gradient_series(self, col: int) -> list[_Series]:
        """This run's gradient norm before clipping, and the threshold as a flat line across it: where
        the curve is above the line, clipping scaled the step down (the lecture's exploding gradients)."""
        g = self._grad.points()
        out: list[_Series] = [(None, "train", "gradient norm", GRAD_STYLE, g[col], g[3])]
        xs = [x for x in g[col] if math.isfinite(x)]
        if self.grad_clip is not None and xs:
            out.append(
                (None, "train", f"clip {self.grad_clip:g}", CLIP_STYLE, [min(xs), max(xs)], [self.grad_clip] * 2)
            )
        return out

    def _redraw(self) -> None:
        self._dirty = False
        self.redraw_count += 1
        plot = self.query_one(QuietLegendPlot)
        n = max(MIN_POINTS, self.size.width)
        drawn = []
        for run, kind, label, style, xs, ys in self._series():
            x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
            # A second line of defence behind the gate (tui_gen.core.gate) that checked every value from a
            # log: a point beyond what any run reaches is not drawn, so the limits stay finite.
            keep = (np.abs(x) <= PLOT_LIMIT) & (np.abs(y) <= (PLOT_LIMIT if self.gradient else MAX_BPC))  # NaN fails
            if self.log_scale:
                keep &= y > 0
            x, y = x[keep], y[keep]
            if self.log_scale:
                y = np.log10(y)
            x, y = decimate(x, y, n)
            drawn.append(Drawn(run, kind, label, style, x, y))
        self.drawn = drawn
        live = [d for d in drawn if d.run is None]
        self.plotted = (
            sum(len(d.x) for d in live if d.kind == "train"),
            sum(len(d.x) for d in live if d.kind == "val"),
        )

        with plot.quiet_legend():  # one legend update for the whole redraw, if its text changed
            plot.clear()
            for d in drawn:
                if not len(d.x):
                    continue
                if d.kind == "val":
                    if len(d.x) > 1:
                        plot.plot(d.x, d.y, line_style=d.style, hires_mode=HiResMode.BRAILLE)
                    plot.scatter(d.x, d.y, marker="●", marker_style=d.style, label=d.label)
                else:
                    plot.plot(d.x, d.y, line_style=d.style, hires_mode=HiResMode.BRAILLE, label=d.label)
                    if len(d.x) == 1:  # a one-point line draws nothing
                        plot.scatter(d.x, d.y, marker="·", marker_style=d.style)

        plot.set_xlabel(X_LABELS[self.x_axis])
        axis_cells = max(8, self.size.width - 12)  # less the y axis's labels and the frame
        plot.set_x_formatter(
            FittedTicks(
                {"step": NumericAxisFormatter, "chars": CharsFormatter, "time": DurationFormatter}[self.x_axis](),
                axis_cells,
            )
        )
        unit = "gradient norm" if self.gradient else "bits/char"
        plot.set_ylabel(f"{unit} (log)" if self.log_scale else unit)
        plot.set_y_formatter(LogFormatter() if self.log_scale else NumericAxisFormatter())
        # Explicit limits: the library's autoscale collapses to +-1e-6 for a
        # single point and puts extreme points on the frame.
        all_x = np.concatenate([d.x for d in drawn]) if drawn else np.zeros(0)
        all_y = np.concatenate([d.y for d in drawn]) if drawn else np.zeros(0)
        if len(all_x):
            plot.set_xlimits(*_limits(all_x, 0.0, 1.0))
            plot.set_ylimits(*_limits(all_y, 0.05, 0.05 if self.log_scale else 0.5))
        else:
            plot.set_xlimits(0.0, 1.0)
            plot.set_ylimits(0.0, 1.0)
        # An empty legend still draws its border box.
        plot.show_legend(is_visible=bool(len(all_x)))
        if self.comparing:
            self.border_subtitle = self.settings_text()


def _coordinate(value: float | None) -> float:
    """A characters-seen or time coordinate; NaN (not drawn on that axis) when there is none."""
    if value is None or isinstance(value, bool):
        return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan


def _label(name: str) -> str:
    name = one_line(name)
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"
