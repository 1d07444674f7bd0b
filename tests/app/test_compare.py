"""Comparing runs in the app: the runs screen (c), overlays on the loss plot and the plot's controls,
on run folders trained for real (in-process, a few dozen steps)."""

from __future__ import annotations

import numpy as np
import pytest

from support import fake_events
from support.pilot import run, screen_text, wait_for
from support.runs import corrupt_run, train_run
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens.runs import RunsScreen
from tui_gen.app.widgets import LossPlot


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    train_run(root / "gru-run", "gru", steps=40)
    train_run(root / "lstm-run", "lstm", steps=30, hidden=[12])
    corrupt_run(root / "broken-run")
    return root


def make_app(models) -> TuiGenApp:
    return TuiGenApp(LaunchOptions(train=False, models_dir=str(models)), warm_up=False)


async def leave_input(pilot, app) -> None:
    """On a wide screen the seed box has the focus: escape leaves it, so that letters are commands."""
    from textual.widgets import Input

    await wait_for(pilot, lambda: app.focused is not None or not app.wide, what="the first focus")
    if isinstance(app.focused, Input):
        await pilot.press("escape")
    assert not isinstance(app.focused, Input)


async def open_runs(pilot, app) -> RunsScreen:
    await leave_input(pilot, app)
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows, what="the runs listed")
    return app.screen


async def overlay(pilot, app, names: list[str]) -> LossPlot:
    """Mark the named runs on the runs screen and show them."""
    screen = await open_runs(pilot, app)
    for name in names:
        row = next(i for i, r in enumerate(screen.rows) if r.name == name)
        screen.query_one("DataTable").move_cursor(row=row)
        await pilot.pause()
        await pilot.press("space")
    await pilot.press("enter")
    plot = app.query_one(LossPlot)
    await wait_for(pilot, lambda: len(plot.overlays) == len(names), what="the runs overlaid")
    return plot


def series(plot: LossPlot, kind: str, run: str | None = "any"):
    return [d for d in plot.drawn if d.kind == kind and (run == "any" or d.run == run)]


def test_overlaying_two_runs_draws_two_series_with_a_legend(models):
    async def body():
        app = make_app(models)
        async with app.run_test(size=(160, 48)) as pilot:
            app.handle_events(fake_events.run(60, eval_every=20))  # the app's own run stays on the plot
            await open_runs(pilot, app)
            table = screen_text(app)
            assert "gru-run" in table and "lstm-run" in table and "GRU 16,16" in table and "LSTM 12" in table
            await app.pop_screen()
            plot = await overlay(pilot, app, ["gru-run", "lstm-run"])
            vals = [d for d in series(plot, "val") if d.run is not None]
            assert [d.run for d in vals] == ["gru-run", "lstm-run"]
            assert vals[0].style != vals[1].style
            assert [len(d.x) for d in vals] == [4, 3]  # evaluations at 10, 20, 30 (, 40)
            assert series(plot, "val", None) and series(plot, "train", None)  # this run's curves too
            assert series(plot, "train", "gru-run") == []  # train curves only on request
            text = screen_text(app)
            assert "gru-run" in text and "lstm-run" in text and "this run: val" in text  # the legend
            await pilot.press("v")
            assert [d.run for d in series(plot, "train") if d.run] == ["gru-run", "lstm-run"]

    run(body())


def test_the_axis_switch_changes_the_plotted_x_values(models):
    from tui_gen.runs.listing import CHARS, TIME, read_curves

    async def body():
        app = make_app(models)
        async with app.run_test(size=(160, 48)) as pilot:
            plot = await overlay(pilot, app, ["gru-run"])
            curves = read_curves(models / "gru-run")
            by_step = series(plot, "val", "gru-run")[0].x
            assert list(by_step) == [10.0, 20.0, 30.0, 40.0]
            await pilot.press("x")
            assert plot.x_axis == "chars"
            assert list(series(plot, "val", "gru-run")[0].x) == curves.val_points()[CHARS]
            await pilot.press("x")
            assert plot.x_axis == "time"
            assert list(series(plot, "val", "gru-run")[0].x) == pytest.approx(curves.val_points()[TIME])
            assert "training time" in screen_text(app)  # the axis label
            await pilot.press("x")
            assert plot.x_axis == "step"

    run(body())


def test_log_scale_and_smoothing_change_what_is_drawn(models):
    async def body():
        app = make_app(models)
        async with app.run_test(size=(160, 48)) as pilot:
            plot = await overlay(pilot, app, ["gru-run"])
            await pilot.press("v")  # its train curve too
            linear = series(plot, "val", "gru-run")[0].y.copy()
            await pilot.press("l")
            assert plot.log_scale
            assert np.allclose(series(plot, "val", "gru-run")[0].y, np.log10(linear))
            await pilot.press("l")
            assert np.allclose(series(plot, "val", "gru-run")[0].y, linear)

            smoothed = series(plot, "train", "gru-run")[0].y.copy()
            raw = series(plot, "raw", "gru-run")[0]  # the raw curve, faint, under the average
            assert raw.style != series(plot, "train", "gru-run")[0].style
            assert not np.allclose(smoothed, raw.y)
            await pilot.press("s")  # 0.9 -> 0.97: smoother
            assert plot.smoothing == 0.97
            smoother = series(plot, "train", "gru-run")[0].y
            assert not np.allclose(smoother, smoothed)
            assert np.std(np.diff(smoother)) < np.std(np.diff(raw.y))
            for _ in range(2):
                await pilot.press("s")  # 0.99, then raw: the curve is the raw one, nothing under it
            assert plot.smoothing == 0.0
            assert np.allclose(series(plot, "train", "gru-run")[0].y, raw.y)
            assert series(plot, "raw") == []
            assert "raw" in screen_text(app)  # the border says the settings

    run(body())


def test_a_corrupt_run_in_the_list_shows_a_notice_not_a_crash(models):
    async def body():
        app = make_app(models)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = await open_runs(pilot, app)
            row = next(i for i, r in enumerate(screen.rows) if r.name == "broken-run")
            screen.query_one("DataTable").move_cursor(row=row)
            await pilot.pause()
            text = screen_text(app)
            assert "unreadable" in text and "not a tui-gen checkpoint" in text
            await pilot.press("enter")  # show it anyway
            await wait_for(
                pilot,
                lambda: any("nothing to plot" in n.message for n in app.notices),
                what="a notice about the corrupt run",
            )
            assert app.query_one(LossPlot).overlays == [] and app.is_running

    run(body())


def test_a_missing_models_folder_says_so(tmp_path):
    async def body():
        app = make_app(tmp_path / "none-yet")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("c")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, RunsScreen) and "No runs in" in screen_text(app),
                what="the empty listing",
            )
            await pilot.press("escape")
            assert not isinstance(app.screen, RunsScreen) and app.is_running

    run(body())
