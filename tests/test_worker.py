"""The app's training process (TrainingProcess): a real spawned process, a tiny model, a tiny corpus."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from support.data import tiny_text
from support.processes import gone
from support.waiting import wait_until
from tui_gen.core import events as ev
from tui_gen.core.budget import Budget
from tui_gen.core.commands import Command, SetBudget
from tui_gen.core.errors import CheckpointError, ConfigError
from tui_gen.core.events import BudgetChanged, Exited, Failed, FinishReason, Paused, Progress, Resumed, Snapshot
from tui_gen.model.sample import Generator, SamplingSettings
from tui_gen.process.parent import TrainingProcess, describe_exit
from tui_gen.process.spec import TrainingSpec
from tui_gen.training.checkpoint import load_checkpoint
from tui_gen.training.setup import new_run_config
from tui_gen.training.snapshot import model_from_snapshot

TINY = dict(
    hidden_sizes=[16, 16],
    seq_len=16,
    overlap=4,
    batch_size=8,
    eval_every=50,
    sample_length=12,
    embedding_dim=8,
    device="cpu",
    warmup_steps=2,
)
LONG = 1_000_000  # steps: a run that only ends when told to


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    p = tmp_path / "tiny.txt"
    p.write_text(tiny_text(200, seed=3), encoding="utf-8")
    return p


@pytest.fixture
def start(tmp_path, corpus_file):
    """start(**spec fields) -> a running TrainingProcess; every one is shut down after the test."""
    processes: list[TrainingProcess] = []

    def go(**kw) -> TrainingProcess:
        settings = {**({} if kw.get("resume") else TINY), **kw.pop("settings", {})}
        spec = TrainingSpec(
            **{
                "corpus": str(corpus_file),
                "out": str(tmp_path / "run"),
                "log_path": str(tmp_path / "worker.log"),
                "threads": 1,
                "settings": settings,
                **kw,
            }
        )
        w = TrainingProcess()
        processes.append(w)
        w.start(spec)
        return w

    yield go
    for w in processes:
        w.shutdown(timeout=1.0)
        assert not w.alive


def until(process: TrainingProcess, pred, timeout: float = 300.0, seen: list | None = None) -> list:
    """Events up to and including the first that pred accepts. The timeout is a deadline, not a speed:
    the child imports torch at nice 10, which beside busy processes took ~100 s."""
    seen = [] if seen is None else seen

    def accepted() -> bool:  # reads what came (get waits up to 0.2 s for it), and stops at pred's event
        for e in process.get(timeout=0.2):
            seen.append(e)
            if pred(e):
                return True
            if isinstance(e, Exited):
                raise AssertionError(f"the training process ended early: {e}; last events {seen[-6:]}")
        return False

    wait_until(accepted, timeout, "the event", every=0, shown=lambda: f"last events {seen[-6:]}")
    return seen


def is_(kind):
    return lambda e: isinstance(e, kind)


def test_a_run_reports_evaluates_snapshots_saves_and_ends(start, tmp_path, capfd):
    w = start(steps=200)
    seen = until(w, is_(Exited))
    kinds = [type(e) for e in seen]
    assert kinds[0] is Progress
    assert kinds.index(ev.Started) < kinds.index(ev.Step) < kinds.index(ev.Eval)
    steps = [e.step for e in seen if isinstance(e, ev.Step)]
    assert steps == sorted(steps) and 0 < len(steps) <= 200
    evals = [e for e in seen if isinstance(e, ev.Eval)]
    assert [e.step for e in evals] == [50, 100, 150, 200]
    # every Eval is followed at once by a Snapshot of that step
    for i, e in enumerate(seen):
        if isinstance(e, ev.Eval):
            assert isinstance(seen[i + 1], Snapshot) and seen[i + 1].step == e.step
    saved = [e for e in seen if isinstance(e, ev.Saved)]
    assert {s.kind for s in saved} == {"best", "last"} and all(Path(s.path).is_file() for s in saved)
    fin = [e for e in seen if isinstance(e, ev.Finished)]
    assert len(fin) == 1 and fin[0].reason == FinishReason.COMPLETED and fin[0].step == 200
    assert isinstance(seen[-1], Exited) and seen[-1].exitcode == 0 and seen[-1].reason is None
    assert not w.alive and w.exitcode == 0 and w.death_reason() is None
    assert w.get(timeout=5) == []  # nothing after Exited, and no waiting for it

    snap = [e for e in seen if isinstance(e, Snapshot)][-1]
    assert snap.meta["step"] == 200 and snap.meta["framing"] == "lines" and "_E_" in snap.meta["stop_strings"]
    assert snap.meta["val_bpc"] == pytest.approx(evals[-1].val_bpc)
    model, vocab, framing, stops = model_from_snapshot(snap)
    assert framing == "lines" and stops == ("\n", "_E_")
    import torch

    text = Generator(model, vocab, framing, stops, generator=torch.Generator().manual_seed(0)).complete(
        "I", SamplingSettings(temperature=0.8), 40
    )
    assert isinstance(text, str) and 0 < len(text) <= 40 and not vocab.unknown_chars(text.replace("\ufffd", ""))

    # the child's output went to the log, none of it to this process's stdout/stderr
    log = (tmp_path / "worker.log").read_text()
    assert "tui-gen training process" in log and "finished (completed)" in log
    out, err = capfd.readouterr()
    assert "tui-gen training process" not in out + err and "step 200" not in out + err

    # resuming: the checkpoint's own corpus and configuration, `steps` more on top of its step
    w2 = start(corpus=None, resume=fin[0].last_path, steps=20)
    seen = until(w2, is_(Exited))
    started = [e for e in seen if isinstance(e, ev.Started)][0]
    assert started.step == 200 and started.corpus == str(tmp_path / "tiny.txt") and started.max_steps == 220
    assert [e for e in seen if isinstance(e, ev.Finished)][0].step == 220 and w2.exitcode == 0


def test_pause_resume_save_snapshot_and_stop(start, tmp_path, capfd):
    w = start(steps=LONG, settings={"eval_every": 100_000})
    seen = until(w, lambda e: isinstance(e, ev.Step) and e.step >= 20)
    assert w.send("pause")
    seen = until(w, is_(Paused), seen=seen)
    paused, paused_at = seen[-1], time.monotonic()
    last = [e for e in seen if isinstance(e, ev.Step)][-1]
    assert paused.step >= last.step  # the latest step is flushed before Paused
    quiet_until = time.monotonic() + 1.0
    while time.monotonic() < quiet_until:
        assert not [e for e in w.get(timeout=0.1) if isinstance(e, ev.Step)]
    assert w.alive

    # while paused: a snapshot and a save happen at once; faulthandler's stack dump goes to the log
    w.send("snapshot")
    snap = until(w, is_(Snapshot))[-1]
    assert snap.step == paused.step
    model_from_snapshot(snap)
    w.send("save")
    saved = until(w, is_(ev.Saved))[-1]
    assert saved.kind == "last" and saved.step == paused.step and load_checkpoint(saved.path).step == paused.step
    os.kill(w.pid, signal.SIGUSR1)
    log = tmp_path / "worker.log"
    wait_until(
        lambda: "most recent call first" in log.read_text(),
        60,
        "faulthandler's stack dump in the log",
        every=0.05,
        shown=lambda: "the log ends:\n" + log.read_text()[-2000:],
    )
    out, err = capfd.readouterr()
    assert "most recent call first" not in out + err

    paused_for = time.monotonic() - paused_at  # at least the quiet second above; the child was paused longer
    w.send("resume")
    seen = until(w, is_(Resumed))
    assert seen[-1].step == paused.step
    seen = until(w, lambda e: isinstance(e, ev.Step) and e.step > paused.step + 5)
    after = [e for e in seen if isinstance(e, ev.Step)][0]
    # the time spent paused is not training time: counted, it alone would put the gap over paused_for
    assert after.elapsed - last.elapsed < paused_for, (after.elapsed - last.elapsed, paused_for)

    w.send("save")
    saved = until(w, is_(ev.Saved))[-1]
    assert saved.step > paused.step and Path(saved.path).is_file()
    w.send("stop")
    seen = until(w, is_(Exited))
    fin = [e for e in seen if isinstance(e, ev.Finished)]
    assert len(fin) == 1 and fin[0].reason == FinishReason.STOPPED and Path(fin[0].last_path).is_file()
    assert load_checkpoint(fin[0].last_path).step == fin[0].step
    assert seen[-1].exitcode == 0 and not w.alive and gone(w.pid)


def test_stop_while_paused_ends_cleanly(start):
    w = start(steps=LONG, settings={"eval_every": 100_000})
    until(w, is_(ev.Started))
    w.send("pause")
    p = until(w, is_(Paused))[-1]
    w.send("stop")
    seen = until(w, is_(Exited))
    fin = [e for e in seen if isinstance(e, ev.Finished)][0]
    assert fin.reason == FinishReason.STOPPED and fin.step == p.step and load_checkpoint(fin.last_path).step == p.step
    assert not [e for e in seen if isinstance(e, ev.Step)]  # no training after the pause
    assert seen[-1].exitcode == 0


def test_stop_before_training_starts(start):
    w = start(steps=LONG)
    w.send("stop")  # lands while the child is still starting up
    seen = until(w, is_(Exited))
    fin = [e for e in seen if isinstance(e, ev.Finished)]
    assert len(fin) == 1 and fin[0].reason == FinishReason.STOPPED and seen[-1].exitcode == 0
    assert fin[0].message == "stopped before training started"
    assert not [e for e in seen if isinstance(e, (ev.Started, ev.Step))]


def test_a_bad_corpus_fails_with_its_message(start, tmp_path):
    w = start(corpus=str(tmp_path / "missing.txt"))
    seen = until(w, is_(Exited))
    failed = [e for e in seen if isinstance(e, Failed)]
    assert len(failed) == 1 and "missing.txt does not exist" in failed[0].message
    assert failed[0].kind == "corpus"  # what happened, as a kind: nobody parses the message
    assert "Traceback" not in failed[0].message
    assert not [e for e in seen if isinstance(e, ev.Started)]
    assert seen[-1].exitcode == 1 and "exited with code 1" in seen[-1].reason
    assert "missing.txt does not exist" in (tmp_path / "worker.log").read_text()


def test_sigkill_mid_run_is_reported_and_the_last_checkpoint_survives(start):
    w = start(steps=LONG, settings={"eval_every": 20})
    saved = until(w, lambda e: isinstance(e, ev.Saved) and e.kind == "last")[-1]
    os.kill(w.pid, signal.SIGKILL)
    wait_until(lambda: not w.alive, 30, "the killed process to be seen gone", every=0.02)
    assert w.exitcode == -signal.SIGKILL
    assert "signal 9 (SIGKILL)" in w.death_reason()
    ended = until(w, is_(Exited))[-1]
    assert ended.exitcode == -9 and "SIGKILL" in ended.reason
    assert load_checkpoint(saved.path).step >= saved.step
    assert not w.send("stop")  # nobody to hear it; no exception either


def test_shutdown_mid_run_stops_cleanly(start):
    w = start(steps=LONG, settings={"eval_every": 100_000})
    until(w, is_(ev.Step))
    pid = w.pid
    assert w.shutdown(timeout=30) == 0
    assert gone(pid) and w.pid not in [p.pid for p in multiprocessing.active_children()]
    seen = until(w, is_(Exited))
    fin = [e for e in seen if isinstance(e, ev.Finished)]
    assert fin and fin[0].reason == FinishReason.STOPPED and Path(fin[0].last_path).is_file()
    assert w.shutdown() == 0  # again: nothing to do


def test_shutdown_escalates_to_kill_and_leaves_no_process(start):
    w = start(steps=LONG)
    until(w, is_(ev.Started))
    pid = w.pid
    os.kill(pid, signal.SIGSTOP)  # deaf to "stop" and to SIGTERM
    t0 = time.monotonic()
    code = w.shutdown(timeout=0.3)
    assert time.monotonic() - t0 < 30  # bounded (about 2.3 s of waits), not a speed: it never hangs
    assert code == -signal.SIGKILL and not w.alive
    assert gone(pid) and pid not in [p.pid for p in multiprocessing.active_children()]
    assert "SIGKILL" in w.death_reason()


def test_the_budget_is_extended_then_shortened_while_training(start):
    w = start(steps=30, settings={"eval_every": 100_000})
    until(w, lambda e: isinstance(e, ev.Step) and e.step >= 5)
    assert w.send(SetBudget(Budget(steps=100_000)))
    longer = until(w, is_(BudgetChanged))[-1]
    assert (longer.max_steps, longer.max_seconds, longer.budget) == (100_000, None, "100000 steps")
    assert longer.progress == pytest.approx(longer.step / 100_000)
    until(w, lambda e: isinstance(e, ev.Step) and e.step > 40)  # past the budget it started with

    assert w.send(SetBudget(Budget(steps=10)))  # below what it has trained: it ends at the next step
    seen = until(w, is_(BudgetChanged))
    shorter = seen[-1]
    assert shorter.max_steps == 10 and shorter.progress == 1.0
    seen = until(w, is_(Exited), seen=seen)
    after = seen[seen.index(shorter) :]
    assert not [e for e in after if isinstance(e, ev.Step)]  # not one step more
    fin = [e for e in after if isinstance(e, ev.Finished)]
    assert len(fin) == 1 and fin[0].reason == FinishReason.COMPLETED and fin[0].step == shorter.step
    ck = load_checkpoint(fin[0].last_path)  # saved the clean way, with the budget it ended with
    assert ck.step == shorter.step and ck.meta["train_config"]["max_steps"] == 10
    assert seen[-1].exitcode == 0


def test_a_budget_shortened_while_paused_ends_the_run_there(start):
    w = start(steps=LONG, settings={"eval_every": 100_000})
    until(w, lambda e: isinstance(e, ev.Step) and e.step >= 3)
    w.send(Command.PAUSE)
    paused = until(w, is_(Paused))[-1]
    w.send(SetBudget(Budget(steps=1)))
    seen = until(w, is_(Exited))
    assert not [e for e in seen if isinstance(e, (ev.Step, Resumed))]  # it ended without resuming
    changed = [e for e in seen if isinstance(e, BudgetChanged)]
    assert len(changed) == 1 and changed[0].step == paused.step and changed[0].progress == 1.0
    fin = [e for e in seen if isinstance(e, ev.Finished)][0]
    assert fin.reason == FinishReason.COMPLETED and fin.step == paused.step
    assert load_checkpoint(fin.last_path).step == paused.step


@pytest.mark.parametrize("paused", [False, True], ids=["training", "paused"])
def test_sigterm_to_the_training_process_saves_last_and_ends_as_terminated(start, tmp_path, paused):
    """systemd (KillMode=control-group), `docker stop` or a process group's kill send SIGTERM to the
    training process itself: it finishes the step, saves `last`, says so, and exits cleanly."""
    w = start(steps=LONG, settings={"eval_every": 100_000})
    seen = until(w, lambda e: isinstance(e, ev.Step) and e.step >= 5)
    if paused:
        w.send(Command.PAUSE)
        until(w, is_(Paused), seen=seen)
    os.kill(w.pid, signal.SIGTERM)
    seen = until(w, is_(Exited), seen=seen)
    fin = [e for e in seen if isinstance(e, ev.Finished)]
    assert len(fin) == 1 and fin[0].reason == FinishReason.TERMINATED, fin
    assert "SIGTERM" in fin[0].message
    last_step = max(e.step for e in seen if isinstance(e, (ev.Step, Paused)))
    assert fin[0].step == last_step  # the step under way was finished, no more after it
    ck = load_checkpoint(fin[0].last_path)
    assert ck.step == fin[0].step and Path(fin[0].last_path) == tmp_path / "run" / "last.safetensors"
    assert seen[-1].exitcode == 0 and seen[-1].reason is None  # a clean end, not a death
    assert "finished (terminated)" in (tmp_path / "worker.log").read_text()


# ---- in-process pieces: no child needed ------------------------------------------------------------


def test_a_spec_becomes_the_shared_run_request():
    spec = TrainingSpec(settings={"max_minutes": None, "max_steps": 7, "hidden_sizes": [8]})
    cfg = new_run_config(spec.run_request())
    assert cfg.max_minutes is None and cfg.max_steps == 7 and cfg.hidden_sizes == [8]
    cfg = new_run_config(TrainingSpec(steps=30).run_request())
    assert cfg.max_steps == 30 and cfg.max_minutes is None
    with pytest.raises(ConfigError, match="unknown training setting 'bogus'"):
        new_run_config(TrainingSpec(settings={"bogus": 1}).run_request())
    with pytest.raises(ConfigError, match="seq-len"):
        new_run_config(TrainingSpec(settings={"seq_len": 0}).run_request())
    with pytest.raises(ConfigError, match="--seq-len must be a whole number, got '50'"):
        new_run_config(TrainingSpec(settings={"seq_len": "50"}).run_request())


def test_describe_exit_and_bad_commands():
    assert describe_exit(None) is None and describe_exit(0) is None
    assert "signal 15 (SIGTERM)" in describe_exit(-15)
    assert "exited with code 3; see x.log" in describe_exit(3, "x.log")
    w = TrainingProcess()
    for bad in ("explode", 3, Budget(minutes=2)):
        with pytest.raises(ValueError):
            w.send(bad)
    assert not w.send("pause") and not w.send(SetBudget(Budget(steps=5)))  # fine commands, nobody to hear
    assert w.get(timeout=0) == [] and not w.alive and w.shutdown() is None


class _ScriptedTrainer:
    """The part of Trainer the child's driver uses: records what it was asked, yields the given events."""

    def __init__(self, events) -> None:
        self.events, self.step, self.best_bpc = events, 0, None
        self.stop_requested = self.budget_spent = False
        self.asked: list[str] = []

    def run(self):
        for e in self.events:
            self.step = e.step
            yield e

    def request_stop(self, reason=FinishReason.STOPPED) -> None:
        self.asked.append("stop")
        self.stop_requested = True

    def request_save(self) -> None:
        self.asked.append("save at the next step")

    def request_eval(self) -> None:
        self.asked.append("eval")

    def save_now(self, kind):
        self.asked.append(f"save {kind} now")
        yield ev.Saved(self.step, kind, "last.safetensors")

    def set_budget(self, budget):
        self.asked.append(f"budget {budget}")
        self.budget_spent = budget.steps is not None and budget.steps <= self.step
        return BudgetChanged(self.step, budget.steps, None, 1.0 if self.budget_spent else 0.5, str(budget))


class _ScriptedChannel:
    """The child's channel: every command is waiting from the start; what is sent is kept."""

    def __init__(self, commands) -> None:
        self.commands, self.sent = list(commands), []

    def send(self, obj) -> None:
        self.sent.append(obj)

    def poll(self):
        out, self.commands = self.commands, []
        return out

    def wait(self, interrupted=lambda: False):
        return self.commands.pop(0) if self.commands else Command.STOP


def test_one_command_handler_while_training_and_while_paused(monkeypatch):
    """The child acts on a command the same way wherever it arrives, except where pausing changes what
    it means: save is at once while paused, resume only ends a pause, pause while paused is nothing."""
    from tui_gen.process import child

    monkeypatch.setattr(child, "make_snapshot", lambda trainer: Snapshot(trainer.step, b"", {}))
    step = ev.Step(1, 0, 3.0, 1e-3, 100.0, 0.1, 0.1)
    trainer = _ScriptedTrainer([step, ev.Finished(1, FinishReason.STOPPED, "stopped", None, None, None)])
    chan = _ScriptedChannel(
        [
            Command.RESUME,
            Command.SAVE,
            Command.EVAL,
            Command.PAUSE,  # training
            Command.SAVE,
            Command.PAUSE,
            Command.SNAPSHOT,
            SetBudget(Budget(steps=5)),  # paused
            Command.RESUME,
            Command.STOP,
            Command.STOP,
        ]
    )  # training again
    child._Driver(trainer, chan, [], lambda: False).run()
    assert trainer.asked == ["save at the next step", "eval", "save last now", "budget 5 steps", "stop"]
    kinds = [type(e).__name__ for e in chan.sent]
    assert kinds == ["Step", "Paused", "Saved", "Snapshot", "BudgetChanged", "Resumed", "Finished"], kinds

    # a budget already spent ends the pause (the run finishes now), and a stop after SIGTERM keeps its reason
    trainer = _ScriptedTrainer([ev.Step(9, 0, 3.0, 1e-3, 100.0, 0.1, 0.1)])
    chan = _ScriptedChannel([Command.PAUSE, SetBudget(Budget(steps=5))])
    child._Driver(trainer, chan, [], lambda: False).run()
    assert [type(e).__name__ for e in chan.sent] == ["Step", "Paused", "BudgetChanged", "Finished"]
    trainer = _ScriptedTrainer([step])
    trainer.stop_requested = True  # SIGTERM asked already
    child._Driver(trainer, _ScriptedChannel([Command.PAUSE, Command.STOP]), [], lambda: True).run()
    assert trainer.asked == []


def test_a_corrupt_snapshot_is_a_checkpoint_error():
    with pytest.raises(CheckpointError, match="the training snapshot of step 3"):
        model_from_snapshot(Snapshot(3, b"\x10\x00\x00\x00\x00\x00\x00\x00{}", {}))


def test_the_training_process_runs_at_its_default_priority_with_every_core(start, monkeypatch):
    """It trains on all the cores (the UI kept one back before: 0.71x `tui-gen train`'s speed) at
    TRAINING_NICENESS (the UI's own: nice 10 starved it beside any busy process)."""
    from tui_gen.process.child import NICENESS_ENV, TRAINING_NICENESS, default_threads

    monkeypatch.delenv(NICENESS_ENV, raising=False)  # the default, not the tests' own (conftest.py)
    assert default_threads() == len(os.sched_getaffinity(0))
    w = start(steps=LONG)
    until(w, is_(ev.Started))
    nice = int(Path(f"/proc/{w.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    assert nice == min(19, os.nice(0) + TRAINING_NICENESS)


def test_the_training_priority_can_be_set_and_nonsense_keeps_the_default():
    from tui_gen.process.child import NICENESS_ENV, TRAINING_NICENESS, training_niceness

    assert training_niceness({}) == TRAINING_NICENESS == 0
    assert training_niceness({NICENESS_ENV: "10"}) == 10
    assert training_niceness({NICENESS_ENV: " 19 "}) == 19
    for nonsense in ("", "-5", "20", "ten", "1.5"):
        assert training_niceness({NICENESS_ENV: nonsense}) == TRAINING_NICENESS, nonsense


def test_a_budget_set_while_training_counts_from_where_this_run_started(tmp_path, tiny_corpus, tiny_config):
    """ "20 minutes" or "2000 steps" mean this run's length, as --minutes / --steps do on resume: on a
    resumed run they count from the checkpoint's step and training time, not from step 0."""
    from dataclasses import replace

    from tui_gen.core.errors import ConfigError
    from tui_gen.training.trainer import Trainer

    first = Trainer(tiny_corpus, replace(tiny_config, max_steps=12), run_dir=tmp_path)
    for _ in first.run():
        pass
    ck = load_checkpoint(tmp_path / "last.safetensors")
    trainer = Trainer(tiny_corpus, replace(tiny_config, max_steps=20), run_dir=tmp_path, resume=ck)
    events = trainer.run()
    started = next(events)
    assert started.step == 12 and started.elapsed == pytest.approx(ck.meta["elapsed"])
    step = next(e for e in events if isinstance(e, ev.Step))
    changed = trainer.set_budget(Budget(steps=5))
    assert (changed.step, changed.max_steps, changed.max_seconds, changed.budget) == (13, 17, None, "5 steps")
    changed = trainer.set_budget(Budget(minutes=30))
    assert changed.max_steps is None and changed.max_seconds == pytest.approx(ck.meta["elapsed"] + 1800)
    assert changed.progress == pytest.approx(step.elapsed / changed.max_seconds)
    changed = trainer.set_budget(Budget(steps=1))  # 13 is this run's first step: the budget is spent
    assert changed.progress == 1.0 and trainer.budget_spent
    rest = list(events)
    assert not [e for e in rest if isinstance(e, ev.Step)]
    assert isinstance(rest[-1], ev.Finished) and rest[-1].reason == FinishReason.COMPLETED and rest[-1].step == 13
    for bad in (Budget(), Budget(minutes=1, steps=1), Budget(steps=0), Budget(minutes=float("nan"))):
        with pytest.raises(ConfigError):
            trainer.set_budget(bad)


def test_save_now_saves_between_events(tmp_path, tiny_corpus, tiny_config):
    from dataclasses import replace

    from tui_gen.training.trainer import Trainer

    trainer = Trainer(tiny_corpus, replace(tiny_config, max_steps=100, eval_every=1000), run_dir=tmp_path)
    events = trainer.run()
    next(e for e in events if isinstance(e, ev.Step) and e.step == 3)
    saved = list(trainer.save_now("last"))
    assert [type(e) for e in saved] == [ev.Saved] and saved[0].step == 3
    assert load_checkpoint(tmp_path / "last.safetensors").step == 3
    events.close()


def test_a_snapshot_loads_from_memory_with_the_checkpoint_checks(monkeypatch, tiny_corpus, tiny_config):
    """No temporary file (the weights go from bytes to the model), and the same checks as a file."""
    import tempfile

    import torch

    from tui_gen.training.snapshot import make_snapshot
    from tui_gen.training.trainer import Trainer

    def no_files(*args, **kwargs):
        raise AssertionError("a snapshot must not go through a temporary file")

    for name in ("TemporaryDirectory", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, no_files)
    trainer = Trainer(tiny_corpus, tiny_config)
    snap = make_snapshot(trainer)
    model, vocab, framing, stops = model_from_snapshot(snap)
    assert framing == "lines" and vocab.chars == trainer.vocab.chars
    for (name, theirs), mine in zip(trainer.model.state_dict().items(), model.state_dict().values(), strict=False):
        assert torch.equal(theirs, mine), name
    with pytest.raises(CheckpointError, match="the training snapshot of step 0 is corrupted: .* bytes after"):
        model_from_snapshot(Snapshot(0, snap.blob + b"\0", snap.meta))
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    with pytest.raises(CheckpointError, match="the training snapshot of step 0 is corrupted: the weight .* NaN"):
        model_from_snapshot(make_snapshot(trainer))
