"""The lecture's exploding gradients in the app: the training panel says the norm and how often clipping
acts, and `g` puts the gradient norm on the plot with the clipping threshold drawn across it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from support import fake_events
from support.pilot import run, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.widgets import LossPlot
from tui_gen.app.widgets.training_panel import TrainingPanel, stats_table
from tui_gen.core import events as ev

NORMS = [2.0, 9.0, 3.0, 12.0]  # two of four above the threshold of 5


def panel_text(app: TuiGenApp) -> str:
    from io import StringIO

    from rich.console import Console

    console = Console(width=80, record=True, file=StringIO())
    console.print(stats_table(app.query_one(TrainingPanel).state))
    return console.export_text()


def test_the_panel_says_the_norm_the_share_clipped_and_the_window_and_g_plots_the_norm(factory):
    async def body():
        app = TuiGenApp(LaunchOptions(train=True, models_dir="models-unused"), process_factory=factory, warm_up=False)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: factory.processes, what="the training process")
            started = replace(fake_events.started(), grad_clip=5.0, seq_len=50, framing="stream")
            steps = [
                replace(fake_events.step(n), grad_norm=norm, clipped=float(norm > 5.0))
                for n, norm in enumerate(NORMS, start=1)
            ]
            factory.last.push(started, *steps)
            await wait_for(pilot, lambda: app.state.step == len(NORMS), what="the steps")
            text = panel_text(app)
            assert "norm 12 · clip 5 · clipped in 50% of steps" in text
            assert "50 characters (state carried on)" in text  # the truncated BPTT window

            plot = app.query_one(LossPlot)
            assert not plot.gradient
            app.set_focus(None)  # keys are commands, not typing
            await pilot.press("g")
            assert plot.gradient and plot.border_title == "Gradient norm"
            plot.redraw_now()
            by_label = {d.label: d for d in plot.drawn}
            assert np.allclose(by_label["gradient norm"].y, NORMS)
            clip = by_label["clip 5"]
            assert np.allclose(clip.y, [5.0, 5.0]) and list(clip.x) == [1.0, float(len(NORMS))]
            await pilot.press("g")
            plot.redraw_now()
            assert not plot.gradient and "gradient norm" not in {d.label for d in plot.drawn}

    run(body())


def test_a_log_from_before_the_statistics_shows_no_gradient_row(factory):
    async def body():
        app = TuiGenApp(LaunchOptions(train=True, models_dir="models-unused"), process_factory=factory, warm_up=False)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: factory.processes, what="the training process")
            factory.last.push(fake_events.started(), fake_events.step(1), ev.Paused(1))
            await wait_for(pilot, lambda: app.state.step == 1, what="the step")
            text = panel_text(app)
            assert "clipped" not in text and "window" not in text

    run(body())
