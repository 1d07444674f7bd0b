"""NO_COLOR=1: the app starts, the loss plot draws, keys work.

Textual reads NO_COLOR in App.__init__ and adds its Monochrome line filter, which crashed on the
first frame on an unstyled segment from the plot's canvas (see tui_gen/app/nocolor.py)."""

from __future__ import annotations

from support.pilot import run, screen_text, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.widgets import LossPlot
from tui_gen.core import events as ev

PLOT_CHARS = {chr(c) for c in range(0x2580, 0x25A0)} | {chr(c) for c in range(0x2800, 0x2900)} | {"•", "·"}


def plot_text(app) -> str:
    plot = app.query_one(LossPlot).region
    rows = screen_text(app).split("\n")[plot.y + 1 : plot.bottom - 1]
    return "\n".join(r[plot.x + 1 : plot.right - 1] for r in rows)


def test_no_color_starts_draws_the_plot_and_answers_keys(monkeypatch, factory):
    monkeypatch.setenv("NO_COLOR", "1")

    async def body():
        app = TuiGenApp(LaunchOptions(train=False), process_factory=factory, warm_up=False)
        assert app.no_color  # Textual saw it: the monochrome filter is in use
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            before = plot_text(app)
            events = [ev.Step(s, 1, 5.0 - s / 50, 1e-3, 1000.0, float(s), s / 200) for s in range(1, 200)]
            events += [ev.Eval(s, 4.5 - s / 100, 4.5 - s / 100, True, 0.1) for s in (50, 100, 150)]
            app.handle_events(events)
            plot = app.query_one(LossPlot)
            assert len(plot.train_points) > 100 and len(plot.val_points) == 3
            plot.redraw_now()
            await pilot.pause()
            await wait_for(pilot, lambda: set(plot_text(app)) & PLOT_CHARS, what="the curve on screen")
            assert plot_text(app) != before
            await pilot.press("f2")  # keys still work: the playground comes to the front
            await wait_for(pilot, lambda: app.active_pane == "playground", what="the playground tab")
            await pilot.press("f1")
            await wait_for(pilot, lambda: app.active_pane == "train", what="the train tab")
            assert app.return_code is None  # nothing crashed

    run(body())
