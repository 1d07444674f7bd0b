"""tui_gen.runs.listing: the listing of every run under a models folder, and a run's bounded curves."""

from __future__ import annotations

import json
import os

import pytest

from support.runs import corrupt_run, train_run
from tui_gen.core import events as ev
from tui_gen.core.errors import RunFolderError
from tui_gen.runs import listing as runs
from tui_gen.runs.header import read_meta
from tui_gen.runs.metrics_log import read_log


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two real runs (a GRU and an LSTM, 30 steps each) and nothing else."""
    root = tmp_path_factory.mktemp("models")
    train_run(root / "gru-run", "gru")
    train_run(root / "lstm-run", "lstm", hidden=[12])
    return root


def by_name(rows):
    return {r.name: r for r in rows}


def line(**record) -> str:
    return json.dumps(record) + "\n"


def step_line(step, bpc=2.0, chars=None, elapsed=None, **extra) -> str:
    return line(
        type="step",
        time=1.0,
        step=step,
        epoch=0,
        train_bpc=bpc,
        lr=1e-3,
        chars_per_sec=1.0,
        elapsed=float(step) / 10 if elapsed is None else elapsed,
        progress=None,
        chars_seen=step * 100 if chars is None else chars,
        **extra,
    )


def eval_line(step, bpc, best=None) -> str:
    return line(
        type="eval",
        time=1.0,
        step=step,
        val_bpc=bpc,
        best_bpc=bpc if best is None else best,
        is_best=True,
        seconds=0.1,
        elapsed=step / 10,
        chars_seen=step * 100,
    )


def start_line(step=0, corpus="book.txt", **extra) -> str:
    return line(
        **{
            "type": "start",
            "time": 1.0,
            "device": "cpu",
            "framing": "stream",
            "corpus": corpus,
            "vocab_size": 40,
            "parameters": 1234,
            "train_chars": 10,
            "val_chars": 1,
            "steps_per_epoch": 5,
            "step": step,
            "max_steps": None,
            "max_seconds": None,
            "run_dir": None,
            "model": "LSTM 64",
            **extra,
        }
    )


# ---- the listing -------------------------------------------------------------------------------------


def test_lists_real_runs_with_their_figures(models):
    from tui_gen.core.model_size import parameter_count

    rows = by_name(runs.list_runs(models))
    assert set(rows) == {"gru-run", "lstm-run"}
    gru, lstm = rows["gru-run"], rows["lstm-run"]
    assert (gru.model, lstm.model) == ("GRU 16,16", "LSTM 12")
    for run in (gru, lstm):
        meta = read_meta(models / run.name)
        assert run.corpus == "tiny" and run.framing == "lines"
        assert run.step == 30
        assert run.best_bpc == pytest.approx(meta["best_val_bpc"])
        vocab = len(meta["vocab"])  # the header's tensor table agrees with the model's own formula
        mc = meta["model_config"]
        assert run.parameters == parameter_count(mc["vocab_size"], mc["hidden_sizes"], mc["cell"], mc["embedding_dim"])
        assert vocab > 0
        assert run.has_checkpoint and run.has_log and run.problem is None
        assert run.ended == "completed" and not run.training
        assert run.last_activity is not None


def test_a_run_being_trained_is_marked(models):
    from tui_gen.runs.lock import lock_run_folder

    lock = lock_run_folder(models / "gru-run")
    try:
        rows = by_name(runs.list_runs(models))
        assert rows["gru-run"].training_pid == os.getpid()
        assert rows["lstm-run"].training_pid is None
    finally:
        lock.release()
    assert by_name(runs.list_runs(models))["gru-run"].training_pid is None


def test_a_run_with_a_log_and_no_checkpoint_yet_counts(tmp_path):
    run = tmp_path / "young"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        start_line(model_config={"cell": "lstm", "hidden_sizes": [64], "embedding_dim": 0})
        + "".join(step_line(s) for s in range(1, 41))
        + '{"type": "st'
    )
    (tmp_path / "not-a-run").mkdir()  # no checkpoint, no log: not listed
    (tmp_path / "worker.log").write_text("x")
    (row,) = runs.list_runs(tmp_path)
    assert row.name == "young" and not row.has_checkpoint and row.has_log
    assert (row.model, row.corpus, row.framing, row.parameters, row.step) == (
        "LSTM 64 one-hot",
        "book.txt",
        "stream",
        1234,
        40,
    )
    assert row.best_bpc is None and row.problem is None


def test_garbage_shows_what_it_can_and_hostile_text_is_made_safe(tmp_path, models):
    corrupt_run(tmp_path / "broken")
    hostile = tmp_path / "\x1b[31mred"
    hostile.mkdir()
    (hostile / "metrics.jsonl").write_text(
        start_line(corpus="/x/\x1b]0;owned\x07" + "a" * 5000, parameters=0) + step_line(5, bpc=1e300) + step_line(7)
    )
    rows = by_name(runs.list_runs(tmp_path))
    broken = rows["broken"]
    assert broken.problem and "not a tui-gen checkpoint" in broken.problem and "\n" not in broken.problem
    assert broken.step is None and broken.model is None
    (name,) = [n for n in rows if n != "broken"]
    assert "\x1b" not in name
    odd = rows[name]
    assert "\x1b" not in odd.corpus and "\x07" not in odd.corpus and len(odd.corpus) <= runs.MAX_TEXT
    assert odd.parameters is None and odd.step == 7  # no parameters is no count (a negative one: no line)
    curves = runs.read_curves(hostile)
    assert [column[0] for column in curves.train_points()] == [7.0, 700.0, 0.7, 2.0]  # 1e300 bits/char left out
    assert curves.skipped == 1
    broken_curves = runs.read_curves(tmp_path / "broken")
    assert broken_curves.empty and "not a tui-gen checkpoint" in broken_curves.problem


def test_a_missing_or_unreadable_models_folder(tmp_path):
    assert runs.list_runs(tmp_path / "nowhere") == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="cannot read the models folder"):
        runs.list_runs(tmp_path / "file")
    curves = runs.read_curves(tmp_path / "gone")
    assert curves.empty and "not there any more" in curves.problem


# ---- curves --------------------------------------------------------------------------------------------


def test_curves_of_a_real_run_match_its_log(models):
    curves = runs.read_curves(models / "gru-run")
    events, skipped = read_log(models / "gru-run" / "metrics.jsonl")
    evals = [e for e, _ in events if isinstance(e, ev.Eval)]
    steps = [e for e, _ in events if isinstance(e, ev.Step)]
    val = curves.val_points()
    assert val[runs.STEP] == [float(e.step) for e in evals] == [10.0, 20.0, 30.0]
    assert val[runs.CHARS] == [float(e.chars_seen) for e in evals]
    assert val[runs.TIME] == [e.elapsed for e in evals]
    assert val[runs.BPC] == [e.val_bpc for e in evals]
    train = curves.train_points()
    assert train[runs.STEP] == [float(e.step) for e in steps] and train[runs.STEP][-1] == 30.0
    assert train[runs.CHARS] == sorted(train[runs.CHARS]) and train[runs.CHARS][0] > 0
    assert curves.source == "log" and curves.problem is None and skipped == 0


def test_a_run_without_a_log_falls_back_to_its_checkpoint_history(models, tmp_path):
    import shutil

    run = tmp_path / "old"
    shutil.copytree(models / "gru-run", run)
    (run / "metrics.jsonl").unlink()
    curves = runs.read_curves(run)
    assert curves.source == "checkpoint"
    assert curves.val_points()[runs.STEP] == [10.0, 20.0, 30.0]
    assert all(x != x for x in curves.val_points()[runs.CHARS])  # NaN: the history has no characters


def test_a_100k_step_log_stays_bounded_and_even(tmp_path):
    run = tmp_path / "long"
    run.mkdir()
    n = 100_000
    with open(run / "metrics.jsonl", "w") as f:
        f.write(start_line())
        for s in range(1, n + 1):
            f.write(step_line(s, bpc=10.0 - 9.0 * s / n))
            if s % 100 == 0:
                f.write(eval_line(s, 5.0))
    curves = runs.read_curves(run)
    for points, total in ((curves.train_points(), n), (curves.val_points(), n // 100)):
        assert len(points[runs.STEP]) <= runs.MAX_CURVE_POINTS + 1
        assert len(points[runs.STEP]) >= min(total, runs.MAX_CURVE_POINTS // 2)
        xs = points[runs.STEP]
        assert xs == sorted(xs) and xs[-1] == n  # it ends at the newest step
        gaps = [b - a for a, b in zip(xs, xs[1:-1], strict=False)]
        assert max(gaps) <= 2 * min(gaps)  # evenly spread
    train = curves.train_points()
    for x, y in zip(train[runs.STEP][:-1], train[runs.BPC][:-1], strict=False):  # a mean of a straight line lies on it
        assert y == pytest.approx(10.0 - 9.0 * x / n, abs=1e-6)
    assert curves.train.stride > 1


def test_a_resumed_run_drops_what_was_never_saved(tmp_path):
    """Killed at step 50 after saving at 30, then resumed from 30: the curve goes 1..30, 31..60, never back."""
    run = tmp_path / "resumed"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        start_line()
        + "".join(step_line(s) for s in range(1, 51))
        + eval_line(30, 3.0)
        + eval_line(40, 2.9)
        + start_line(step=30)
        + "".join(step_line(s) for s in range(31, 61))
    )
    curves = runs.read_curves(run)
    assert curves.train_points()[runs.STEP] == [float(s) for s in range(1, 61)]
    assert curves.val_points()[runs.STEP] == [30.0]


def test_curve_reader_follows_a_growing_log_and_stops_when_asked(tmp_path):
    run = tmp_path / "growing"
    run.mkdir()
    log = run / "metrics.jsonl"
    log.write_text(start_line() + "".join(step_line(s) for s in range(1, 11)) + step_line(11)[:20])
    reader = runs.open_curves(run)
    assert reader.curves.train_points()[runs.STEP] == [float(s) for s in range(1, 11)]
    with open(log, "a") as f:
        f.write(step_line(11)[20:] + "".join(step_line(s) for s in range(12, 21)))
    assert reader.update()
    assert reader.curves.train_points()[runs.STEP] == [float(s) for s in range(1, 21)]  # each exactly once
    assert not reader.update()
    stopped = runs.open_curves(run, should_stop=lambda: True)
    assert stopped.curves.empty  # asked to stop before reading: nothing read


def test_even_buckets_keep_the_newest_point():
    b = runs.EvenBuckets(2, cap=8)
    for i in range(1, 101):
        b.add(float(i), float(i) * 2)
    xs, ys = b.points()
    assert len(xs) <= 9 and xs[-1] == 100.0 and ys[-1] == 200.0
    b.drop_after(0, 50.0)
    assert max(b.points()[0]) <= 50.0
