"""Opening saved runs (ctrl+o, --checkpoint) into the playground, and resuming training from them."""

from __future__ import annotations

from textual.widgets import DataTable, Input

from support.pilot import FakeFactory, notes, run, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import ConfirmScreen, OpenRunScreen
from tui_gen.app.state import Status

NARROW = (80, 24)


def test_open_dialog_loads_a_run_and_offers_to_resume(saved_run, models_dir):
    factory = FakeFactory()
    app = TuiGenApp(LaunchOptions(train=False, models_dir=str(models_dir)), process_factory=factory, warm_up=False)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("ctrl+o")
            screen = app.screen
            assert isinstance(screen, OpenRunScreen) and app.focused.id == "runs"
            await wait_for(pilot, lambda: screen.rows, what="the runs to be listed")
            assert [r.name for r in screen.rows] == ["tiny-run", "broken-run"]
            table = screen.query_one(DataTable)
            assert table.row_count == 2
            good = screen.rows[0]
            assert good.step == 10 and good.has_checkpoint and good.problem is None
            assert isinstance(good.best_bpc, float) and good.saved_at is not None
            assert table.get_row_at(1)[3].plain == "unreadable"
            # the broken one says why, and cannot be opened
            await pilot.press("down", "enter")
            assert isinstance(app.screen, OpenRunScreen)
            assert "Cannot open broken-run" in notes(app)[-1]
            await pilot.press("up", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the resume question")
            assert app.screen.purpose == "resume" and app.focused.id == "choice-resume"
            await pilot.press("n")  # just play
            pg = app.playground
            # the run's best checkpoint, as the dialog says (its last would do too: both are at step 10)
            best = str(saved_run / "best.safetensors")
            assert pg.model.source == "checkpoint" and pg.model.path == best and pg.model.step == 10
            assert app.active_pane == "playground" and factory.processes == []
            assert "step 10" in pg.label_text and "checkpoint" in pg.label_text
            await pilot.pause()
            await pilot.press(*"Hillary", "enter")
            await wait_for(pilot, lambda: pg.last_end is not None, what="generation")
            assert pg.last_end.error is None and pg.output.text.startswith("Hillary")
            assert app.state.status == Status.IDLE

            # again, and this time resume: a training process continues from the checkpoint
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: getattr(app.screen, "rows", None), what="the runs")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the resume question")
            await pilot.press("enter")
            assert len(factory.processes) == 1
            # from the run folder, which resumes from its last (where training stopped), not the best shown
            assert factory.last.spec.resume == good.path == str(saved_run)
            assert factory.last.spec.minutes == 6.0

    run(body())


def test_a_run_not_saved_yet_is_listed_after_those_saved_and_is_watched_not_opened(saved_run, models_dir, factory):
    """A run folder with only its metrics log (training, before its first save): the newest run, yet listed
    after the run that can be opened; enter says why it cannot be opened, w watches it."""
    import os
    import time

    from tui_gen.core import events as ev
    from tui_gen.runs.metrics_log import encode, log_path

    for age, run_dir in ((2_000_000, saved_run), (1_000_000, models_dir / "broken-run")):
        for file in run_dir.iterdir():
            os.utime(file, (age, age))  # both older than the new run, whatever the clock's grain
    live = models_dir / "live"
    live.mkdir()
    log_path(live).write_text(encode(ev.Step(7, 0, 2.5, 1e-3, 9000.0, 3.0, 0.007, 99), time.time()) + "\n")
    app = TuiGenApp(LaunchOptions(train=False, models_dir=str(models_dir)), process_factory=factory, warm_up=False)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("ctrl+o")
            screen = app.screen
            await wait_for(pilot, lambda: screen.rows, what="the runs to be listed")
            assert [r.name for r in screen.rows] == ["tiny-run", "live", "broken-run"]
            cells = [c.plain for c in screen.query_one(DataTable).get_row_at(1)]
            assert cells == ["live", "7", "–", "not saved yet", "–"]
            await pilot.press("down", "enter")
            assert isinstance(app.screen, OpenRunScreen)
            assert notes(app)[-1].startswith("Cannot open live: It has not saved a checkpoint yet: press w")
            await pilot.press("w")
            await wait_for(pilot, lambda: app.watching == str(live), what="the watch")
            assert app.playground.model is None and not factory.processes

    run(body())


def test_open_dialog_says_why_the_models_folder_cannot_be_read(tmp_path, factory):
    not_a_folder = tmp_path / "models"
    not_a_folder.write_text("a file where the models folder should be")
    app = TuiGenApp(LaunchOptions(train=False, models_dir=str(not_a_folder)), process_factory=factory, warm_up=False)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("ctrl+o")
            status = app.screen.query_one("#runs-status")
            await wait_for(pilot, lambda: "reading" not in str(status.render()), what="the listing")
            assert str(status.render()).startswith(f"cannot read the models folder {not_a_folder}: ")
            assert app.screen.rows == [] and app.screen.query_one(DataTable).row_count == 0

    run(body())


def test_launch_with_checkpoint_then_r_resumes(saved_run, models_dir):
    factory = FakeFactory()
    options = LaunchOptions(checkpoint=str(saved_run), models_dir=str(models_dir))
    app = TuiGenApp(options, process_factory=factory, warm_up=False)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: app.playground.model is not None, what="the checkpoint to load")
            assert app.active_pane == "playground" and factory.processes == []  # no training until asked
            assert not isinstance(app.screen, ConfirmScreen)
            assert app.state.status == Status.IDLE and "press r to train on" in app.state.message
            await pilot.press("escape", "r")  # out of the seed box, then restart
            assert len(factory.processes) == 1
            assert factory.last.spec.resume == str(saved_run)

    run(body())


def test_a_bad_checkpoint_is_reported(models_dir):
    app = TuiGenApp(
        LaunchOptions(checkpoint=str(models_dir / "nope"), models_dir=str(models_dir)),
        process_factory=FakeFactory(),
        warm_up=False,
    )

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: notes(app), what="a notification")
            assert notes(app)[-1].startswith("Cannot load the checkpoint: ")
            assert "does not exist: give a run folder" in notes(app)[-1]
            assert app.playground.model is None and app.is_running
            await pilot.press(*"Hi", "enter")  # no model: says so
            assert "no model to generate from" in notes(app)[-1]
            assert app.query_one("#seed", Input).value == "Hi"

    run(body())


def test_resuming_while_training_stops_the_run_first(saved_run, models_dir):
    from support import fake_events

    factory = FakeFactory()
    app = TuiGenApp(LaunchOptions(models_dir=str(models_dir)), process_factory=factory, warm_up=False)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            old = factory.last
            old.push(fake_events.started(), fake_events.step(1))
            await wait_for(pilot, lambda: app.state.started)
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: getattr(app.screen, "rows", None), what="the runs")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the resume question")
            assert "The current training run stops first" in app.screen.body
            await pilot.press("r")
            await wait_for(pilot, lambda: len(factory.processes) == 2, what="the new run")
            assert old.shutdowns and old.shutdowns[0] > 10  # asked to stop (and save), not killed
            assert factory.last.spec.resume == str(saved_run)
            assert not any(n.startswith("Training finished") for n in notes(app))  # the old run's end is not news

    run(body())


def test_opening_a_run_whose_last_is_newer_than_its_best_resumes_from_last(
    saved_run, models_dir, tiny_corpus, tiny_config
):
    """Best at step 10, last at step 30: the playground shows best, training continues from last (step 30),
    and the step-30 checkpoint is never overwritten by a run restarted from step 10."""
    from dataclasses import replace

    from tui_gen.training.checkpoint import load_checkpoint, read_meta
    from tui_gen.training.setup import RunRequest, prepare_run
    from tui_gen.training.trainer import Trainer

    best = (saved_run / "best.safetensors").read_bytes()
    ck = load_checkpoint(saved_run, prefer=("last",))
    trainer = Trainer(tiny_corpus, replace(tiny_config, max_steps=30), run_dir=saved_run, resume=ck, corpus_ref="tiny")
    for _ in trainer.run():
        pass
    (saved_run / "best.safetensors").write_bytes(best)  # later evaluations did not improve on step 10
    assert read_meta(saved_run / "last.safetensors")["step"] == 30

    factory = FakeFactory()
    app = TuiGenApp(
        LaunchOptions(checkpoint=str(saved_run), models_dir=str(models_dir)), process_factory=factory, warm_up=False
    )

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: app.playground.model is not None, what="the checkpoint to load")
            assert app.playground.model.step == 10 and app.playground.model.resume_step == 30
            await pilot.press("escape", "r")
            assert len(factory.processes) == 1

    run(body())
    spec = factory.last.spec
    text = models_dir.parent / "tiny.txt"
    text.write_text(tiny_corpus.text, encoding="utf-8")
    resumed = prepare_run(RunRequest(resume=spec.resume, corpus=str(text), steps=1)).trainer
    assert resumed.step == 30 and resumed.run_dir == saved_run
