"""The run the app shows: ShownRun, and OwnRun, the app's own training process behind it.

The app shows one run at a time, or none. It is either a run the app trains in its own process (OwnRun,
here) or a run folder another process trains, watched (tui_gen.app.watching.WatchedRun). The app listens
to either with the same thread and folds their events with the same handle_events; where the two
differ, the app asks the run what it accepts (ShownRun's properties and refusal) instead of asking
which kind it holds. So a new kind of shown run is a new class here, not a branch in every handler.

Engine-free: no torch, no textual; the app's widgets are not touched here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tui_gen.core import events as ev
from tui_gen.core.commands import ProcessCommand
from tui_gen.process.spec import TrainingSpec

# At most how often a shown run's new steps redraw the training panel and the loss plot.
PANEL_REDRAW_SECONDS = 1.0

# Everything a shown run's source hands out: a training process's events, or a watcher's (the run's
# logged events and its WatchNotices).
RunEvent = ev.ProcessEvent | ev.WatchNotice


class EventSource(Protocol):
    """What the app's listening thread reads, and what commands go to: tui_gen.process.parent.TrainingProcess,
    and tui_gen.runs.watch.RunWatcher, which hears no commands (its send returns False). Thread-safe: one
    thread in get(), another calling the rest."""

    @property
    def alive(self) -> bool: ...

    def get(self, timeout: float | None = None) -> Sequence[RunEvent]:
        """The events since the last call, waiting up to timeout for one; [] if none came in time. The
        last one a source ever hands out is an Exited."""
        ...

    def send(self, command: ProcessCommand | str) -> bool: ...

    def shutdown(self, timeout: float = ...) -> int | None:
        """Stop it and make sure it is gone (a training process saves first, for up to timeout)."""
        ...


class TrainingProcessLike(EventSource, Protocol):
    """What the app needs of a training process (TuiGenApp's process_factory makes them; tests pass fakes)."""

    @property
    def spec(self) -> TrainingSpec | None: ...

    def start(self, spec: TrainingSpec) -> None: ...


@dataclass(frozen=True)
class Refusal:
    """A notification saying why the shown run refuses a command, and where to give it instead."""

    message: str
    title: str


class ShownRun(Protocol):
    """The run the app shows. Its properties say what it accepts; the app reads them, never its kind."""

    @property
    def source(self) -> EventSource:
        """What the app listens to; TrainingEvents from any other source are a replaced run's, dropped."""
        ...

    @property
    def spec(self) -> TrainingSpec | None:
        """What it trains, as the new-run form opens with it (None: not trained by this app)."""
        ...

    @property
    def watched_folder(self) -> str | None:
        """The run folder it follows, when another process trains it (the panel says "watching")."""
        ...

    @property
    def can_stop(self) -> bool:
        """Whether stopping it stops training. Such a run saves as it stops, so it is stopped in a thread
        before another run is shown, and the app asks first when that would lose unsaved steps or a
        running run. A run that cannot be stopped is let go of at once, and nothing of it changes."""
        ...

    @property
    def trains_here(self) -> bool:
        """Whether this app's process trains it: its failure is the app's to report (with r to restart,
        and the offline corpus when the default one cannot be had), and its weights stream to the playground."""
        ...

    @property
    def redraw_seconds(self) -> float:
        """At most how often its steps redraw the training panel and the loss plot."""
        ...

    @property
    def news_prefix(self) -> str:
        """What its news kinds start with, on the app's NewsDesk: held news under it is forgotten when
        the app lets go of it ("" for a run whose news outlives it)."""
        ...

    def refusal(self, action: str) -> Refusal | None:
        """Why it refuses the app's action `action` ("pause", "save", "change_budget", ...), or None
        when it takes it."""
        ...

    def says_itself(self, event: RunEvent) -> bool:
        """Whether it says `event` its own way (done by now), rather than as the app says a run's events.
        The app has folded the event into its TrainingState already."""
        ...

    def stop(self, timeout: float) -> None:
        """Stop it, from any thread: a training process saves first (waiting up to timeout); a watch just
        stops reading. Its source then hands out one Exited, and nothing more."""
        ...


class OwnRun:
    """The run this app trains: a TrainingProcess of its own, which takes every command."""

    watched_folder = None
    can_stop = True
    trains_here = True
    redraw_seconds = PANEL_REDRAW_SECONDS
    news_prefix = ""  # its news (its end, a warning) is still news once another run is shown

    def __init__(self, process: TrainingProcessLike) -> None:
        self.process = process

    @property
    def source(self) -> TrainingProcessLike:
        return self.process

    @property
    def spec(self) -> TrainingSpec | None:
        return self.process.spec

    def refusal(self, action: str) -> Refusal | None:
        return None

    def says_itself(self, event: RunEvent) -> bool:
        return False

    def stop(self, timeout: float) -> None:
        self.process.shutdown(timeout=timeout)
