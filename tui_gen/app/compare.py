"""The app's side of comparing runs: the runs screen (c), the overlays on the loss plot, its controls
(x axis, smoothing, log scale, overlaid train curves), and following overlaid runs that still train.

A mixin of TuiGenApp, so that app.py only names it. Curves are read in thread workers (a log may be big);
the plot is changed on the app's thread only: a worker hands over what it read and the app folds it.
"""

from __future__ import annotations

from textual import work
from textual.worker import get_current_worker

from tui_gen.app.messages import CurvesGrew, CurvesRead
from tui_gen.app.screens.runs import RunsScreen
from tui_gen.app.widgets import LossPlot

FOLLOW_SECONDS = 5.0  # how often overlaid runs that are training now are read again


class CompareMixin:
    """Needs the app's LossPlot, options.models_dir, notify and show_pane."""

    _curve_readers: list | tuple = ()  # the overlaid runs' CurveReaders, in the plot's order (each app assigns its own)
    _follow_timer = None

    @property
    def loss_plot(self) -> LossPlot:
        return self.query_one(LossPlot)

    def action_compare(self) -> None:
        marked = [r.curves.run_dir for r in self._curve_readers]
        self.push_screen(RunsScreen(self.options.models_dir, marked), self._runs_chosen)

    def _runs_chosen(self, chosen: list | None) -> None:
        if chosen is None:
            return
        if not chosen:
            self.action_clear_compare()
            return
        self._read_curves(list(chosen))

    def action_clear_compare(self) -> None:
        had = bool(self._curve_readers)
        self._set_readers([])
        if had:
            self.notify("The compared runs are off the loss plot.", title="Compare", markup=False)

    @work(thread=True, exclusive=True, group="compare-curves", exit_on_error=False)
    def _read_curves(self, run_dirs: list[str]) -> None:
        from tui_gen.runs.listing import open_curves

        me = get_current_worker()
        readers = [open_curves(run_dir, should_stop=lambda: me.is_cancelled) for run_dir in run_dirs]
        if not me.is_cancelled:
            self.post_message(CurvesRead(readers))

    def on_curves_read(self, message: CurvesRead) -> None:
        shown = []
        for reader in message.curves:
            c = reader.curves
            if c.empty:
                self.notify(f"{c.name}: nothing to plot: {c.problem or 'no points'}.", title="Compare",
                            severity="warning", markup=False)
                continue
            if c.skipped:
                self.notify(f"{c.name}: {c.skipped:,} lines or points of its log make no sense and are left out.",
                            title="Compare", severity="warning", markup=False)
            shown.append(reader)
        self._set_readers(shown)
        if shown:
            self.show_pane("train")

    def _set_readers(self, readers: list) -> None:
        self._curve_readers = readers
        self.loss_plot.set_overlays([r.curves for r in readers])
        if readers and self._follow_timer is None:
            self._follow_timer = self.set_interval(FOLLOW_SECONDS, self._follow)
        elif not readers and self._follow_timer is not None:
            self._follow_timer.stop()
            self._follow_timer = None

    def _follow(self) -> None:
        if self._curve_readers:
            self._read_new_lines(list(self._curve_readers))

    @work(thread=True, exclusive=True, group="compare-follow", exit_on_error=False)
    def _read_new_lines(self, readers: list) -> None:
        updates = []
        for reader in readers:
            if reader.reader.size() in (None, reader.reader.offset):
                continue  # nothing new (or gone)
            lines = reader.reader.read()
            if lines:
                updates.append((reader, lines))
        if updates:
            self.post_message(CurvesGrew(updates))

    def on_curves_grew(self, message: CurvesGrew) -> None:
        for reader, lines in message.updates:
            if reader not in self._curve_readers:
                continue  # taken off the plot meanwhile
            for event, _extra in lines:
                reader.curves.fold(event)
        self.loss_plot.set_overlays([r.curves for r in self._curve_readers])

    # ---- the plot's controls ----------------------------------------------------------------------------
    def action_plot_axis(self) -> None:
        self.loss_plot.next_x_axis()

    def action_plot_smoothing(self) -> None:
        self.loss_plot.next_smoothing()

    def action_plot_log(self) -> None:
        plot = self.loss_plot
        plot.set_log_scale(not plot.log_scale)

    def action_plot_overlay_train(self) -> None:
        plot = self.loss_plot
        plot.set_overlay_train(not plot.overlay_train)
        if not plot.overlays:
            self.notify("No runs are overlaid: c lists the runs to compare.", title="Compare", markup=False)
