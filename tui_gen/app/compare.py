"""Comparing runs on the loss plot: the runs screen (c), the overlays, the plot's controls (x axis,
smoothing, log scale, overlaid train curves), and following overlaid runs that still train.

RunComparison is a controller the app holds and calls from its actions. Curves are read in thread
workers of the app (a log may be big), which post CurvesRead and CurvesGrew to it; the app hands those
back here, so the plot is only ever changed on the app's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.timer import Timer
from textual.worker import get_current_worker

from tui_gen.app.messages import CurvesGrew, CurvesRead
from tui_gen.app.screens.runs import RunsScreen
from tui_gen.app.widgets.loss_plot import LossPlot

if TYPE_CHECKING:
    from tui_gen.runs.listing import CurveReader

FOLLOW_SECONDS = 5.0  # how often overlaid runs that are training now are read again


class RunComparison:
    """The runs overlaid on `plot`, chosen from the runs under `models_dir`. `show_plot` brings the plot
    into view once runs are overlaid. UI thread only, but for the curve readers' threads."""

    def __init__(self, app: App[Any], plot: LossPlot, models_dir: str, show_plot: Callable[[], None]) -> None:
        self._app = app
        self.plot = plot
        self.models_dir = models_dir
        self._show_plot = show_plot
        self.readers: list[CurveReader] = []  # the overlaid runs, in the plot's order
        self._follow_timer: Timer | None = None

    # ---- choosing runs -----------------------------------------------------------------------------------
    def choose(self) -> None:
        """The runs screen, with the overlaid runs marked."""
        marked = [r.curves.run_dir for r in self.readers]
        self._app.push_screen(RunsScreen(self.models_dir, marked), self._chosen)

    def _chosen(self, chosen: list[str] | None) -> None:
        if chosen is None:
            return
        if not chosen:
            self.clear()
            return
        self._app.run_worker(
            partial(self._read_curves, list(chosen)),
            group="compare-curves",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def clear(self) -> None:
        had = bool(self.readers)
        self._set_readers([])
        if had:
            self._app.notify("The compared runs are off the loss plot.", title="Compare", markup=False)

    def _read_curves(self, run_dirs: list[str]) -> None:
        """In a thread: each run's curves, handed to the app as one CurvesRead."""
        from tui_gen.runs.listing import open_curves

        me = get_current_worker()
        readers = [open_curves(run_dir, should_stop=lambda: me.is_cancelled) for run_dir in run_dirs]
        if not me.is_cancelled:
            self._app.post_message(CurvesRead(readers))

    def curves_read(self, message: CurvesRead) -> None:
        shown = []
        for reader in message.curves:
            c = reader.curves
            if c.empty:
                self._app.notify(
                    f"{c.name}: nothing to plot: {c.problem or 'no points'}.",
                    title="Compare",
                    severity="warning",
                    markup=False,
                )
                continue
            if c.skipped:
                self._app.notify(
                    f"{c.name}: {c.skipped:,} lines or points of its log make no sense and are left out.",
                    title="Compare",
                    severity="warning",
                    markup=False,
                )
            shown.append(reader)
        self._set_readers(shown)
        if shown:
            self._show_plot()

    def _set_readers(self, readers: list[CurveReader]) -> None:
        self.readers = readers
        self.plot.set_overlays([r.curves for r in readers])
        if readers and self._follow_timer is None:
            self._follow_timer = self._app.set_interval(FOLLOW_SECONDS, self.follow)
        elif not readers and self._follow_timer is not None:
            self._follow_timer.stop()
            self._follow_timer = None

    # ---- following runs that still train ----------------------------------------------------------------
    def follow(self) -> None:
        """Read what the overlaid runs' logs have gained (the follow timer calls this every FOLLOW_SECONDS)."""
        if self.readers:
            self._app.run_worker(
                partial(self._read_new_lines, list(self.readers)),
                group="compare-follow",
                exclusive=True,
                thread=True,
                exit_on_error=False,
            )

    def _read_new_lines(self, readers: list[CurveReader]) -> None:
        """In a thread: the new lines of each log that grew, handed to the app as one CurvesGrew."""
        updates = []
        for reader in readers:
            if reader.reader.size() in (None, reader.reader.offset):
                continue  # nothing new (or gone)
            lines = reader.reader.read()
            if lines:
                updates.append((reader, lines))
        if updates:
            self._app.post_message(CurvesGrew(updates))

    def curves_grew(self, message: CurvesGrew) -> None:
        for reader, lines in message.updates:
            if reader not in self.readers:
                continue  # taken off the plot meanwhile
            for event, _extra in lines:
                reader.curves.fold(event)
        self.plot.set_overlays([r.curves for r in self.readers])

    # ---- the plot's controls ----------------------------------------------------------------------------
    def next_x_axis(self) -> None:
        self.plot.next_x_axis()

    def next_smoothing(self) -> None:
        self.plot.next_smoothing()

    def toggle_log_scale(self) -> None:
        self.plot.set_log_scale(not self.plot.log_scale)

    def toggle_overlay_train(self) -> None:
        self.plot.set_overlay_train(not self.plot.overlay_train)
        if not self.plot.overlays:
            self._app.notify("No runs are overlaid: c lists the runs to compare.", title="Compare", markup=False)
