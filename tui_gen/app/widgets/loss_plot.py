"""Training curve: smoothed train bits/char and validation bits/char vs step."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from textual.app import ComposeResult
from textual.widget import Widget
from textual_plot import HiResMode, LegendLocation, PlotWidget

TRAIN_STYLE = "#5fafff"
VAL_STYLE = "#ffaf00"
MIN_POINTS = 16
# Points kept per curve, at most. Beyond it, neighbours are merged in pairs and later points are
# averaged as many at a time, so the curve stays evenly spread over the steps, far finer than any
# screen, however long the run (20 Step events a second reach it after ~17 minutes).
MAX_STORED = 20_000


def decimate(
    xs: Sequence[float], ys: Sequence[float], n: int
) -> tuple[np.ndarray, np.ndarray]:
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


class _Series:
    """One curve's points: every point until there are MAX_STORED, then means of `stride` points."""

    def __init__(self) -> None:
        self.x: list[float] = []
        self.y: list[float] = []
        self.stride = 1
        self._sum = [0.0, 0.0, 0]  # the bucket being filled: sum of x, sum of y, count
        self._last: tuple[float, float] | None = None

    def add(self, x: float, y: float) -> None:
        self._last = (x, y)
        acc = self._sum
        acc[0] += x
        acc[1] += y
        acc[2] += 1
        if acc[2] < self.stride:
            return
        self.x.append(acc[0] / acc[2])
        self.y.append(acc[1] / acc[2])
        self._sum = [0.0, 0.0, 0]
        if len(self.x) > MAX_STORED:
            n = len(self.x) // 2 * 2
            for v in (self.x, self.y):
                v[:n] = [(a + b) / 2 for a, b in zip(v[0:n:2], v[1:n:2])]
            self.stride *= 2

    def points(self) -> tuple[list[float], list[float]]:
        """The stored points, and the newest one if its bucket is not full yet (the curve always
        ends at the latest value)."""
        if self._sum[2] and self._last is not None:
            return self.x + [self._last[0]], self.y + [self._last[1]]
        return self.x, self.y


def _limits(values: np.ndarray, pad_fraction: float, degenerate_pad: float):
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 1e-9:
        return lo - degenerate_pad, hi + degenerate_pad
    pad = (hi - lo) * pad_fraction
    return lo - pad, hi + pad


class LossPlot(Widget):
    """Live loss curve. Stores every point up to MAX_STORED per curve (then evenly spread means);
    redraws at most once per interval."""

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
        # Points in the last redraw, (train, val): lets tests see decimation.
        self.plotted: tuple[int, int] = (0, 0)
        self._reset()

    def _reset(self) -> None:
        self._train = _Series()  # already smoothed
        self._val = _Series()
        self._ema = 0.0
        self._ema_count = 0
        self._dirty = True

    def compose(self) -> ComposeResult:
        # Pan/zoom off: limits are reset on every redraw, so a zoom wouldn't stick.
        plot = PlotWidget(allow_pan_and_zoom=False)
        plot.can_focus = False
        yield plot

    def on_mount(self) -> None:
        plot = self.query_one(PlotWidget)
        plot.set_xlabel("step")
        plot.set_ylabel("bits/char")
        plot.show_legend(LegendLocation.TOPRIGHT, is_visible=False)
        self._redraw()
        self.set_interval(self.redraw_interval, self._tick)

    def on_resize(self) -> None:
        # New width means a different decimation; picked up by the next tick.
        self._dirty = True

    # API ------------------------------------------------------------------

    def add_train(self, step: int, bpc: float) -> None:
        """Add a training-batch loss; the plotted curve is its EMA."""
        if not (math.isfinite(step) and math.isfinite(bpc)):
            return
        s = self.smoothing
        self._ema = s * self._ema + (1 - s) * bpc
        self._ema_count += 1
        # Debias like Adam/TensorBoard so early points aren't pulled toward 0.
        self._train.add(float(step), self._ema / (1 - s**self._ema_count))
        self._dirty = True

    def add_val(self, step: int, bpc: float) -> None:
        """Add a validation bits/char measurement."""
        if not (math.isfinite(step) and math.isfinite(bpc)):
            return
        self._val.add(float(step), float(bpc))
        self._dirty = True

    def clear(self) -> None:
        self._reset()

    def redraw_now(self) -> None:
        """Redraw at once rather than at the next tick (snapshots, a pane just shown)."""
        self._redraw()

    @property
    def train_points(self) -> list[tuple[float, float]]:
        """The stored (step, smoothed bpc) train points: all of them, up to MAX_STORED."""
        return list(zip(*self._train.points()))

    @property
    def val_points(self) -> list[tuple[float, float]]:
        """The stored (step, bpc) validation points: all of them, up to MAX_STORED."""
        return list(zip(*self._val.points()))

    # Drawing --------------------------------------------------------------

    def _tick(self) -> None:
        if self._dirty:
            self._redraw()

    def _redraw(self) -> None:
        self._dirty = False
        self.redraw_count += 1
        plot = self.query_one(PlotWidget)
        n = max(MIN_POINTS, self.size.width)
        tx, ty = decimate(*self._train.points(), n)
        vx, vy = decimate(*self._val.points(), n)
        self.plotted = (len(tx), len(vx))

        plot.clear()
        if len(tx):
            plot.plot(
                tx, ty, line_style=TRAIN_STYLE, hires_mode=HiResMode.BRAILLE,
                label="train (EMA)",
            )
            if len(tx) == 1:  # a one-point line draws nothing
                plot.scatter(tx, ty, marker="·", marker_style=TRAIN_STYLE)
        if len(vx):
            if len(vx) > 1:
                plot.plot(vx, vy, line_style=VAL_STYLE, hires_mode=HiResMode.BRAILLE)
            plot.scatter(vx, vy, marker="●", marker_style=VAL_STYLE, label="val")

        # Explicit limits: the library's autoscale collapses to +-1e-6 for a
        # single point and puts extreme points on the frame.
        all_x = np.concatenate([tx, vx])
        all_y = np.concatenate([ty, vy])
        if len(all_x):
            plot.set_xlimits(*_limits(all_x, 0.0, 1.0))
            plot.set_ylimits(*_limits(all_y, 0.05, 0.5))
        else:
            plot.set_xlimits(0.0, 1.0)
            plot.set_ylimits(0.0, 1.0)
        # An empty legend still draws its border box.
        plot.show_legend(is_visible=bool(len(all_x)))
