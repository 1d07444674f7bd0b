"""Piped or redirected output is never wrapped: `tui-gen train ... > train.log` writes each line whole,
however long (a long corpus path, the start line's figures), so grep and log tools see one line per
message. On a terminal Rich wraps to the terminal's width as it always has.

In subprocesses with stdout and stderr on pipes, COLUMNS unset (Rich's width for a pipe would be 80)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.data import REPO, TINY_FLAGS, tiny_lines
from support.processes import run_main
from tui_gen.data.catalogue import BUILTINS

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore::DeprecationWarning", "PYTHONPATH": str(REPO)}
for name in ("COLUMNS", "LINES", "TUI_GEN_DATA_DIR", "FORCE_TERMINAL", "TTY_COMPATIBLE"):
    ENV.pop(name, None)

# A folder name of 150 characters, twice: every path below is far wider than 80 columns.
LONG = "a-folder-whose-name-is-long-enough-to-wrap-any-line-it-is-part-of-" * 2 + "x" * 18


def cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_gen", *args],
        cwd=cwd,
        env={**ENV, **(env or {})},
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=180,
    )


# Every line `tui-gen train` writes to stderr, by how it starts: the second piece of a wrapped line matches none.
TRAIN_LINES = [
    re.compile(p)
    for p in (
        r"corpus .+ \(lines framing: .+ training / [\d,]+ held-out characters, vocabulary \d+\); "
        r"model .+; run folder .+",
        r"(note|warning): .+",
        r"step +\d+  epoch \d+  train [\d.]+ bits/char  .+",
        r"step +\d+  validation [\d.]+ bits/char  .+",
        r"  \d+ T=[\d.]+  .*",  # a sample: the seed and its continuation, on one line
        r"train \S+ +100% step \d+  .+",  # the bar's last state
    )
]


def test_a_piped_train_writes_every_line_whole(tmp_path):
    folder = tmp_path / LONG / LONG
    folder.mkdir(parents=True)
    corpus = folder / "a-corpus-with-a-long-name.txt"
    corpus.write_text(tiny_lines(150), encoding="utf-8")
    out = folder / "run"
    r = cli(["train", str(corpus), "--steps", "3", "--eval-every", "3", *TINY_FLAGS, "--out", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    broken = [line for line in lines if not any(p.fullmatch(line) for p in TRAIN_LINES)]
    assert not broken, f"lines that are pieces of a wrapped line: {broken}\n---\n{r.stderr}"
    start = [line for line in lines if line.startswith("corpus ")]
    assert len(start) == 1 and start[0].startswith(f"corpus {corpus} (") and start[0].endswith(f"run folder {out}")
    assert sum(line.startswith("  3 T=") for line in lines) == 4  # the samples of the evaluation at step 3
    assert r.stdout.splitlines() == [r.stdout.strip()]  # the final line alone on stdout, whole
    assert r.stdout.startswith("finished at step 3") and r.stdout.strip().endswith(f"checkpoints in {out}")


def test_a_piped_data_list_writes_each_corpus_on_one_line(tmp_path, monkeypatch, capsys):
    """In this process: pytest's captured stdout is not a terminal, as a pipe is not."""
    data = tmp_path / LONG
    data.mkdir()
    for corpus in BUILTINS.values():  # "cached": a file of the expected size (sparse: no bytes written)
        with open(data / corpus.filename, "wb") as f:
            f.truncate(corpus.size or 1)
    monkeypatch.setenv("TUI_GEN_DATA_DIR", str(data))
    monkeypatch.delenv("COLUMNS", raising=False)  # Rich's width for a pipe: 80
    r = run_main(["data", "list"], capsys)
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 1 + len(BUILTINS), r.out  # the heading, then one line per corpus
    for line, corpus in zip(lines[1:], BUILTINS.values(), strict=True):
        assert line.split()[:3] == [corpus.name, corpus.framing, str(data / corpus.filename)], line
        assert line.rstrip().endswith(corpus.description), line


def test_a_terminal_still_wraps_at_its_width():
    """On a terminal (a pty, COLUMNS=50), Rich's console wraps as it always has: the unwrapped console is
    for pipes and files only."""
    code = (
        "from tui_gen.cli.output import console\n"
        "c = console(stderr=False)\n"
        "c.print('word ' * 40)\n"
        "c.print(f'{c.is_terminal} {c.width}')\n"
    )
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=subprocess.PIPE,
            env={**ENV, "COLUMNS": "50", "TERM": "xterm"},
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    shown = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)  # colours and modes, if any
    lines = shown.strip("\n").split("\n")
    assert lines[-1] == "True 50", shown
    words = lines[:-1]
    assert len(words) == 4 and all(len(line.rstrip()) <= 50 for line in words), shown


@pytest.mark.parametrize("stderr", [False, True], ids=["stdout", "stderr"])
def test_the_console_for_a_pipe_does_not_wrap(stderr):
    """console() to a pipe (pytest's captured streams are not terminals): a 5,000-character line is
    written as one line, with nothing cut."""
    code = (
        "import sys\n"
        "from tui_gen.cli.output import console\n"
        f"c = console(stderr={stderr})\n"
        "c.print('word ' * 1000 + 'end')\n"
        "c.print(f'{c.is_terminal}')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = (r.stderr if stderr else r.stdout).splitlines()
    assert lines == [("word " * 1000 + "end"), "False"]
