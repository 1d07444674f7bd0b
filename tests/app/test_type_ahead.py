"""Keys typed while the app starts, or right after a key that moves the focus, reach where they were
meant to go (issue 11: ctrl+q in the first 0.2 s was swallowed, keys in the first half second lost).

The keys are posted before the first frame, as a terminal's buffered input arrives: all at once."""

from __future__ import annotations

import os
import pty
import termios

from textual import events
from textual.widgets import Input

from support.pilot import FakeFactory, quitting, run, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.cli.terminal import keys_kept

NARROW = (80, 24)
WIDE = (160, 48)


def make_app() -> TuiGenApp:
    return TuiGenApp(
        LaunchOptions(train=False, models_dir="models-test-unused"), process_factory=FakeFactory(), warm_up=False
    )


def type_at_once(app: TuiGenApp, keys: str) -> None:
    for ch in keys:
        app.post_message(events.Key(ch, ch))


def test_a_pane_key_and_text_typed_before_the_first_frame(tiny_model):
    app = make_app()

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            type_at_once(app, "2Hello")
            seed = app.query_one("#seed", Input)
            await wait_for(pilot, lambda: seed.value == "Hello", what=f"the seed to be typed (it is {seed.value!r})")
            assert app.active_pane == "playground" and seed.has_focus

    run(body())


def test_text_typed_before_the_first_frame_lands_in_the_seed_box_when_wide():
    app = make_app()

    async def body():
        async with app.run_test(size=WIDE) as pilot:
            type_at_once(app, "Hi there")
            seed = app.query_one("#seed", Input)
            await wait_for(pilot, lambda: seed.value == "Hi there", what=f"the seed to be typed (it is {seed.value!r})")

    run(body())


def test_keys_after_the_start_are_not_held():
    app = make_app()

    async def body():
        async with app.run_test(size=WIDE) as pilot:
            seed = app.query_one("#seed", Input)
            await wait_for(pilot, lambda: seed.has_focus, what="the seed box")
            await pilot.press(*"abc")
            assert seed.value == "abc" and app._held_keys == []

    run(body())


def test_ctrl_q_before_the_first_frame_quits():
    app = make_app()

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            app.post_message(events.Key("ctrl+q", None))
            await wait_for(pilot, lambda: quitting(app), what="the app to quit")

    run(body())


def test_the_terminal_keeps_keys_for_the_app_until_it_takes_over():
    """In a terminal's ordinary mode, flow control swallows ctrl+q (XON) and typed keys wait for Enter;
    keys_kept() passes both through at once, and puts the settings back afterwards."""
    master, slave = pty.openpty()
    try:
        with os.fdopen(os.dup(slave), "rb", buffering=0) as tty:
            before = termios.tcgetattr(slave)
            assert before[0] & termios.IXON and before[3] & termios.ICANON  # the ordinary mode
            with keys_kept(tty):
                os.write(master, b"\x11q")  # ctrl+q, then q, no Enter
                assert os.read(slave, 10) == b"\x11q"
            assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
