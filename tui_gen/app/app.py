"""The tui-gen app: training panel, loss plot, live samples and the playground, on one screen.

The app shows one run at a time (shown_run, a tui_gen.app.shown_run.ShownRun): its own training process
(OwnRun, around a tui_gen.process.parent.TrainingProcess) or a run folder another process trains
(tui_gen.app.watching.WatchedRun). A thread worker blocks on the run's get(), and posts everything one
get() returned as ONE TrainingEvents message; handle_events() folds a list of events into the screen, so
tests (and anything else) can feed events without a process. Where the two kinds of run differ, the app
asks the run what it accepts; it never asks which kind it holds.

The app holds its other parts as objects it calls, each given what it needs: the NewsDesk (the run's
news as coalesced notifications), RunComparison (the runs screen and the loss plot's controls) and Lens
(the sweep and the neuron explorer). What is left here is the layout, the keys, and the run's life.

At 80x24 the three parts are tabs (Train / Playground / Samples); from 140x40 up they share the
screen. torch is never imported on the way to the first frame: the model for the playground is built
in thread workers, after the first paint.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial, wraps
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Container, Horizontal, Vertical
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Input, Tab, Tabs
from textual.worker import get_current_worker

from tui_gen.app.bindings import APP_BINDINGS, PANE_KEYS, PANES, palette_commands
from tui_gen.app.compare import RunComparison
from tui_gen.app.lens import Lens
from tui_gen.app.messages import (
    CurvesGrew,
    CurvesRead,
    ModelLoadFailed,
    ModelReady,
    SnapshotWanted,
    TrainingEvents,
    WatchedCheckpointReady,
    WatchedLoadDone,
)
from tui_gen.app.news import NewsDesk
from tui_gen.app.nocolor import patch_filters
from tui_gen.app.options import LaunchOptions
from tui_gen.app.playground_model import PlaygroundModel
from tui_gen.app.screens import (
    ChangeBudgetScreen,
    Choice,
    ConfirmScreen,
    HelpScreen,
    NewRunScreen,
    OpenRunScreen,
    TrainMoreScreen,
)
from tui_gen.app.serve import SERVER_CHECK_SECONDS, Served, TrainedElsewhere
from tui_gen.app.shown_run import (
    PANEL_REDRAW_SECONDS,
    EventSource,
    OwnRun,
    RunEvent,
    ShownRun,
    TrainingProcessLike,
)
from tui_gen.app.state import ACTIVE, Status, TrainingState
from tui_gen.app.watching import WatchedRun
from tui_gen.app.widgets import LossPlot
from tui_gen.app.widgets.error_panel import ErrorPanel
from tui_gen.app.widgets.playground import Playground
from tui_gen.app.widgets.samples_panel import SamplesPanel
from tui_gen.app.widgets.training_panel import TrainingPanel
from tui_gen.core import events as ev
from tui_gen.core.budget import Budget
from tui_gen.core.commands import Command, SetBudget
from tui_gen.core.errors import TuiGenError
from tui_gen.core.textsafe import visible
from tui_gen.data.catalogue import DEFAULT_CORPUS, OFFLINE_CORPUS
from tui_gen.process.parent import TrainingProcess
from tui_gen.process.spec import TrainingSpec
from tui_gen.training.setup import resume_target

if TYPE_CHECKING:
    from tui_gen.app.screens.open_run import RunChoice
    from tui_gen.training.setup import RunRequest

POLL_SECONDS = 0.2  # how long the event thread blocks in get() before checking whether to stop
# A run of the app's own evaluates and saves as it stops (quitting, or another run shown): on a big corpus
# that may take a while.
SAVE_AND_QUIT_SECONDS = 120.0
QUIT_SECONDS = 10.0
WARNING_NOTICE_SECONDS = 3.0  # training warnings pop up at most this often; the training panel shows each
NEWS_NOTICE_SECONDS = 3.0  # each other kind of the run's news (its end, a budget change, a watch notice) too
NOTICES_KEPT = 200  # TuiGenApp.notices: the newest notifications, for tests and tools


@dataclass(frozen=True)
class Notice:
    """One notification as shown (control characters made visible), kept in TuiGenApp.notices."""

    title: str
    message: str
    severity: str
    timeout: float
    posted_at: float  # time.monotonic()

    @property
    def live(self) -> bool:
        """Still on screen (its toast has not timed out)."""
        return time.monotonic() - self.posted_at < self.timeout


def minutes(m: float) -> str:
    return f"{m:g} minute{'' if m == 1 else 's'}"


def commands_the_run(action: Callable[[TuiGenApp], None]) -> Callable[[TuiGenApp], None]:
    """Marks an action that commands the shown run (action_pause commands "pause"): when the run refuses
    it (ShownRun.refusal), the run's notice says why and where to do it instead, and nothing else happens.
    Keys, the command palette and direct calls all go through this."""
    name = action.__name__.removeprefix("action_")

    @wraps(action)
    def unless_refused(app: TuiGenApp) -> None:
        run = app.shown_run
        refusal = run.refusal(name) if run is not None else None
        if refusal is not None:
            app.notify(refusal.message, title=refusal.title, severity="warning", markup=False)
            return
        action(app)

    return unless_refused


class PrunedFooter(Footer):
    """Textual's Footer, minus a leak: each FooterKey it composes is data-bound to the footer's
    `compact`, and that watcher list forgets closed keys only when `compact` changes, which it never
    does here. So every recompose (each change of the bindings: focus, tab, training state) kept the
    old keys alive, ~1.7 MiB/s with keys pressed every 50 ms. Drop the closed ones after each."""

    async def recompose(self) -> None:
        await super().recompose()
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if not node._closing]


class TuiGenApp(App[int]):
    """The app. It shows one run (shown_run) and hands each command for it to the run first (what the run
    refuses is said, never done); it leaves no training process behind (begin_quit, shutdown_training)."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-gen"
    BINDINGS = [*APP_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant
    ENABLE_COMMAND_PALETTE = True  # ctrl+p: bindings.PALETTE, and Textual's own (theme, quit, keys)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    AUTO_FOCUS = None  # set by _focus_start: the tabs (narrow) or the seed box (wide)

    # The parts that act on the widgets, made once the widgets are mounted (on_mount).
    comparison: RunComparison  # the runs screen (c), overlays and the loss plot's controls
    lens: Lens  # the sweep (w) and the neuron explorer (n)

    def __init__(
        self,
        options: LaunchOptions | None = None,
        *,
        process_factory: Callable[[], TrainingProcessLike] = TrainingProcess,
        model: PlaygroundModel | None = None,
        warm_up: bool = True,
        served: Served | None = None,
    ) -> None:
        super().__init__()
        # Run by `tui-gen serve` (tui_gen.app.serve): one training at a time among its apps, and the file
        # pickers stay inside its root. Read from the environment the server sets, unless given.
        self.served = served if served is not None else Served.from_environ()
        if self.served is not None:
            process_factory = self.served.slotted(process_factory)
        patch_filters(self._filters)  # NO_COLOR: Textual's monochrome filter crashes on the loss plot (see nocolor.py)
        self.options = options or LaunchOptions()
        self.process_factory = process_factory  # makes training processes; tests pass a fake fed by hand
        self.shown_run: ShownRun | None = None  # the run on screen: see the module's docstring
        self._retiring: ShownRun | None = None  # a run of the app's own being stopped so that another can be shown
        self.state = TrainingState()
        self.notice: str | None = None  # a lasting line in the training panel (why this corpus)
        self.initial_model = model
        self.warm_up = warm_up
        self.news = NewsDesk(self, every=NEWS_NOTICE_SECONDS, warnings_every=WARNING_NOTICE_SECONDS)
        self._fallback_ok = False  # this run is the default tweets: on failure before start, use python-help
        self._save_pending = False  # ctrl+s was pressed: say where the next save went
        self._restart_from: str | None = None  # the checkpoint `r` continues from
        self._quitting = False
        self._failure_reported = False
        self._panel_timer: Timer | None = None  # a pending redraw of the training panel (_show_state_soon)
        self._panel_shown_at = 0.0
        # Type-ahead: keys that arrive before the focus has landed where they are meant to go (while the
        # app starts, or between "2" and the seed box taking the focus) are held, then replayed.
        self._starting = True
        self._seed_focus_pending = False
        self._held_keys: list[events.Key] = []
        self.notices: deque[Notice] = deque(maxlen=NOTICES_KEPT)  # every notification, newest last

    @property
    def event_source(self) -> EventSource | None:
        """What the app listens to now: its training process, the watched run's RunWatcher, or None."""
        return self.shown_run.source if self.shown_run is not None else None

    @property
    def watching(self) -> str | None:
        """The run folder the app watches, or None."""
        return self.shown_run.watched_folder if self.shown_run is not None else None

    @property
    def run_folder(self) -> str | None:
        """The shown run's folder (the one watched, or training's once it has started), or None: text taken
        out of the app is saved in its samples/ (tui_gen.app.takeout)."""
        return self.watching or self.state.run_dir

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Textual's notify, with control characters shown as symbols: messages quote paths, seeds and
        errors, and an escape sequence in them must not reach the terminal."""
        message, title = visible(message), visible(title)
        timeout = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
        self.notices.append(Notice(title, message, severity, timeout, time.monotonic()))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    @property
    def live_notices(self) -> list[Notice]:
        """The notifications on screen now."""
        return [n for n in self.notices if n.live]

    # ---- layout ------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Tabs(
            Tab("Train", id="tab-train"),
            Tab("Playground", id="tab-playground"),
            Tab("Samples", id="tab-samples"),
            id="tabs",
        )
        with Container(id="main"):
            with Vertical(id="train-pane", classes="pane -active"):
                with Horizontal(id="train-top"):
                    yield TrainingPanel(id="training")
                    yield LossPlot(redraw_interval=PANEL_REDRAW_SECONDS, id="plot")
                yield ErrorPanel(id="error")
            yield Playground(id="playground", classes="pane")
            yield SamplesPanel(id="samples", classes="pane")
        yield PrunedFooter(compact=True)

    @property
    def playground(self) -> Playground:
        return self.query_one(Playground)

    @property
    def wide(self) -> bool:
        return self.screen.has_class("-wide") and self.screen.has_class("-tall")

    def on_mount(self) -> None:
        plot, samples = self.query_one(LossPlot), self.query_one(SamplesPanel)
        self.comparison = RunComparison(self, plot, self.options.models_dir, partial(self.show_pane, "train"))
        self.lens = Lens(self, self.playground, samples, self.options.models_dir, lambda: self.state.run_dir)
        self.query_one("#training", TrainingPanel).border_title = "Training"
        plot.border_title = "Loss"
        samples.border_title = "Samples"
        self.playground.border_title = "Playground"
        self.query_one("#output").border_title = "output"
        if self.options.checkpoint:
            self.state.message = f"loading {self.options.checkpoint}"
        self._show_state()
        if self.initial_model is not None:
            self.playground.set_model(self.initial_model)
        if self.served is not None:
            self.set_interval(SERVER_CHECK_SECONDS, self._quit_if_server_gone)
        self.call_after_refresh(self._after_first_paint)

    def _quit_if_server_gone(self) -> None:
        """Served, and the server was killed: no browser can reach this app, so it stops its training
        (which saves) and exits, rather than train on unseen."""
        if self.served is not None and self.served.server_gone and not self._quitting:
            self.begin_quit(save=True)

    def _after_first_paint(self) -> None:
        self._focus_start()
        if self._quitting:  # quit before the first paint (a served app whose server was already gone)
            return
        if self.warm_up:
            self._warm_up()
        if self.options.watch:
            self.watch_run(self.options.watch)
        elif self.options.checkpoint:
            self._restart_from = resume_target(self.options.checkpoint)
            self.show_pane("playground")
            self._load_checkpoint(self.options.checkpoint, offer_resume=False)
        elif self.options.train:
            corpus = self.options.corpus
            self._fallback_ok = corpus is None
            self.start_training(self.options.new_run(corpus or DEFAULT_CORPUS))

    def _focus_start(self) -> None:
        if self.wide:
            self.query_one("#seed", Input).focus()
        else:
            self.query_one(Tabs).focus()
        self._starting = False
        self._replay_held_keys()

    # ---- type-ahead ------------------------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and self._hold(event):
            self._held_keys.append(event)
            return
        await super().on_event(event)

    def _hold(self, event: events.Key) -> bool:
        if event.key in ("ctrl+c", "ctrl+q"):  # quitting is never held back
            return False
        if self._starting:
            return True
        return self._seed_focus_pending and event.is_printable

    def _replay_held_keys(self) -> None:
        """Send the held keys on, in order, now that the focus is where they were meant to go. A key that
        switches panes is acted on here and now, so that the keys after it wait for the new focus rather
        than racing it (a binding runs only after the key has been offered to the focused widget)."""
        held, self._held_keys = self._held_keys, []
        for i, key in enumerate(held):
            pane = PANE_KEYS.get(key.key)
            if pane and not isinstance(self.focused, Input):
                self.action_show_tab(pane)
            elif self._starting or (self._seed_focus_pending and key.is_printable):
                self._held_keys.extend(held[i:])  # replayed when the focus lands
                return
            else:
                self.post_message(events.Key(key.key, key.character))

    def _focus_seed(self, tries: int = 0) -> None:
        seed = self.playground.entry_box  # the seed box, or the text to score in score mode
        if self.wide or self.active_pane == "playground":
            seed.screen.set_focus(seed)  # now, not later: the held keys follow it (its own screen: a dialog may be up)
            if seed.screen.focused is not seed and tries < 50:
                self.call_after_refresh(self._focus_seed, tries + 1)  # its pane is not shown yet: next frame
                return
        self._seed_focus_pending = False
        self._replay_held_keys()

    def show_pane(self, name: str) -> None:
        """Bring a part to the front (narrow screens) and focus it."""
        tabs = self.query_one(Tabs)
        if name == "playground" and not self.query_one("#seed", Input).has_focus:
            self._seed_focus_pending = True  # what is typed from now on is meant for the seed box
        if tabs.active != f"tab-{name}":
            tabs.active = f"tab-{name}"  # Tabs.TabActivated does the rest
        else:
            self._activate(name)

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab and event.tab.id:
            self._activate(event.tab.id.removeprefix("tab-"))

    def _activate(self, name: str) -> None:
        for pane in PANES:
            self.query_one(f"#{'train-pane' if pane == 'train' else pane}").set_class(pane == name, "-active")
        # After the refresh: a pane that was hidden cannot take the focus until its style has updated.
        if name == "playground":
            if not self.query_one("#seed", Input).has_focus:
                self._seed_focus_pending = True  # what is typed meanwhile is meant for the seed box
            self.call_after_refresh(self._focus_seed)
        elif name == "samples":
            self.call_after_refresh(self._focus_for, "samples", self.query_one(SamplesPanel))
        elif not self.wide:
            self.call_after_refresh(self._focus_for, "train", self.query_one(Tabs))

    def _focus_for(self, pane: str, widget: Widget) -> None:
        """Focus widget now (not through focus(), which defers it once more and so could land after a
        later pane's focus), if its pane is still the one shown."""
        if self.active_pane == pane:
            widget.screen.set_focus(widget)

    @property
    def active_pane(self) -> str:
        return (self.query_one(Tabs).active or "tab-train").removeprefix("tab-")

    # ---- the shown run: which one, and the one way from one to the next ----------------------------------
    def start_training(self, spec: TrainingSpec, fallback_ok: bool | None = None) -> None:
        """Start a training process for `spec` and show it. A watched run is let go of first; a run of the
        app's own that still trains is to be stopped before this (replace_run does that). An app that is
        quitting starts none: nothing would stop it, and the app's exit would wait for its listener."""
        if self._quitting:
            return
        if fallback_ok is not None:
            self._fallback_ok = fallback_ok
        self.end_watch()
        process = self.process_factory()
        run = OwnRun(process)
        self.shown_run = run
        self._failure_reported = False
        self.state.reset_for_new_process(spec.log_path)
        self.query_one(ErrorPanel).hide()
        try:
            process.start(spec)
        except TrainedElsewhere as elsewhere:  # served: another tab trains (tui_gen.app.serve)
            self.shown_run = None
            self._watch_instead(spec, elsewhere.run_dir)
            return
        except (TuiGenError, OSError, RuntimeError, ValueError) as e:
            self.shown_run = None
            self.handle_events([ev.Failed(f"could not start the training process: {e}", spec.log_path)])
            return
        self._listen_to(run)

    def _watch_instead(self, spec: TrainingSpec, run_dir: str | None) -> None:
        """Served, another tab of the server trains (a machine trains one run at a time): watch its run, or,
        while that tab is still starting, wait until it names its run folder (or gives up the slot: then
        this tab trains `spec` after all)."""
        if run_dir is None:
            self.state.message = "another tab of this server is starting a run: this tab will watch it"
            self._show_state()
            self._await_other_tab(spec)
            return
        self.notify(
            f"Another tab of this server trains {run_dir}, and the machine trains one run at a time: this tab "
            "watches it. Once that run has ended, ctrl+n starts one here.",
            title="Watching the other tab's run",
            markup=False,
        )
        self.watch_run(run_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="served")
    def _await_other_tab(self, spec: TrainingSpec) -> None:
        me = get_current_worker()
        if self.served is not None:
            self.served.wait_for_other_run(lambda: me.is_cancelled or self._quitting)
        if not me.is_cancelled and not self._quitting:
            self.call_from_thread(self._try_training_again, spec)

    def _try_training_again(self, spec: TrainingSpec) -> None:
        if self.shown_run is None and not self._quitting:  # unless another run was opened meanwhile
            self.start_training(spec)

    def replace_run(self, spec: TrainingSpec) -> None:
        """Train `spec`; a run that trains now is stopped (and saves) first."""
        self._switch_to(partial(self.start_training, spec, False))

    def watch_run(self, folder: str) -> None:
        """Follow the run another process trains in `folder`. A run of the app's own is stopped first
        (it saves), as when a new run starts; a watch already going ends."""
        self._switch_to(partial(self._begin_watch, str(folder)))

    def _switch_to(self, show_next: Callable[[], None]) -> None:
        """The one way from the shown run to the next (a new run, a resumed one, a watch). A run that
        still trains here is stopped first, in a thread, since it saves as it stops; show_next runs once
        it is gone, unless the app is quitting by then. Any other run is let go of by show_next, at once."""
        old = self.shown_run
        if old is None or not old.can_stop or not old.source.alive:
            show_next()
            return
        self.shown_run = None  # its last events (Finished, Exited) are not the next run's news
        self._retiring = old
        self.state.status = Status.STOPPING
        self.state.message = "stopping the current run (it saves first)"
        self._show_state()
        self._stop_then(old, show_next)

    @work(thread=True, exclusive=True, exit_on_error=False, group="switch")
    def _stop_then(self, old: ShownRun, show_next: Callable[[], None]) -> None:
        old.stop(SAVE_AND_QUIT_SECONDS)
        self._retiring = None
        if not self._quitting:
            self.call_from_thread(show_next)

    def _begin_watch(self, folder: str) -> None:
        from tui_gen.runs.watch import RunWatcher

        self.end_watch()
        run = WatchedRun(
            folder,
            RunWatcher(folder),
            app=self,
            news=self.news,
            playground=self.playground,
            state=lambda: self.state,
            start_afresh=partial(self._start_watch_afresh, folder),
        )
        self.news.forget(run.news_prefix)  # what an earlier watch held back is not news of this one
        self.shown_run = run
        self._restart_from = None
        self.notice = None
        self._start_watch_afresh(folder, message=f"watching {folder}")
        self.query_one(ErrorPanel).hide()
        self._listen_to(run)
        run.look_for_newer()
        self.notify(
            f"Watching {folder}: the figures, the loss plot and the samples follow its metrics log, and "
            "the playground its newest checkpoint. This app trains nothing and writes nothing there.",
            title="Watching",
            markup=False,
        )

    def _start_watch_afresh(self, folder: str, message: str | None = None) -> TrainingState:
        """Show the watched run in `folder` from its start: a fresh state, the plot and the samples cleared."""
        self.state = TrainingState(status=Status.STARTING, watching=folder, message=message)
        self.query_one(LossPlot).clear()
        self.query_one(SamplesPanel).clear()
        return self.state

    def end_watch(self) -> None:
        """Let go of a run the app cannot stop (a watched one: another run opened, a new run, quitting);
        nothing of that run changes. A run of the app's own is never just let go of: _switch_to and
        begin_quit stop it, and it saves."""
        run = self.shown_run
        if run is None or run.can_stop:
            return
        self.shown_run = None
        self.news.forget(run.news_prefix)  # its news held back is not news of what comes next
        run.stop(0.0)
        self.state.watching = None
        self.state.status = Status.IDLE
        self.state.message = None
        self.query_one(LossPlot).set_redraw_interval(self._redraw_seconds())
        self._show_state()
        self._training_changed()

    def _listen_to(self, run: ShownRun) -> None:
        """Listen to the run just shown, and show it: its pace of redraws, the panel, the keys that apply."""
        self.query_one(LossPlot).set_redraw_interval(run.redraw_seconds)
        self._listen(run.source)
        self._show_state()
        self._training_changed()

    @work(thread=True, group="training-events", exit_on_error=False)
    def _listen(self, source: EventSource) -> None:
        """Block on the source's queue; post each drained batch as one message. It ends when the source
        exits, the worker is cancelled, or the app is exiting: a worker started while Textual was already
        cancelling its workers is never cancelled, and asyncio would wait for its thread for ever."""
        me = get_current_worker()
        while not me.is_cancelled and not self._exit:
            batch = source.get(timeout=POLL_SECONDS)
            if batch:
                self.post_message(TrainingEvents(list(batch), source))
                if any(isinstance(e, ev.Exited) for e in batch):
                    return

    def _training_would_stop(self) -> bool:
        """Whether showing another run would stop a run the app trains, while it trains: worth asking first."""
        run = self.shown_run
        return run is not None and run.can_stop and run.source.alive and self.state.status in ACTIVE

    # ---- the shown run's events ----------------------------------------------------------------------------
    def on_training_events(self, message: TrainingEvents) -> None:
        if message.source is not self.event_source or self._exit:
            return  # a run this app has already replaced, or the app is closing (its widgets going)
        self.handle_events(message.events)

    def handle_events(self, batch: Sequence[RunEvent]) -> None:
        """Fold a batch of training events into the screen (one redraw per batch, and at most one
        notification of each kind of news: see NewsDesk)."""
        with self.news.batch():
            self._fold_events(batch)

    def _fold_events(self, batch: Sequence[RunEvent]) -> None:
        plot = self.query_one(LossPlot)
        was = self.state.status
        for e in batch:
            self.state.apply(e)
            run = self.shown_run
            if run is not None and run.says_itself(e):
                continue  # news of a run another process trains, said its own way
            match e:
                case ev.Step():
                    plot.add_train(e.step, e.train_bpc, e.chars_seen, e.elapsed)
                    if e.grad_norm is not None:
                        plot.add_grad(e.step, e.grad_norm, e.chars_seen, e.elapsed)
                case ev.Eval():
                    plot.add_val(e.step, e.val_bpc, e.chars_seen, e.elapsed)
                case ev.Samples():
                    self.query_one(SamplesPanel).add(e.step, e.temperature, e.samples)
                case ev.Snapshot():
                    self.playground.offer_snapshot(e)
                case ev.Saved():
                    self._restart_from = self.state.resume_path
                    if self._save_pending and e.kind == "last":
                        self._save_pending = False
                        self.notify(f"Saved step {e.step:,} to {e.path}", title="Checkpoint saved", markup=False)
                case ev.RunWarning():
                    self._warning(e.message)
                case ev.Started():
                    plot.grad_clip = e.grad_clip
                    for warning in e.warnings:
                        self._warning(warning)
                case ev.BudgetChanged():
                    self.news.say(
                        (run.news_prefix if run is not None else "") + "budget",
                        f"Training for {e.budget} from {self._run_start()}"
                        + (
                            ": that is done, so the run ends at the next step and saves."
                            if e.progress is not None and e.progress >= 1
                            else "."
                        ),
                        title="Budget changed",
                        more="(and {n:,} more budget changes since the last notice)",
                    )
                case ev.Finished() if not ev.FinishReason(e.reason).is_failure and not self._quitting:
                    self.news.say(
                        "finished",
                        e.message[0].upper() + e.message[1:] + ". Press t to train more.",
                        title="Training stopped" if e.reason == ev.FinishReason.TERMINATED else "Training finished",
                    )
        run = self.shown_run
        if self.state.status == Status.FAILED and not self._quitting and (run is None or run.trains_here):
            if self._fallback_ok and not self.state.started and self.state.error_kind == "download":
                # The default tweets could not be had (offline, most likely): once the process is gone,
                # train on the offline corpus instead.
                if any(isinstance(e, ev.Exited) for e in batch):
                    self._fall_back_to_offline()
                    return
            else:
                self._report_failure()
        if all(isinstance(e, ev.Step) for e in batch) and self.state.status == was:
            self._show_state_soon()  # the figures of a few more steps: at most one redraw_seconds apart
        else:
            self._show_state()
        if self.state.status != was:
            self._training_changed()

    def _warning(self, message: str) -> None:
        self.news.say(
            "warning",
            message,
            title="Training warning",
            severity="warning",
            more="(and {n:,} more since the last warning: the training panel keeps count)",
        )

    def _fall_back_to_offline(self) -> None:
        self._fallback_ok = False
        reason = self.state.error_reason
        what = "could not be downloaded" + (f" ({reason})" if reason else "")
        self.notice = (
            f"Training on the offline corpus {OFFLINE_CORPUS}: the tweets {what}. "
            f"`tui-gen data get {DEFAULT_CORPUS}` fetches them when you are online."
        )
        details = f" Details are in {self.state.log_path}." if self.state.log_path else ""
        self.notify(
            f"The tweets {what}, so training uses the offline corpus {OFFLINE_CORPUS} instead.{details}",
            title="Using the offline corpus",
            severity="warning",
            timeout=12,
            markup=False,
        )
        self.start_training(self.options.new_run(OFFLINE_CORPUS))

    def _report_failure(self) -> None:
        s = self.state
        message = s.error or "training stopped"
        if self._restart_from:
            hint = f"Press r to restart from {self._restart_from}."
        else:
            hint = "Press r to start training again."
        self.query_one(ErrorPanel).show(message[0].upper() + message[1:], s.log_path, hint)
        if not self._failure_reported and not (self.wide or self.active_pane == "train"):
            # The panel is out of sight: say it where the user is looking.
            self.notify(
                f"{message[0].upper() + message[1:]} (details on the Train tab)\n\n{hint}",
                title="Training failed",
                severity="error",
                timeout=15,
                markup=False,
            )
        self._failure_reported = True

    def _show_state(self) -> None:
        if self._panel_timer is not None:
            self._panel_timer.stop()
            self._panel_timer = None
        self._panel_shown_at = time.monotonic()
        self.query_one(TrainingPanel).show(self.state, self.notice)

    def _show_state_soon(self) -> None:
        """Redraw the training panel now if it has not been redrawn for the run's redraw_seconds, else once
        that much has passed. Steps come several times a second; each redraw costs the UI's process CPU
        that, on 2 cores, the training process would otherwise use."""
        if self._panel_timer is not None:
            return
        wait = self._panel_shown_at + self._redraw_seconds() - time.monotonic()
        if wait <= 0:
            self._show_state()
        else:
            self._panel_timer = self.set_timer(wait, self._show_state)

    def _redraw_seconds(self) -> float:
        """At most how often new steps redraw the training panel and the loss plot: the shown run says
        (a watched run is drawn less often: its viewer shares the CPUs with its training)."""
        return self.shown_run.redraw_seconds if self.shown_run is not None else PANEL_REDRAW_SECONDS

    def _training_changed(self) -> None:
        run, status = self.shown_run, self.state.status
        live = run is not None and run.trains_here and status in ACTIVE and status != Status.STOPPING
        self.playground.set_training_live(live)
        self.refresh_bindings()

    def on_snapshot_wanted(self, message: SnapshotWanted) -> None:
        if self.shown_run is not None and self.state.status in ACTIVE:
            self.shown_run.source.send(Command.SNAPSHOT)

    # ---- what the parts the app holds hand back from their threads ------------------------------------------
    def on_watched_checkpoint_ready(self, message: WatchedCheckpointReady) -> None:
        if isinstance(self.shown_run, WatchedRun):  # else the watch it was loaded for has ended
            self.shown_run.checkpoint_ready(message)

    def on_watched_load_done(self, message: WatchedLoadDone) -> None:
        if isinstance(self.shown_run, WatchedRun):
            self.shown_run.look_ended(message)

    def on_curves_read(self, message: CurvesRead) -> None:
        self.comparison.curves_read(message)

    def on_curves_grew(self, message: CurvesGrew) -> None:
        self.comparison.curves_grew(message)

    # ---- the playground's model --------------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, group="warm-up")
    def _warm_up(self) -> None:
        from tui_gen.app.playground_model import warm_up

        warm_up()

    def _load_checkpoint(self, path: str, offer_resume: bool) -> None:
        self.playground.expect_model()  # an Enter meanwhile waits for it
        self._load_checkpoint_thread(path, offer_resume)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_checkpoint_thread(self, path: str, offer_resume: bool) -> None:
        try:
            from tui_gen.app.playground_model import from_checkpoint

            self.post_message(ModelReady(from_checkpoint(path), offer_resume=offer_resume))
        except TuiGenError as e:
            self.post_message(ModelLoadFailed(str(e)))
        except Exception as e:  # noqa: BLE001 - a bug: report it, keep the app
            self.post_message(ModelLoadFailed(f"loading {path} failed: {type(e).__name__}: {e}"))

    def on_model_ready(self, message: ModelReady) -> None:
        model = message.model
        self.playground.set_model(model, pin=model.source == "checkpoint")
        if model.source != "checkpoint":
            return
        self._restart_from = model.resume_path or model.path
        self.show_pane("playground")
        if self.state.status == Status.IDLE:
            self.state.message = "checkpoint loaded into the playground: press r to train on from it"
            self._show_state()
        self.notify(
            f"{model.path} (step {model.step:,}) is in the playground.", title="Checkpoint loaded", markup=False
        )
        if message.offer_resume:
            self._offer_resume(model)

    def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        self.playground.expect_model(False)
        if (
            self.options.checkpoint
            and self.state.status == Status.IDLE
            and self.state.message
            and self.state.message.startswith("loading")
        ):
            self.state.message = None
            self._show_state()
        self.notify(message.message, title="Cannot load the checkpoint", severity="error", timeout=12, markup=False)

    def _offer_resume(self, model: PlaygroundModel) -> None:
        running = self.shown_run is not None and self.state.status in ACTIVE
        where = model.resume_path or model.path
        step = model.resume_step if model.resume_step is not None else model.step
        body = (
            f"Train on from step {step:,} of {where} (where its training stopped) for "
            f"{minutes(self.options.budget_minutes)} more? New checkpoints go into the same run folder."
        )
        if running:
            body += " The current training run stops first (it saves its progress)."
        choices = [
            Choice("resume", "Resume training", key="r", variant="primary", default=True),
            Choice("play", "Just play", key="n"),
        ]
        self.push_screen(
            ConfirmScreen("Resume training from this checkpoint?", body, choices, purpose="resume"),
            lambda choice: self._resume_choice(choice, where),
        )

    def _resume_choice(self, choice: str | None, path: str | None) -> None:
        if choice == "resume" and path:
            self.resume_from(path)

    def resume_from(self, path: str) -> None:
        """Train on from a checkpoint; a running process is stopped (and saves) first."""
        self.playground.follow_training()
        self._restart_from = path
        self.query_one(LossPlot).clear()
        self.replace_run(self.options.resume_run(path, corpus=None))

    # ---- actions -----------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        status = self.state.status
        if self.shown_run is not None and self.shown_run.refusal(action) is not None:
            # Enabled, so that pressing it says why it is refused; resume shares p with pause, which is shown.
            return action != "resume"
        if action == "pause":  # dimmed while there is no run to pause
            if status in (Status.STARTING, Status.RUNNING, Status.PAUSING):
                return True
            return False if status == Status.PAUSED else None
        if action == "save":
            return True if status in (Status.STARTING, Status.RUNNING, Status.PAUSING, Status.PAUSED) else None
        if action == "resume":
            return status == Status.PAUSED
        if action == "restart":  # a process that died, or a run opened into an idle app; not a finished run
            return status in (Status.IDLE, Status.FAILED) and not self._quitting
        if action == "change_budget":  # while there is a run to change
            return self._training_now
        if action == "train_more":
            return status == Status.FINISHED and bool(self._restart_from) and not self._quitting
        if action == "new_run":
            return not self._quitting
        if action == "stop_generation":
            return self.playground.generating
        if action == "leave_input":
            return not self.playground.generating and isinstance(self.focused, Input)
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in palette_commands():
            yield SystemCommand(title, help_text, partial(self.run_action, action))

    @commands_the_run
    def action_toggle_pause(self) -> None:
        if self.state.status == Status.PAUSED:
            self.action_resume()
        else:
            self.action_pause()

    def action_show_tab(self, name: str) -> None:
        self.show_pane(name)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    @commands_the_run
    def action_pause(self) -> None:
        s, source = self.state, self.event_source
        if source is None or s.status not in (Status.STARTING, Status.RUNNING, Status.PAUSING):
            self.notify(self._not_running("pause"), severity="warning", markup=False)
            return
        if source.send(Command.PAUSE):
            s.status = Status.PAUSING
            self._show_state()
            self.refresh_bindings()

    @commands_the_run
    def action_resume(self) -> None:
        source = self.event_source
        if source is not None and self.state.status == Status.PAUSED and source.send(Command.RESUME):
            self.state.status = Status.RUNNING
            self._show_state()
            self.refresh_bindings()

    @commands_the_run
    def action_save(self) -> None:
        s, source = self.state, self.event_source
        if source is not None and s.status in (Status.RUNNING, Status.PAUSED, Status.PAUSING) and s.started:
            if source.send(Command.SAVE):
                self._save_pending = True
                self.notify(
                    "Saving a checkpoint at the next step…" if s.status == Status.RUNNING else "Saving a checkpoint…",
                    title="Saving",
                    timeout=3,
                    markup=False,
                )
                return
        if s.status == Status.STARTING:
            self.notify("Training is still starting: there is nothing to save yet.", severity="warning", markup=False)
        else:
            self.notify(self._not_running("save"), severity="warning", markup=False)

    def _not_running(self, what: str) -> str:
        where = f" The newest checkpoint is {self._restart_from}." if self._restart_from else ""
        return f"Training is not running, so there is nothing to {what}.{where} Press r to start training."

    def action_open_run(self) -> None:
        self.push_screen(OpenRunScreen(self.options.models_dir), self._run_chosen)

    def _run_chosen(self, choice: RunChoice | None) -> None:
        if choice is None:
            return
        if choice.watch:
            self._watch_chosen(choice.run.path)
            return
        self.end_watch()  # another run opened: the watch ends
        # The run folder: loading resolves it to its best checkpoint (else its last), in the loading thread,
        # which says so if the file went away since the listing.
        self._load_checkpoint(choice.run.path, offer_resume=True)

    def _watch_chosen(self, folder: str) -> None:
        if self._training_would_stop():
            body = (
                f"The current run (step {self.state.step:,}) stops first and saves its progress; "
                f"then the app watches {folder}."
            )
            choices = [
                Choice("watch", "Save it and watch", key="w", variant="primary", default=True),
                Choice("cancel", "Cancel", key="escape"),
            ]
            self.push_screen(
                ConfirmScreen("Watch another run?", body, choices, purpose="watch"),
                lambda choice: self.watch_run(folder) if choice == "watch" else None,
            )
        else:
            self.watch_run(folder)

    @commands_the_run
    def action_restart(self) -> None:
        s = self.state
        if s.status in ACTIVE:
            self.notify("Training is already running.", markup=False)
            return
        path = self._restart_from
        if path:
            left = None
            if s.status == Status.FAILED and s.elapsed and s.started:
                left = max(0.5, self.options.budget_minutes - s.elapsed / 60)
            self.playground.follow_training()
            self.notify(f"Training on from {path}.", title="Restarting", markup=False)
            self.start_training(self.options.resume_run(path, left, corpus=self.options.corpus), fallback_ok=False)
        else:
            corpus = s.corpus or self.options.corpus or DEFAULT_CORPUS
            self.notify(f"Starting a new run on {corpus}.", title="Restarting", markup=False)
            self.start_training(self.options.new_run(corpus), fallback_ok=self.options.corpus is None and not s.corpus)

    @commands_the_run
    def action_train_more(self) -> None:
        s = self.state
        if s.status != Status.FINISHED or not self._restart_from:
            self.notify("Train more continues a finished run: there is none yet.", severity="warning", markup=False)
            return
        # The same budget again, by default: what this run had, in steps or minutes.
        if s.max_steps:
            default = Budget(steps=max(1, s.max_steps - s.start_step))
        else:
            default = Budget(minutes=self.options.budget_minutes)
        path = self._restart_from
        self.push_screen(TrainMoreScreen(path, s.step, default), lambda budget: self._train_more(path, budget))

    def _train_more(self, path: str, budget: Budget | None) -> None:
        if budget is None or self.state.status != Status.FINISHED:
            return
        self.playground.follow_training()
        self.query_one(LossPlot).clear()
        self.notify(
            f"Training {path} for {budget} more, from step {self.state.step:,}.", title="Train more", markup=False
        )
        self.start_training(
            self.options.resume_run(path, minutes=budget.minutes, steps=budget.steps), fallback_ok=False
        )

    def action_new_run(self) -> None:
        if isinstance(self.screen, NewRunScreen) or self._quitting:
            return
        spec = self.shown_run.spec if self.shown_run is not None else None
        self.push_screen(
            NewRunScreen(self.options.request_for(spec), self.options.budget_minutes, self.served),
            self._new_run_chosen,
        )

    def _new_run_chosen(self, request: RunRequest | None) -> None:
        if request is None or self._quitting:
            return
        self.end_watch()  # a run of the app's own replaces the watch
        if self._training_would_stop():
            s = self.state
            where = f" to {s.run_dir}" if s.run_dir else ""
            body = (
                f"The current run (step {s.step:,}) stops first and saves its progress{where}; then the new run starts."
            )
            choices = [
                Choice("start", "Save it and start", key="s", variant="primary", default=True),
                Choice("cancel", "Cancel", key="escape"),
            ]
            self.push_screen(
                ConfirmScreen("Start a new run?", body, choices, purpose="new-run"),
                lambda choice: self._start_new_run(request) if choice == "start" else None,
            )
        else:
            self._start_new_run(request)

    def _start_new_run(self, request: RunRequest) -> None:
        """The form's run, built as a launch's run is: later restarts (r) and train more follow it."""
        self.end_watch()
        self.options = self.options.with_request(request)
        self._restart_from = None
        self.notice = None
        self.playground.follow_training()
        self.query_one(LossPlot).clear()
        self.query_one(SamplesPanel).clear()
        self.notify(f"Starting a new run on {request.corpus}.", title="New run", markup=False)
        self.replace_run(self.options.form_run(request))

    @property
    def _training_now(self) -> bool:
        return (
            self.shown_run is not None
            and self.state.started
            and not self._quitting
            and self.state.status in (Status.RUNNING, Status.PAUSING, Status.PAUSED)
        )

    def _run_start(self) -> str:
        return f"step {self.state.start_step:,}" if self.state.start_step else "the run's start"

    @commands_the_run
    def action_change_budget(self) -> None:
        run = self.shown_run
        if run is None or not self._training_now:
            self.notify(
                "The budget can be changed while a run trains: there is none now."
                + (" Press t to train more." if self.state.status == Status.FINISHED else ""),
                severity="warning",
                markup=False,
            )
            return
        self.push_screen(
            ChangeBudgetScreen(self.state, self.state.budget_from_start),
            lambda budget: self._change_budget(run, budget),
        )

    def _change_budget(self, run: ShownRun, budget: Budget | None) -> None:
        if budget is None:
            return
        if run is not self.shown_run or not self._training_now or not run.source.send(SetBudget(budget)):
            self.notify("The run ended before its budget could be changed.", severity="warning", markup=False)

    def action_toggle_score(self) -> None:
        self.show_pane("playground")
        self.playground.toggle_score()

    def action_stop_generation(self) -> None:
        self.playground.stop()

    def action_leave_input(self) -> None:
        self.query_one("#output").focus()  # out of the text box: letter keys are commands again

    # ---- comparing runs, and the plot's controls (RunComparison) ------------------------------------------
    def action_compare(self) -> None:
        self.comparison.choose()

    def action_clear_compare(self) -> None:
        self.comparison.clear()

    def action_plot_axis(self) -> None:
        self.comparison.next_x_axis()

    def action_plot_smoothing(self) -> None:
        self.comparison.next_smoothing()

    def action_plot_log(self) -> None:
        self.comparison.toggle_log_scale()

    def action_plot_overlay_train(self) -> None:
        self.comparison.toggle_overlay_train()

    def action_plot_gradient(self) -> None:
        plot = self.query_one(LossPlot)
        plot.set_gradient(not plot.gradient)

    # ---- the playground as a lens (Lens) ------------------------------------------------------------------
    def action_sweep(self) -> None:
        self.lens.sweep()

    def action_neurons(self) -> None:
        self.lens.neurons()

    def action_gradient_reach(self) -> None:
        self.lens.gradient_reach()

    # ---- quitting ----------------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        if self._quitting:  # asked again while stopping: stop at once
            self._shutdown_and_exit(0.0)
            return
        top = self.screen
        if isinstance(top, ConfirmScreen) and top.purpose == "quit":
            top.choose("save")  # ctrl+c / ctrl+q in the dialog: its safe default
            return
        unsaved = self.state.unsaved_steps
        if self._training_would_stop() and unsaved > 0:  # a watched run is saved by its own process
            body = (
                f"Training has {unsaved:,} step{'s' if unsaved != 1 else ''} since its last checkpoint. "
                "Save them before quitting?"
            )
            choices = [
                Choice("save", "Save and quit", key="s", variant="primary", default=True),
                Choice("discard", "Don't save", key="d", variant="error"),
                Choice("cancel", "Cancel", key="escape"),
            ]
            self.push_screen(ConfirmScreen("Quit tui-gen?", body, choices, purpose="quit"), self._quit_choice)
        else:
            self.begin_quit(save=True)

    def _quit_choice(self, choice: str | None) -> None:
        if choice in ("save", "discard"):
            self.begin_quit(save=choice == "save")

    def begin_quit(self, save: bool) -> None:
        """Stop training (saving unless told not to), then exit. No process is left behind."""
        self._quitting = True
        self.playground.stop()
        self.end_watch()
        run = self.shown_run or self._retiring
        if run is None or not run.source.alive:
            self.exit()
            return
        self.state.status = Status.STOPPING
        self.state.message = "saving and stopping training…" if save else "stopping training…"
        self._show_state()
        self.refresh_bindings()
        self.notify(
            "Saving, then quitting. Press ctrl+c again to quit at once." if save else "Quitting…",
            title="Quitting",
            markup=False,
        )
        self._shutdown_and_exit(SAVE_AND_QUIT_SECONDS if save else 0.0)

    @work(thread=True, exit_on_error=False, group="quit")
    def _shutdown_and_exit(self, timeout: float) -> None:
        self._stop_every_run(timeout)
        self.call_from_thread(self.exit)

    def shutdown_training(self, timeout: float = QUIT_SECONDS) -> None:
        """Make sure the training process is gone (run_app calls this after the app exits, whatever happened)."""
        self._stop_every_run(timeout)

    def _stop_every_run(self, timeout: float) -> None:
        for run in (self.shown_run, self._retiring):
            if run is not None:
                run.stop(timeout)
