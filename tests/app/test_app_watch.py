"""Watching a run another process trains: `tui-gen launch --watch RUN` and Watch in the open dialog."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from support.data import TINY_FLAGS
from support.pilot import notes, run, screen_text, wait_for
from support.processes import child_env
from support.waiting import wait_until
from tui_gen.app.app import PANEL_REDRAW_SECONDS, TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import OpenRunScreen
from tui_gen.app.state import Status
from tui_gen.app.watching import WATCH_REDRAW_SECONDS
from tui_gen.app.widgets.loss_plot import LossPlot
from tui_gen.app.widgets.samples_panel import SamplesPanel
from tui_gen.core import events as ev
from tui_gen.runs.metrics_log import encode, log_path

START_TIMEOUT = 300  # a `tui-gen train` child importing torch on a loaded shared CPU


def no_training(*args, **kwargs):
    raise AssertionError("the app started a training process of its own while watching")


def watching_app(folder, models_dir, **kwargs) -> TuiGenApp:
    options = LaunchOptions(watch=str(folder), models_dir=str(models_dir), device="cpu")
    return TuiGenApp(options, process_factory=no_training, warm_up=False, **kwargs)


def line(event) -> str:
    return encode(event, time.time()) + "\n"


def started() -> ev.Started:
    return ev.Started(
        device="cuda:0 (H100)",
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
        run_dir="/elsewhere/models/book",
        model="GRU 16",
    )


def folder_files(folder) -> set[str]:
    """The run's files in `folder`, without the trainer's passing temporary files (a save in flight:
    renamed into place, or removed, at any moment)."""
    return {p.name for p in folder.iterdir() if not p.name.endswith(".tmp")}


@pytest.mark.slow
def test_watch_a_run_trained_by_a_real_tui_gen_train(tmp_path, tiny_corpus_file, models_dir):
    folder = models_dir / "elsewhere"
    train = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui_gen",
            "train",
            str(tiny_corpus_file),
            *TINY_FLAGS,
            "--steps",
            "1000000",
            "--eval-every",
            "15",
            "--first-eval",
            "5",
            "--device",
            "cpu",
            "--out",
            str(folder),
        ],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_env(),
    )

    def created() -> bool:  # --out is created before the first step
        if folder.is_dir():
            return True
        assert train.poll() is None, train.stderr.read().decode()[-2000:]
        return False

    try:
        wait_until(created, START_TIMEOUT, "tui-gen train to create its run folder")
        app = watching_app(folder, models_dir)

        async def body():
            async with app.run_test(size=(160, 48)) as pilot:
                await wait_for(pilot, lambda: app.state.started, START_TIMEOUT, "the watched run's start line")
                assert app.watching == str(folder) and app.state.parameters
                await wait_for(pilot, lambda: app.state.step > 0, 120, "a step")
                first = app.state.step
                await wait_for(pilot, lambda: app.state.step > first + 20, 120, "the step to advance")
                await wait_for(pilot, lambda: app.query_one(SamplesPanel).blocks, 120, "samples")
                await wait_for(pilot, lambda: app.query_one(LossPlot).val_points, 120, "a validation point")
                text = screen_text(app)
                assert "watching" in text and "running" not in text
                # the playground generates from the folder's own newest checkpoint, and follows newer ones
                pg = app.playground
                await wait_for(pilot, lambda: pg.model is not None, 120, "the watched checkpoint")
                assert pg.model.source == "checkpoint" and pg.model.path.startswith(str(folder))
                loaded = pg.model
                await wait_for(pilot, lambda: pg.model is not loaded, 120, "a newer checkpoint")
                assert pg.model.step >= loaded.step
                assert not any(n.startswith("Checkpoint loaded") for n in notes(app))  # quietly
                await pilot.click("#seed")
                await pilot.press(*"great", "enter")
                await wait_for(pilot, lambda: pg.last_end is not None, 60, "generation")
                assert pg.last_end.error is None and pg.output.text.startswith("great")
                # commands that would touch the run are refused, and say why
                await pilot.press("escape")
                before = folder_files(folder)
                for key in ("p", "ctrl+s", "r", "b", "t"):
                    await pilot.press(key)
                refusals = [n for n in notes(app) if n.startswith("Watching: You are watching")]
                assert len(refusals) == 5 and all("another process trains" in n for n in refusals)
                assert app.state.status == Status.RUNNING and app.event_source.send("pause") is False
                # its end, by Ctrl+C where it trains: the app says so
                train.send_signal(signal.SIGINT)
                await wait_for(pilot, lambda: app.state.status == Status.FINISHED, 120, "the run's end")
                assert any(n.startswith("Watched run stopped") for n in notes(app))
                assert "watching · finished" in screen_text(app)
                assert train.wait(60) == 0
                await pilot.press("q")
                await wait_for(pilot, lambda: not app.is_running, 30, "quitting")
            # nothing written into the folder by the app (the trainer's own files only), nothing beside it
            after = {p.name for p in folder.iterdir()}
            assert after <= {"best.safetensors", "last.safetensors", "metrics.jsonl"}, after
            assert not (models_dir / "worker.log").exists()
            assert set(before) <= after

        run(body())
    finally:
        if train.poll() is None:
            train.kill()
        train.wait(30)


def test_a_corrupt_metrics_log_and_no_checkpoint_are_notices_not_a_crash(models_dir):
    folder = models_dir / "broken"
    folder.mkdir()
    with open(log_path(folder), "wb") as f:
        f.write(line(started()).encode() + b'\x00\xffgarbage\n{"type": "step"}\n[1, 2]\n')
        f.write(line(ev.Step(12, 0, 2.5, 1e-3, 9000.0, 3.0, 0.012, 9999)).encode())
        f.write(b'{"type": "eval", "step": 1')  # cut short
    app = watching_app(folder, models_dir)

    async def body():
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.state.step == 12, 30, "the readable lines")
            await wait_for(
                pilot,
                lambda: any(n.startswith("Unreadable lines") for n in notes(app)),
                30,
                "the skipped lines' notice",
            )
            assert any("3 lines" in n for n in notes(app))
            assert any(n.startswith("No checkpoint yet") for n in notes(app))
            assert app.is_running and app.state.parameters == 4321
            text = screen_text(app)
            assert "watching" in text and "cuda:0 (H100)" in text
            # the playground has nothing to generate from, and says so
            await pilot.press("2")
            await pilot.press(*"hi", "enter")
            await wait_for(
                pilot,
                lambda: any(n.startswith("No model: The watched run has no checkpoint yet") for n in notes(app)),
                10,
                "no model",
            )

    run(body())


def test_a_folder_with_no_log_yet_then_deleted(models_dir):
    folder = models_dir / "new"
    folder.mkdir()
    app = watching_app(folder, models_dir)

    async def body():
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: any(n.startswith("No metrics log yet") for n in notes(app)), 30, "no log")
            assert "no metrics log" in screen_text(app)
            log_path(folder).write_text(line(started()))
            await wait_for(pilot, lambda: app.state.started, 30, "the log once it is there")
            shutil.rmtree(folder)
            await wait_for(pilot, lambda: any(n.startswith("Run folder deleted") for n in notes(app)), 30, "deleted")
            assert app.is_running and app.state.status == Status.IDLE
            # the panel says so at its next redraw (the notice comes first)
            await wait_for(pilot, lambda: "was deleted" in screen_text(app), 30, "the panel to say it")

    run(body())


def test_watch_from_the_open_dialog_then_a_new_run_ends_it(models_dir, factory):
    folder = models_dir / "other"
    folder.mkdir()
    log_path(folder).write_text(line(started()) + line(ev.Step(7, 0, 2.5, 1e-3, 9000.0, 3.0, 0.007, 99)))
    app = TuiGenApp(LaunchOptions(models_dir=str(models_dir), train=False), process_factory=factory, warm_up=False)

    async def body():
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: isinstance(app.screen, OpenRunScreen) and app.screen.rows, 30, "the list")
            await pilot.press("w")
            await wait_for(pilot, lambda: app.state.step == 7, 30, "the watched run")
            assert app.watching == str(folder) and not factory.processes
            plot = app.query_one(LossPlot)
            assert plot.redraw_interval == WATCH_REDRAW_SECONDS  # a viewer redraws less: it shares the CPUs
            watcher = app.event_source
            app._new_run_chosen(app.options.request_for(None))  # the new-run form's Start
            await wait_for(pilot, lambda: factory.processes, 10, "the new run")
            assert app.watching is None and not watcher.alive and app.event_source is factory.last
            assert plot.redraw_interval == PANEL_REDRAW_SECONDS
            assert "watching" not in screen_text(app)

    run(body())


def test_launch_watch_flag(tmp_path):
    from tui_gen.cli.main import build_parser

    folder = tmp_path / "run"
    folder.mkdir()
    args = build_parser().parse_args(["launch", "--watch", str(folder)])
    assert LaunchOptions.from_args(args, environ={}).watch == str(folder)
    from tui_gen.core.errors import ConfigError, RunFolderError

    with pytest.raises(RunFolderError, match="no run folder"):
        LaunchOptions.from_args(build_parser().parse_args(["launch", "--watch", str(tmp_path / "nope")]), environ={})
    with pytest.raises(ConfigError, match="without a corpus"):
        LaunchOptions.from_args(build_parser().parse_args(["launch", "book.txt", "--watch", str(folder)]), environ={})


def test_a_1_gb_log_of_garbage_is_caught_up_on_from_its_tail(models_dir):
    folder = models_dir / "huge"
    folder.mkdir()
    with open(log_path(folder), "wb") as f:
        f.truncate(1 << 30)  # 1 GiB of NUL bytes and no newline (sparse: no disk used)
    app = watching_app(folder, models_dir)

    async def body():
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: any(n.startswith("A big metrics log") for n in notes(app)), 30, "catch-up")
            assert any("1,024 MiB" in n for n in notes(app))
            reader = app.event_source.reader
            assert reader.offset == 1 << 30 and len(reader._partial) == 0  # read past its tail, nothing held
            with open(log_path(folder), "ab") as f:  # then real lines after it
                f.write(
                    b"\n" + line(started()).encode() + line(ev.Step(3, 0, 2.5, 1e-3, 9000.0, 3.0, 0.003, 99)).encode()
                )
            await wait_for(pilot, lambda: app.state.step == 3, 30, "the lines after the garbage")
            assert app.is_running and app.state.parameters == 4321

    run(body())


def thread_niceness() -> dict[int, int]:
    """Each live thread of this process: its niceness (/proc/self/task/TID/stat, field 19)."""
    found = {}
    for task in os.listdir("/proc/self/task"):
        try:
            stat = open(f"/proc/self/task/{task}/stat").read()
        except OSError:  # ended meanwhile
            continue
        found[int(task)] = int(stat.rsplit(")", 1)[1].split()[16])
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own CPU priority exists on Linux only")
def test_newer_checkpoints_load_at_a_lower_priority_than_the_first(models_dir, monkeypatch):
    import threading

    from support.runs import train_run
    from tui_gen.app import playground_model
    from tui_gen.app.thread_priority import BACKGROUND_NICENESS

    folder = train_run(models_dir / "trained", steps=20)
    loads = []  # (the loading thread's niceness, the file loaded)
    real = playground_model.from_checkpoint

    def noting_priority(path):
        loads.append((os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), path))
        return real(path)

    monkeypatch.setattr(playground_model, "from_checkpoint", noting_priority)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    app = watching_app(folder, models_dir)

    async def body():
        async with app.run_test(size=(160, 48)) as pilot:
            pg = app.playground
            await wait_for(pilot, lambda: pg.model is not None, 60, "the first checkpoint")
            first = pg.model
            # the run saves again: a new file renamed over `last`, then its line in the log
            last = folder / "last.safetensors"
            fresh = folder / "fresh.tmp"
            shutil.copyfile(folder / "best.safetensors", fresh)
            later = last.stat().st_mtime_ns + 10**9
            os.utime(fresh, ns=(later, later))
            os.replace(fresh, last)
            with open(log_path(folder), "a") as f:
                f.write(line(ev.Saved(20, "last", str(last))))
            await wait_for(pilot, lambda: pg.model is not first, 60, "the newer checkpoint")
            # and no thread stays lowered: Textual's thread workers reuse a pool's threads, so a lowered one
            # would run the next generation or load the user waits for at a tenth of a core. The reload's
            # own thread may still be ending as the model arrives: it must be gone soon after.
            await wait_for(
                pilot,
                lambda: all(nice == base for nice in thread_niceness().values()),
                30,
                "the lowered thread to end with its work",
            )

    run(body())
    assert len(loads) == 2, loads
    (first_nice, _), (second_nice, second_path) = loads
    assert first_nice == base  # the playground waits for the first: it keeps the UI's priority
    assert second_nice == min(19, base + BACKGROUND_NICENESS) and second_path.name == "last.safetensors"
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the app's own thread was never lowered


def test_a_log_of_20000_ends_and_budget_changes_is_a_few_notifications_and_ctrl_q_quits(models_dir):
    """Issue 20: each `finished` and `budget` line of a watched log popped its own notification, and
    Textual lays out every live toast again for each new one: 20,000 of each froze the app for minutes,
    deaf to ctrl+q. Now the newest of each kind is said, with how many more came, at most every few
    seconds, both while catching up and while the log keeps growing."""
    from tui_gen.app.app import NEWS_NOTICE_SECONDS

    folder = models_dir / "flood"
    folder.mkdir()
    n = 20_000
    with open(log_path(folder), "w") as f:
        f.write(line(started()))
        for i in range(1, n + 1):
            f.write(line(ev.BudgetChanged(i, 1000 + i, None, 0.5, f"{1000 + i} steps")))
            f.write(line(ev.Finished(i, ev.FinishReason.COMPLETED, f"done at step {i}", 2.0, None, None)))
    app = watching_app(folder, models_dir)
    ends = lambda: [m for m in notes(app) if m.startswith("Watched run finished")]  # noqa: E731
    budgets = lambda: [m for m in notes(app) if m.startswith("Budget changed")]  # noqa: E731

    async def body():
        async with app.run_test(size=(160, 48), notifications=True) as pilot:
            began = time.monotonic()
            # the newest of each kind is said (the last batch's may wait out the window), and how many more
            await wait_for(pilot, lambda: ends() and f"done at step {n}." in ends()[-1], 30, "the newest end")
            await wait_for(pilot, lambda: budgets() and f"{1000 + n} steps" in budgets()[-1], 30, "the newest budget")
            assert len(ends()) <= 2 and len(budgets()) <= 2, (len(ends()), len(budgets()))
            assert "more ends like it" in ends()[-1] and "more budget changes" in budgets()[-1]
            # the log keeps growing with more of them, a poll at a time: still one of each kind a window
            for r in range(1, 6):
                with open(log_path(folder), "a") as f:
                    for i in range(1_000):
                        f.write(line(ev.Finished(n + i, ev.FinishReason.COMPLETED, f"again {r}", 2.0, None, None)))
                    f.write(line(ev.Step(n + r, 0, 2.5, 1e-3, 9000.0, 3.0, 0.01, 99)))
                await wait_for(pilot, lambda r=r: app.state.step == n + r, 30, f"round {r}")
            allowed = 2 + (time.monotonic() - began) / NEWS_NOTICE_SECONDS
            assert len(ends()) <= allowed and len(budgets()) <= allowed, (len(ends()), len(budgets()), allowed)
            assert len(app.live_notices) <= 12, notes(app)
            assert app.is_running
            pressed = time.monotonic()
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: not app.is_running, 5, "ctrl+q to quit")
            assert time.monotonic() - pressed < 5

    run(body())
