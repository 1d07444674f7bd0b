"""Watching a run that another process trains: `tui-gen launch --watch RUN`, or Watch in the open dialog.

WatchedRun is the ShownRun (tui_gen.app.shown_run) for it. A tui_gen.runs.watch.RunWatcher stands in for
the training process: the app listens to it with the thread and folds its events with the handle_events
it uses for its own run, so the training panel, the loss plot and the samples follow the run's metrics
log. The playground generates from the run folder's newest checkpoint (its own last or best file, never a
path read from the log), reloaded quietly after each save. Nothing is trained and nothing is written: the
commands that would (pause, save, the budget, restart, train more) are refused with a notice saying where
to do them (WATCH_REFUSALS), and letting go of the watch changes nothing of the run.

The watched run's news (its notices, its ends, its budget changes) goes through the app's NewsDesk, like
its own run's, under kinds starting with NEWS_PREFIX: at most one notification of each kind per batch and
per few seconds, the newest, with how many more came. A log holds whatever anyone wrote into it: 20,000
`finished` lines are one notice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.notifications import SeverityLevel

from tui_gen.app.messages import WatchedCheckpointReady, WatchedLoadDone
from tui_gen.app.news import NewsDesk
from tui_gen.app.shown_run import Refusal, RunEvent
from tui_gen.app.state import Status, TrainingState
from tui_gen.app.widgets.playground import Playground
from tui_gen.core import events as ev
from tui_gen.core.errors import TuiGenError

if TYPE_CHECKING:
    from tui_gen.runs.watch import RunWatcher

# A watching app shares the CPUs with the training it watches (on 2 cores, each ms of the UI stalls one of
# torch's two threads, and so both): steps redraw the panel and the plot every 2 s, not every second.
WATCH_REDRAW_SECONDS = 2.0
NEWS_PREFIX = "watch "  # what the watched run's news kinds on the NewsDesk start with: forgotten when the watch ends

# What each refused command would do to the watched run, and where to do it instead.
WATCH_REFUSALS = {
    "pause": ("pause", "Pause it where it trains."),
    "resume": ("resume", "Resume it where it trains."),
    "toggle_pause": ("pause", "Pause it where it trains."),
    "save": ("save", "Ctrl+C where it trains saves it and stops; every evaluation saves `last` anyway."),
    "change_budget": (
        "change the budget of",
        "Give the budget where it trains (`tui-gen train --resume` with --minutes or --steps).",
    ),
    "restart": ("restart", "To train on from it here, open it with ctrl+o once nobody trains it."),
    "train_more": ("train", "To train on from it here, open it with ctrl+o once nobody trains it."),
}

NOTICE_TITLES = {
    "missing": "Nothing to watch",
    "deleted": "Run folder deleted",
    "no-log": "No metrics log yet",
    "log": "Watching",
    "no-checkpoint": "No checkpoint yet",
    "catch-up": "A big metrics log",
    "skipped": "Unreadable lines",
    "stale": "The run is quiet",
    "growing": "Watching",
    "replaced": "Metrics log replaced",
    "not-a-file": "The metrics log is not a file",
}
WARNING_KINDS = ("no-log", "no-checkpoint", "skipped", "stale", "replaced", "not-a-file")
ERROR_KINDS = ("missing", "deleted")
# said in the training panel until things change
LASTING_KINDS = ("missing", "deleted", "no-log", "stale", "not-a-file")

CheckpointIdentity = tuple[str, int, int]  # tui_gen.runs.watch.checkpoint_identity


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


class WatchedRun:
    """A run folder another process trains, as the app shows it.

    `state` reads the app's TrainingState now, and `start_afresh` gives the app a fresh one with the plot
    and the samples cleared (the log was replaced: a new run in the folder). Checkpoints are looked for in
    thread workers of `app`, which post WatchedCheckpointReady and WatchedLoadDone to it; the app hands
    them to checkpoint_ready and look_ended. UI thread only, but for stop()."""

    trains_here = False
    can_stop = False  # another process trains it: the app only lets go of it
    redraw_seconds = WATCH_REDRAW_SECONDS
    news_prefix = NEWS_PREFIX
    spec = None  # nothing of it is trained here

    def __init__(
        self,
        folder: str,
        watcher: RunWatcher,
        *,
        app: App[Any],
        news: NewsDesk,
        playground: Playground,
        state: Callable[[], TrainingState],
        start_afresh: Callable[[], TrainingState],
    ) -> None:
        self.folder = folder
        self.watcher = watcher
        self._app = app
        self._news = news
        self._playground = playground
        self._state = state
        self._start_afresh = start_afresh
        self.checkpoint: CheckpointIdentity | None = None  # the file in the playground
        self._load_error_said = False
        self._look_done: WatchedLoadDone | None = None  # the running look's message: one look at a time
        self._look_again = False  # a save came meanwhile: look again when it ends

    # ---- ShownRun --------------------------------------------------------------------------------------
    @property
    def source(self) -> RunWatcher:
        return self.watcher

    @property
    def watched_folder(self) -> str:
        return self.folder

    def refusal(self, action: str) -> Refusal | None:
        if action not in WATCH_REFUSALS:
            return None
        what, instead = WATCH_REFUSALS[action]
        return Refusal(
            f"You are watching {Path(self.folder).name}, which another process trains: this app does "
            f"not {what} it, and never writes into its folder. {instead} ctrl+n starts a run of your "
            "own.",
            title="Watching",
        )

    def says_itself(self, event: RunEvent) -> bool:
        """Its notices, its saves (a newer checkpoint for the playground) and its ends are said here."""
        match event:
            case ev.WatchNotice():
                self._notice(event)
            case ev.Saved():
                self.look_for_newer()  # quietly
            case ev.Finished():
                failed = ev.FinishReason(event.reason).is_failure
                title = (
                    "Watched run failed"
                    if failed
                    else "Watched run stopped"
                    if event.reason != ev.FinishReason.COMPLETED
                    else "Watched run finished"
                )
                self._news.say(
                    f"{NEWS_PREFIX}finished {title}",
                    f"{Path(self.folder).name}: {event.message}.",
                    title=title,
                    severity="error" if failed else "information",
                    timeout=12,
                    more="(and {n:,} more ends like it in its metrics log since the last notice)",
                )
            case _:
                return False
        return True

    def stop(self, timeout: float = 0.0) -> None:
        self.watcher.shutdown()  # nothing to save: the run is another process's

    # ---- the watched folder's notices ------------------------------------------------------------------
    def _notice(self, notice: ev.WatchNotice) -> None:
        s = self._state()
        if notice.kind == "replaced":  # a new run in the folder: what was shown was the old one's
            s = self._start_afresh()
        if notice.kind in ERROR_KINDS:
            s.status = Status.IDLE
        if notice.kind in LASTING_KINDS:
            s.message = notice.message
        elif notice.kind in ("log", "growing") and s.message and s.status != Status.IDLE:
            s.message = None
        severity: SeverityLevel = (
            "error" if notice.kind in ERROR_KINDS else "warning" if notice.kind in WARNING_KINDS else "information"
        )
        self._news.say(
            NEWS_PREFIX + notice.kind,
            capitalised(notice.message) + ".",
            title=NOTICE_TITLES.get(notice.kind, "Watching"),
            severity=severity,
            timeout=12 if severity != "information" else None,
        )

    # ---- the playground's checkpoint -------------------------------------------------------------------
    def look_for_newer(self) -> None:
        """Give the playground the folder's newest checkpoint, loaded in a thread. One look at a time: a
        log caught up on holds many saves, and each would load a model; saves meanwhile make one more."""
        if self._look_done is not None:
            self._look_again = True
            return
        done = self._look_done = WatchedLoadDone()
        self._app.run_worker(
            partial(self._look, self.checkpoint, first=self.checkpoint is None, done=done),
            group="watch-load",
            thread=True,
            exit_on_error=False,
        )

    def look_ended(self, message: WatchedLoadDone) -> None:
        if message is not self._look_done:
            return  # a look of an earlier watch
        self._look_done = None
        if self._look_again:
            self._look_again = False
            self.look_for_newer()

    def _look(self, shown: CheckpointIdentity | None, *, first: bool, done: WatchedLoadDone) -> None:
        """In a thread: load the newest checkpoint unless it is `shown`; post what came of it, then `done`."""
        from tui_gen.app.thread_priority import run_yielding_cpu

        try:
            if first:  # the playground has nothing until it lands
                self._load_newest(shown)
            else:  # a newer one swapped in quietly, nobody waiting for it: the watched run's training goes first
                run_yielding_cpu(lambda: self._load_newest(shown))
        finally:
            self._app.post_message(done)

    def _load_newest(self, shown: CheckpointIdentity | None) -> None:
        from tui_gen.runs.watch import checkpoint_identity, newest_checkpoint

        folder = self.folder
        path = newest_checkpoint(folder)
        identity = checkpoint_identity(path) if path is not None else None
        if path is None or identity is None or identity == shown:
            return
        try:
            from tui_gen.app.playground_model import from_checkpoint

            self._app.post_message(WatchedCheckpointReady(folder, identity, from_checkpoint(path)))
        except TuiGenError as e:
            self._app.post_message(WatchedCheckpointReady(folder, identity, None, str(e)))
        except Exception as e:  # noqa: BLE001 - a bug: say so, keep watching
            self._app.post_message(
                WatchedCheckpointReady(folder, identity, None, f"loading {path} failed: {type(e).__name__}: {e}")
            )

    def checkpoint_ready(self, message: WatchedCheckpointReady) -> None:
        if message.folder != self.folder:
            return  # loaded for a watch that has ended
        if message.model is None:
            if not self._load_error_said:  # once: the next save is tried quietly
                self._load_error_said = True
                self._app.notify(
                    f"{capitalised(message.error or 'the checkpoint could not be loaded')}. The "
                    "playground tries the next checkpoint the run saves.",
                    title="Cannot load the checkpoint",
                    severity="warning",
                    markup=False,
                )
            return
        current = self.checkpoint
        if current is not None and message.identity[2] < current[2]:
            return  # a slower load of an older file
        self.checkpoint = message.identity
        self._playground.set_model(message.model, pin=True)
