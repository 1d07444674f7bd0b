"""Pilot tests of the app: events fed through a fake training process (no real one), a tiny real model in the
playground. The real training process is driven in test_app_worker.py."""

from __future__ import annotations

import subprocess
import sys
import time

from textual import events
from textual.widgets import Input, Tabs

from support import fake_events
from support.pilot import FakeFactory, notes, run, screen_text, wait_for, wheel
from tui_gen.app.app import TuiGenApp
from tui_gen.app.bindings import APP_BINDINGS, PLAYGROUND_BINDINGS
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import ConfirmScreen, HelpScreen
from tui_gen.app.state import Status
from tui_gen.app.widgets import LossPlot, StreamView, TemperatureSlider
from tui_gen.app.widgets.error_panel import ErrorPanel
from tui_gen.app.widgets.next_char_panel import NextCharPanel
from tui_gen.app.widgets.samples_panel import SamplesPanel
from tui_gen.app.widgets.training_panel import TrainingPanel
from tui_gen.core import events as ev

NARROW = (80, 24)
WIDE = (160, 48)


def make_app(factory: FakeFactory | None = None, model=None, **options) -> TuiGenApp:
    opts = LaunchOptions(**{"train": factory is not None, "models_dir": "models-test-unused", **options})
    return TuiGenApp(opts, process_factory=factory or FakeFactory(), model=model, warm_up=False)


def panel_text(app: TuiGenApp) -> str:
    from rich.console import Console

    console = Console(width=60, record=True, file=__import__("io").StringIO())
    panel = app.query_one(TrainingPanel)
    from tui_gen.app.widgets.training_panel import stats_table

    console.print(stats_table(panel.state))
    return console.export_text()


def test_first_frame_path_imports_no_torch():
    code = "import sys, tui_gen.app.app, tui_gen.app.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_events_fill_panel_plot_and_samples(factory):
    async def body():
        app = make_app(factory)
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes, what="the training process to start")
            process = factory.last
            assert process.spec.corpus == "trump-tweets"  # no argument: the tweets
            events = fake_events.run(650)
            process.push(*events)
            await wait_for(pilot, lambda: app.state.step == 650, what="all events")
            # far fewer UI messages than events: one per drain
            assert process.gets < len(events) / 10
            text = panel_text(app)
            assert "running" in text and "650" in text and "12,345 chars/s" in text
            assert "3:15 elapsed · 2:45 left" in text  # elapsed and ETA from the events
            assert "2.124 (best 2.124 at 600)" in text
            plot = app.query_one(LossPlot)
            assert len(plot.train_points) == 650 and [x for x, _ in plot.val_points] == [300.0, 600.0]
            samples = app.query_one(SamplesPanel)
            assert [b[0] for b in samples.blocks] == [600, 300]  # newest first
            shown = [str(s.render()) for s in samples.query(".sample-block")]
            assert shown[0].startswith("step 600 · T=0.80")
            assert "[bold]not markup[/bold]" in shown[0]  # literal, not markup
            assert "\x1b" not in shown[0] and "␛[31m" in shown[0]  # control chars never reach the terminal
            assert app.query_one(TrainingPanel).progress > 0.5

    run(body())


def test_steps_streaming_in_redraw_the_training_panel_once_a_second_and_the_last_one_shows(factory):
    """Steps arrive several times a second; each redraw of the panel costs CPU the training process could
    use. Step-only batches are drawn at most every PANEL_REDRAW_SECONDS, and the newest always lands."""
    from tui_gen.app.app import PANEL_REDRAW_SECONDS
    from tui_gen.app.widgets.training_panel import TrainingPanel

    async def body():
        app = make_app(factory)
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            process = factory.last
            process.push(fake_events.started(), fake_events.step(1))
            await wait_for(pilot, lambda: app.state.status == Status.RUNNING)
            panel = app.query_one(TrainingPanel)
            drawn = []
            show = panel.show
            panel.show = lambda state, notice=None: (drawn.append(state.step), show(state, notice))
            t0 = time.monotonic()
            for n in range(2, 42):  # 40 batches of one step, as fast as the app takes them
                process.push(fake_events.step(n))
                await wait_for(pilot, lambda n=n: app.state.step == n)
            fed = time.monotonic() - t0
            await wait_for(pilot, lambda: drawn and drawn[-1] == 41, what="the newest step on the panel")
            assert "41" in screen_text(app)
            # at most one redraw per PANEL_REDRAW_SECONDS while feeding, the trailing one, and one of slack
            assert len(drawn) <= fed / PANEL_REDRAW_SECONDS + 2, (len(drawn), fed)
            process.push(ev.Paused(41))  # not a step: drawn at once
            await wait_for(pilot, lambda: app.state.status == Status.PAUSED)
            assert drawn[-1] == 41 and "paused" in screen_text(app)

    run(body())


def test_the_playground_cursor_is_steady_so_a_watched_run_does_not_redraw_for_it(factory):
    async def body():
        app = make_app(factory)
        async with app.run_test(size=NARROW):
            boxes = app.playground.query(Input)
            assert len(boxes) == 5 and not any(box.cursor_blink for box in boxes)

    run(body())


def test_pause_resume_and_keys_typed_into_the_seed(factory):
    async def body():
        app = make_app(factory)
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            process = factory.last
            process.push(fake_events.started(), fake_events.step(1))
            await wait_for(pilot, lambda: app.state.status == Status.RUNNING)
            await pilot.press("p")
            assert process.sent == ["pause"] and app.state.status == Status.PAUSING
            process.push(ev.Paused(1))
            await wait_for(pilot, lambda: app.state.status == Status.PAUSED)
            assert "Resume" in [b.binding.description for b in app.screen.active_bindings.values()]
            await pilot.press("p")
            assert process.sent == ["pause", "resume"] and app.state.status == Status.RUNNING
            # In the seed box, letters are letters: no pause, no quit, no help.
            await pilot.press("2")
            assert isinstance(app.focused, Input) and app.focused.id == "seed"
            await pilot.press("p", "q", "r", "question_mark", "1")
            assert app.focused.value == "pqr?1"
            assert process.sent == ["pause", "resume"] and app.is_running and app.screen is app.screen_stack[0]
            # escape leaves the box; then p pauses again
            await pilot.press("escape")
            assert not isinstance(app.focused, Input)
            await pilot.press("p")
            assert process.sent[-1] == "pause"

    run(body())


def test_save_says_where(factory):
    async def body():
        app = make_app(factory)
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            process = factory.last
            await pilot.press("ctrl+s")
            assert process.sent == [] and "nothing to save yet" in notes(app)[-1]
            process.push(fake_events.started(), fake_events.step(1), fake_events.step(2))
            await wait_for(pilot, lambda: app.state.step == 2)
            await pilot.press("ctrl+s")
            assert process.sent == ["save"]
            process.push(ev.Saved(2, "last", fake_events.LAST))
            await wait_for(pilot, lambda: any(fake_events.LAST in n for n in notes(app)))
            assert "Checkpoint saved: Saved step 2 to " + fake_events.LAST in notes(app)
            assert app.state.unsaved_steps == 0

    run(body())


def test_generate_streams_from_the_seed_with_next_char_panel(tiny_model):
    async def body():
        app = make_app(model=tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("2")  # the playground tab
            assert app.active_pane == "playground" and app.focused.id == "seed"
            await pilot.press(*"[bold]Hi")
            app.playground.pace = None  # as fast as the model goes
            app.query_one("#length", Input).value = "2000"
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.playground.last_end is not None, what="generation to finish")
            pg = app.playground
            assert pg.last_end.reason == "length" and pg.generated == 2000
            out = app.query_one(StreamView).text
            assert out.startswith("[bold]Hi")  # the seed, literally
            assert len(out.replace("\n", "")) >= 2000  # every character arrived (tabs may widen)
            panel = app.query_one(NextCharPanel)
            assert 1 <= len(panel.top) <= 5 and panel.chosen is not None
            assert all(0 <= p <= 1 for _, p in panel.top)
            assert "2,000 chars" in pg.label_text and "length reached" in pg.label_text

            # unknown characters: a clear message, nothing generated, no crash
            seed = app.query_one("#seed", Input)
            seed.value = "héllo"
            await pilot.press("enter")
            assert "never saw: 'é'" in notes(app)[-1]
            assert app.query_one(StreamView).text.startswith("[bold]Hi")
            # a bad length: says what is wrong and puts the cursor there
            seed.value = "ok"
            app.query_one("#length", Input).value = "0"
            await pilot.press("enter")
            assert "Length must be a whole number from 1 to 10,000" in notes(app)[-1]
            assert app.focused.id == "length"

    run(body())


def test_escape_stops_and_temperature_applies_mid_stream(tiny_model):
    async def body():
        app = make_app(model=tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("2", *"abc")
            app.playground.pace = 200  # chars/s: time to move the slider while it writes
            app.query_one("#length", Input).value = "10000"
            await pilot.press("enter")
            pg = app.playground
            await wait_for(pilot, lambda: pg._live_settings is not None and pg.generated > 0)
            assert pg._live_settings.temperature == 0.8
            settings = pg._live_settings
            await pilot.press("ctrl+up")  # while typing in the seed box, while streaming
            assert pg.generating and settings.temperature == 0.85  # the sampler reads it at the next character
            assert app.query_one(TemperatureSlider).value == 0.85
            assert "Stop" in [b.binding.description for b in app.screen.active_bindings.values()]
            await pilot.press("escape")
            assert not pg.generating and pg.last_end.reason == "stopped"
            n = len(app.query_one(StreamView).text)
            await pilot.pause(0.1)
            assert len(app.query_one(StreamView).text) == n  # late batches are dropped
            assert n < 10_000

    run(body())


def test_slider_moves_every_way():
    async def body():
        app = make_app()
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("2")
            slider = app.query_one(TemperatureSlider)
            pg = app.playground
            await pilot.press("ctrl+down")  # from the seed box
            assert pg.temperature == 0.75
            await pilot.press("tab")  # seed -> slider
            assert app.focused is slider
            await pilot.press("right")
            assert pg.temperature == 0.8
            await pilot.press("shift+right")
            assert pg.temperature == 1.05
            await pilot.press("pagedown")
            assert pg.temperature == 0.8
            await pilot.press("end")
            assert pg.temperature == 2.0
            await pilot.press("home")
            assert pg.temperature == 0.05
            # mouse: click near the right end of the track, then the wheel
            await pilot.click(slider, offset=(slider.size.width - 6, 0))
            assert pg.temperature == 2.0
            first = len(slider.label)  # the track's first cell, after "Temperature " (or "T ")
            middle = first + (slider.size.width - first - 5) // 2  # 5: the value, " 0.80"
            await pilot.click(slider, offset=(first, 0))
            assert pg.temperature == 0.05
            await pilot.mouse_down(slider, offset=(first, 0))
            await pilot.hover(slider, offset=(middle, 0))
            await pilot.mouse_up(slider, offset=(middle, 0))
            assert 0.9 <= pg.temperature <= 1.15  # dragged to the middle
            before = pg.temperature
            await wheel(pilot, slider, events.MouseScrollUp)
            assert round(pg.temperature - before, 6) == 0.05

    run(body())


def test_training_process_death_shows_error_panel_and_restarts(factory):
    async def body():
        app = make_app(factory, minutes=4)
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            first = factory.last
            first.push(*fake_events.run(310))
            await wait_for(pilot, lambda: app.state.step == 310)
            first.die(-9)  # killed: no Finished, no Failed
            await wait_for(pilot, lambda: app.state.status == Status.FAILED)
            panel = app.query_one(ErrorPanel)
            assert panel.has_class("-visible")
            assert "SIGKILL" in panel.message and "out of memory" in panel.message
            rendered = str(panel.render())
            assert "models-test-unused/worker.log" in rendered or "worker.log" in rendered
            assert f"Press r to restart from {fake_events.LAST}" in rendered
            assert not any(n.startswith("Training failed") for n in notes(app))  # the panel says it
            assert app.is_running
            await pilot.press("r")
            assert len(factory.processes) == 2
            second = factory.last
            assert second.spec.resume == fake_events.LAST
            assert 0.5 <= second.spec.minutes <= 4 - 310 * 0.3 / 60 + 1e-6  # what was left of the budget
            assert not panel.has_class("-visible")
            second.push(fake_events.started(step=300), fake_events.step(301))
            await wait_for(pilot, lambda: app.state.status == Status.RUNNING)
            # events from the dead process are ignored from now on
            first.push(fake_events.step(999))
            await pilot.pause(0.3)
            assert app.state.step == 301

    run(body())


def test_failed_event_and_offline_fallback(factory):
    async def body():
        app = make_app(factory)
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            first = factory.last
            assert first.spec.corpus == "trump-tweets"
            msg = "could not download trump-tweets from https://example.invalid (Name or service not known): do this"
            first.push(
                ev.Progress("downloading trump-tweets", 0, None),
                ev.Failed(msg, "models/worker.log", "download", "Name or service not known"),
            )
            first.die(1)
            await wait_for(pilot, lambda: len(factory.processes) == 2, what="the offline run")
            assert factory.last.spec.corpus == "python-help"
            assert "the tweets could not be downloaded (Name or service not known)" in app.notice
            assert any("Using the offline corpus" in n for n in notes(app))
            assert not app.query_one(ErrorPanel).has_class("-visible")
            # a failure of the offline run is reported, not retried
            factory.last.push(
                ev.Failed("training crashed: RuntimeError: boom (details in models/worker.log)", "models/worker.log")
            )
            factory.last.die(1)
            await wait_for(pilot, lambda: app.query_one(ErrorPanel).has_class("-visible"))
            assert "Training crashed: RuntimeError: boom" in app.query_one(ErrorPanel).message
            assert len(factory.processes) == 2

    run(body())


def test_help_screen_lists_every_key():
    async def body():
        app = make_app()
        async with app.run_test(size=(139, 60)) as pilot:
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert app.focused is not None and app.focused.id == "help-body"
            await pilot.pause()
            body = app.screen.query_one("#help-body")
            seen = [screen_text(app)]
            while body.scroll_y < body.max_scroll_y:  # it scrolls: page through it, as a reader would
                before = body.scroll_y
                await pilot.press("pagedown")
                await pilot.pause()
                assert body.scroll_y > before
                seen.append(screen_text(app))
            text = " ".join(" ".join(seen).split())
            for b in APP_BINDINGS + PLAYGROUND_BINDINGS:
                assert (b.tooltip or b.description) in text, b
            assert "q ^c ^q Quit" in text and "p Pause or resume training" in text
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)

    run(body())


def test_quit_asks_when_unsaved_and_stops_the_training_process(factory):
    async def body():
        app = make_app(factory)
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            process = factory.last
            process.push(*fake_events.run(305))
            await wait_for(pilot, lambda: app.state.step == 305)
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmScreen) and app.screen.purpose == "quit"
            assert "5 steps since its last checkpoint" in app.screen.body
            assert app.focused.id == "choice-save"  # the dialog's own focus
            await pilot.press("escape")
            assert not isinstance(app.screen, ConfirmScreen) and process.shutdowns == []
            await pilot.press("ctrl+c")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("d")  # quit without saving
            await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
        assert process.shutdowns == [0.0] and not process.alive

    run(body())


def test_quit_from_a_dialog_with_nothing_unsaved(factory):
    async def body():
        app = make_app(factory)
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            process = factory.last
            process.push(*fake_events.run(300))
            await wait_for(pilot, lambda: app.state.step == 300)
            await pilot.press("question_mark")
            await pilot.press("ctrl+q")  # priority: works inside the help screen
            await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
        assert len(process.shutdowns) == 1 and process.shutdowns[0] > 10 and not process.alive

    run(body())


def test_snapshot_feeds_the_playground(factory, tiny_snapshot):
    async def body():
        app = make_app(factory)
        async with app.run_test(size=WIDE) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            process = factory.last
            process.push(fake_events.started(), fake_events.step(1))
            await wait_for(pilot, lambda: app.state.status == Status.RUNNING)
            assert app.focused.id == "seed"  # wide: everything on screen, the seed box ready
            await pilot.press(*"Hi", "enter")  # no weights yet: it asks for them and waits
            assert process.sent == ["snapshot"] and "waiting for the first weights" in app.playground.label_text
            process.push(tiny_snapshot)
            await wait_for(pilot, lambda: app.playground.last_end is not None, what="generation")
            pg = app.playground
            assert pg.model is not None and pg.model.source == "training" and pg.model.step == tiny_snapshot.step
            assert pg.last_end.reason in ("length", "end") and pg.last_end.error is None
            assert app.query_one(StreamView).text.startswith("Hi")
            assert f"training weights · step {tiny_snapshot.step}" in pg.label_text
            await pilot.press("enter")  # the next generation asks for fresher weights, without waiting
            assert process.sent == ["snapshot", "snapshot"]
            await wait_for(pilot, lambda: not pg.generating)

    run(body())


def test_tabs_by_key_and_by_click():
    async def body():
        app = make_app()
        async with app.run_test(size=NARROW) as pilot:
            await pilot.pause()
            assert app.active_pane == "train" and isinstance(app.focused, Tabs)
            await pilot.press("3")
            assert app.active_pane == "samples"
            assert app.query_one(SamplesPanel).display and not app.query_one("#train-pane").display
            await pilot.press("f1")
            assert app.active_pane == "train"
            await pilot.click("#tab-playground")
            assert app.active_pane == "playground" and app.focused.id == "seed"

    run(body())


def test_no_fallback_for_a_failure_that_is_not_about_the_tweets(factory):
    async def body():
        app = make_app(factory, device="cuda")
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            factory.last.push(
                ev.Failed(
                    "--device cuda was asked for, but PyTorch sees no CUDA GPU here: use "
                    "--device auto or cpu (it would download nothing)",
                    "models/worker.log",
                    "config",
                )
            )
            factory.last.die(1)
            await wait_for(pilot, lambda: app.query_one(ErrorPanel).has_class("-visible"))
            assert len(factory.processes) == 1 and app.notice is None
            assert "--device cuda was asked for" in app.query_one(ErrorPanel).message

    run(body())


def test_the_offline_fallback_follows_the_failure_kind_not_its_wording(factory):
    """A download failure falls back whatever its message says; the message is never parsed."""

    async def body():
        app = make_app(factory)
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            factory.last.push(ev.Failed("the mirror answered in riddles", "models/worker.log", "download", "riddles"))
            factory.last.die(1)
            await wait_for(pilot, lambda: len(factory.processes) == 2, what="the offline run")
            assert factory.last.spec.corpus == "python-help"
            assert "the tweets could not be downloaded (riddles)" in app.notice

    run(body())


def test_a_flood_of_news_from_the_training_process_is_a_few_notifications(factory):
    """Issue 20: the app's own training process sending thousands of warnings and budget changes pops
    the newest of each kind with how many more came, not a notification each (which froze the app)."""
    app = make_app(factory)

    async def body():
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            process = factory.last
            process.push(fake_events.started())
            for i in range(1, 20_001):
                process.push(
                    ev.RunWarning(i, f"warning {i}"), ev.BudgetChanged(i, 1000 + i, None, 0.5, f"{1000 + i} steps")
                )
            process.push(ev.Step(7, 0, 2.5, 1e-3, 9000.0, 3.0, 0.01, 99))
            await wait_for(pilot, lambda: app.state.step == 7, 30, "the flood to be folded")
            budgets = lambda: [n for n in notes(app) if n.startswith("Budget changed")]  # noqa: E731
            warned = lambda: [n for n in notes(app) if n.startswith("Training warning")]  # noqa: E731
            await wait_for(pilot, lambda: budgets() and "21000 steps" in budgets()[-1], 30, "the newest budget")
            await wait_for(pilot, lambda: warned() and "warning 20000" in warned()[-1], 30, "the newest warning")
            assert len(budgets()) <= 2 and len(warned()) <= 2, notes(app)
            assert "more budget changes" in budgets()[-1] and app.state.warning_count == 20_000
            await pilot.press("ctrl+q")  # the app answers at once: its quit dialog (the run has unsaved steps)
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "the quit dialog")

    run(body())
