"""The run folder a trainer holds (tui_gen.runs.folder, issue 20): whatever the user does to its path
while a run trains, the run writes only into the folder it locked, and says so when the path stops
naming it.

- moved or renamed: one warning, `last` saved into the folder's new place beside its log, the run
  ends as stopped; nothing appears at the old path;
- deleted: one warning, nothing re-creates the path (so nothing there can be resumed by a second
  trainer), the run ends as failed;
- a symbolic link at metrics.jsonl is never followed: the log is not written, one warning says why;
- --overwrite replaces the whole run, its log included; a folder holding only a run's log is a run.

Each test here failed on the code before: the next save re-created the path (holding checkpoints
only), the log went on into the moved or deleted folder, a link was followed, an overwritten run's
log was appended to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.data import TINY_FLAGS, tiny_text
from support.processes import child_env
from support.waiting import wait_until
from tui_gen.core import events as ev
from tui_gen.core.errors import CheckpointError, RunFolderError
from tui_gen.core.events import FinishReason
from tui_gen.runs.metrics_log import read_log
from tui_gen.training.checkpoint import read_meta
from tui_gen.training.setup import RunRequest, prepare_run

TINY = {
    "hidden_sizes": [16],
    "seq_len": 16,
    "overlap": 4,
    "batch_size": 8,
    "eval_every": 5,
    "threads": 1,
    "embedding_dim": 8,
    "sample_length": 8,
    "warmup_steps": 1,
    "device": "cpu",
}
LONG = 1_000_000  # steps: a run (in another process) that only ends when something stops it
SHORT = 50  # steps, evaluating every 5: in this process, the path goes after the first save (step 5)
DEADLINE = 300.0  # seconds: a deadline, never a speed (a child imports torch; the machine may be busy)


@pytest.fixture
def corpus(tmp_path, lines_corpus_text) -> Path:
    p = tmp_path / "c.txt"
    p.write_text(lines_corpus_text, encoding="utf-8")
    return p


def first_save_then(trainer, act) -> list:
    """All of trainer's events; act() is called once, right after its first `last` save."""
    events, acted = [], False
    for e in trainer.run():
        events.append(e)
        if not acted and isinstance(e, ev.Saved) and e.kind == "last":
            acted = True
            act()
    assert acted, events[-3:]
    return events


def warnings(events) -> list[str]:
    return [e.message for e in events if isinstance(e, ev.RunWarning)]


# ---- moved, deleted, replaced under a running trainer ----------------------------------------------------


def test_a_run_folder_moved_under_its_trainer_keeps_its_checkpoints_and_log_together(corpus, tmp_path):
    run, moved = tmp_path / "run", tmp_path / "run-old"
    trainer = prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=SHORT, out=str(run))).trainer

    def move():
        os.rename(run, moved)
        # the first trainer still holds (and locks) the folder under its new name: no second writer
        with pytest.raises(RunFolderError, match="is being trained by"):
            prepare_run(RunRequest(resume=str(moved), steps=1))

    events = first_save_then(trainer, move)
    said = warnings(events)
    assert len(said) == 1 and "moved to" in said[0] and str(moved) in said[0], said
    fin = events[-1]
    assert isinstance(fin, ev.Finished) and fin.reason == FinishReason.STOPPED, fin
    assert fin.step < SHORT and str(moved) in fin.message
    assert Path(fin.last_path) == moved / "last.safetensors"
    assert not run.exists()  # nothing re-created the old path
    assert read_meta(moved / "last.safetensors")["step"] == fin.step  # `last` saved where the folder went
    logged, skipped = read_log(moved / "metrics.jsonl")  # the log went with it, to the end
    assert skipped == 0 and isinstance(logged[-1][0], ev.Finished) and logged[-1][0].step == fin.step
    assert [e.message for e, _ in logged if isinstance(e, ev.RunWarning)] == said
    # the first trainer has let go: the moved run resumes where it stopped
    assert prepare_run(RunRequest(resume=str(moved), steps=1)).trainer.step == fin.step


def test_a_run_folder_deleted_under_its_trainer_is_never_created_again(corpus, tmp_path):
    run = tmp_path / "run"
    trainer = prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=SHORT, out=str(run))).trainer
    events = first_save_then(trainer, lambda: shutil.rmtree(run))
    said = warnings(events)
    assert len(said) == 1 and "deleted" in said[0] and str(run) in said[0], said
    fin = events[-1]
    assert isinstance(fin, ev.Finished) and fin.reason == FinishReason.FAILED and fin.step < SHORT, fin
    assert fin.last_path is None and fin.best_path is None and "deleted" in fin.message
    assert not os.path.lexists(run)
    with pytest.raises(CheckpointError):  # nothing there for a second trainer to resume
        prepare_run(RunRequest(resume=str(run), steps=1))


def test_a_run_folder_replaced_under_its_trainer_leaves_the_new_folder_alone(corpus, tmp_path):
    run, moved = tmp_path / "run", tmp_path / "run-old"

    def replace():
        os.rename(run, moved)
        run.mkdir()
        (run / "theirs.txt").write_text("not the trainer's")

    trainer = prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=SHORT, out=str(run))).trainer
    events = first_save_then(trainer, replace)
    said = warnings(events)
    assert len(said) == 1 and str(moved) in said[0] and "another folder" in said[0], said
    assert events[-1].reason == FinishReason.STOPPED and events[-1].step < SHORT
    assert sorted(p.name for p in run.iterdir()) == ["theirs.txt"]
    assert read_meta(moved / "last.safetensors")["step"] == events[-1].step


def _wait_for(condition, proc: subprocess.Popen, what: str) -> None:
    """Until condition() holds; the child killed if it never does (no test would end it then)."""

    def seen() -> bool:
        if condition():
            return True
        if proc.poll() is not None:
            raise AssertionError(
                f"tui-gen train ended (exit {proc.returncode}) before {what}: "
                f"{proc.stderr.read().decode(errors='replace')[-2000:]}"
            )
        return False

    try:
        wait_until(seen, DEADLINE, f"the {what}", every=0.05)
    except AssertionError:
        proc.kill()
        raise


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("tui-gen train did not stop after its run folder went: " + err.decode()[-2000:]) from None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.mark.parametrize("what", ["rm -rf", "mv"])
def test_the_cli_says_when_its_run_folder_goes_and_stops(tmp_path, what):
    corpus = tmp_path / "c.txt"
    corpus.write_text(tiny_text(200), encoding="utf-8")
    run, moved = tmp_path / "models" / "del", tmp_path / "models" / "del-old"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui_gen",
            "train",
            str(corpus),
            "--steps",
            str(LONG),
            "--eval-every",
            "5",
            "--out",
            str(run),
            "--device",
            "cpu",
            "--quiet",
            *TINY_FLAGS,
        ],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    _wait_for(lambda: (run / "last.safetensors").exists(), proc, "first checkpoint")
    if what == "mv":
        os.rename(run, moved)
    else:  # as `rm -rf`: a save in flight may add a file while the folder is emptied; delete until gone
        deadline = time.monotonic() + DEADLINE
        while os.path.lexists(run) and time.monotonic() < deadline:
            shutil.rmtree(run, ignore_errors=True)
    code, out, err = _finish(proc)
    assert "Traceback" not in err, err[-3000:]
    warned = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warned) == 1, err[-3000:]
    assert not os.path.lexists(run)  # not re-created, by a save or by the log
    if what == "mv":
        assert code == 0 and "moved to" in warned[0] and str(moved) in out, (out, err[-2000:])
        assert "checkpoints in " + str(moved) in out
        assert (moved / "metrics.jsonl").is_file() and (moved / "last.safetensors").is_file()
    else:
        assert code == 1 and "deleted" in warned[0], err[-2000:]
        errors = [ln for ln in err.splitlines() if ln.startswith("tui-gen: error:")]
        assert len(errors) == 1 and "deleted" in errors[0], err[-2000:]


def test_the_apps_training_process_says_when_its_run_folder_is_deleted(tmp_path):
    from tui_gen.process.parent import TrainingProcess
    from tui_gen.process.spec import TrainingSpec

    corpus = tmp_path / "c.txt"
    corpus.write_text(tiny_text(200), encoding="utf-8")
    run = tmp_path / "run"
    process = TrainingProcess()
    process.start(
        TrainingSpec(
            corpus=str(corpus),
            out=str(run),
            log_path=str(tmp_path / "worker.log"),
            threads=1,
            steps=LONG,
            settings={k: v for k, v in TINY.items() if k != "threads"},
        )
    )
    seen: list = []
    try:
        deadline = time.monotonic() + DEADLINE
        deleted = False
        while not (seen and isinstance(seen[-1], ev.Exited)):
            assert time.monotonic() < deadline, f"timed out; last events {seen[-6:]}"
            for e in process.get(timeout=0.2):
                seen.append(e)
                if not deleted and isinstance(e, ev.Saved) and e.kind == "last":
                    shutil.rmtree(run)
                    deleted = True
    finally:
        process.shutdown(timeout=1.0)
    said = warnings(seen)
    assert len(said) == 1 and "deleted" in said[0], said
    fin = [e for e in seen if isinstance(e, ev.Finished)]
    assert len(fin) == 1 and fin[0].reason == FinishReason.FAILED and fin[0].step < LONG
    assert seen[-1].exitcode == 0  # it ended the clean way, having said why
    assert not os.path.lexists(run)


# ---- never through a link ---------------------------------------------------------------------------------


def test_a_link_at_the_metrics_log_is_never_followed(corpus, tmp_path):
    run, outside = tmp_path / "run", tmp_path / "elsewhere" / "victim.jsonl"
    list(prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=6, out=str(run))).trainer.run())
    outside.parent.mkdir()
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").symlink_to(outside)  # dangling: following it would create the file outside
    events = list(prepare_run(RunRequest(resume=str(run), steps=2)).trainer.run())
    said = warnings(events)
    assert len(said) == 1 and "symbolic link" in said[0], said
    assert not os.path.lexists(outside)
    assert (run / "metrics.jsonl").is_symlink()  # left as it is: the user's doing, not the run's
    assert events[-1].reason == FinishReason.COMPLETED and read_meta(run / "last.safetensors")["step"] == 8

    outside.write_text("someone's file\n")  # a link to an existing file: not appended to either
    events = list(prepare_run(RunRequest(resume=str(run), steps=2)).trainer.run())
    assert ["symbolic link" in w for w in warnings(events)] == [True]
    assert outside.read_text() == "someone's file\n"
    # a new run does not take over a folder with a run's names in it, a link included
    with pytest.raises(RunFolderError, match="already holds a run"):
        prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=2, out=str(run)))


def test_a_metrics_log_with_another_name_is_not_appended_to(corpus, tmp_path):
    """A hard link cannot be refused by O_NOFOLLOW: the log with other names (a backup made with
    hard links, or a link to someone's file) is left as it is, and training goes on without a log."""
    run, other = tmp_path / "run", tmp_path / "backup.jsonl"
    list(prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=6, out=str(run))).trainer.run())
    os.link(run / "metrics.jsonl", other)
    before = other.read_bytes()
    events = list(prepare_run(RunRequest(resume=str(run), steps=2)).trainer.run())
    said = warnings(events)
    assert len(said) == 1 and "hard link" in said[0] and "move the copy over it" in said[0], said
    assert other.read_bytes() == before
    assert events[-1].reason == FinishReason.COMPLETED and read_meta(run / "last.safetensors")["step"] == 8


# ---- --overwrite replaces the whole run ---------------------------------------------------------------------


def test_overwrite_replaces_the_whole_run_its_log_included(corpus, tmp_path):
    run = tmp_path / "run"
    list(prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=20, out=str(run))).trainer.run())
    (run / "notes.txt").write_text("mine")  # not tui-gen's: stays
    (run / "last.safetensors.abc123.tmp").write_bytes(b"a save killed mid-write")
    events = list(
        prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=6, out=str(run), overwrite=True)).trainer.run()
    )
    assert events[-1].reason == FinishReason.COMPLETED
    logged, skipped = read_log(run / "metrics.jsonl")
    assert skipped == 0
    assert [type(e) for e, _ in logged].count(ev.Started) == 1  # the new run's log alone
    assert max(e.step for e, _ in logged) == 6
    assert read_meta(run / "best.safetensors")["step"] <= 6 and read_meta(run / "last.safetensors")["step"] == 6
    assert sorted(p.name for p in run.iterdir()) == [
        "best.safetensors",
        "last.safetensors",
        "metrics.jsonl",
        "notes.txt",
    ]


def test_a_folder_holding_only_a_runs_log_is_a_run(corpus, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    log = b'{"type":"start","time":1,"step":0}\n'  # a run killed before its first save leaves only this
    (run / "metrics.jsonl").write_bytes(log)
    with pytest.raises(RunFolderError, match="--overwrite"):
        prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=2, out=str(run)))
    assert (run / "metrics.jsonl").read_bytes() == log
    list(
        prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=2, out=str(run), overwrite=True)).trainer.run()
    )
    assert not (run / "metrics.jsonl").read_bytes().startswith(log)


def test_overwrite_that_cannot_start_leaves_the_old_run_whole(corpus, tmp_path):
    """--overwrite replaces the run once the new one is built: a corpus that cannot be read (here, a
    missing one) leaves the old checkpoints and log as they were."""
    from tui_gen.core.errors import CorpusError

    run = tmp_path / "run"
    list(prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=4, out=str(run))).trainer.run())
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(CorpusError):
        prepare_run(
            RunRequest(corpus=str(tmp_path / "missing.txt"), settings=TINY, steps=4, out=str(run), overwrite=True)
        )
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
