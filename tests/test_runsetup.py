"""The shared run set-up (tui_gen.training.setup): no run is silently lost, and resumes keep what they must.

Each test here failed on the code before the set-up was shared (issue 11, "runs that are silently lost").
"""

from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path

import pytest

from tui_gen.cli.main import main
from tui_gen.core import events as ev
from tui_gen.core.config import TrainConfig
from tui_gen.core.errors import ConfigError, RunFolderError
from tui_gen.training.checkpoint import read_meta
from tui_gen.training.setup import RunRequest, claim_run_folder, new_run_config, prepare_run, resume_target

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
TINY_FLAGS = [
    "--hidden",
    "16",
    "--seq-len",
    "16",
    "--overlap",
    "4",
    "--batch-size",
    "8",
    "--eval-every",
    "5",
    "--threads",
    "1",
    "--embedding",
    "8",
    "--device",
    "cpu",
    "--quiet",
]


@pytest.fixture
def corpus(tmp_path, lines_corpus_text) -> Path:
    p = tmp_path / "c.txt"
    p.write_text(lines_corpus_text, encoding="utf-8")
    return p


def train(request: RunRequest) -> list:
    return list(prepare_run(request).trainer.run())


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("tui-gen: error: "), err
    for n in needles:
        assert n in err, err


# ---- a new run never replaces another --------------------------------------------------------------


def test_out_on_an_existing_run_is_refused_unless_overwrite(corpus, tmp_path):
    run = tmp_path / "run"
    assert cli("train", str(corpus), "--steps", "6", "--out", str(run), *TINY_FLAGS)[0] == 0
    before = (run / "last.safetensors").read_bytes()
    code, _, err = cli("train", str(corpus), "--steps", "1", "--out", str(run), *TINY_FLAGS)
    one_line_error(code, err, "already holds a run", "--resume", "--overwrite")
    assert (run / "last.safetensors").read_bytes() == before  # untouched
    assert cli("train", str(corpus), "--steps", "1", "--out", str(run), "--overwrite", *TINY_FLAGS)[0] == 0
    assert read_meta(run / "last.safetensors")["step"] == 1


def test_default_run_folders_started_in_the_same_second_are_distinct(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr("tui_gen.training.setup.default_run_name", lambda ref: "c-20260101-000000")
    request = RunRequest(corpus=str(corpus), settings=TINY, steps=1, models_dir=str(tmp_path / "models"))
    dirs = [prepare_run(request).trainer.run_dir for _ in range(2)]
    assert dirs[0] != dirs[1] and all(d.is_dir() for d in dirs)
    assert dirs[1].name == "c-20260101-000000-2"


def test_claiming_a_run_folder_is_atomic_across_threads(tmp_path):
    claimed: list[Path] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        claimed.append(claim_run_folder(tmp_path, "same-name")[0])

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(claimed)) == 8


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_unusable_out_fails_before_the_first_step(corpus, tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    out = blocker if where == "a file" else blocker / "run"
    with pytest.raises(RunFolderError) as e:
        prepare_run(RunRequest(corpus=str(corpus), settings=TINY, steps=50, out=str(out)))
    assert str(blocker) in str(e.value)
    code, _, err = cli("train", str(corpus), "--steps", "50", "--out", str(out), *TINY_FLAGS)
    one_line_error(code, err, str(blocker))


# ---- resuming ----------------------------------------------------------------------------------------


@pytest.fixture
def finished_run(corpus, tmp_path) -> Path:
    run = tmp_path / "run"
    events = train(RunRequest(corpus=str(corpus), settings=TINY, steps=10, out=str(run)))
    assert isinstance(events[-1], ev.Finished) and events[-1].reason == "completed"
    return run


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--hidden", "512,512"),
        ("--cell", "lstm"),
        ("--framing", "stream"),
        ("--embedding", "0"),
        ("--min-char-count", "5"),
        ("--seed", "9"),
    ],
)
def test_settings_that_define_the_model_or_its_data_cannot_change_on_resume(finished_run, flag, value):
    before = (finished_run / "last.safetensors").read_bytes()
    code, _, err = cli("train", "--resume", str(finished_run), flag, value, "--steps", "1", "--threads", "1")
    one_line_error(code, err, flag, "cannot change when resuming")
    assert (finished_run / "last.safetensors").read_bytes() == before


def test_the_same_value_of_a_fixed_setting_is_no_change(finished_run):
    code, _, err = cli(
        "train",
        "--resume",
        str(finished_run),
        "--hidden",
        "16",
        "--cell",
        "gru",
        "--steps",
        "1",
        "--threads",
        "1",
        "--quiet",
    )
    assert code == 0, err


def test_settings_that_can_change_on_resume_are_applied_and_said(finished_run):
    request = RunRequest(resume=str(finished_run), settings={"lr": 0.01, "batch_size": 7, "threads": 1}, steps=1)
    run = prepare_run(request)
    assert run.trainer.config.lr == 0.01 and run.trainer.config.batch_size == 7
    started = next(iter(run.trainer.run()))
    assert isinstance(started, ev.Started)
    was = f"--lr 0.01 (was {TrainConfig().lr:g})"  # the finished run trained at the default rate
    assert any(was in n and "--batch-size 7 (was 8)" in n for n in started.notes), started.notes


def test_resume_continues_from_last_and_a_resume_from_older_best_forks(finished_run, corpus):
    # Best at step 10, last at step 17 (as when later evaluations stop improving).
    best_at_10 = (finished_run / "best.safetensors").read_bytes()
    list(prepare_run(RunRequest(resume=str(finished_run), steps=7)).trainer.run())
    (finished_run / "best.safetensors").write_bytes(best_at_10)
    best_step = read_meta(finished_run / "best.safetensors")["step"]
    last = finished_run / "last.safetensors"
    last_step = read_meta(last)["step"]
    assert best_step == 10 and last_step == 17

    # The folder means its last.
    assert prepare_run(RunRequest(resume=str(finished_run), steps=1)).trainer.step == 17

    # A deliberate resume from the older best: the newer last is never overwritten.
    kept = last.read_bytes()
    run = prepare_run(RunRequest(resume=str(finished_run / "best.safetensors"), steps=2))
    assert run.trainer.step == 10 and run.trainer.run_dir != finished_run
    assert run.trainer.run_dir.name == "run-from-step-10"
    events = list(run.trainer.run())
    assert any("step 17 is kept" in n for n in events[0].notes), events[0].notes
    assert last.read_bytes() == kept
    assert read_meta(run.trainer.run_dir / "last.safetensors")["step"] == 12


def test_what_the_app_resumes_from_an_opened_checkpoint_is_its_run_folder(finished_run):
    assert resume_target(finished_run / "best.safetensors") == str(finished_run)
    assert resume_target(finished_run / "last.safetensors") == str(finished_run)
    assert resume_target("elsewhere/my-model.safetensors") == "elsewhere/my-model.safetensors"


# ---- settings of the wrong type ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, needle",
    [
        ({"seq_len": 50.5}, "--seq-len must be a whole number"),
        ({"batch_size": 16.0}, "--batch-size must be a whole number"),
        ({"seed": 1.5}, "--seed must be a whole number"),
        ({"hidden_sizes": [64.5]}, "hidden sizes must be a list of whole numbers"),
        ({"hidden_sizes": "128"}, "hidden sizes must be a list of whole numbers"),
        ({"sample_length": 2.5}, "sample_length must be a whole number"),  # not a flag: its own name
        ({"lr": "fast"}, "--lr must be a number"),
        ({"dropout": True}, "--dropout must be a number"),
        ({"precision": True}, "--precision must be a word"),
        ({"cell": ["gru"]}, "--cell must be a word"),
    ],
)
def test_settings_are_checked_for_type_not_only_range(settings, needle):
    with pytest.raises(ConfigError, match=needle):
        new_run_config(RunRequest(settings=settings))


def test_a_resume_on_the_same_corpus_does_not_warn_about_the_vocabulary(corpus, tmp_path):
    rare = corpus.read_text(encoding="utf-8") + "one rare character: \u00e9\n"  # kept as 'unknown' by design
    corpus.write_text(rare, encoding="utf-8")
    run = tmp_path / "rare-run"
    train(RunRequest(corpus=str(corpus), settings=TINY, steps=2, out=str(run)))
    started = next(iter(prepare_run(RunRequest(resume=str(run), steps=1)).trainer.run()))
    assert not [w for w in started.warnings if "vocabulary" in w], started.warnings

    corpus.write_text(rare + "new \u00f8\u00f8\u00f8 \u00f8\u00f8\n" * 3, encoding="utf-8")
    started = next(iter(prepare_run(RunRequest(resume=str(run), corpus=str(corpus), steps=1)).trainer.run()))
    assert [w for w in started.warnings if w.startswith("1 kind of character in") and "it is trained" in w], (
        started.warnings
    )


def test_a_default_run_folder_name_holds_no_escape_or_markup():
    from tui_gen.training.setup import default_run_name

    name = default_run_name("/data/evil\x1b]2;PWNED\x07[reverse] book.txt")
    assert name.startswith("evil-2-PWNED-reverse-book-") and all(c.isalnum() or c in "-_." for c in name), name
    assert default_run_name("/data/\x1b\x07.txt").startswith("run-")


def test_the_cli_and_the_app_make_the_same_configuration_from_the_same_flags():
    """One definition of the flags (cli.add_run_flags), one set-up (runsetup): `train` and `launch`
    given the same flags start the same run."""
    from tui_gen.app.options import LaunchOptions
    from tui_gen.cli.main import build_parser, run_request

    flags = [
        "--cell",
        "lstm",
        "--hidden",
        "32,32",
        "--framing",
        "stream",
        "--lr",
        "0.01",
        "--batch-size",
        "16",
        "--schedule",
        "constant",
        "--embedding",
        "0",
        "--dropout",
        "0.1",
        "--seq-len",
        "40",
        "--seed",
        "7",
        "--eval-every",
        "20",
        "--first-eval",
        "5",
        "--steps",
        "30",
        "--device",
        "cpu",
        "--preset",
        "lecture",
    ]
    parser = build_parser()
    from_cli = new_run_config(run_request(parser.parse_args(["train", "book.txt", *flags])))
    options = LaunchOptions.from_args(parser.parse_args(["launch", "book.txt", *flags]), environ={})
    from_app = new_run_config(options.new_run().run_request())
    assert from_cli == from_app
    assert (from_app.cell, from_app.hidden_sizes, from_app.framing, from_app.max_steps) == (
        "lstm",
        [32, 32],
        "stream",
        30,
    )
    assert from_app.embedding_dim == 0 and from_app.lr == 0.01  # the flag over the lecture preset's 3e-4


def test_launch_flags_win_over_the_overrides_variable():
    from tui_gen.app.options import LaunchOptions
    from tui_gen.cli.main import build_parser

    args = build_parser().parse_args(["launch", "--hidden", "64", "--lr", "0.002"])
    options = LaunchOptions.from_args(args, environ={"TUI_GEN_OVERRIDES": '{"hidden_sizes": [8], "eval_every": 5}'})
    assert options.settings == {"hidden_sizes": [64], "eval_every": 5, "lr": 0.002}


# ---- one writer per run folder -------------------------------------------------------------------------


def test_a_second_trainer_on_a_run_folder_is_refused_until_the_first_is_done(finished_run):
    import os

    first = prepare_run(RunRequest(resume=str(finished_run), steps=2)).trainer
    before = (finished_run / "last.safetensors").read_bytes()
    for request in (
        RunRequest(resume=str(finished_run), steps=1),
        RunRequest(
            corpus=str(finished_run.parent / "c.txt"), settings=TINY, steps=1, out=str(finished_run), overwrite=True
        ),
    ):
        with pytest.raises(RunFolderError, match=f"is being trained by process {os.getpid()}"):
            prepare_run(request)
    assert (finished_run / "last.safetensors").read_bytes() == before  # --overwrite deleted nothing
    list(first.run())  # its run ends: the folder is free again
    assert prepare_run(RunRequest(resume=str(finished_run), steps=1)).trainer.step == 12


def test_readers_never_need_the_lock(finished_run):
    from tui_gen.training.checkpoint import load_checkpoint

    held = prepare_run(RunRequest(resume=str(finished_run), steps=1)).trainer  # noqa: F841 - holds the lock
    assert load_checkpoint(finished_run).step == 10
    code, out, err = cli("eval", str(finished_run), "--device", "cpu")
    assert code == 0, err


def test_who_trains_a_folder_is_seen_without_taking_its_lock(finished_run):
    import os

    from tui_gen.runs.lock import folder_holder

    assert folder_holder(finished_run) is None
    held = prepare_run(RunRequest(resume=str(finished_run), steps=1)).trainer
    assert folder_holder(finished_run) == os.getpid()
    assert folder_holder(finished_run) == os.getpid()  # looking took nothing: it is still the trainer's
    held.run_lock.release()
    assert folder_holder(finished_run) is None
    assert folder_holder(finished_run / "no such folder") is None


def test_one_early_evaluation_comes_at_first_eval(corpus, tmp_path):
    events = train(
        RunRequest(
            corpus=str(corpus),
            settings={**TINY, "eval_every": 20, "first_eval": 3},
            steps=45,
            out=str(tmp_path / "early"),
        )
    )
    assert [e.step for e in events if isinstance(e, ev.Eval)] == [3, 20, 40, 45]
    assert [e.step for e in events if isinstance(e, ev.Samples)][0] == 3
    events = train(
        RunRequest(
            corpus=str(corpus),
            settings={**TINY, "eval_every": 20, "first_eval": 0},
            steps=20,
            out=str(tmp_path / "none"),
        )
    )
    assert [e.step for e in events if isinstance(e, ev.Eval)] == [20]


# ---- per-setting problems, for the app's new-run form ------------------------------------------------


def test_setting_problems_names_each_refused_setting_with_the_clis_message():
    from tui_gen.training.setup import setting_problems

    request = RunRequest(settings={"hidden_sizes": [0], "lr": -1.0, "cell": "lstm", "dropout": 0.1}, steps=0)
    problems = setting_problems(request)
    assert set(problems) == {"hidden_sizes", "lr", "steps"}
    for key, message in problems.items():  # the very words new_run_config says for that setting alone
        alone = RunRequest(steps=0) if key == "steps" else RunRequest(settings={key: request.settings[key]})
        with pytest.raises(ConfigError) as e:
            new_run_config(alone)
        assert str(e.value) == message
    assert setting_problems(RunRequest(settings={"cell": "lstm"}, minutes=3)) == {}


def test_setting_problems_reports_a_refused_combination_and_a_bad_preset():
    from tui_gen.training.setup import setting_problems

    both = setting_problems(RunRequest(settings={"seq_len": 10, "overlap": 20}))
    assert list(both) == [""] and "--overlap" in both[""]
    assert list(setting_problems(RunRequest(preset="nope", settings={"lr": 1e-3}))) == ["preset"]
