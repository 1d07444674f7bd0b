"""Runs in TensorBoard: what `tui-gen export` and `tui-gen train --tensorboard` write, read back with
TensorBoard's own reader (its EventAccumulator, which checks every record's CRC) and compared with the
run's metrics log."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # the test extra's
from tensorboard.util import tensor_util

from support.data import TINY_FLAGS, TINY_TEXT, tiny_config_value
from support.processes import run_main
from tui_gen.core import events as ev
from tui_gen.core.config import LECTURE_SEEDS
from tui_gen.runs import tensorboard as tb
from tui_gen.runs.metrics_log import read_log

SCALAR_TAGS = {tb.TRAIN_BPC, tb.VAL_BPC, tb.LEARNING_RATE, tb.CHARS_PER_SEC}


def train_run(run_dir: Path, steps: int = 24) -> Path:
    """A real run of the tiny model (evaluations and samples every 8 steps), in-process: its folder."""
    from tui_gen.data.corpus import CorpusText
    from tui_gen.training.trainer import Trainer

    corpus = CorpusText(name="tiny", text=TINY_TEXT, framing="lines", end_marker="_E_")
    config = replace(tiny_config_value(), max_steps=steps, eval_every=8, first_eval=0)
    for _ in Trainer(corpus, config, run_dir=run_dir, corpus_ref="tiny").run():
        pass
    return run_dir


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A models folder with two runs, and a folder that is not a run."""
    root = tmp_path_factory.mktemp("tb") / "models"
    train_run(root / "run-a")
    train_run(root / "run-b", steps=16)
    (root / "not-a-run").mkdir()
    return root


def read_back(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})  # 0: keep every event
    acc.Reload()
    return acc


def log_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """What the metrics log says, under the tags the export should give it (as float32, TensorBoard's)."""
    want: dict[str, list[tuple[int, float]]] = {tag: [] for tag in SCALAR_TAGS}
    events, skipped = read_log(run / "metrics.jsonl")
    for e, _ in events:
        match e:
            case ev.Step():
                want[tb.TRAIN_BPC].append((e.step, e.train_bpc))
                want[tb.LEARNING_RATE].append((e.step, e.lr))
                want[tb.CHARS_PER_SEC].append((e.step, e.chars_per_sec))
            case ev.Eval():
                want[tb.VAL_BPC].append((e.step, e.val_bpc))
    return {tag: [(s, float(np.float32(v))) for s, v in points] for tag, points in want.items()}


def log_samples(run: Path) -> list[tuple[int, list[str]]]:
    events, _ = read_log(run / "metrics.jsonl")
    return [(e.step, [s + c.rstrip("\n") for s, c in e.samples]) for e, _ in events if isinstance(e, ev.Samples)]


def scalars(acc: EventAccumulator) -> dict[str, list[tuple[int, float]]]:
    return {tag: [(s.step, s.value) for s in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def samples(acc: EventAccumulator) -> list[tuple[int, list[str]]]:
    return [
        (t.step, [tb.unliteral(x.decode("utf-8")) for x in tensor_util.make_ndarray(t.tensor_proto)])
        for t in acc.Tensors(tb.SAMPLES)
    ]


def test_crc32c_is_castagnolis():
    assert tb.crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert tb.crc32c(b"") == 0


def test_export_writes_the_metrics_logs_scalars_and_samples_at_their_steps(models, tmp_path, capsys):
    r = run_main(["export", models / "run-a", "--tensorboard", tmp_path / "tb"], capsys)
    assert r.rc == 0 and not r.err, r.err
    assert "run-a" in r.out and "steps" in r.out
    acc = read_back(tmp_path / "tb" / "run-a")  # one sub-folder, named as the run
    want = log_scalars(models / "run-a")
    assert set(acc.Tags()["scalars"]) == SCALAR_TAGS
    assert scalars(acc) == want
    assert [s for s, _ in want[tb.VAL_BPC]] == [8, 16, 24]
    got = samples(acc)
    assert got == log_samples(models / "run-a") and [s for s, _ in got] == [8, 16, 24]
    assert all(texts[0].startswith(LECTURE_SEEDS[0]) for _, texts in got)  # the seed, then what the model wrote


def test_samples_are_literal_text_for_tensorboards_markdown():
    sample = "__HTTP__ and\n# not a heading"
    shown = tb.literal(sample)
    assert shown == "    __HTTP__ and\n    # not a heading"  # a Markdown code block: shown as it is
    assert tb.unliteral(shown) == sample


def test_a_models_folder_exports_one_sub_folder_per_run_and_again_replaces_the_export(models, tmp_path, capsys):
    out = tmp_path / "tb"
    for _ in range(2):  # the second export replaces the first, it does not add to it
        r = run_main(["export", models, "--tensorboard", out], capsys)
        assert r.rc == 0 and not r.err, r.err
    assert sorted(p.name for p in out.iterdir()) == ["run-a", "run-b"]
    for run in ("run-a", "run-b"):
        assert [p.name for p in (out / run).iterdir()] == [tb.EXPORT_NAME]
        assert scalars(read_back(out / run)) == log_scalars(models / run)
    assert [s for s, _ in scalars(read_back(out / "run-b"))[tb.VAL_BPC]] == [8, 16]


def test_a_corrupt_metrics_log_is_a_clear_error_and_the_rest_is_exported(models, tmp_path, capsys):
    import shutil

    run = tmp_path / "models" / "broken"
    shutil.copytree(models / "run-a", run)
    log = run / "metrics.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    evals = [i for i, line in enumerate(lines) if b'"type":"eval"' in line]
    lines[evals[1]] = b'{"type":"eval","step":16,"val_bpc":"NaN, or worse\n'  # the second evaluation: garbage
    lines.insert(3, b"\x00\xff not json at all\n")
    log.write_bytes(b"".join(lines) + b'{"type":"step","step":99,"train_')  # and a line cut short, as a kill leaves

    r = run_main(["export", run, "--tensorboard", tmp_path / "tb"], capsys)
    assert r.rc == 1
    assert r.err.count("\n") == 1 and "error:" in r.err, r.err  # one line
    assert "2 lines" in r.err and "left out" in r.err and "metrics.jsonl" in r.err, r.err
    got = scalars(read_back(tmp_path / "tb" / "broken"))
    assert got == log_scalars(run)  # everything readable is there
    assert [s for s, _ in got[tb.VAL_BPC]] == [8, 24]


def test_a_folder_without_runs_is_one_line_naming_what_to_give(models, tmp_path, capsys):
    r = run_main(["export", models / "not-a-run", "--tensorboard", tmp_path / "tb"], capsys)
    assert r.rc == 2 and r.err.count("\n") == 1
    assert "holds no run with a metrics log" in r.err and "give a run folder or a models folder" in r.err
    assert not (tmp_path / "tb").exists()


def test_train_with_tensorboard_writes_the_run_live(tmp_path, capsys, lines_corpus_text):
    corpus = tmp_path / "c.txt"
    corpus.write_text(lines_corpus_text, encoding="utf-8")
    out = tmp_path / "tb"
    r = run_main(
        ["train", corpus, "--steps", "12", "--eval-every", "6", "--first-eval", "0", *TINY_FLAGS]
        + ["--models-dir", tmp_path / "models", "--out", tmp_path / "models" / "live", "--tensorboard", out],
        capsys,
    )
    assert r.rc == 0, r.err
    assert "warning" not in r.err, r.err
    acc = read_back(out / "live")
    want = log_scalars(tmp_path / "models" / "live")
    got = scalars(acc)
    assert got[tb.VAL_BPC] == want[tb.VAL_BPC] and [s for s, _ in got[tb.VAL_BPC]] == [6, 12]
    assert samples(acc) == log_samples(tmp_path / "models" / "live")
    # Step lines are coalesced as the log's are (at most 4 a second), so their steps may differ from the
    # log's; each is a real step of the run, in order, ending with the last.
    steps = [s for s, _ in got[tb.TRAIN_BPC]]
    assert steps == sorted(steps) and steps[-1] == 12 and set(got) == SCALAR_TAGS


def test_a_live_writer_that_cannot_write_warns_once_and_training_goes_on(tmp_path):
    blocker = tmp_path / "tb"
    blocker.write_text("a file where the folder should be")
    started = ev.Started("cpu", "lines", "tiny", 10, 100, 1000, 100, 10, 0, 4, None, str(tmp_path / "run"))
    step = ev.Step(1, 0, 3.0, 1e-3, 100.0, 0.1, 0.25)
    events = [started, step, replace(step, step=2), ev.Eval(2, 2.5, 2.5, True, 0.1)]
    passed = list(tb.live(events, blocker))
    warnings = [e for e in passed if isinstance(e, ev.RunWarning)]
    assert [e for e in passed if not isinstance(e, ev.RunWarning)] == events  # every event passed on
    assert len(warnings) == 1 and "cannot be written" in warnings[0].message
    assert "training goes on" in warnings[0].message and str(blocker) in warnings[0].message
