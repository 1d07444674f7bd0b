"""Issue 20, one gate for every value from outside: each hole that let a value through, shown at the
lowest level where it did harm. Each of these failed before tui_gen.core.gate (see the items' numbers)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tui_gen.core import events as ev
from tui_gen.core import gate
from tui_gen.core.budget import parse_budget
from tui_gen.core.config import FLAG_NAMES, NO_FLAG, TrainConfig, setting_name
from tui_gen.core.errors import CheckpointError, ConfigError
from tui_gen.runs import listing as runs
from tui_gen.runs.metrics_log import FILE_NAME, decode, encode

HUGE = "1" + "0" * 400  # a whole number float() cannot hold (OverflowError)


def record(event, **changes) -> str:
    """An event's log line with some fields replaced by raw JSON text (numbers json.dumps cannot write)."""
    data = json.loads(encode(event, 1.0))
    marks = {}
    for i, (key, raw) in enumerate(changes.items()):
        data[key] = f"@@{i}@@"
        marks[f'"@@{i}@@"'] = raw
    text = json.dumps(data)
    for mark, raw in marks.items():
        text = text.replace(mark, raw)
    return text


STEP = ev.Step(12, 0, 2.5, 1e-3, 9000.0, 3.0, 0.012, 9999)
EVAL = ev.Eval(20, 2.4, 2.4, True, 0.5, 3.0, 9999)
STARTED = ev.Started("cpu", "lines", "book.txt", 60, 4321, 10**6, 10**4, 100, 0, 1000, None, None)


def test_the_lines_as_written_decode():
    for event in (STEP, EVAL, STARTED, ev.Samples(20, 0.8, [("I", " am")] * 11)):
        assert decode(record(event))[0] == event


# ---- 5: an integer too large for a float --------------------------------------------------------------


@pytest.mark.parametrize(
    "event, key",
    [(STEP, "train_bpc"), (EVAL, "val_bpc"), (EVAL, "best_bpc"), (STEP, "elapsed"), (STARTED, "parameters")],
)
def test_5_a_huge_integer_in_a_log_line_is_not_a_record(event, key):
    assert decode(record(event, **{key: HUGE})) is None


def test_5_a_huge_integer_in_a_models_folder_lists_every_run(tmp_path):
    for name, raw in (("good", "2.4"), ("huge", HUGE)):
        (tmp_path / name).mkdir()
        (tmp_path / name / FILE_NAME).write_text(
            record(STARTED) + "\n" + record(EVAL, best_bpc=raw, val_bpc=raw) + "\n" + record(STEP, train_bpc=raw) + "\n"
        )
    rows = {r.name: r for r in runs.list_runs(tmp_path)}
    assert rows["good"].best_bpc == 2.4 and rows["huge"].best_bpc is None and rows["huge"].corpus == "book.txt"
    curves = runs.read_curves(tmp_path / "huge")
    assert curves.empty and curves.skipped == 2


def header_file(path: Path, meta_text: str) -> Path:
    """A checkpoint file whose tui-gen metadata is `meta_text` verbatim (one 4-byte tensor)."""
    header = json.dumps(
        {"model.x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": {"tui_gen": meta_text}}
    ).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    return path


@pytest.mark.parametrize("raw", [HUGE, "NaN", "1e999"], ids=["401-digits", "NaN", "1e999"])
def test_5_a_checkpoint_header_with_a_number_no_float_holds_is_refused_in_one_line(tmp_path, raw):
    from tui_gen.runs.header import read_header

    run = tmp_path / "run"
    run.mkdir()
    header_file(run / "best.safetensors", f'{{"format_version": 1, "step": 3, "best_val_bpc": {raw}}}')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_header(run / "best.safetensors")
    row = runs.describe_run(run)  # the runs screen: a row with its problem
    assert row.best_bpc is None and "not valid JSON" in row.problem


def test_5_and_6_a_header_figure_out_of_range_is_not_shown(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    header_file(run / "best.safetensors", '{"format_version": 1, "step": -4, "best_val_bpc": 1e308}')
    row = runs.describe_run(run)
    assert row.has_checkpoint and row.best_bpc is None and row.step is None


def test_5_a_listed_run_and_the_playground_label_hold_only_figures(tmp_path):
    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.training.checkpoint import Checkpoint

    run = tmp_path / "run"
    run.mkdir()
    header_file(run / "best.safetensors", '{"format_version": 1, "step": 3, "best_val_bpc": 1e308, "corpus": 5}')
    (row,) = runs.list_runs(tmp_path)  # the open dialog's and the runs screen's row
    assert row.has_checkpoint and row.problem is None
    assert row.best_bpc is None and row.step == 3 and row.corpus is None and row.saved_at is None
    ck = Checkpoint(None, {"step": 7, "best_val_bpc": 1e308}, {}, None, None)
    assert ck.val_bpc is None and ck.step == 7
    label = PlaygroundModel(None, None, "lines", (), "checkpoint", ck.step, ck.val_bpc, "x").label
    assert label == "checkpoint x · step 7"


@pytest.mark.parametrize(
    "raw",
    [
        "[blink]2026-11-28T10:15:00+0000",
        "2026-11-28T10:15:00+0000\x1b[2J",
        "2026-11-28 10:15:00+0000",  # another form of the date
        "2026-11-28T10:15:00+00:00",  # strptime's %z takes this too: not what save_checkpoint writes
        "2026-1-2T3:04:05+0000",  # nor this
        "2026-11-28T10:15:00+0000 ",
        20261128,
        None,
    ],
    ids=["markup", "escapes", "space", "colon-offset", "short-fields", "trailing-space", "number", "null"],
)
def test_a_checkpoints_saved_at_is_listed_only_as_save_checkpoint_writes_it(tmp_path, raw):
    run = tmp_path / "run"
    run.mkdir()
    header_file(run / "best.safetensors", json.dumps({"format_version": 1, "saved_at": raw}))
    assert runs.describe_run(run).saved_at is None
    header_file(run / "best.safetensors", json.dumps({"format_version": 1, "saved_at": "2026-11-28T10:15:00+0000"}))
    assert runs.describe_run(run).saved_at == "2026-11-28T10:15:00+0000"


# ---- 6: NaN and extreme finite figures ----------------------------------------------------------------


@pytest.mark.parametrize(
    "event, key, raw",
    [
        (STEP, "progress", "NaN"),
        (STEP, "progress", "1.5"),
        (STEP, "progress", "-0.5"),
        (STEP, "train_bpc", "Infinity"),
        (EVAL, "val_bpc", "1e308"),
        (EVAL, "val_bpc", "-1e308"),
        (EVAL, "best_bpc", "-1"),
        (STEP, "lr", "1e300"),
    ],
)
def test_6_nan_and_extreme_figures_are_not_records(event, key, raw):
    assert decode(record(event, **{key: raw})) is None


# ---- 9: samples lines that would hold the app's memory --------------------------------------------------


def test_9_a_samples_line_of_100000_pairs_is_not_a_record():
    assert decode(record(ev.Samples(20, 0.8, [("I", "x")] * 100_000))) is None


def test_9_each_sample_is_cut_at_decode():
    from dataclasses import fields

    limit = gate.bounds_of(next(f for f in fields(ev.Samples) if f.name == "samples")).chars
    event, _ = decode(record(ev.Samples(20, 0.8, [("I", "y" * 50_000)] * 11)))
    assert len(event.samples) == 11 and all(len(s) <= limit and len(c) == limit for s, c in event.samples)


def test_9_every_string_of_a_log_line_is_bounded():
    event, _ = decode(record(ev.RunWarning(3, "w" * 500_000)))
    assert len(event.message) == gate.MAX_TEXT


# ---- 10: the budget dialog's text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["9" * 4400 + " steps", "9" * 4400, "²", "² steps", "1e999", "-3 steps"],
    ids=lambda t: t if len(t) < 20 else f"{len(t)} characters",
)
def test_10_a_budget_of_any_text_is_a_budget_or_one_config_error(text):
    with pytest.raises(ConfigError) as e:
        parse_budget(text)
    assert len(str(e.value)) < 200 and "type minutes" in str(e.value)


# ---- 11: settings validated with upper bounds, before work starts --------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "warmup_steps",
        "decay_steps",
        "eval_every",
        "first_eval",
        "max_nan_steps",
        "state_reset_every",
        "min_char_count",
        "max_steps",
        "lr",
        "weight_decay",
        "grad_clip",
        "sample_temperature",
        "min_lr_ratio",
        "decay_rate",
        "max_minutes",
    ],
)
def test_11_every_setting_has_an_upper_bound(key):
    from dataclasses import replace

    for value in (10**400, 2**63, 1e300):
        if isinstance(value, float) and key in (
            "warmup_steps",
            "decay_steps",
            "eval_every",
            "first_eval",
            "max_nan_steps",
            "state_reset_every",
            "min_char_count",
            "max_steps",
        ):
            continue  # a float for a whole setting is check_types' (its own message)
        with pytest.raises(ConfigError, match=setting_name(key)):
            replace(TrainConfig(), **{key: value}).validate()


def test_11_messages_name_flags_that_exist():
    from dataclasses import fields, replace

    from tui_gen.cli.main import build_parser

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    flags = {s for action in train._actions for s in action.option_strings}
    for f in fields(TrainConfig):
        name = setting_name(f.name)
        if f.name in NO_FLAG:
            assert name == f.name and "--" + f.name.replace("_", "-") not in flags
        else:
            assert name in flags, (f.name, name)
    assert set(FLAG_NAMES) <= {f.name for f in fields(TrainConfig)}
    for key, value in (("min_lr_ratio", 2.0), ("decay_rate", 0.0), ("state_reset_every", 0)):
        with pytest.raises(ConfigError, match=f"^{key} must be"):
            replace(TrainConfig(), **{key: value}).validate()


def test_11_overrides_with_a_huge_number_are_one_line():
    from tui_gen.app.options import parse_overrides

    for key in ("grad_clip", "weight_decay", "sample_temperature"):
        with pytest.raises(ConfigError, match="TUI_GEN_OVERRIDES holds a whole number of 401 digits"):
            parse_overrides(f'{{"{key}": {HUGE}}}')


@pytest.mark.parametrize(
    "value, nice",
    [("²", 0), ("٣", 0), ("9" * 5000, 0), ("20", 0), ("-1", 0), ("", 0), (" 5 ", 5), ("0", 0), ("19", 19)],
    ids=lambda v: repr(v) if len(str(v)) < 20 else f"{len(v)} characters",
)
def test_11_training_niceness_takes_only_ascii_digits_in_range(value, nice):
    from tui_gen.process.child import NICENESS_ENV, training_niceness

    assert training_niceness({NICENESS_ENV: value}) == nice


def test_11_distributed_ranks_take_only_ascii_digits():
    from tui_gen.training.distributed import world_from_env

    for bad in ("٣", "9" * 5000):
        with pytest.raises(ConfigError, match="not a valid one"):
            world_from_env({"RANK": bad, "WORLD_SIZE": "4"})


def test_11_a_huge_flag_is_refused_before_any_run_folder(tmp_path, capsys, monkeypatch):
    from support.data import TINY_FLAGS, tiny_text
    from support.processes import run_main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.txt").write_text(tiny_text())
    for flag in ("--warmup-steps", "--eval-every", "--seed"):
        run_main(["train", "c.txt", "--steps", "2", *TINY_FLAGS, flag, "4" * 400], capsys).assert_clean_error(flag)
    assert not (tmp_path / "models").exists()


# ---- 14: a model too big to load is refused before work starts -----------------------------------------


def test_14_a_model_past_the_load_limit_is_refused_before_any_run_folder(tmp_path, capsys, monkeypatch):
    from support.processes import run_main
    from tui_gen.core.model_size import MAX_PARAMETERS

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.txt").write_text("hello world\n" * 100)
    r = run_main(["train", "c.txt", "--steps", "1", "--hidden", "8192,4300"], capsys)
    r.assert_clean_error(f"{MAX_PARAMETERS:,}", "--hidden")
    assert not (tmp_path / "models").exists()


# ---- small: what the start line says, and a negative budget ----------------------------------------------


def test_train_chars_counts_characters_not_window_positions():
    from collections import Counter

    from tui_gen.data.corpus import LineWindows
    from tui_gen.data.vocab import Vocab

    lines = ["a line of some forty characters, give or take"] * 31  # 1,426 characters with their newlines
    text = "\n".join(lines) + "\n"
    windows = LineWindows(lines, Vocab.from_counts(Counter(text), 1), 16, 8, 8, 1)
    assert windows.train_chars == len(text)


@pytest.mark.parametrize(
    "event, key",
    [(STARTED, "max_steps"), (ev.BudgetChanged(6, 10, None, 0.6, "10 steps"), "max_steps"), (STEP, "step")],
)
def test_a_negative_budget_or_step_in_a_log_is_not_a_record(event, key):
    assert decode(record(event, **{key: "-3"})) is None


def test_14_a_model_past_the_load_limit_with_this_corpus_vocabulary_is_refused_before_any_run_folder(
    tmp_path, capsys, monkeypatch
):
    """The flags alone pass (counted with the smallest vocabulary), the corpus's vocabulary does not."""
    from collections import Counter

    from support.processes import run_main
    from tui_gen.core.config import MIN_VOCAB
    from tui_gen.core.model_size import MAX_PARAMETERS, parameter_count
    from tui_gen.data.vocab import Vocab

    monkeypatch.chdir(tmp_path)
    text = "".join(chr(c) for c in range(ord("!"), ord("~"))) * 4 + "\n"  # 93 kinds of characters
    (tmp_path / "c.txt").write_text(text * 50)
    vocab_size = len(Vocab.from_counts(Counter(text * 50), 2))
    top = next(h for h in range(8192, 0, -1) if parameter_count(MIN_VOCAB, [8192, h]) <= MAX_PARAMETERS)
    assert parameter_count(vocab_size, [8192, top]) > MAX_PARAMETERS  # the case this test is about
    r = run_main(["train", "c.txt", "--steps", "1", "--hidden", f"8192,{top}"], capsys)
    r.assert_clean_error(f"{MAX_PARAMETERS:,}", "--hidden")
    assert not (tmp_path / "models").exists()


def test_an_unknown_cell_of_10000_characters_is_one_short_config_error():
    """Found by the property test: the model-size check met the cell before any check of it."""
    with pytest.raises(ConfigError) as caught:
        TrainConfig(cell="x" * 10_000).validate()
    assert "--cell must be one of gru, lstm, rnn" in str(caught.value) and len(str(caught.value)) < 200
