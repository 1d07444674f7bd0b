"""Watching a run that another process trains: `tui-gen launch --watch RUN`, or Watch in the open dialog.

A tui_gen.runs.watch.RunWatcher stands in for the training process: the app listens to it with the thread
and folds its events with the handle_events it uses for its own run, so the training panel, the loss
plot and the samples follow the run's metrics log. The playground generates from the run folder's
newest checkpoint (its own last or best file, never a path read from the log), reloaded quietly after
each save. Nothing is trained and nothing is written: the commands that would (pause, save, the budget,
restart, train more) are refused with a notice saying where to do them.

The watched run's news (its notices, its ends, its budget changes) goes through the app's _news, like
its own run's: at most one notification of each kind per batch and per few seconds, the newest, with
how many more came. A log holds whatever anyone wrote into it: 20,000 `finished` lines are one notice.
"""

from __future__ import annotations

from pathlib import Path

from textual import work

from tui_gen.app.messages import WatchedCheckpointReady, WatchedLoadDone
from tui_gen.app.state import Status, TrainingState
from tui_gen.app.widgets import LossPlot
from tui_gen.app.widgets.error_panel import ErrorPanel
from tui_gen.app.widgets.samples_panel import SamplesPanel
from tui_gen.core import events as ev
from tui_gen.core.errors import TuiGenError

# A watching app shares the CPUs with the training it watches (on 2 cores, each ms of the UI stalls one of
# torch's two threads, and so both): steps redraw the panel and the plot every 2 s, not every second.
WATCH_REDRAW_SECONDS = 2.0
STOP_FOR_WATCH_SECONDS = 120.0  # the app's own run saves before a watch replaces it (as for a new run)

# What each refused command would do to the watched run, and where to do it instead.
WATCH_REFUSALS = {
    "pause": ("pause", "Pause it where it trains."),
    "resume": ("resume", "Resume it where it trains."),
    "toggle_pause": ("pause", "Pause it where it trains."),
    "save": ("save", "Ctrl+C where it trains saves it and stops; every evaluation saves `last` anyway."),
    "change_budget": ("change the budget of", "Give the budget where it trains (`tui-gen train --resume` "
                                               "with --minutes or --steps)."),
    "restart": ("restart", "To train on from it here, open it with ctrl+o once nobody trains it."),
    "train_more": ("train", "To train on from it here, open it with ctrl+o once nobody trains it."),
}

NOTICE_TITLES = {"missing": "Nothing to watch", "deleted": "Run folder deleted", "no-log": "No metrics log yet",
                 "log": "Watching", "no-checkpoint": "No checkpoint yet", "catch-up": "A big metrics log",
                 "skipped": "Unreadable lines", "stale": "The run is quiet", "growing": "Watching",
                 "replaced": "Metrics log replaced", "not-a-file": "The metrics log is not a file"}
WARNING_KINDS = ("no-log", "no-checkpoint", "skipped", "stale", "replaced", "not-a-file")
ERROR_KINDS = ("missing", "deleted")
# said in the training panel until things change
LASTING_KINDS = ("missing", "deleted", "no-log", "stale", "not-a-file")


class WatchingMixin:
    """TuiGenApp's part for watching: watch_run / end_watch, and the hooks its handlers call."""

    _watching: str | None = None  # the run folder watched now
    _watched_checkpoint: tuple | None = None  # watch.checkpoint_identity of the file in the playground
    _watch_load_error_said = False
    _watch_loading = False  # a look for a newer checkpoint runs now (one at a time)
    _watch_load_again = False  # a save came meanwhile: look again when it ends

    @property
    def watching(self) -> str | None:
        """The run folder the app watches, or None."""
        return self._watching

    def watch_run(self, folder: str) -> None:
        """Follow the run another process trains in `folder`. A run of the app's own is stopped first
        (it saves), as when a new run starts; a watch already going ends."""
        folder = str(folder)
        old = self.worker
        if old is not None and not self._watching and old.alive:
            self.worker = None  # its last events are not the watched run's
            self._retiring = old
            self.state.status = Status.STOPPING
            self.state.message = "stopping the current run (it saves first)"
            self._show_state()
            self._stop_then_watch(old, folder)
            return
        self._begin_watch(folder)

    @work(thread=True, exclusive=True, exit_on_error=False, group="switch")
    def _stop_then_watch(self, old, folder: str) -> None:
        old.shutdown(timeout=STOP_FOR_WATCH_SECONDS)
        self._retiring = None
        if not self._quitting:
            self.call_from_thread(self._begin_watch, folder)

    def _begin_watch(self, folder: str) -> None:
        from tui_gen.runs.watch import RunWatcher

        self.end_watch()
        self._forget_news("watch")
        watcher = RunWatcher(folder)
        self.worker = watcher
        self._watching = folder
        self._watched_checkpoint = None
        self._watch_load_error_said = False
        self._restart_from = None
        self.notice = None
        self.state = TrainingState(status=Status.STARTING, watching=folder, message=f"watching {folder}")
        plot = self.query_one(LossPlot)
        plot.clear()
        plot.set_redraw_interval(self._redraw_seconds())
        self.query_one(SamplesPanel).clear()
        self.query_one(ErrorPanel).hide()
        self._listen(watcher)
        self._load_watched()
        self._show_state()
        self._training_changed()
        self.notify(f"Watching {folder}: the figures, the loss plot and the samples follow its metrics log, and "
                    "the playground its newest checkpoint. This app trains nothing and writes nothing there.",
                    title="Watching", markup=False)

    def end_watch(self) -> None:
        """Stop watching (a new run, another run opened, quitting). Nothing of the watched run changes."""
        if not self._watching:
            return
        watcher, self.worker = self.worker, None
        self._watching = None
        self._forget_news("watch")  # a watched run's news held back is not news of what comes next
        if watcher is not None:
            watcher.shutdown()
        self.state.watching = None
        self.state.status = Status.IDLE
        self.state.message = None
        self.query_one(LossPlot).set_redraw_interval(self._redraw_seconds())
        self._show_state()
        self._training_changed()

    # ---- hooks from the app's handlers ------------------------------------------------------------
    def _refused_while_watching(self, action: str) -> bool:
        """True (and a notice saying where to do it) for a command that would touch the watched run."""
        if not self._watching or action not in WATCH_REFUSALS:
            return False
        what, instead = WATCH_REFUSALS[action]
        self.notify(f"You are watching {Path(self._watching).name}, which another process trains: this app does "
                    f"not {what} it, and never writes into its folder. {instead} ctrl+n starts a run of your own.",
                    title="Watching", severity="warning", markup=False)
        return True

    def _watch_event(self, e) -> None:
        """A watched run's own news: notices, saves, its end (handle_events folds the rest as usual)."""
        if isinstance(e, ev.WatchNotice):
            self._watch_notice(e)
        elif isinstance(e, ev.Saved):
            self._load_watched()  # a newer checkpoint for the playground, quietly
        elif isinstance(e, ev.Finished):
            name = Path(self._watching).name
            failed = ev.FinishReason(e.reason).is_failure
            title = ("Watched run failed" if failed else "Watched run stopped" if e.reason != ev.FinishReason.COMPLETED
                     else "Watched run finished")
            self._news(f"watch-finished {title}", f"{name}: {e.message}.", title=title,
                       severity="error" if failed else "information", timeout=12,
                       more="(and {n:,} more ends like it in its metrics log since the last notice)")

    def _watch_notice(self, notice: ev.WatchNotice) -> None:
        s = self.state
        if notice.kind == "replaced":  # a new run in the folder: what was shown was the old one's
            self.query_one(LossPlot).clear()
            self.query_one(SamplesPanel).clear()
            self.state = s = TrainingState(status=Status.STARTING, watching=self._watching)
        if notice.kind in ERROR_KINDS:
            s.status = Status.IDLE
        if notice.kind in LASTING_KINDS:
            s.message = notice.message
        elif notice.kind in ("log", "growing") and s.message and s.status != Status.IDLE:
            s.message = None
        severity = "error" if notice.kind in ERROR_KINDS else "warning" if notice.kind in WARNING_KINDS \
            else "information"
        self._news(f"watch {notice.kind}", notice.message[0].upper() + notice.message[1:] + ".",
                   title=NOTICE_TITLES.get(notice.kind, "Watching"), severity=severity,
                   timeout=12 if severity != "information" else None)

    def _load_watched(self) -> None:
        """Give the playground the watched folder's newest checkpoint, in a thread. One look at a time: a
        log caught up on holds many saves, and each would load a model; saves meanwhile make one more."""
        if not self._watching:
            return
        if self._watch_loading:
            self._watch_load_again = True
            return
        self._watch_loading = True
        self._look_for_newer(self._watching, first=self._watched_checkpoint is None)

    def on_watched_load_done(self, message: WatchedLoadDone) -> None:
        self._watch_loading = False
        if self._watch_load_again:
            self._watch_load_again = False
            self._load_watched()

    @work(thread=True, exit_on_error=False, group="watch-load")
    def _look_for_newer(self, folder: str, first: bool) -> None:
        from tui_gen.app.thread_priority import run_yielding_cpu

        try:
            if first:  # the playground has nothing until it lands
                self._load_newest(folder)
            else:  # a newer one swapped in quietly, nobody waiting for it: the watched run's training goes first
                run_yielding_cpu(lambda: self._load_newest(folder))
        finally:
            self.post_message(WatchedLoadDone())

    def _load_newest(self, folder: str) -> None:
        from tui_gen.runs.watch import checkpoint_identity, newest_checkpoint

        path = newest_checkpoint(folder)
        identity = checkpoint_identity(path) if path is not None else None
        if identity is None or identity == self._watched_checkpoint:
            return
        try:
            from tui_gen.app.playground_model import from_checkpoint

            self.post_message(WatchedCheckpointReady(folder, identity, from_checkpoint(path)))
        except TuiGenError as e:
            self.post_message(WatchedCheckpointReady(folder, identity, None, str(e)))
        except Exception as e:  # noqa: BLE001 - a bug: say so, keep watching
            self.post_message(WatchedCheckpointReady(folder, identity, None, f"loading {path} failed: "
                                                                             f"{type(e).__name__}: {e}"))

    def on_watched_checkpoint_ready(self, message: WatchedCheckpointReady) -> None:
        if message.folder != self._watching:
            return  # loaded for a watch that has ended
        if message.model is None:
            if not self._watch_load_error_said:  # once: the next save is tried quietly
                self._watch_load_error_said = True
                self.notify(f"{message.error[0].upper() + message.error[1:]}. The playground tries the next "
                            "checkpoint the run saves.", title="Cannot load the checkpoint", severity="warning",
                            markup=False)
            return
        current = self._watched_checkpoint
        if current is not None and message.identity[2] < current[2]:
            return  # a slower load of an older file
        self._watched_checkpoint = message.identity
        self.playground.set_model(message.model, pin=True)
