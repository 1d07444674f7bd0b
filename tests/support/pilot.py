"""Driving the app in tests: run a Pilot body, wait without fixed sleeps, read the screen and the
notifications, and a fake training process.

screen_text is the only place in the tests that touches Textual's private attributes
(Screen._compositor, App._background_screens); when Textual changes them, fix it here alone.
"""

from __future__ import annotations

import asyncio
import io
import queue
import time

from support.waiting import timed_out
from tui_gen.core import events as ev
from tui_gen.core.commands import as_command
from tui_gen.process.parent import describe_exit


def run(coro):
    """No pytest-asyncio here: each test drives its own event loop."""
    return asyncio.run(coro)


WAIT_SECONDS = 60.0  # a deadline, not a speed: on a loaded 2-core machine a step can take seconds


async def wait_for(pilot, condition, timeout: float = WAIT_SECONDS, what: str = "condition"):
    """Let the app run until condition() is true (polling, never a fixed sleep). The timeout only
    decides how long a failing test takes to say so: keep it generous. (support.waiting.wait_until is
    the synchronous twin, for waits outside a Pilot.)"""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(timed_out(timeout, what))
        await pilot.pause(0.02)


class FakeTrainingProcess:
    """Stands in for tui_gen.process.parent.TrainingProcess: records commands, and get() returns what the test
    push()es, exactly as the real one drains its queue."""

    def __init__(self) -> None:
        self.spec = None
        self.sent: list[str] = []
        self.shutdowns: list[float] = []
        self._queue: queue.Queue = queue.Queue()
        self._alive = False
        self.exitcode = None
        self.gets = 0  # non-empty batches handed out

    # the TrainingProcess API the app uses
    def start(self, spec) -> None:
        self.spec = spec
        self._alive = True

    def send(self, command) -> bool:
        self.sent.append(as_command(command))  # as the real one: a Command (or its word) or a SetBudget
        return self._alive

    def get(self, timeout: float | None = None) -> list:
        out = []
        try:
            out.append(self._queue.get(timeout=timeout))
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                self.gets += 1
                return out

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def log_path(self) -> str | None:
        return self.spec.log_path if self.spec else None

    def death_reason(self) -> str | None:
        return describe_exit(self.exitcode, self.log_path)

    def shutdown(self, timeout: float = 5.0) -> int | None:
        self.shutdowns.append(timeout)
        if self._alive:
            self.die(0, finished=True)
        return self.exitcode

    # test helpers
    def push(self, *events) -> None:
        for e in events:
            self._queue.put(e)

    def die(self, exitcode: int, finished: bool = False) -> None:
        self._alive = False
        self.exitcode = exitcode
        if finished:
            self.push(ev.Finished(0, ev.FinishReason.STOPPED, "stopped", None, None, None))
        self.push(ev.Exited(exitcode, self.death_reason()))


class FakeFactory:
    """The app's process_factory (a factory of training processes): every fake it made, newest last."""

    def __init__(self) -> None:
        self.processes: list[FakeTrainingProcess] = []

    def __call__(self) -> FakeTrainingProcess:
        process = FakeTrainingProcess()
        self.processes.append(process)
        return process

    @property
    def last(self) -> FakeTrainingProcess:
        return self.processes[-1]


def screen_text(app) -> str:
    """What the terminal shows now, as plain text (through Textual's private compositor: see above)."""
    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None, record=True
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def notes(app) -> list[str]:
    """Every notification the app has shown, as "title: message" (from the public app.notices)."""
    return [f"{n.title}: {n.message}" for n in app.notices]


def quitting(app) -> bool:
    """Whether app.exit() has been called (Textual's private App._exit: see above)."""
    return app._exit


async def wheel(pilot, widget, event_class, offset: tuple[int, int] = (10, 0)) -> None:
    """A mouse-wheel event (events.MouseScrollUp / MouseScrollDown) on widget. Pilot has no wheel
    helper; this is the routing its click() uses (Pilot._post_mouse_events)."""
    await pilot._post_mouse_events([event_class], widget, offset=offset)


def highlighted(palette) -> str | None:
    """The text of the command the palette would run on enter."""
    from textual.command import CommandList

    options = palette.query_one(CommandList)
    if options.highlighted is None:
        return None
    return str(options.get_option_at_index(options.highlighted).hit.text)


async def choose(pilot, app, words: str) -> None:
    await pilot.press("ctrl+p")
    from textual.command import CommandPalette

    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
    palette = app.screen
    await pilot.press(*words)
    # the palette searches as it is typed, in a worker of its own: enter before it has found the
    # command would run another one, or nothing
    await wait_for(pilot, lambda: highlighted(palette) == words, what=f"the palette to offer {words!r}")
    await pilot.press("enter")
