"""Absurd flags, seeds and devices: refused at once with one clear line (exit 2) before any work,
or handled; a diverging run stops with exit 1 and keeps its last good checkpoint."""

from __future__ import annotations

import os
import string
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from support.data import TINY_FLAGS, tiny_text, tiny_train_config
from support.processes import child_env, run_cli, run_main
from tui_gen.training.checkpoint import load_checkpoint

# ---- training flags: refused before torch is even imported ----------------------------------------

BAD_TRAIN_FLAGS = {
    "--seq-len 0": (["--seq-len", "0"], "--seq-len"),
    "--batch-size -1": (["--batch-size", "-1"], "--batch-size"),
    "--hidden 0": (["--hidden", "0"], "hidden sizes"),
    "--hidden 0,16": (["--hidden", "0,16"], "hidden sizes"),
    "--hidden abc": (["--hidden", "abc"], "--hidden"),
    "--lr inf": (["--lr", "inf"], "--lr"),
    "--lr nan": (["--lr", "nan"], "--lr"),
    "--lr 0": (["--lr", "0"], "--lr"),
    "--dropout 1": (["--dropout", "1"], "--dropout"),
    "--dropout -0.5": (["--dropout=-0.5"], "--dropout"),
    "--overlap 99 --seq-len 50": (["--overlap", "99", "--seq-len", "50"], "--overlap"),
    "--steps 0": (["--steps", "0"], "--steps"),
    "--steps -3": (["--steps", "-3"], "--steps"),
    "--minutes 0": (["--minutes", "0"], "--minutes"),
    "--minutes nan": (["--minutes", "nan"], "--minutes"),
    "--seed -1": (["--seed", "-1"], "--seed"),
    "--seed 2**70": (["--seed", str(2**70)], "--seed"),
    "--embedding -3": (["--embedding=-3"], "--embedding"),
    "--eval-every 0": (["--eval-every", "0"], "--eval-every"),
    "--threads 0": (["--threads", "0"], "--threads"),
    "--val-fraction 0.9": (["--val-fraction", "0.9"], "--val-fraction"),
    "--steps abc": (["--steps", "abc"], "--steps"),
    "--device gpu": (["--device", "gpu"], "--device"),
    "--preset nope": (["--preset", "nope"], "preset"),
}


@pytest.fixture(scope="module")
def bad_flag_results(tmp_path_factory):
    base = tmp_path_factory.mktemp("flags")
    corpus = base / "c.txt"
    corpus.write_text(tiny_text())

    def one(case):
        d = base / str(abs(hash(case)))
        d.mkdir()
        args, _ = BAD_TRAIN_FLAGS[case]
        # the tiny model's flags first, the bad one last (argparse: the last value wins)
        steps = [] if any(a.startswith(("--steps", "--minutes")) for a in args) else ["--steps", "2"]
        return case, d, run_cli(["train", corpus, *steps, *TINY_FLAGS, *args], cwd=d, timeout=60)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return {case: (d, r) for case, d, r in pool.map(one, BAD_TRAIN_FLAGS)}


@pytest.mark.parametrize("case", list(BAD_TRAIN_FLAGS))
def test_bad_train_flag_refused_at_once(case, bad_flag_results):
    d, r = bad_flag_results[case]
    r.assert_clean_error(BAD_TRAIN_FLAGS[case][1])
    assert r.seconds < 5, f"{r.seconds:.1f}s to refuse a flag"
    assert not (d / "models").exists(), "no run folder for a refused run"


def test_flag_errors_do_not_import_torch(tmp_path):
    """Why they are fast: the flags are checked before torch is imported."""
    code = (
        "import sys; from tui_gen.cli.main import main; rc = main(['train', 'x.txt', '--seq-len', '0']); "
        "print(rc, 'torch' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.stdout.split() == ["2", "False"], r.stdout + r.stderr


# ---- devices ---------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_device_cuda_without_gpu(tmp_path, corpus_file, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run_main(["train", corpus_file, "--steps", "2", *TINY_FLAGS, "--device", "cuda"], capsys)
    r.assert_clean_error("no CUDA GPU")
    assert not (tmp_path / "models").exists()
    for argv in (["generate", "x.safetensors", "--device", "cuda"], ["eval", "x.safetensors", "--device", "cuda"]):
        run_main(argv, capsys).assert_clean_error()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_device_auto_trains_on_cpu(tmp_path, corpus_file, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run_main(["train", corpus_file, "--steps", "2", *TINY_FLAGS, "--device", "auto", "--out", "run"], capsys)
    r.assert_ok()
    assert "parameters on cpu" in " ".join(r.err.split())
    assert load_checkpoint(tmp_path / "run").meta["device"] == "cpu"


# ---- generate: temperatures and seeds -------------------------------------------------------------

WIDE_TEXT = "".join(
    f"{w} [bold red]x[/] [link=http://e.x]y[/link] \x1b[31mred\x1b[0m \t{string.punctuation} {string.digits}\n"
    for w in tiny_text(200).split("\n")
)


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory) -> Path:
    """A model whose vocabulary holds brackets, slashes, ESC and tab: seeds made of them are legal."""
    from tui_gen.data.corpus import CorpusText
    from tui_gen.training.trainer import Trainer

    run = tmp_path_factory.mktemp("wide") / "run"
    corpus = CorpusText(name="wide", text=WIDE_TEXT, framing="lines", end_marker="_E_")
    for _ in Trainer(corpus, tiny_train_config(min_char_count=1, max_steps=2), run_dir=run).run():
        pass
    ck = load_checkpoint(run)
    assert "\x1b" in ck.vocab and "[" in ck.vocab and "/" in ck.vocab and "\t" in ck.vocab
    return run


@pytest.mark.parametrize("t", ["0", "-1", "nan", "inf", "-inf", "1e9", "abc"])
def test_bad_temperature(t, wide_run, capsys):
    r = run_main(["generate", wide_run, f"--temperature={t}"], capsys)
    r.assert_clean_error("temperature")
    assert r.out == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["--top-k", "-1"],
        ["--top-p", "0"],
        ["--top-p", "nan"],
        ["--length", "-1"],
        ["--num", "0"],
        ["--random-seed", "-1"],
        ["--random-seed", str(2**70)],
    ],
)
def test_bad_generate_flags(argv, wide_run, capsys):
    run_main(["generate", wide_run, *argv], capsys).assert_clean_error()


SEEDS = {
    "rich markup": "[bold red]x[/]",
    "link markup": "[link=http://e.x]y[/link]",
    "escape sequence": "\x1b[31mred\x1b[0m",
    "tab and punctuation": "\t" + string.punctuation,
    "empty": "",
    "just a newline": "\n",
}


@pytest.mark.parametrize("name", list(SEEDS))
def test_seed_is_echoed_literally(name, wide_run, capsys):
    seed = SEEDS[name]
    r = run_main(["generate", wide_run, "--seed", seed, "--length", "20", "--random-seed", "1"], capsys)
    r.assert_ok()
    assert r.out.startswith(seed), (seed, r.out[:80])
    assert r.err == ""


def test_seed_outside_the_vocabulary(trained_run, capsys):
    """The tiny model's vocabulary has no ESC, no brackets: a clear error naming them, nothing printed."""
    for seed in ("\x1b[31mred", "[bold]x[/]", "\u202e\u0000"[:1], "\ud800"):
        r = run_main(["generate", trained_run, "--seed", seed], capsys)
        r.assert_clean_error("never saw")
        assert r.out == ""


def test_seed_of_undecodable_argv_bytes(trained_run, tmp_path):
    """Bytes that are not UTF-8 in argv arrive as lone surrogates: a clear error, not a crash."""
    r = subprocess.run(
        [
            os.fsencode(sys.executable),
            b"-m",
            b"tui_gen",
            b"generate",
            os.fsencode(trained_run),
            b"--seed",
            b"ab\xff\xfe",
        ],
        capture_output=True,
        cwd=tmp_path,
        env=child_env(),
        timeout=60,
    )
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2 and "Traceback" not in err, err
    assert err.startswith("tui-gen: error:") and err.count("\n") == 1, err


@pytest.mark.slow
def test_100kb_seed(wide_run, tmp_path):
    ck = load_checkpoint(wide_run)
    alphabet = [c for c in ck.vocab.chars if c.isprintable()]
    seed = "".join(alphabet[(i * 7) % len(alphabet)] for i in range(100_000))
    r = run_cli(["generate", wide_run, "--seed", seed, "--length", "50"], cwd=tmp_path, timeout=60)
    r.assert_ok()
    assert r.out.startswith(seed) and len(r.out) >= 100_000
    assert r.seconds < 30


# ---- paths that look like markup ----------------------------------------------------------------


def test_paths_with_markup_are_printed_literally(tmp_path, capsys, monkeypatch):
    """A corpus in a folder named `[/]` (a closing tag) and a run folder `[bold]o`: printed as they are."""
    monkeypatch.chdir(tmp_path)
    # wide enough that no line wraps inside the path, however long the temporary folder's name is
    # (an xdist worker's is longer): flattening a wrap would put a space in the middle of the path
    monkeypatch.setenv("COLUMNS", "1000")
    d = tmp_path / "[" / "]"
    d.mkdir(parents=True)
    corpus = d / "c.txt"
    corpus.write_bytes(tiny_text().encode() + b"bad \xff byte\n")  # a warning naming the file, too
    r = run_main(["train", corpus, "--steps", "2", *TINY_FLAGS, "--out", "[bold]o"], capsys)
    r.assert_ok()
    flat = " ".join(r.err.split())
    assert "[/]/c.txt" in flat and "run folder [bold]o" in flat, r.err
    assert (tmp_path / "[bold]o" / "last.safetensors").is_file()


# ---- a diverging run -----------------------------------------------------------------------------


@pytest.mark.slow
def test_nan_loss_stops_the_run_with_exit_1(tmp_path, corpus_file):
    """--lr 10 with --weight-decay 10: AdamW multiplies every weight by (1 - lr * wd) = -99 per step,
    so the weights overflow to inf within a few dozen steps and the loss becomes NaN. (--lr 10 alone,
    even with --clip 1e30, does not diverge: Adam's steps are bounded by lr and the GRU saturates.)"""
    run = tmp_path / "run"
    r = run_cli(
        [
            "train",
            corpus_file,
            "--steps",
            "300",
            "--eval-every",
            "5",
            *TINY_FLAGS,
            "--lr",
            "10",
            "--weight-decay",
            "10",
            "--warmup-steps",
            "0",
            "--schedule",
            "constant",
            "--out",
            run,
            "--quiet",
        ],
        cwd=tmp_path,
        timeout=90,
    )
    line = r.assert_clean_error("training diverged", rc=1)
    assert "steps in a row had a non-finite loss" in line
    nan_warnings = [ln for ln in r.err.splitlines() if "the loss is not finite" in ln]
    assert len(nan_warnings) >= 10
    ck = load_checkpoint(run)  # the last good checkpoint is whole (load_checkpoint refuses NaN weights)
    assert 0 < ck.step < 300
    for name in ("best.safetensors", "last.safetensors"):
        load_checkpoint(run / name)
    # and generating from what diverged does not crash either
    g = run_cli(["generate", run / "last.safetensors", "--length", "20"], cwd=tmp_path, timeout=60)
    assert g.rc in (0, 2) and "Traceback" not in g.err, g.err
    if g.rc == 2:
        g.assert_clean_error()
