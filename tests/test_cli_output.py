"""`generate`, `eval`, `score` and `neurons` when standard output cannot take the text: closed, full, a narrow encoding,
a pipe closed early. In subprocesses, against a tiny checkpoint trained here.

Decided: a closed or full stdout is one line on stderr and exit 2, no traceback; an encoding that
cannot hold a character gets it as a backslash escape and one note on stderr (exit 0); `| head` exits
0 quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.data import REPO

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
ENV.pop("TUI_GEN_DATA_DIR", None)
ENV.pop("PYTHONIOENCODING", None)
ENV["PYTHONPATH"] = str(REPO)  # this checkout's tui_gen, whatever is installed


def cli(args, cwd, env=None, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "tui_gen", *args],
        cwd=cwd,
        env={**ENV, **(env or {})},
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        timeout=180,
        **kw,
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny run on a corpus of non-ASCII letters, so every sample holds characters ASCII cannot."""
    import random

    d = tmp_path_factory.mktemp("out")
    rng = random.Random(0)
    (d / "c.txt").write_text(
        "".join("".join(rng.choice("éüß€ a") for _ in range(30)) + " _E_\n" for _ in range(150)), encoding="utf-8"
    )
    r = cli(
        [
            "train",
            "c.txt",
            "--steps",
            "3",
            "--eval-every",
            "2",
            "--hidden",
            "16",
            "--seq-len",
            "16",
            "--batch-size",
            "8",
            "--embedding",
            "8",
            "--threads",
            "1",
            "--out",
            str(d / "run"),
            "--quiet",
        ],
        d,
    )
    assert r.returncode == 0, r.stderr.decode()
    return d / "run"


GENERATE = ["generate", "RUN", "--seed", "é€", "-n", "200", "--random-seed", "1", "--no-stop"]
EVAL = ["eval", "RUN", "--device", "cpu"]
SCORE = ["score", "RUN", "--text", "é€ a _E_"]
NEURONS = ["neurons", "RUN", "--text", "é€ a _E_"]


def args_for(command: list[str], run_dir: Path) -> list[str]:
    return [str(run_dir) if a == "RUN" else a for a in command]


def one_error_line(r: subprocess.CompletedProcess, words: str) -> None:
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    lines = err.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("tui-gen: error: ") and words in lines[0], err


@pytest.mark.parametrize("command", [GENERATE, EVAL, SCORE, NEURONS], ids=["generate", "eval", "score", "neurons"])
def test_closed_stdout_is_one_line(command, run_dir):
    r = cli(args_for(command, run_dir), run_dir.parent, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    one_error_line(r, "standard output is closed")


@pytest.mark.parametrize("command", [GENERATE, EVAL, SCORE, NEURONS], ids=["generate", "eval", "score", "neurons"])
def test_full_device_is_one_line(command, run_dir):
    with open("/dev/full", "wb") as full:
        r = cli(args_for(command, run_dir), run_dir.parent, stdout=full)
    one_error_line(r, "No space left on device")


def test_ascii_output_gets_escapes_and_a_note(run_dir):
    r = cli(args_for(GENERATE, run_dir), run_dir.parent, env={"PYTHONIOENCODING": "ascii"})
    err = r.stderr.decode()
    assert r.returncode == 0 and "Traceback" not in err, err
    out = r.stdout.decode("ascii")  # nothing but ASCII came out
    assert out.startswith("\\xe9\\u20ac")  # the seed, escaped
    assert err.count("\n") == 1 and err.startswith("tui-gen: note: ") and "PYTHONIOENCODING=utf-8" in err


def test_score_on_ascii_output_gets_escapes_and_a_note(run_dir):
    r = cli(args_for(SCORE, run_dir), run_dir.parent, env={"PYTHONIOENCODING": "ascii"})
    err = r.stderr.decode()
    assert r.returncode == 0 and "Traceback" not in err, err
    assert "\\xe9" in r.stdout.decode("ascii") and "PYTHONIOENCODING=utf-8" in err


def test_latin1_output_keeps_what_latin1_holds(run_dir):
    r = cli(args_for(GENERATE, run_dir), run_dir.parent, env={"PYTHONIOENCODING": "latin-1"})
    assert r.returncode == 0 and "Traceback" not in r.stderr.decode()
    assert r.stdout.decode("latin-1").startswith("é\\u20ac")  # é is Latin-1; € is not


def test_utf8_pipe_is_byte_exact(run_dir):
    r = cli(args_for(GENERATE, run_dir), run_dir.parent)
    assert r.returncode == 0 and r.stderr == b""
    assert r.stdout.decode("utf-8").startswith("é€")  # a pipe gets the text itself


def test_closed_pipe_exits_quietly(run_dir):
    p = subprocess.Popen(
        [sys.executable, "-m", "tui_gen", *args_for(GENERATE, run_dir), "-n", "100000", "--num", "50"],
        cwd=run_dir.parent,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert p.stdout.read(10)
    p.stdout.close()  # `| head`
    err = p.stderr.read()
    assert p.wait(timeout=120) == 0 and err == b""
