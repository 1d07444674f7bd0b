"""Generation with batch 1 and carried state, in ms per character, each figure beside a bare PyTorch loop
(model forward + softmax + multinomial, no output) timed in the same rounds over the same model:

- `tui-gen generate CHECKPOINT --length 20000 --no-stop` in a child process, its output to a pipe and
  to a terminal (a pty): the wall-clock time from its first byte (the seed, written before priming) to
  its last, per generated character, so neither start-up nor exit is counted; and its CPU time, less
  that of a --length 0 run, per character (the bare loop's: this process's), which a shared machine
  disturbs far less;
- tui-gen's Generator in this process, as the CLI uses it (no candidates) and as the app does (top 5).

The CLI figures are from a checkpoint of the default model (TrainConfig's: GRU 256,256, embedding 64) over the tweets'
vocabulary, untrained unless a run is given (`python -m bench.generate_speed RUN`): an untrained model
draws every character as often as any other, controls included, which is the sanitiser's worst case.
The machine may be shared: the rounds interleave the figures so that noise falls on all of them, the
median is reported, and the spread (min-max over the rounds) beside it. `--against DIR` times the CLI
of the tui_gen in DIR (an older checkout, or a copy of the package) in the same rounds.

python -m bench.generate_speed [RUN] [--rounds N] [--against DIR]
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CharRNN, ModelConfig
from tui_gen.model.sample import Generator, SamplingSettings

from .common import REPO, median, tweets_path

CLI_CHARS = 20_000
SEED = "The "


@torch.inference_mode()
def bare_loop(model: CharRNN, n: int) -> tuple[float, float]:
    """The bare loop's ms per character: wall clock, and CPU time (this process's)."""
    model.eval()
    x = torch.tensor([[5]])
    logits, state = model(x)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        p = torch.softmax(logits[0, -1] / 0.8, -1)
        x[0, 0] = int(torch.multinomial(p, 1))
        logits, state = model(x, state)
    return (time.perf_counter() - t0) / n * 1000, (time.process_time() - c0) / n * 1000


def bare_ms_per_char(model: CharRNN, n: int) -> float:
    return bare_loop(model, n)[0]


def ours_ms_per_char(model: CharRNN, vocab: Vocab, n: int, top_n: int) -> float:
    g = Generator(model, vocab, "stream", stop_strings=(), top_n=top_n)
    t0 = time.perf_counter()
    count = sum(1 for _ in g.stream(SEED, SamplingSettings(temperature=0.8), n))
    return (time.perf_counter() - t0) / count * 1000


def untrained_checkpoint(folder: Path) -> Path:
    """The default model over the tweets' vocabulary, seeded, saved as a run's checkpoint."""
    from tui_gen.core.config import TrainConfig
    from tui_gen.training.checkpoint import save_checkpoint

    text = Path(tweets_path()).read_text(encoding="utf-8", errors="replace")
    vocab = Vocab.build([text])
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=len(vocab)))
    meta = {
        "kind": "last",
        "framing": "lines",
        "end_marker": "_E_",
        "vocab": vocab.to_json(),
        "model_config": model.config.to_json(),
        "train_config": TrainConfig().to_json(),
        "step": 0,
    }
    return save_checkpoint(folder / "last.safetensors", {f"model.{k}": v for k, v in model.state_dict().items()}, meta)


def _cli(checkpoint: Path, chars: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tui_gen",
        "generate",
        str(checkpoint),
        "--seed",
        SEED,
        "--length",
        str(chars),
        "--no-stop",
        "--random-seed",
        "1",
    ]


def _env(repo: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONIOENCODING", None)
    return env


def _run(checkpoint: Path, chars: int, terminal: bool, repo: Path) -> tuple[float, float, float]:
    """`tui-gen generate` (the tui_gen under `repo`) to a pipe or a pty, read here as fast as it comes:
    the times of its first and last bytes, and the CPU time it used (user + system, from wait4)."""
    master = slave = -1
    if terminal:
        master, slave = pty.openpty()
    proc = subprocess.Popen(
        _cli(checkpoint.resolve(), chars),
        cwd=repo,  # `python -m` puts its folder first on the path, before PYTHONPATH
        env=_env(repo),
        stdin=subprocess.DEVNULL,
        stdout=slave if terminal else subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    if terminal:
        os.close(slave)
        fd = master
    else:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
    first = last = 0.0
    try:
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except OSError:  # EIO: a pty whose other side has closed
                break
            if not data:
                break
            last = time.perf_counter()
            first = first or last
    finally:
        if terminal:
            os.close(master)
        elif proc.stdout is not None:
            proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"tui-gen generate exited {proc.returncode}")
    return first, last, usage.ru_utime + usage.ru_stime


def _row(label: str, ours: list[float], base: list[float], base_label: str = "bare loop") -> tuple:
    o, b = median(ours), median(base)
    return (
        f"{label} (median of {len(ours)}; spread {min(ours):.3f}-{max(ours):.3f})",
        f"{o:.3f} ms/char",
        f"{base_label} {b:.3f} ms/char (spread {min(base):.3f}-{max(base):.3f})",
        f"{b / o:.2f}x",
    )


def cli_rows(
    checkpoint: Path, model: CharRNN, rounds: int = 5, chars: int = CLI_CHARS, against: Path | None = None
) -> list[tuple]:
    """The CLI to a pipe and to a terminal, each round beside a bare loop of the same model (and, with
    `against`, beside the CLI of the tui_gen in that folder: an older checkout, to time a change).

    Wall clock, first byte to last, is what a person sees; CPU time (the child's, less that of a run
    with --length 0 in the same round: start-up and exit) is what the work costs, and holds on a
    machine that is shared, where the wall clock counts the time the other processes had the CPU."""
    wall: dict[tuple[str, bool], list[float]] = {}
    cpu: dict[tuple[str, bool], list[float]] = {}
    bare_wall: list[float] = []
    bare_cpu: list[float] = []
    repos = [("ours", REPO)] + ([("against", against)] if against else [])
    for _ in range(rounds):
        for name, repo in repos:
            start_cpu = _run(checkpoint, 0, False, repo)[2]
            for terminal in (False, True):
                first, last, used = _run(checkpoint, chars, terminal, repo)
                wall.setdefault((name, terminal), []).append((last - first) / chars * 1000)
                cpu.setdefault((name, terminal), []).append((used - start_cpu) / chars * 1000)
        w, c = bare_loop(model, chars // 4)
        bare_wall.append(w)
        bare_cpu.append(c)
    rows = []
    for terminal, where in ((False, "to a pipe"), (True, "to a terminal (pty)")):
        label = f"generate --length {chars:,} --no-stop, {where}"
        rows.append(_row(f"{label}, wall clock", wall["ours", terminal], bare_wall))
        rows.append(_row(f"{label}, CPU time", cpu["ours", terminal], bare_cpu))
        if against:
            rows.append(_row(f"{label}, wall clock", wall["ours", terminal], wall["against", terminal], f"{against}:"))
            rows.append(_row(f"{label}, CPU time", cpu["ours", terminal], cpu["against", terminal], f"{against}:"))
    return rows


def in_process_rows(model: CharRNN, vocab: Vocab, chars: int = 2000, rounds: int = 5) -> list[tuple]:
    rows = []
    for label, top_n in (("Generator, as the CLI (no candidates)", 0), ("Generator, as the app (top-5 candidates)", 5)):
        ours, bare = [], []
        for _ in range(rounds):
            ours.append(ours_ms_per_char(model, vocab, chars, top_n))
            bare.append(bare_ms_per_char(model, chars))
        rows.append(_row(label, ours, bare))
    return rows


def run(rounds: int = 5, threads: int = 2, checkpoint: str | None = None, against: str | None = None) -> list[tuple]:
    """Every figure on one thread, as `tui-gen generate` sets (`threads` is the rest of the bench's,
    put back at the end)."""
    from tui_gen.training.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(checkpoint) if checkpoint else untrained_checkpoint(Path(tmp))
            ck = load_checkpoint(path)
            return cli_rows(path, ck.model, rounds, against=Path(against) if against else None) + in_process_rows(
                ck.model, ck.vocab, rounds=rounds
            )
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    import argparse

    from .common import print_table

    p = argparse.ArgumentParser(prog="python -m bench.generate_speed")
    p.add_argument("run", nargs="?", help="a run folder or checkpoint to generate from (default: an untrained one)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--against", metavar="DIR", help="also time the CLI of the tui_gen in DIR (an older checkout)")
    args = p.parse_args()
    print_table(
        f"tui-gen generate, batch 1 — torch {torch.__version__}",
        run(rounds=args.rounds, checkpoint=args.run, against=args.against),
        ("what", "tui-gen", "baseline (same run)", "ratio"),
    )
