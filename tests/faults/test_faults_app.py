"""The app under hostile input and faults: its training process SIGKILLed at random moments (many
during saves), the disk under the run folder filling up, a flood of every kind of training event
while keys are pressed, and seeds and notifications full of control characters, escape sequences
and Rich markup.

Decided behaviour: the app never goes down with its training process; it says why it stopped (the
signal), `r` goes on from the last checkpoint, and every checkpoint in the run folder stays loadable.
A save that fails is a warning and training carries on; a run whose final save fails ends as failed,
and the app says so. Under a flood its memory stays bounded (the loss plot merges old points beyond
MAX_STORED, the samples panel keeps 40 evaluations, warnings pop up at most every few seconds) and
keys still get an answer. Whatever text arrives, from the user or the model, is shown literally.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import signal
import string
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from support.data import REPO, tiny_text
from support.pilot import notes, run, screen_text, wait_for
from support.processes import child_env, gone, mount_tmpfs, umount
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import ConfirmScreen
from tui_gen.app.state import Status
from tui_gen.app.widgets import StreamView
from tui_gen.app.widgets.error_panel import ErrorPanel
from tui_gen.app.widgets.samples_panel import SamplesPanel
from tui_gen.app.widgets.training_panel import TrainingPanel
from tui_gen.process.spec import TrainingSpec
from tui_gen.training.checkpoint import RESUME_ORDER, load_checkpoint

NARROW = (80, 24)
TINY = dict(
    hidden_sizes=[16, 16],
    seq_len=16,
    overlap=4,
    batch_size=8,
    embedding_dim=8,
    eval_every=5,
    warmup_steps=1,
    sample_length=8,
)
STEPS = 300  # the disk-full run's length
START_TIMEOUT = 300  # spawning a process that imports torch at nice 10, on a loaded shared CPU
ESC_BYTES = ("\x1b", "\x07", "\x9b")  # what must never reach the terminal from a text we show


# ---- helpers ------------------------------------------------------------------------------------------


def flat(text: str) -> str:
    return " ".join(text.split())


def check_run_folder(run_dir: Path, corpus: Path) -> dict[str, int]:
    """Every checkpoint in the run folder loads, and resumes for one step (what `r` and
    `train --resume` do); {name: step}."""
    from tui_gen.data.sources import open_corpus
    from tui_gen.training.trainer import Trainer, resume_config

    steps = {}
    for p in sorted(run_dir.glob("*.safetensors")):
        ck = load_checkpoint(p)  # raises CheckpointError on a torn file
        cfg = resume_config(ck, max_steps=ck.step + 1, max_minutes=None, threads=1, device="cpu")
        text, _ = open_corpus(str(corpus), framing=cfg.framing)
        events = list(Trainer(text, cfg, run_dir=None, resume=ck).run())
        assert events[-1].step == ck.step + 1 and events[-1].reason == "completed", events[-1]
        steps[p.name] = ck.step
    return steps


def temps(run_dir: Path) -> list[str]:
    return sorted(n for n in os.listdir(run_dir) if n.endswith(".tmp")) if run_dir.is_dir() else []


@pytest.fixture
def corpus(tmp_path) -> Path:
    p = tmp_path / "tiny.txt"
    p.write_text(tiny_text(300), encoding="utf-8")
    return p


def real_app(corpus: Path, models: Path, minutes: float = 5, train: bool = True) -> TuiGenApp:
    options = LaunchOptions(
        corpus=str(corpus),
        device="cpu",
        models_dir=str(models),
        settings=dict(TINY),
        minutes=minutes,
        threads=1,
        train=train,
    )
    return TuiGenApp(options, warm_up=False)


# ---- 2. the disk fills up while the app trains --------------------------------------------------------


@pytest.mark.slow
def test_disk_full_while_the_app_trains(tmp_path, corpus):
    """models/ (run folder and worker.log) on a tmpfs with room for about two checkpoints: the first
    evaluation's saves fit, later ones fail. The app warns and keeps training; the run's final save
    fails too, so the run ends as failed, which the app says in the error panel (and in a
    notification, since the user is on another tab), and it stays up. What was saved stays whole."""
    from dataclasses import replace

    from tui_gen.core.config import TrainConfig
    from tui_gen.data.corpus import CorpusText
    from tui_gen.training.trainer import Trainer

    # one checkpoint's size, measured on a normal disk
    cfg = replace(TrainConfig(), **TINY, max_steps=1, max_minutes=None, threads=1, device="cpu")
    probe = tmp_path / "probe"
    for _ in Trainer(
        CorpusText(name="c", text=corpus.read_text(), framing="lines", end_marker="_E_"),
        replace(cfg, eval_every=1),
        run_dir=probe,
    ).run():
        pass
    size = (probe / "last.safetensors").stat().st_size
    models = tmp_path / "small-disk"
    mount_tmpfs(models, (math.ceil(size / 4096) * 2 + 2) * 4096)  # best + last of the first evaluation, + the log
    try:
        app = real_app(corpus, models, train=False)

        async def body():
            async with app.run_test(size=NARROW) as pilot:
                spec = TrainingSpec(
                    corpus=str(corpus),
                    settings={**TINY, "device": "cpu"},
                    steps=STEPS,
                    models_dir=str(models),
                    log_path=str(models / "worker.log"),
                    threads=1,
                )
                app.start_training(spec)
                await wait_for(pilot, lambda: app.state.started, START_TIMEOUT, "training to start")
                await wait_for(pilot, lambda: app.state.warning_count, 180, "a failed save's warning")
                assert app.is_running and app.state.status == Status.RUNNING
                assert any(n.startswith("Training warning") and "No space left on device" in n for n in notes(app))
                note = str(app.query_one("#training-note").render())
                assert "warning:" in note and "No space left on device" in note
                await pilot.press("2")  # to the playground: the failure must be said where the user looks
                assert app.active_pane == "playground"
                await wait_for(pilot, lambda: app.state.status == Status.FAILED, 300, "the run to end")
                await wait_for(
                    pilot, lambda: app.event_source is not None and not app.event_source.alive, 60, "the process"
                )
                failed = [n for n in notes(app) if n.startswith("Training failed")]
                assert failed and "could not be saved" in failed[-1] and "No space left on device" in failed[-1]
                panel = app.query_one(ErrorPanel)
                assert panel.has_class("-visible") and "could not be saved" in panel.message
                assert f"Step {STEPS} could not be saved" in panel.message
                await pilot.press("f1")  # still answers keys (f1: the seed box has the focus, "1" would be typed)
                assert app.active_pane == "train"
                await pilot.pause()
                assert "could not be saved" in flat(screen_text(app))
                assert app.is_running
                run_dir = Path(app.state.run_dir)
                return run_dir, (models / "worker.log").read_text(errors="replace")

        run_dir, log = run(body())
        names = sorted(os.listdir(run_dir))
        assert not temps(run_dir), names
        assert names and set(names) <= {"best.safetensors", "last.safetensors", "metrics.jsonl"}, names
        steps = check_run_folder(run_dir, corpus)
        assert all(0 < s < STEPS for s in steps.values()), steps  # saved before the disk filled up
        assert "Traceback" not in log
        assert multiprocessing.active_children() == []
    finally:
        umount(models)


# ---- 1. the training process SIGKILLed at random moments ------------------------------------------------


class SaveSniper:
    """A thread that SIGKILLs a process as soon as a save has its temporary file open in run_dir
    (checkpoints are written to NAME.XXXX.tmp, then renamed), or after `timeout` if none shows (a
    deadline for a loaded machine: the first save it sees ends the wait)."""

    def __init__(self, pid: int, run_dir: Path, timeout: float = 60.0):
        self.pid, self.run_dir, self.timeout = pid, run_dir, timeout
        self.saw_temp = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                if any(n.endswith(".tmp") for n in os.listdir(self.run_dir)):
                    self.saw_temp = True
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.0002)
        os.kill(self.pid, signal.SIGKILL)

    def join(self) -> None:
        self.thread.join(10)


@pytest.mark.slow
def test_training_process_killed_at_random_moments(tmp_path, corpus):
    """Four SIGKILLs of the real training process, half at random instants and half aimed at saves:
    after each the app is up and answers keys, the error panel says signal 9, every checkpoint in
    the run folder loads and resumes, and `r` continues from the last one. Quitting leaves no process."""
    rng = random.Random(20261128)
    models = tmp_path / "models"
    app = real_app(corpus, models)
    kills = 4  # each restart spawns a process that imports torch: the costly part of this test
    stats = {"kills": 0, "aimed_at_a_save": 0, "temps_left": 0, "restarts_from": []}

    async def body():
        pids = []
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: app.state.started, START_TIMEOUT, "training to start")
            await wait_for(pilot, lambda: app.state.last_path, 180, "the first checkpoint")
            run_dir = Path(app.state.run_dir)
            for k in range(kills):
                process = app.event_source
                pids.append(process.pid)
                if k % 2:
                    sniper = SaveSniper(process.pid, run_dir)
                    while sniper.thread.is_alive():
                        await pilot.pause(0.01)
                    sniper.join()
                    stats["aimed_at_a_save"] += sniper.saw_temp
                else:
                    await pilot.pause(rng.uniform(0.05, 1.0))
                    os.kill(process.pid, signal.SIGKILL)
                stats["kills"] += 1
                await wait_for(pilot, lambda: app.state.status == Status.FAILED, 60, "the death to be noticed")
                await wait_for(pilot, lambda process=process: not process.alive, 60, "the process to be reaped")
                assert app.is_running
                panel = app.query_one(ErrorPanel)
                assert panel.has_class("-visible"), "no error panel"
                shown = str(panel.render())
                assert "signal 9 (SIGKILL)" in shown and "Press r to restart from" in shown, shown
                # the app answers keys: to the samples tab and back
                await pilot.press("3")
                assert app.active_pane == "samples"
                await pilot.press("1")
                assert app.active_pane == "train"
                # what the kill left: whole checkpoints, each of which resumes; few temporary files
                stats["temps_left"] = max(stats["temps_left"], len(temps(run_dir)))
                assert len(temps(run_dir)) <= 3, temps(run_dir)
                assert set(check_run_folder(run_dir, corpus)) == {"best.safetensors", "last.safetensors"}
                # r: a new process, from the last checkpoint, at its step
                resume = app.state.resume_path
                expected_step = load_checkpoint(resume, prefer=RESUME_ORDER).step
                await pilot.press("r")
                assert app.event_source is not process and app.event_source.spec.resume == resume
                assert not panel.has_class("-visible")
                stats["restarts_from"].append(expected_step)
                await wait_for(pilot, lambda: app.state.started, START_TIMEOUT, "the restarted run")
                assert app.state.start_step == expected_step and Path(app.state.run_dir) == run_dir
                await wait_for(
                    pilot,
                    lambda expected_step=expected_step: (
                        app.state.saved_step is not None and app.state.saved_step > expected_step
                    ),
                    180,
                    "a save of the restarted run",
                )
            pids.append(app.event_source.pid)
            last = app.event_source
            await pilot.press("q")
            if isinstance(app.screen, ConfirmScreen):
                await pilot.press("s")
            await wait_for(pilot, lambda: not app.is_running, 180, "the app to exit")  # it may save for 120 s
        return pids, last, run_dir

    pids, last, run_dir = run(body())
    print(stats)
    assert stats["kills"] == kills
    assert stats["aimed_at_a_save"] >= 1, "no kill landed while a save was being written"
    assert last.exitcode == 0 and all(gone(p) for p in pids)
    assert multiprocessing.active_children() == []
    check_run_folder(run_dir, corpus)
    assert "Traceback" not in (models / "worker.log").read_text()


# ---- 3. a flood of training events while keys are pressed ------------------------------------------------

FLOOD_SECONDS = 10
RSS_GROWTH_LIMIT = 60 * 2**20  # over the 10 s flood (measured here: under 10 MiB over 15 s)
RSS_LATE_GROWTH_LIMIT = 20 * 2**20  # from 5 s into the flood to its end: a leak grows on, caches do not
# Enough Step events to overflow the loss plot's store twice, however slow the machine is today (the
# flood goes on past FLOOD_SECONDS until they are sent). Key latency is a speed: bench/app_flood.py.
FLOOD_STEPS = 2 * 20_000 + 1  # 2 * loss_plot.MAX_STORED + 1


# The flood runs in a fresh process, as the app does: this one's heap (torch, and what earlier tests
# left) would make each full garbage collection pause for ~0.5 s and its RSS would not be the app's.
FLOOD_CHILD = textwrap.dedent("""
    import asyncio, dataclasses, json, sys
    sys.path.insert(0, sys.argv[1])
    from bench.app_flood import flood

    seen = {}

    def inspect(app, res):
        seen["blocks"] = [str(w.render()) for w in app.query(".sample-block")]
        seen["note"] = str(app.query_one("#training-note").render())
        seen["seed"] = app.query_one("#seed").value
        seen["notes"] = [f"{n.title}: {n.message}" for n in app.notices]

    r = asyncio.run(flood(float(sys.argv[2]), warmup=2.0, inspect=inspect, min_steps=int(sys.argv[3])))
    print(json.dumps({"result": dataclasses.asdict(r), "seen": seen}))
""")


def test_flood_of_events_while_typing(tmp_path):
    """bench/app_flood.py's flood for 10 s: a stand-in training process hands the app every kind of event
    (Step, Eval, Samples with long and hostile text, Saved, RunWarning, Snapshot) as fast as it folds
    them in, while a key is pressed every ~50 ms (f1/f2/f3 tab switches, letters and markup typed
    into the seed box). Memory stays bounded, keys get an answer, what it keeps is capped, and the
    hostile samples are shown literally."""
    import json

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from bench.app_flood import FloodResult, percentile
    from tui_gen.app.state import MAX_WARNINGS
    from tui_gen.app.widgets.loss_plot import MAX_STORED
    from tui_gen.app.widgets.samples_panel import MAX_BLOCKS

    assert FLOOD_STEPS > 2 * MAX_STORED
    out = subprocess.run(
        [sys.executable, "-c", FLOOD_CHILD, str(REPO), str(FLOOD_SECONDS), str(FLOOD_STEPS)],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    r, seen = FloodResult(**data["result"]), data["seen"]
    mib = 2**20
    lat = r.all_latencies
    print(
        f"\nflood: {r.rate:,.0f} events/s, RSS {r.rss_before / mib:.1f} -> {r.rss_after / mib:.1f} MiB "
        f"(trace {[round(b / mib) for _, b in r.rss_trace]}), key->screen p50 {percentile(lat, 0.5):.0f} ms "
        f"p95 {percentile(lat, 0.95):.0f} ms ({len(lat)} keys), detached widgets {r.detached_widgets}"
    )
    # it ran long enough to overflow what the app keeps
    assert r.counts["Step"] > 2 * MAX_STORED, "the flood stopped before filling the loss plot"
    # memory: bounded growth, and none late in the flood; no removed widget kept alive
    assert r.rss_after - r.rss_before < RSS_GROWTH_LIMIT, (r.rss_before, r.rss_after)
    if r.rss_trace:
        assert r.rss_after - r.rss_trace[0][1] < RSS_LATE_GROWTH_LIMIT, r.rss_trace
    assert r.detached_widgets < 100, f"{r.detached_widgets} widgets alive after their removal (a leak)"
    # what the app keeps is capped
    assert r.train_points <= MAX_STORED + 1 and r.val_points <= MAX_STORED + 1
    assert r.sample_blocks == MAX_BLOCKS and r.sample_widgets == MAX_BLOCKS
    assert r.warnings_kept == MAX_WARNINGS and r.warning_count == r.counts["RunWarning"] + 1  # + Started's
    assert r.max_notifications <= 5, r.max_notifications
    # keys: every one showed (each typed character exactly as typed, markup included), none lost
    assert r.missed_keys == 0 and len(lat) > 50
    # the hostile text: literal, escapes made visible, nothing for the terminal to act on
    text = "\n".join(seen["blocks"])
    assert "[bold red]x[/] [link=https://example.com]x[/link]" in text
    assert "␛[2J␛[H cleared? ␛]0;title␇" in text and "more characters)" in text  # the 5,000-char line, cut
    assert not any(c in text for c in ESC_BYTES + ("\u202e", "\ud800"))
    assert "\ufffd" in text  # C1, bidi and lone surrogates: the replacement character
    assert seen["seed"] and seen["seed"] in "[b]x[/b]é" * 20  # typed literally, in order
    assert "warning: step" in seen["note"] and "[red]warning[/]" in seen["note"] and "␛]0;pwned␇" in seen["note"]
    assert all("\x1b" not in n for n in seen["notes"])


# ---- 4. hostile text typed, pasted, or arriving from training and from disk ------------------------------

WIDE = (160, 48)
TINY_CHARS = [c for c in string.printable if c not in "\r\x0b\x0c"]
MARKUP_SEED = "[bold red]x[/] [link=https://example.com]x[/link]"
ESCAPES_SEED = "\x1b[2J\x1b]0;title\x07 \x00 \u202eabc"
ESCAPES_SHOWN = "␛[2J␛]0;title␇ ␀ \ufffdabc"


def make_model(chars: list[str], framing: str):
    import torch

    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.data.vocab import Vocab
    from tui_gen.model.network import CharRNN, ModelConfig

    torch.manual_seed(0)
    vocab = Vocab(chars)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), hidden_sizes=[16], embedding_dim=8)).eval()
    stops = ("\n",) if framing == "lines" else ()
    return PlaygroundModel(model, vocab, framing, stops, "checkpoint", step=1, path="hostile.safetensors")


def playground_app(model, tmp_path) -> TuiGenApp:
    app = TuiGenApp(LaunchOptions(train=False, models_dir=str(tmp_path / "models")), model=model, warm_up=False)
    # Notifications leave app._notifications 5 s (of the wall clock) after they pop up; the tests count
    # and read them, so on a slow machine one could be gone before it is checked.
    app.NOTIFICATION_TIMEOUT = 600
    return app


async def generate(pilot, app, seed: str, length: int = 40) -> bool:
    """Put `seed` in the seed box (as a paste would) and generate; False if the app refused (and said why)."""
    pg = app.playground
    pg.pace = None
    app.query_one("#seed", Input).value = seed
    app.query_one("#length", Input).value = str(length)
    if not await refused(pilot, app, pg.generate):
        return False
    await wait_for(pilot, lambda: not pg.generating and pg.last_end is not None, 60, "the generation")
    await pilot.pause()
    return True


async def refused(pilot, app, action) -> bool:
    """Run action(); if it returns False, wait until the notification saying why is on screen."""
    had = len(app.notices)
    if action():
        return True
    await wait_for(pilot, lambda: len(app.notices) > had, 60, "the notification")
    await wait_for(pilot, lambda: len(app.screen.query("Toast")) >= len(app.live_notices), 60, "its toast")
    await pilot.pause()
    return False


def assert_nothing_raw(app) -> str:
    """Nothing on screen for the terminal to act on; returns the screen's text."""
    shown = screen_text(app)
    bad = sorted({c for c in shown if c in ESC_BYTES or c in "\x00\u202e\ud800"})
    assert not bad, f"raw control characters on screen: {bad!r}"
    return shown


def test_seeds_with_markup_and_escape_sequences_are_shown_literally(tmp_path):
    model = make_model(TINY_CHARS + ["\x1b", "\x07", "\x00", "\u202e"], "stream")  # a model that knows them
    app = playground_app(model, tmp_path)

    async def body():
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await pilot.pause()
            out = app.query_one(StreamView)
            seed_box = app.query_one("#seed", Input)
            assert app.focused is seed_box
            # Rich markup, typed: literal in the box, in the output, on screen
            await pilot.press(*MARKUP_SEED)
            assert seed_box.value == MARKUP_SEED
            app.playground.pace = None
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.playground.last_end is not None, 60, "the generation")
            assert app.playground.last_end.error is None and out.text.startswith(MARKUP_SEED)
            await pilot.pause()
            assert MARKUP_SEED in assert_nothing_raw(app)
            # escape sequences, control and bidi characters (pasted): symbols, never sent to the terminal
            assert await generate(pilot, app, ESCAPES_SEED, 200)
            assert app.playground.last_end.error is None
            assert out.text.startswith(ESCAPES_SHOWN) and not any(c in out.text for c in ESC_BYTES)
            shown = assert_nothing_raw(app)
            assert ESCAPES_SHOWN in shown  # the seed box and the output both show the symbols
            assert seed_box.value == ESCAPES_SEED  # only its display changed
            assert app.is_running

    run(body())


def test_unknown_control_and_huge_seeds(tmp_path):
    """Characters outside the vocabulary (letters, emoji, controls, escapes; 100 KB of them): a short
    notification quoting them safely, nothing generated. A 100 KB seed the model knows: it generates,
    shows it, and the app keeps answering keys. An empty seed: refused for a stream model, generated
    from the start of a line for a lines model."""
    stream_model = make_model(TINY_CHARS, "stream")
    app = playground_app(stream_model, tmp_path)
    rng = random.Random(7)

    async def body():
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await pilot.pause()
            out = app.query_one(StreamView)
            assert await generate(pilot, app, "Hi")
            before = out.text
            cases = {
                "héllo wörld 🦜": "'é', 'ö', '🦜'",
                ESCAPES_SEED: "'\\x00', '\\x07', '\\x1b', '\\u202e'",
                "[bold red]ü[/] and [link=https://example.com]x[/link]": "never saw: 'ü'",
                "".join(chr(0x4E00 + rng.randrange(20_000)) for _ in range(100_000)): "more",
            }
            for seed, quoted in cases.items():
                n = len(app.notices)
                assert not await generate(pilot, app, seed)
                note = notes(app)[-1]
                assert len(app.notices) == n + 1 and note.startswith("Unknown characters"), note
                assert quoted in note and len(note) < 400, note
                assert out.text == before  # nothing generated
                shown = flat(assert_nothing_raw(app))
                assert "Unknown characters" in shown, shown[-800:]
                if seed.startswith("[bold red]"):
                    assert seed in shown  # in the seed box, literally
            # a length box holding markup: quoted in the notification, literally
            app.query_one("#seed", Input).value = "Hi"
            app.query_one("#length", Input).value = "[bold]7[/]"
            assert not await refused(pilot, app, app.playground.generate)
            assert "it is '[bold]7[/]'" in notes(app)[-1]
            assert "'[bold]7[/]'" in flat(assert_nothing_raw(app))
            # 100 KB the model knows, pasted
            big = "".join(rng.choice(TINY_CHARS) for _ in range(100_000))
            t0 = time.monotonic()
            assert await generate(pilot, app, big, 50)
            took = time.monotonic() - t0
            end = app.playground.last_end
            assert end.error is None and end.reason == "length" and app.playground.generated == 50
            from tui_gen.core.textsafe import visible

            assert out.text.startswith(visible(big).replace("\t", "    ")[:5000]) and len(out.text) >= 100_050
            assert took < 30, f"a 100 KB seed took {took:.1f}s"
            assert_nothing_raw(app)
            slider = app.playground.temperature
            await pilot.press("ctrl+down")  # keys still work
            assert app.playground.temperature == pytest.approx(slider - 0.05)
            # an empty seed: a stream model needs something to continue
            assert await generate(pilot, app, "") and app.playground.last_end.reason == "error"
            assert "type a seed first" in notes(app)[-1].lower()
            # ... a lines model starts a line
            app.playground.set_model(make_model(TINY_CHARS, "lines"))
            assert await generate(pilot, app, "", 30)
            assert app.playground.last_end.error is None and app.playground.generated >= 1
            assert app.is_running

    run(body())


def test_hostile_text_from_training_and_from_disk(tmp_path, trained_run):
    """Paths, corpus names, warnings and errors with escape sequences and markup, from training events
    and from a run folder's name: shown literally in the training panel, the error panel, the open
    dialog, the resume question and the notifications; nothing reaches the terminal raw."""
    import shutil

    from tui_gen.app.screens import OpenRunScreen
    from tui_gen.core import events as ev

    models = tmp_path / "models"
    hostile_run = models / "\x1b]0;pwn\x07[bold red]run"  # (no "/" in a name)
    shutil.copytree(trained_run, hostile_run)
    app = TuiGenApp(LaunchOptions(train=False, models_dir=str(models)), warm_up=False)

    async def body():
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await pilot.pause()
            app.handle_events(
                [
                    ev.Progress("loading \x1b]0;pwned\x07 [bold]corpus[/]"),
                    ev.Started(
                        device="cpu",
                        framing="lines",
                        corpus="/tmp/\x1b[2J[red]evil.txt",
                        vocab_size=9,
                        parameters=1,
                        train_chars=1,
                        val_chars=1,
                        steps_per_epoch=1,
                        step=0,
                        max_steps=None,
                        max_seconds=60.0,
                        run_dir="models/\x1b]0;t\x07run",
                        warnings=["\x1b[31m[blink]warn[/]"],
                    ),
                    ev.RunWarning(1, "step 1: \x1b[2J [link=https://example.com]x[/link]"),
                ]
            )
            await pilot.pause()
            panel = str(app.query_one(TrainingPanel).query_one("#training-note").render())
            assert "warning: step 1: ␛[2J [link=https://example.com]x[/link]" in panel
            shown = flat(assert_nothing_raw(app))
            assert "␛[2J[red]evil.txt (lines)" in shown and "␛]0;t␇run" in shown
            assert all("\x1b" not in n for n in notes(app))
            # one notification for the batch's two warnings: the newest, and how many came with it
            warned = [n for n in notes(app) if n.startswith("Training warning")]
            assert len(warned) == 1 and "step 1: ␛[2J [link=https://example.com]x[/link]" in warned[0]
            assert "(and 1 more" in warned[0]
            app.handle_events(
                [
                    ev.Failed(
                        "training crashed: ValueError: \x1b]0;pwned\x07 [bold red]boom[/]", "models/\x1b[2Jworker.log"
                    )
                ]
            )
            await pilot.pause()
            error = str(app.query_one(ErrorPanel).render())
            assert "␛]0;pwned␇ [bold red]boom[/]" in error and "␛[2Jworker.log" in error
            assert_nothing_raw(app)
            # a run folder with a hostile name, opened with ctrl+o
            await pilot.press("escape")  # out of the seed box
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: isinstance(app.screen, OpenRunScreen) and app.screen.rows, 20, "the runs")
            await pilot.pause()
            assert "␛]0;pwn␇[bold red]run" in flat(assert_nothing_raw(app))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 30, "the resume question")
            await pilot.pause()
            assert "␛]0;pwn␇[bold red]run" in flat(assert_nothing_raw(app))
            await pilot.press("n")  # just play
            await wait_for(pilot, lambda: app.playground.model is not None, 30, "the model")
            await pilot.pause()
            assert "␛]0;pwn␇[bold red]run" in str(app.query_one("#model-label").render())
            assert any("Checkpoint loaded" in n and "␛]0;pwn␇[bold red]run" in n for n in notes(app))
            assert all("\x1b" not in n for n in notes(app))
            assert_nothing_raw(app)
            assert app.is_running

    run(body())


# ---- the bounds themselves, directly ---------------------------------------------------------------


def test_loss_plot_keeps_a_bounded_evenly_spread_curve():
    from tui_gen.app.widgets import LossPlot
    from tui_gen.app.widgets.loss_plot import MAX_STORED

    plot = LossPlot(smoothing=0.0)  # no smoothing: the stored points are means of the raw ones
    n = 10 * MAX_STORED + 7
    for s in range(1, n + 1):
        plot.add_train(s, 10.0 - 9.0 * s / n)  # a straight line down, from ~10 to 1
        plot.add_val(s, 5.0)
    for points in (plot.train_points, plot.val_points):
        assert MAX_STORED // 2 <= len(points) <= MAX_STORED + 1, len(points)
        xs = [x for x, _ in points]
        assert xs == sorted(xs) and xs[-1] == n  # ordered, and it ends at the newest step
        gaps = [b - a for a, b in zip(xs, xs[1:-1], strict=False)]
        assert max(gaps) <= 2 * min(gaps), (min(gaps), max(gaps))  # evenly spread over the steps
    for x, y in plot.train_points[:-1]:  # a mean of a straight line lies on it
        assert y == pytest.approx(10.0 - 9.0 * x / n, abs=1e-6)
    assert plot.train_points[-1] == (n, pytest.approx(1.0))


def test_warnings_kept_are_bounded_and_counted():
    from tui_gen.app.state import MAX_WARNINGS, TrainingState
    from tui_gen.app.widgets.training_panel import stats_table  # noqa: F401  (the panel reads both)
    from tui_gen.core import events as ev

    s = TrainingState()
    for i in range(10_000):
        s.apply(ev.RunWarning(i, f"warning {i}"))
    assert len(s.warnings) == MAX_WARNINGS and s.warnings[-1] == "warning 9999" and s.warning_count == 10_000
    s.reset_for_new_process(None)
    assert s.warnings == [] and s.warning_count == 0


def test_warning_notifications_are_throttled_and_the_last_one_still_shows(monkeypatch):
    """A burst of warnings in many batches: one notification at once, the rest held and summed up in
    one more when the window has passed, so nothing is lost and the screen is not buried."""
    from textual.notifications import Notify

    import tui_gen.app.app as app_module
    from tui_gen.core import events as ev

    monkeypatch.setattr(app_module, "WARNING_NOTICE_SECONDS", 0.5)
    app = TuiGenApp(LaunchOptions(train=False, models_dir="models-unused"), warm_up=False)

    async def body():
        async with app.run_test(size=NARROW, notifications=True) as pilot:
            await pilot.pause()
            # The notifications the app raises, in order, as it raises them: Textual adds one to
            # app._notifications only when its message is handled, and by then the window's timer may
            # have fired too on a slow machine.
            raised: list[str] = []
            post = app.post_message

            def post_message(message):
                if isinstance(message, Notify):
                    raised.append(f"{message.notification.title}: {message.notification.message}")
                return post(message)

            app.post_message = post_message
            warned = lambda: [n for n in raised if n.startswith("Training warning")]  # noqa: E731
            for i in range(200):
                app.handle_events([ev.RunWarning(i, f"step {i}: [b]disk[/b] \x1b[2J full")])
            # no await since the burst began, so the timer cannot have fired, however long the burst took
            assert warned() == ["Training warning: step 0: [b]disk[/b] ␛[2J full"]
            await wait_for(pilot, lambda: len(warned()) == 2, 60, "the held warnings")
            last = warned()[-1]
            assert "step 199: [b]disk[/b] ␛[2J full" in last and "(and 198 more since the last warning" in last
            await wait_for(pilot, lambda: last in notes(app), 60, "the held warnings' notification")
            assert len(warned()) == 2
            assert app.state.warning_count == 200

    run(body())


def test_samples_panel_shows_the_newest_blocks_in_order_whatever_the_bursts():
    from textual.app import App

    from tui_gen.app.widgets.samples_panel import MAX_BLOCKS

    class One(App):
        def compose(self):
            yield SamplesPanel()

    app = One()

    async def body():
        async with app.run_test(size=(60, 20)) as pilot:
            panel = app.query_one(SamplesPanel)
            step = 0
            for burst in (1, 3, 1, 45, 2, 39, 40, 1, 0, 7):
                for _ in range(burst):
                    step += 1
                    panel.add(step, 0.8, [("s", f"text {step}")])
                await pilot.pause()
                shown = [str(w.render()).split(" ·")[0] for w in panel.query(".sample-block")]
                want = [f"step {s:,}" for s in range(step, max(0, step - MAX_BLOCKS), -1)]
                assert shown == want, (burst, shown[:5], want[:5])
                assert [b[0] for b in panel.blocks] == list(range(step, max(0, step - MAX_BLOCKS), -1))
            assert not panel.query("#samples-empty")

    run(body())
