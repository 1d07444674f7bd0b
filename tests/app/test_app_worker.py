"""The app with the real training process: train, generate from its weights, save, pause, survive
its death, restart from the checkpoint, quit leaving no process behind."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from support.data import TINY_OVERRIDES
from support.pilot import notes, run, wait_for
from support.processes import gone
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import ConfirmScreen
from tui_gen.app.state import Status
from tui_gen.app.widgets.error_panel import ErrorPanel
from tui_gen.app.widgets.samples_panel import SamplesPanel

START_TIMEOUT = 300  # spawning a process that imports torch at nice 10, on a loaded shared CPU


@pytest.mark.slow
def test_real_training_process_end_to_end(tiny_corpus_file, models_dir):
    options = LaunchOptions(
        corpus=str(tiny_corpus_file),
        device="cpu",
        models_dir=str(models_dir),
        settings=TINY_OVERRIDES,
        minutes=5,
        threads=1,
    )
    app = TuiGenApp(options, warm_up=False)

    async def body():
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.state.started, START_TIMEOUT, "training to start")
            first = app.event_source
            pid = first.pid
            assert app.state.status == Status.RUNNING and app.state.corpus == str(tiny_corpus_file.resolve())
            await wait_for(pilot, lambda: app.state.last_path, 180, "the first evaluation's checkpoint")
            assert app.state.best_bpc is not None and app.query_one(SamplesPanel).blocks

            # the playground generates from the training weights (a Snapshot after the evaluation)
            await pilot.click("#seed")
            await pilot.press(*"great", "enter")
            pg = app.playground
            await wait_for(pilot, lambda: pg.last_end is not None, 60, "generation from the snapshot")
            assert pg.last_end.error is None and pg.model.source == "training"
            assert pg.output.text.startswith("great")

            # ctrl+s saves now and says where
            await pilot.press("escape")  # out of the seed box
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any(n.startswith("Checkpoint saved") for n in notes(app)), 60, "the save")
            saved = next(n for n in notes(app) if n.startswith("Checkpoint saved"))
            path = Path(saved.split(" to ", 1)[1])
            assert path.is_file() and path.name == "last.safetensors"

            # p pauses, p resumes
            await pilot.press("p")
            await wait_for(pilot, lambda: app.state.status == Status.PAUSED, 60, "the pause")
            paused_at = app.state.step
            await pilot.pause(0.3)
            assert app.state.step == paused_at
            await pilot.press("p")
            await wait_for(
                pilot, lambda: app.state.status == Status.RUNNING and app.state.step > paused_at, 60, "resuming"
            )

            # the process dies: the app says why, and r restarts from the last checkpoint
            os.kill(pid, signal.SIGKILL)
            await wait_for(pilot, lambda: app.state.status == Status.FAILED, 60, "the death to be noticed")
            panel = app.query_one(ErrorPanel)
            assert panel.has_class("-visible") and "SIGKILL" in panel.message
            assert app.is_running
            await pilot.press("r")
            assert app.event_source is not first
            assert app.event_source.spec.resume == app.state.last_path
            await wait_for(pilot, lambda: app.state.started, START_TIMEOUT, "the restarted run")
            assert app.state.start_step > 0  # it continued from the checkpoint
            second = app.event_source
            await wait_for(pilot, lambda: app.state.step > app.state.start_step, 60, "a step")

            # quit: asks (unsaved steps), saves, stops the process
            await pilot.press("q")
            if isinstance(app.screen, ConfirmScreen):
                await pilot.press("s")
            await wait_for(pilot, lambda: not app.is_running, 180, "the app to exit")  # it may save for 120 s
        return first, second

    first, second = run(body())
    assert not second.alive and second.exitcode == 0
    assert gone(second.pid) and gone(first.pid)
    assert multiprocessing.active_children() == []
    assert (models_dir / "worker.log").is_file()


@pytest.mark.slow
def test_sigterm_to_the_training_process_is_shown_as_stopped_not_as_a_crash(tiny_corpus_file, models_dir):
    """systemd (KillMode=control-group), `docker stop`: SIGTERM reaches the training process itself.
    It saves `last` and says so; the app shows a stopped run that `t` can train on, not a death."""
    from tui_gen.core.events import FinishReason
    from tui_gen.training.checkpoint import load_checkpoint

    options = LaunchOptions(
        corpus=str(tiny_corpus_file),
        device="cpu",
        models_dir=str(models_dir),
        settings={**TINY_OVERRIDES, "eval_every": 100_000},
        steps=1_000_000,
        threads=1,
    )
    app = TuiGenApp(options, warm_up=False)

    async def body():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.state.started, START_TIMEOUT, "training to start")
            await wait_for(pilot, lambda: app.state.step >= 3, 60, "a few steps")
            process = app.event_source
            os.kill(process.pid, signal.SIGTERM)
            await wait_for(
                pilot,
                lambda: not process.alive and app.state.exit_reason is None and app.state.status != Status.RUNNING,
                60,
                "the process to end",
            )
            await wait_for(pilot, lambda: any(n.startswith("Training stopped") for n in notes(app)), 10, "the notice")
            s = app.state
            assert s.status == Status.FINISHED and s.finish_reason == FinishReason.TERMINATED and s.error is None
            assert not app.query_one(ErrorPanel).has_class("-visible")
            assert process.exitcode == 0 and app.check_action("train_more", ())
            assert s.last_path and load_checkpoint(s.last_path).step == s.step
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running, 60, "the app to exit")

    run(body())
    assert multiprocessing.active_children() == []
