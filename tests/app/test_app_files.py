"""A FIFO where the app expects a file (a watched run's metrics log, the corpus typed in the new-run form)
is said, and the app stays responsive and quits: nothing waits in open() for a writer that never comes.

Each session runs in a thread of its own: on code that would block on the FIFO, asyncio.run could not
return (its executor waits for the blocked thread), so the test gives the FIFO a writer, which frees
the open, and fails instead of hanging the suite."""

from __future__ import annotations

import contextlib
import os
import threading
import time

from textual.widgets import Input

from support.pilot import notes, run, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import NewRunScreen

SESSION_SECONDS = 180.0  # a deadline for the whole session on a loaded machine, not a speed
QUIT_SECONDS = 5.0  # from the last keypress to asyncio.run returning, every thread worker ended


def session(body, fifo) -> None:
    """run(body(quit_asked)) in a thread, which must end within QUIT_SECONDS of the body's end."""
    quit_asked = threading.Event()
    failure: list[BaseException] = []

    def go():
        try:
            run(body(quit_asked))
        except BaseException as e:  # noqa: BLE001 - handed to the test
            failure.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    deadline = time.monotonic() + SESSION_SECONDS
    while t.is_alive() and not quit_asked.is_set() and time.monotonic() < deadline:
        t.join(0.05)
    asked_at = time.monotonic()
    t.join(QUIT_SECONDS if quit_asked.is_set() else 0)
    if t.is_alive():
        with contextlib.suppress(OSError):  # a writer frees an open() that waits for one
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(SESSION_SECONDS)
        raise AssertionError(
            f"the app did not quit within {QUIT_SECONDS} s"
            if quit_asked.is_set()
            else "the session did not get to quitting (a thread waits on the FIFO?)"
        )
    if failure:
        raise failure[0]
    assert time.monotonic() - asked_at < QUIT_SECONDS


def test_a_fifo_as_the_watched_metrics_log_is_said_and_the_app_quits(tmp_path, models_dir):
    folder = models_dir / "piped"
    folder.mkdir()
    log = folder / "metrics.jsonl"
    os.mkfifo(log)

    def no_training(*args, **kwargs):
        raise AssertionError("the app started a training process of its own while watching")

    app = TuiGenApp(
        LaunchOptions(watch=str(folder), models_dir=str(models_dir), device="cpu"),
        process_factory=no_training,
        warm_up=False,
    )

    async def body(quit_asked):
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(
                pilot,
                lambda: any("not a regular file" in n for n in notes(app)),
                60,
                "the notice that the log is not a file",
            )
            (note,) = [n for n in notes(app) if "not a regular file" in n]
            assert "is a FIFO (named pipe)" in note
            assert "not a regular file" in (app.state.message or "")  # said in the panel until it changes
            await pilot.press("ctrl+s")  # still answering keys: refused while watching, with a notice
            await wait_for(
                pilot, lambda: any("never writes into its folder" in n for n in notes(app)), what="the refusal"
            )
            quit_asked.set()
            await pilot.press("ctrl+q")

    session(body, log)


def test_a_fifo_typed_as_the_corpus_is_the_fields_error_and_the_app_quits(factory, tmp_path, tiny_corpus_file):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    app = TuiGenApp(
        LaunchOptions(corpus=str(tiny_corpus_file), models_dir=str(tmp_path / "models"), train=False),
        process_factory=factory,
        warm_up=False,
    )

    async def body(quit_asked):
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), what="the new-run form")
            form = app.screen
            box = form.query_one("#field-path", Input)
            box.focus()
            await pilot.pause()  # focused (which selects what the box holds)
            # the folder as if pasted, then the name typed key by key: each key re-checks the field (a
            # tenth of a second here, so typing the whole temporary path took most of this test)
            box.value = f"{fifo.parent}{os.sep}"
            box.cursor_position = len(box.value)
            await pilot.press(*fifo.name)
            assert box.value == str(fifo)
            await wait_for(
                pilot,
                lambda: "FIFO (named pipe), not a regular file" in str(form.query_one("#error-corpus").render()),
                60,
                "the corpus field's error",
            )
            await pilot.press("ctrl+n")  # start: refused, the form stays
            await pilot.pause(0.1)
            assert app.screen is form and factory.processes == []
            quit_asked.set()
            await pilot.press("escape")
            await pilot.press("ctrl+q")

    session(body, fifo)
