"""Issue 20 in the app: values from outside that used to end it (a watched run's log, an overlaid run's
log, a models folder, the budget dialog) are skipped or refused while the app stays up."""

from __future__ import annotations

import json
import time

from textual.widgets import Input

from support import fake_events
from support.pilot import notes, run, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import ChangeBudgetScreen
from tui_gen.app.screens.runs import RunsScreen
from tui_gen.app.widgets import LossPlot
from tui_gen.app.widgets.samples_panel import SamplesPanel
from tui_gen.core import events as ev
from tui_gen.runs.metrics_log import encode, log_path

HUGE = "1" + "0" * 400


def line(event, **raw) -> str:
    """The event's log line, with fields replaced by raw JSON text (NaN, 400 digits)."""
    data = json.loads(encode(event, time.time()))
    text = json.dumps({**data, **{k: f"@@{k}@@" for k in raw}})
    for k, v in raw.items():
        text = text.replace(f'"@@{k}@@"', v)
    return text + "\n"


def started() -> ev.Started:
    return ev.Started(
        device="cpu",
        framing="lines",
        corpus="book.txt",
        vocab_size=60,
        parameters=4321,
        train_chars=10**6,
        val_chars=10**4,
        steps_per_epoch=100,
        step=0,
        max_steps=1000,
        max_seconds=None,
        run_dir=None,
        model="GRU 16",
    )


def step(n: int) -> ev.Step:
    return ev.Step(n, 0, 2.5, 1e-3, 9000.0, n / 10, n / 1000, n * 100)


def watching_app(folder, models_dir) -> TuiGenApp:
    def no_training(*args, **kwargs):
        raise AssertionError("no training while watching")

    return TuiGenApp(
        LaunchOptions(watch=str(folder), models_dir=str(models_dir), device="cpu"),
        process_factory=no_training,
        warm_up=False,
    )


def test_a_watched_log_of_hostile_figures_and_samples_keeps_the_app_up(models_dir):
    """Items 5, 6 and 9: a 400-digit train_bpc (OverflowError), progress NaN (RecursionError in the
    bar), val_bpc of +-1e308 (infinite plot limits), samples lines of 100,000 pairs (200 MB each)."""
    folder = models_dir / "hostile"
    folder.mkdir()
    eval_ = ev.Eval(20, 2.4, 2.4, True, 0.5, 2.0, 2000)
    many = json.dumps([["", ""]] * 100_000, separators=(",", ":"))  # 800 kB: a line short enough to decode
    with open(log_path(folder), "w") as f:
        f.write(line(started()) + line(step(10)))
        f.write(line(step(11), train_bpc=HUGE) + line(step(12), progress="NaN"))
        f.write(line(eval_, val_bpc="1e308") + line(eval_, val_bpc="-1e308", best_bpc="-1e308"))
        for _ in range(9):
            f.write(line(ev.Samples(20, 0.8, []), samples=many))
        f.write(line(ev.Samples(20, 0.8, [("I", "y" * 50_000)] * 11)))
        f.write(line(eval_) + line(step(30)))
    app = watching_app(folder, models_dir)

    async def body():
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.state.step == 30, 30, "the readable lines")
            await wait_for(pilot, lambda: any(n.startswith("Unreadable lines") for n in notes(app)), 30, "the notice")
            assert app.is_running and app.state.val_bpc == 2.4 and app.state.progress == 0.03
            plot = app.query_one(LossPlot)
            plot.redraw_now()
            assert [(x, y) for x, y in plot.val_points] == [(20.0, 2.4)]
            (block,) = app.query_one(SamplesPanel).blocks  # the one samples line that fits, its texts cut
            assert len(block[2]) == 11 and max(len(c) for _, c in block[2]) <= 2048
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: not app.is_running, 5, "quitting")

    run(body())


def test_a_models_folder_and_an_overlaid_log_with_a_huge_integer_keep_the_compare_list(tmp_path):
    """Item 5: one run's 400-digit figure emptied the whole list ("cannot read models"); in an overlaid
    run's new lines it ended the app at the next read."""
    models = tmp_path / "models"
    for name, bpc in (("good", "2.5"), ("huge", HUGE)):
        (models / name).mkdir(parents=True)
        log_path(models / name).write_text(
            line(started())
            + line(step(10))
            + line(step(20), train_bpc=bpc)
            + line(ev.Eval(20, 2.4, 2.4, True, 0.5), best_bpc=bpc)
        )
    app = TuiGenApp(LaunchOptions(train=False, models_dir=str(models)), warm_up=False)

    async def body():
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.focused is not None or not app.wide, what="the first focus")
            if isinstance(app.focused, Input):
                await pilot.press("escape")
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows, what="the runs")
            screen = app.screen
            assert {r.name for r in screen.rows} == {"good", "huge"}
            for row in range(len(screen.rows)):
                screen.query_one("DataTable").move_cursor(row=row)
                await pilot.pause()
                await pilot.press("space")
            await pilot.press("enter")
            plot = app.query_one(LossPlot)
            await wait_for(pilot, lambda: len(plot.overlays) == 2, what="both runs overlaid")
            with open(log_path(models / "good"), "a") as f:  # the overlaid run goes on, with a huge figure
                f.write(line(step(30), train_bpc=HUGE) + line(step(40), train_bpc="-1e308") + line(step(50)))
            reader = next(r for r in app.comparison.readers if r.curves.name == "good")
            app.comparison.follow()  # what the follow timer does every FOLLOW_SECONDS
            await wait_for(pilot, lambda: len(reader.curves.train) == 3, what="the new readable step")
            plot.redraw_now()
            assert app.is_running and reader.reader.skipped == 2

    run(body())


def test_the_budget_dialog_refuses_4400_digits_and_stays_open(factory):
    """Item 10: int() of 4,400 digits raised ValueError out of the dialog."""
    app = TuiGenApp(LaunchOptions(models_dir="models-test-unused", minutes=6), process_factory=factory, warm_up=False)

    async def body():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            process = factory.last
            process.push(*fake_events.run(until=120))
            await wait_for(pilot, lambda: app.state.step == 120, what="the steps")
            for text in ("9" * 4400 + " steps", "9" * 4400, "² steps"):
                await pilot.press("b")
                await wait_for(pilot, lambda: isinstance(app.screen, ChangeBudgetScreen), what="the dialog")
                app.screen.query_one("#budget", Input).value = text
                await pilot.press("enter")
                error = str(app.screen.query_one("#budget-error").render())
                assert isinstance(app.screen, ChangeBudgetScreen) and "type minutes" in error
                assert process.sent == []
                await pilot.press("escape")
                await wait_for(pilot, lambda: not isinstance(app.screen, ChangeBudgetScreen), what="closed")
            assert app.is_running

    run(body())
