"""The `tui-gen` command end to end, in subprocesses: every command, every user error, Ctrl+C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from support.waiting import wait_until
from tui_gen.training.checkpoint import load_checkpoint, read_meta

TINY_MODEL = ["--hidden", "16,16", "--seq-len", "16", "--batch-size", "8", "--embedding", "8"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore::DeprecationWarning", "COLUMNS": "120"}
ENV.pop("TUI_GEN_DATA_DIR", None)


def cli(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_gen", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def cli_many(commands: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess]:
    """Independent commands side by side: most of each one's time is Python and torch starting up."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(lambda args: cli(*args, cwd=cwd), commands))


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr
    return r


@pytest.fixture(scope="module")
def work(tmp_path_factory, lines_corpus_text) -> Path:
    d = tmp_path_factory.mktemp("cli")
    (d / "tiny.txt").write_text(lines_corpus_text, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def trained(work) -> Path:
    """`tui-gen train FILE --steps 12 --eval-every 5` with a tiny model: the run folder it made."""
    r = ok(cli("train", "tiny.txt", "--steps", "12", "--eval-every", "5", *TINY_MODEL, "--threads", "1", cwd=work))
    runs = [p for p in (work / "models").iterdir() if p.is_dir()]
    assert len(runs) == 1 and runs[0].name.startswith("tiny-")
    assert "finished at step 12" in r.stdout
    return runs[0]


# ---- the happy paths ----------------------------------------------------------------------------


def test_train_creates_best_and_last(trained):
    assert (trained / "best.safetensors").is_file() and (trained / "last.safetensors").is_file()
    last = load_checkpoint(trained / "last.safetensors")
    assert last.step == 12 and last.framing == "lines"
    assert last.model.config.hidden_sizes == [16, 16]
    assert "_E_" in last.stop_strings  # the end marker was recognised
    best = load_checkpoint(trained)
    assert best.path.name == "best.safetensors" and best.step in (5, 10, 12)
    assert sorted(p.name for p in trained.iterdir()) == ["best.safetensors", "last.safetensors", "metrics.jsonl"]


@pytest.fixture(scope="module")
def happy(trained, work) -> dict[str, subprocess.CompletedProcess]:
    """generate (twice alike, once with another seed, once --num 2), eval and data list, side by side."""
    gen = ["generate", str(trained), "--seed", "Hi", "-n", "20", "--random-seed", "1"]
    commands = {
        "gen a": gen,
        "gen b": gen,
        "gen c": gen[:-1] + ["2"],
        "num": [
            "generate",
            str(trained),
            "--seed",
            "Hi",
            "-n",
            "15",
            "--num",
            "2",
            "--random-seed",
            "3",
            "--temperature",
            "1.5",
        ],
        "eval": ["eval", str(trained), "--device", "cpu"],
        "data list": ["data", "list"],
    }
    return dict(zip(commands, cli_many(list(commands.values()), cwd=work), strict=False))


def test_generate_echoes_the_seed_and_repeats_with_a_random_seed(happy):
    for name in ("gen a", "gen b", "gen c"):
        r = ok(happy[name])
        assert r.stdout.startswith("Hi")
        assert r.stdout.endswith("\n") and r.stdout.count("\n") == 1
        assert 2 < len(r.stdout) <= 2 + 20 + 1
    assert happy["gen a"].stdout == happy["gen b"].stdout


def test_generate_num(happy):
    lines = ok(happy["num"]).stdout.split("\n")
    assert lines[-1] == "" and len(lines) == 3
    assert all(ln.startswith("Hi") and len(ln) <= 17 for ln in lines[:2])


def test_eval_prints_bits_per_char(happy):
    r = ok(happy["eval"])
    first = r.stdout.split()
    assert float(first[0]) > 0 and first[1] == "bits/char"
    assert "checkpoint step" in r.stdout


def test_data_list(happy):
    r = ok(happy["data list"])
    assert "trump-tweets" in r.stdout and "python-help" in r.stdout


def test_train_start_line_gives_the_framing_and_why(tmp_path):
    """A hard-wrapped book (made up here) is guessed a stream, and the start line says what was seen;
    --framing overrides the guess, and the start line says it was given."""
    import random
    import textwrap

    rng = random.Random(3)
    words = "the a of and to in was it that she river lamp road house old quiet long walked said found".split()
    paragraphs = [
        textwrap.fill(
            " ".join(" ".join(rng.choice(words) for _ in range(12)).capitalize() + "." for _ in range(5)), width=68
        )
        for _ in range(30)
    ]
    (tmp_path / "book.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    train = ["train", "book.txt", "--steps", "1", "--threads", "1", *TINY_MODEL]
    guessed, given = cli_many([train + ["--out", "a"], train + ["--out", "b", "--framing", "lines"]], cwd=tmp_path)
    for r, says in (
        (guessed, "(stream framing: hard-wrapped prose: 30 paragraphs of lines about 68 characters; "),
        (given, "(lines framing: given; "),
    ):
        start = " ".join(ok(r).stderr.split("corpus ", 1)[1].split())  # the start line, unwrapped
        assert start.split("book.txt ", 1)[1].startswith(says), start


def test_train_resume(trained, work, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    r = ok(cli("train", "--resume", str(run), "--steps", "5", "--threads", "1", cwd=work))
    assert "finished at step 17" in r.stdout
    assert read_meta(run / "last.safetensors")["step"] == 17
    assert [s for s, _ in read_meta(run / "last.safetensors")["history"]["val"]][:2] == [5, 10]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["train"],
        ["generate"],
        ["eval"],
        ["data"],
        ["data", "list"],
        ["data", "get"],
        ["launch"],
    ],
    ids=lambda a: "-".join(a) or "top",
)
def test_help(work, args):
    r = ok(cli(*args, "--help", cwd=work))
    assert r.stdout.startswith("usage: tui-gen")


# ---- user errors: exit 2, one line, no traceback ------------------------------------------------


def error_cases(run: Path, work: Path) -> dict[str, list[str]]:
    ck = str(run)
    return {
        "missing corpus": ["train", "no-such-file.txt", "--steps", "2"],
        "empty corpus": ["train", "empty.txt", "--steps", "2"],
        "binary corpus": ["train", "/bin/ls", "--steps", "2"],
        "folder without txt": ["train", "emptydir", "--steps", "2"],
        "seq-len 0": ["train", "tiny.txt", "--steps", "2", "--seq-len", "0"],
        "batch-size -1": ["train", "tiny.txt", "--steps", "2", "--batch-size", "-1"],
        "hidden 0": ["train", "tiny.txt", "--steps", "2", "--hidden", "0"],
        "lr inf": ["train", "tiny.txt", "--steps", "2", "--lr", "inf"],
        "lr nan": ["train", "tiny.txt", "--steps", "2", "--lr", "nan"],
        "steps 0": ["train", "tiny.txt", "--steps", "0"],
        "minutes -1": ["train", "tiny.txt", "--minutes", "-1"],
        "overlap too big": ["train", "tiny.txt", "--steps", "2", "--seq-len", "8", "--overlap", "8"],
        "train device cuda": ["train", "tiny.txt", "--steps", "2", "--device", "cuda", *TINY_MODEL],
        "resume missing": ["train", "--resume", "no-such-run", "--steps", "2"],
        "resume corrupt": ["train", "--resume", "bad.safetensors", "--steps", "2"],
        "temperature 0": ["generate", ck, "--temperature", "0"],
        "temperature -1": ["generate", ck, "--temperature", "-1"],
        "temperature nan": ["generate", ck, "--temperature", "nan"],
        "temperature 1e9": ["generate", ck, "--temperature", "1e9"],
        "top-p 0": ["generate", ck, "--top-p", "0"],
        "length -1": ["generate", ck, "-n", "-1"],
        "num 0": ["generate", ck, "--num", "0"],
        "missing checkpoint": ["generate", "models/no-such-run", "--seed", "Hi"],
        "corrupt checkpoint": ["generate", "bad.safetensors", "--seed", "Hi"],
        "pickle checkpoint": ["generate", "pickle.safetensors", "--seed", "Hi"],
        "checkpoint name too long": ["generate", "x" * 5000, "--seed", "Hi"],
        "unknown seed characters": ["generate", ck, "--seed", "Hi \u20ac\u00a7Z~"],
        "generate device cuda": ["generate", ck, "--device", "cuda"],
        "eval corrupt": ["eval", "bad.safetensors"],
        "eval missing corpus": ["eval", ck, "no-such-file.txt"],
        "data get unknown": ["data", "get", "no-such-corpus"],
    }


def make_error_files(work: Path) -> None:
    import pickle

    if not (work / "emptydir").exists():
        (work / "empty.txt").write_text("  \n\n", encoding="utf-8")
        (work / "emptydir").mkdir()
        (work / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + b"\x00" * 64)
        (work / "pickle.safetensors").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))


def assert_one_line_error(code: int, stdout: str, stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert code == 2, f"exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1, stderr
    assert lines[0].startswith("tui-gen: error: "), stderr
    assert len(lines[0]) > len("tui-gen: error: ") + 10


# Every case through main() in this process (an exception escaping main() fails the test, as a
# traceback would); a representative subset also as real subprocesses, below.
@pytest.fixture(scope="module")
def error_results(trained, work) -> dict[str, tuple[int, str, str]]:
    import contextlib
    import io

    from tui_gen.cli.main import main

    make_error_files(work)
    results = {}
    old = os.getcwd()
    os.chdir(work)
    try:
        for case, args in error_cases(trained, work).items():
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(args)
                except SystemExit as e:  # argparse refused a flag's text (--lr inf): its one line, exit 2
                    code = e.code
            results[case] = (code, out.getvalue(), err.getvalue())
    finally:
        os.chdir(old)
    return results


@pytest.mark.parametrize("case", list(error_cases(Path("run"), Path("."))))
def test_user_errors_are_one_line_and_exit_2(error_results, case):
    assert_one_line_error(*error_results[case])


END_TO_END = [
    "binary corpus",
    "seq-len 0",
    "lr inf",
    "temperature nan",
    "corrupt checkpoint",
    "unknown seed characters",
    "train device cuda",
]


@pytest.fixture(scope="module")
def error_processes(trained, work) -> dict[str, subprocess.CompletedProcess]:
    make_error_files(work)
    cases = error_cases(trained, work)
    return dict(zip(END_TO_END, cli_many([cases[c] for c in END_TO_END], cwd=work), strict=False))


@pytest.mark.parametrize("case", END_TO_END)
def test_user_errors_end_to_end(error_processes, case):
    r = error_processes[case]
    assert_one_line_error(r.returncode, r.stdout, r.stderr)


def test_unknown_seed_characters_are_named_and_nothing_is_echoed(error_results, error_processes):
    for _code, stdout, stderr in (
        error_results["unknown seed characters"],
        (0, error_processes["unknown seed characters"].stdout, error_processes["unknown seed characters"].stderr),
    ):
        assert stdout == ""
        for c in ("\u20ac", "\u00a7", "Z", "~"):
            assert repr(c) in stderr
        assert "'H'" not in stderr


def test_device_cuda_says_what_to_do(error_results):
    for case in ("train device cuda", "generate device cuda"):
        stderr = error_results[case][2]
        assert "cuda" in stderr and "cpu" in stderr


# ---- Ctrl+C -------------------------------------------------------------------------------------


def test_sigint_during_train_saves_and_exits_0(work, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui_gen",
            "train",
            str(work / "tiny.txt"),
            "--minutes",
            "1",
            "--eval-every",
            "5",
            "--out",
            str(out),
            "--threads",
            "1",
            *TINY_MODEL,
        ],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:

        def saved() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"train exited ({proc.returncode}) before a checkpoint: {proc.communicate()}")
            return (out / "last.safetensors").exists()

        wait_until(saved, 180, "a checkpoint")  # torch starting on a loaded machine
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert "stopped at step" in stdout
    step = int(stdout.split("stopped at step")[1].split()[0].strip(",;"))
    ck = load_checkpoint(out / "last.safetensors")
    assert ck.step == step and step >= 5
    assert sorted(p.name for p in out.iterdir()) == ["best.safetensors", "last.safetensors", "metrics.jsonl"]


class BackgroundTrain:
    """`tui-gen train` in a child process, its stderr read as it comes (a thread), always cleaned up."""

    def __init__(self, args: list[str], cwd: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui_gen", "train", *args],
            cwd=cwd,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(iter(self.proc.stderr.readline, "")), daemon=True
        )
        self.reader.start()
        self.stdout = ""

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_until(self, condition, what: str, timeout: float = 180) -> None:
        """Until condition() holds, the child still running."""

        def seen() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"train exited ({self.proc.returncode}) before its {what}:\n{self.tail()}")
            return condition()

        wait_until(seen, timeout, f"the {what}", every=0.05, shown=self.tail)

    def tail(self) -> str:
        return self.stderr[-3000:]

    def stop_with(self, sig: int) -> int:
        self.proc.send_signal(sig)
        self.stdout = self.proc.stdout.read()
        self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        return self.proc.returncode

    def __enter__(self) -> BackgroundTrain:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_or_sighup_during_train_saves_last_before_any_evaluation(work, tmp_path, sig, status):
    """A scheduler's SIGTERM (or the terminal closing) used to leave no run folder at all. Now it is
    Ctrl+C's clean stop: the step finishes, `last` is saved (even before the first evaluation), and the
    exit status says which signal it was."""
    out = tmp_path / "run"
    with BackgroundTrain(
        [
            str(work / "tiny.txt"),
            "--minutes",
            "5",
            "--eval-every",
            "100000",
            "--first-eval",
            "0",
            "--out",
            str(out),
            "--threads",
            "1",
            *TINY_MODEL,
        ],
        tmp_path,
    ) as train:
        # the start line ("corpus ..."): training has begun
        train.wait_until(lambda: any(ln.startswith("corpus") for ln in train.lines), "start line")
        assert train.stop_with(sig) == status, train.stderr[-3000:]  # at once: before or after the first step
    assert "Traceback" not in train.stderr and "stopped at step" in train.stdout
    step = int(train.stdout.split("stopped at step")[1].split()[0].strip(",;"))
    assert load_checkpoint(out / "last.safetensors").step == step  # resumable from where it stopped


def test_a_second_trainer_on_a_run_being_trained_stops_at_once_naming_the_first(work, tmp_path):
    out = tmp_path / "run"
    with BackgroundTrain(
        [
            str(work / "tiny.txt"),
            "--minutes",
            "5",
            "--eval-every",
            "5",
            "--out",
            str(out),
            "--threads",
            "1",
            *TINY_MODEL,
        ],
        tmp_path,
    ) as first:
        first.wait_until(lambda: (out / "last.safetensors").exists(), "checkpoint")
        second = cli("train", "--resume", str(out), "--steps", "1", "--threads", "1", cwd=tmp_path)
        assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr
        assert f"is being trained by process {first.proc.pid}" in second.stderr and str(out) in second.stderr
        assert "Traceback" not in second.stderr
        assert first.stop_with(signal.SIGINT) == 0, first.stderr[-3000:]
    assert cli("train", "--resume", str(out), "--steps", "1", "--threads", "1", "--quiet", cwd=tmp_path).returncode == 0
