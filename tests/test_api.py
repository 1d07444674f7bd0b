"""The Python API (tui_gen/api.py): each function against the command line it stands beside.

- load: a run folder, a checkpoint file, and the CLI's own errors for a missing or corrupt run;
- generate with a random_seed writes what `tui-gen generate --random-seed` writes after the seed, and
  stream joins to generate;
- score is `tui-gen score --json`'s figures;
- train checks its settings as `tui-gen train` checks its flags, hands on_event the trainer's events,
  stops cleanly on Ctrl+C (raised by on_event, or a real SIGINT), and its history is its metrics log;
- the README's "Python API" examples run, on a tiny run and a tiny corpus.

On tiny runs trained here for a few dozen steps; every CLI run is in this process (support.processes.run_main)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import tui_gen
from support.data import REPO, TINY_TEXT
from support.processes import run_main
from support.runs import corrupt_run, train_run
from tui_gen.core import events as ev
from tui_gen.core.errors import CheckpointError, ConfigError, VocabularyError

# The tiny model of every training here, as train()'s settings.
TINY = dict(hidden_sizes=(16, 16), seq_len=16, batch_size=8, embedding_dim=8, threads=1, warmup_steps=1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny lines run trained by the Trainer itself (evaluations at 10, 20, 30), not by the API."""
    return train_run(tmp_path_factory.mktemp("api") / "run")


@pytest.fixture(scope="module")
def run(run_dir) -> tui_gen.Run:
    return tui_gen.load(run_dir)


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(TINY_TEXT, encoding="utf-8")
    return path


def cli_error(argv: list[str], capsys) -> str:
    """The message of the CLI's one error line for argv."""
    r = run_main(argv, capsys)
    line = r.assert_clean_error()
    return line.removeprefix("tui-gen: error: ")


# ---- import ---------------------------------------------------------------------------------------


def test_importing_tui_gen_and_naming_the_api_loads_no_torch():
    code = (
        "import sys, tui_gen\n"
        "names = [tui_gen.load, tui_gen.train, tui_gen.Run, tui_gen.Score, tui_gen.events.Step]\n"
        "heavy = [m for m in ('torch', 'safetensors', 'rich', 'textual') if m in sys.modules]\n"
        "sys.exit(f'loaded {heavy}' if heavy else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr + r.stdout


# ---- load -------------------------------------------------------------------------------------------


def test_load_a_run_folder_or_a_checkpoint_file(run, run_dir, tmp_path):
    assert run.path == run_dir and run.checkpoint_path == run_dir / "best.safetensors"
    assert (run.step, run.framing, run.config.hidden_sizes) == (30, "lines", [16, 16])
    assert run.bits_per_char is not None and 0 < run.bits_per_char < 8
    assert "_" in run.vocab.chars and "H" in run.vocab.chars
    last = tui_gen.load(run_dir / "last.safetensors")
    assert last.path == run_dir and last.checkpoint_path == run_dir / "last.safetensors"
    alone = tmp_path / "mine.safetensors"  # a checkpoint outside any run folder is its own path
    shutil.copy(run_dir / "best.safetensors", alone)
    assert tui_gen.load(alone).path == alone


@pytest.mark.parametrize("what", ["missing", "corrupt"])
def test_load_raises_what_tui_gen_generate_says(what, tmp_path, capsys):
    path = tmp_path / "nowhere" if what == "missing" else corrupt_run(tmp_path / "bad")
    with pytest.raises(CheckpointError) as raised:
        tui_gen.load(path)
    assert str(raised.value) == cli_error(["generate", path], capsys)


# ---- generate, stream -----------------------------------------------------------------------------

CASES = {  # generate()'s arguments, and the same as `tui-gen generate` flags
    "plain": (dict(seed="Hillary", length=80, temperature=0.9, random_seed=3), []),
    "no stop": (dict(seed="great ", length=300, random_seed=11, stop=False), []),
    "top-k": (dict(seed="great ", length=120, top_k=5, random_seed=11), ["--top-k", "5"]),
    "top-p, cold": (dict(seed="", length=60, temperature=0.5, top_p=0.9, random_seed=2), ["--top-p", "0.9"]),
    "greedy": (dict(seed="we will", length=40, temperature=0.0005), []),
}


@pytest.mark.parametrize("case", CASES)
def test_generate_writes_what_tui_gen_generate_writes_after_the_seed(case, run, run_dir, capsys):
    kwargs, extra = CASES[case]
    text = run.generate(**kwargs)
    flags = ["--seed", kwargs["seed"], "-n", kwargs["length"], "-t", kwargs.get("temperature", 1.0), *extra]
    if "random_seed" in kwargs:
        flags += ["--random-seed", kwargs["random_seed"]]
    if kwargs.get("stop") is False:
        flags.append("--no-stop")
    r = run_main(["generate", run_dir, *flags], capsys)
    r.assert_ok()
    assert r.out == kwargs["seed"] + text + ("" if text.endswith("\n") else "\n")  # the CLI ends on a line break
    assert 0 < len(text) <= kwargs["length"]
    if kwargs.get("stop") is False:  # on through the line breaks where it would have stopped
        assert len(text) == kwargs["length"] and "\n" in text[:-1]
    else:
        assert len(text) == kwargs["length"] or text.endswith(("\n", "_E_"))


def test_stream_joins_to_generate_and_checks_its_arguments_at_once(run):
    for kwargs, _ in CASES.values():
        assert "".join(run.stream(**kwargs)) == run.generate(**kwargs)
    with pytest.raises(VocabularyError, match="never saw"):
        run.stream("Zoë")  # at the call, before any character is asked for
    with pytest.raises(ConfigError, match="temperature"):
        run.stream("great", temperature=0)
    with pytest.raises(TypeError, match="length"):
        run.generate("great", length=2.5)
    first = run.stream("great", length=50, stop=False, random_seed=1)
    assert len(next(first)) == 1
    first.close()  # stopping early is allowed, and ends the stream


def test_generation_leaves_torch_threads_as_they_were(run):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        stream = run.stream("great", length=20, stop=False, random_seed=1)
        next(stream)
        assert torch.get_num_threads() == 2  # between characters: the caller's setting
        run.generate("great", length=20)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# ---- score ------------------------------------------------------------------------------------------


def test_score_is_tui_gen_score_json(run, run_dir, capsys):
    text = "great people _E_\nHillary will win big\n\nfake news ë"  # a blank line, and a character never seen
    score = run.score(text)
    r = run_main(["score", run_dir, "--text", text, "--json"], capsys)
    r.assert_ok()
    cli = json.loads(r.out)
    assert score.bits_per_char == cli["bits_per_char"] and score.total_bits == cli["total_bits"]
    assert (score.chars_scored, score.unknown) == (cli["chars"], cli["unknown"]) and score.unknown == 1
    assert len(score.surprisal) == len(text) == len(cli["characters"])
    for i, c in enumerate(cli["characters"]):
        bits = score.surprisal[i]
        assert math.isnan(bits) if c["bits"] is None else bits == c["bits"], i
        assert score.known[i] == c["known"]
        assert [list(p) for p in score.candidates(i)] == c["candidates"]
    worst = score.most_surprising(3)
    assert [score.surprisal[i] for i in worst] == sorted((b for b in score.surprisal), reverse=True)[:3]
    with pytest.raises(ConfigError, match="empty"):
        run.score("")


# ---- history --------------------------------------------------------------------------------------


def log_points(run_dir: Path) -> tuple[list[tuple], list[tuple]]:
    """The metrics log's step and evaluation lines, read here as JSON (not through tui-gen's reader)."""
    train, val = [], []
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["type"] == "step":
            train.append((record["step"], record["chars_seen"], record["elapsed"], record["train_bpc"]))
        elif record["type"] == "eval":
            val.append((record["step"], record["chars_seen"], record["elapsed"], record["val_bpc"]))
    return train, val


def test_history_is_the_metrics_log(run, run_dir):
    train, val = log_points(run_dir)
    assert [tuple(p) for p in run.history.train] == train and len(train) >= 2
    assert [tuple(p) for p in run.history.val] == val and [p[0] for p in val] == [10, 20, 30]
    assert run.history.val[-1].bits_per_char == val[-1][3]


def test_a_checkpoint_alone_has_its_header_history(run_dir, tmp_path):
    alone = tmp_path / "mine.safetensors"
    shutil.copy(run_dir / "last.safetensors", alone)
    history = tui_gen.load(alone).history
    assert [p.step for p in history.val] == [10, 20, 30] and all(p.chars_seen is None for p in history.val)
    assert [p.bits_per_char for p in history.val] == [v[3] for v in log_points(run_dir)[1]]


# ---- train ------------------------------------------------------------------------------------------


def test_train_hands_on_event_each_event_and_returns_the_run(corpus, tmp_path, capsys):
    seen: list[object] = []
    run = tui_gen.train(corpus, out=tmp_path / "run", steps=12, eval_every=6, on_event=seen.append, **TINY)
    kinds = [type(e) for e in seen]
    assert kinds[0] is ev.Started and kinds[-1] is ev.Finished
    assert [e.step for e in seen if isinstance(e, ev.Step)] == list(range(1, 13))
    assert [e.step for e in seen if isinstance(e, ev.Eval)] == [6, 12] and ev.Saved in kinds
    assert seen[-1].reason == ev.FinishReason.COMPLETED
    assert run.path == tmp_path / "run" and run.step == 12 and run.config.hidden_sizes == [16, 16]
    out, err = capsys.readouterr()
    assert out == err == ""  # nothing printed


@pytest.mark.parametrize(
    ("flags", "kwargs"),
    [
        (["--lr", "20"], dict(lr=20)),
        (["--dropout", "1.5"], dict(dropout=1.5)),
        (["--seq-len", "8", "--overlap", "8"], dict(seq_len=8, overlap=8)),
        (["--hidden", "0"], dict(hidden_sizes=(0,))),
        (["--steps", "0"], dict(steps=0)),
        (["--minutes", "0"], dict(minutes=0.0)),
        (["--preset", "fast"], dict(preset="fast")),
    ],
    ids=["lr", "dropout", "overlap", "hidden", "steps", "minutes", "preset"],
)
def test_train_refuses_what_tui_gen_train_refuses(flags, kwargs, corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        tui_gen.train(corpus, **kwargs)
    assert str(raised.value) == cli_error(["train", corpus, *flags], capsys)
    assert not (tmp_path / "models").exists()  # refused before anything was made


def test_train_refuses_on_resume_what_tui_gen_train_refuses(run_dir, capsys):
    with pytest.raises(ConfigError) as raised:
        tui_gen.train(resume=run_dir, steps=2, hidden_sizes=(32,))
    assert str(raised.value) == cli_error(["train", "--resume", run_dir, "--steps", "2", "--hidden", "32"], capsys)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (dict(hiden_sizes=(16,)), "did you mean hidden_sizes="),
        (dict(hidden=(16,)), "did you mean hidden_sizes=? (--hidden is its flag)"),
        (dict(batchsize=8), "did you mean batch_size="),
        (dict(max_steps=5), "steps= or minutes="),
        (dict(colour="red"), "the settings are TrainConfig's fields"),
    ],
)
def test_a_name_that_is_no_setting_is_a_type_error(kwargs, words, corpus):
    with pytest.raises(TypeError) as raised:
        tui_gen.train(corpus, steps=1, **kwargs)
    assert words in str(raised.value) and next(iter(kwargs)) in str(raised.value)


def test_steps_and_minutes_exclude_each_other(corpus):
    with pytest.raises(ConfigError, match="steps or minutes, not both"):
        tui_gen.train(corpus, steps=5, minutes=1)


def interrupting(at_step: int, how):
    """on_event that calls how() at the first Step at or after at_step, once; every event kept."""
    seen: list[object] = []

    def on_event(event):
        seen.append(event)
        if isinstance(event, ev.Step) and event.step >= at_step and not getattr(on_event, "done", False):
            on_event.done = True
            how()

    return on_event, seen


def raise_interrupt():
    raise KeyboardInterrupt


def send_sigint():
    """A real Ctrl+C, from another thread: it lands wherever the main thread is then (most likely
    waiting for the next event), as a notebook's interrupt does."""
    threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()


@pytest.mark.parametrize("how", [raise_interrupt, send_sigint], ids=["raised by on_event", "SIGINT"])
def test_ctrl_c_stops_the_run_saves_last_and_returns_it(how, corpus, tmp_path):
    on_event, seen = interrupting(3, how)
    run = tui_gen.train(corpus, out=tmp_path / "run", steps=400, eval_every=1000, on_event=on_event, **TINY)
    finished = seen[-1]
    assert isinstance(finished, ev.Finished) and finished.reason == ev.FinishReason.STOPPED
    assert 3 <= finished.step < 100  # stopped at once, not at the end of 400 steps
    saved = [e for e in seen if isinstance(e, ev.Saved) and e.kind == "last"]
    assert saved and saved[-1].step == finished.step  # the events after Ctrl+C still reached on_event
    assert tui_gen.load(tmp_path / "run" / "last.safetensors").step == finished.step
    assert run.step == finished.step and run.path == tmp_path / "run"


def test_a_second_ctrl_c_raises_at_once_and_the_run_still_saves(corpus, tmp_path):
    def on_event(event):
        if isinstance(event, ev.Step):
            raise KeyboardInterrupt  # the first asks to stop; the second, at the next event, quits

    with pytest.raises(KeyboardInterrupt):
        tui_gen.train(corpus, out=tmp_path / "run", steps=400, eval_every=1000, on_event=on_event, **TINY)
    workers = [t for t in threading.enumerate() if t.name == "tui-gen training"]
    for t in workers:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in workers)
    assert tui_gen.load(tmp_path / "run" / "last.safetensors").step < 100


def test_an_error_in_on_event_stops_saves_and_is_raised(corpus, tmp_path):
    on_event, seen = interrupting(2, lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        tui_gen.train(corpus, out=tmp_path / "run", steps=400, eval_every=1000, on_event=on_event, **TINY)
    assert len(seen) == 1 + 2  # Started and two steps: nothing more was handed to the failed on_event
    stopped_at = tui_gen.load(tmp_path / "run" / "last.safetensors").step
    assert 2 <= stopped_at < 100
    # saved and let go: the run resumes at once, from where it stopped
    run = tui_gen.train(resume=tmp_path / "run", steps=2, threads=1)
    assert run.step == stopped_at + 2


def test_a_diverged_run_raises_training_error(corpus, tmp_path):
    # the largest learning rate and weight decay validation allows: every weight past float32's range
    # within 13 steps (tests/test_train.py)
    absurd = dict(lr=10.0, weight_decay=100.0, lr_schedule="constant", eval_every=1, max_nan_steps=3)
    with pytest.raises(tui_gen.TrainingError, match="training diverged"):
        tui_gen.train(corpus, out=tmp_path / "run", steps=40, **{**TINY, "warmup_steps": 0, **absurd})


# ---- the README's examples --------------------------------------------------------------------------

# What the README's examples name, and the tiny stand-ins they run with here. Each must be in the
# examples: a README that changes them fails here instead of training for minutes.
STAND_INS = {
    '"models/trump-tweets-20261128-101500"': "RUN",
    '"my-book.txt"': "CORPUS",
    "steps=2000": "steps=12",
    "hidden_sizes=(256, 256)": ", ".join(f"{k}={v!r}" for k, v in TINY.items()),
}


def readme_examples() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_examples_run(run_dir, corpus, tmp_path, monkeypatch, capsys):
    examples = readme_examples()
    assert len(examples) == 2
    code = "\n".join(examples)
    for name, stand_in in STAND_INS.items():
        assert name in code, f"the README's examples no longer name {name}: update STAND_INS"
        stand_in = stand_in.replace("RUN", repr(str(run_dir))).replace("CORPUS", repr(str(corpus)))
        code = code.replace(name, stand_in)
    monkeypatch.chdir(tmp_path)  # the trained run goes to models/ here
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md (Python API)", "exec"), namespace)  # one after the other, as a notebook's cells
    shown = capsys.readouterr().out
    assert "bits/char" in shown and "finished at step 12" in shown
    assert isinstance(namespace["run"], tui_gen.Run) and namespace["run"].step == 12
    assert namespace["run"].path.parent == Path("models")
