"""What watching costs the run watched: `tui-gen train` chars/s alone and with an app watching it.

    python -m bench --watch              # the row, in the table
    python -m bench.watch_speed          # the same, printed on its own

Each round trains the tweets with `tui-gen train` (its defaults, --seconds of budget) in a child process,
alone and then with a second child watching it: the real app (TuiGenApp with --watch), headless under
Textual's test driver at 160x48, following the metrics log and loading each new checkpoint into its
playground, as a user's terminal would. Rounds alternate, so the machine's noise hits both alike. The
figure of a run is its mean training speed, read from its own metrics log: the characters trained from
its first step line to its last over the training time between them (the trainer's clock: training
steps only, as `tui-gen train` reports chars/s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import REPO, tweets_path


def _env(data_dir: Path) -> dict:
    env = dict(os.environ, TUI_GEN_DATA_DIR=str(data_dir), PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def _rate(folder: Path) -> float:
    """Mean training chars/s over the run, from its metrics log: characters trained between its first
    and its last step line over the training time between them (the first step, slow to warm up, and
    the start-up are left out)."""
    steps = []
    with open(folder / "metrics.jsonl", encoding="utf-8") as f:
        for line in f:
            if '"type":"step"' in line:
                steps.append(json.loads(line))
    if len(steps) < 2:
        raise SystemExit(f"watch_speed: {folder} logged {len(steps)} step lines: give it more --seconds")
    first, last = steps[0], steps[-1]
    return (last["chars_seen"] - first["chars_seen"]) / (last["elapsed"] - first["elapsed"])


def one_run(work: Path, corpus: str, seconds: float, watched: bool, index: int) -> tuple[float, int | None]:
    """(chars/s of a `tui-gen train` run, steps the watching app saw or None)."""
    folder = work / f"run-{index}-{'watched' if watched else 'alone'}"
    env = _env(work / "data")
    train = subprocess.Popen(
        [sys.executable, "-m", "tui_gen", "train", corpus, "--minutes", str(seconds / 60), "--out", str(folder)],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    app = None
    if watched:
        app = subprocess.Popen(
            [sys.executable, "-m", "bench.watch_speed", "--app", str(folder), "--timeout", str(seconds * 4 + 300)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    _, err = train.communicate(timeout=seconds * 4 + 300)
    if train.returncode != 0:
        raise SystemExit(f"watch_speed: tui-gen train failed ({train.returncode}): {err.decode()[-2000:]}")
    seen = None
    if app is not None:
        out, err = app.communicate(timeout=120)
        if app.returncode != 0:
            raise SystemExit(f"watch_speed: the watching app failed ({app.returncode}): {err.decode()[-2000:]}")
        step, cpu, wall = out.decode().split()[-3:]
        seen = (int(step), float(cpu) / float(wall))
    return (_rate(folder) if seconds >= 10 else 0.0), seen


def run(seconds: float = 60, rounds: int = 2) -> list[tuple]:
    corpus = tweets_path()
    alone, watched, seen = [], [], []
    with tempfile.TemporaryDirectory(prefix="tui-gen-bench-watch-") as tmp:
        work = Path(tmp)
        one_run(work, corpus, 5, False, 0)  # the corpus cache is built once, outside the figures
        for i in range(rounds):
            alone.append(one_run(work, corpus, seconds, False, 2 * i + 1)[0])
            rate, steps = one_run(work, corpus, seconds, True, 2 * i + 2)
            watched.append(rate)
            seen.append(steps)
    a, w = statistics.median(alone), statistics.median(watched)
    cpu = statistics.median(share for _, share in seen)
    return [
        (
            f"train, watched by the app (--watch, headless; {rounds} rounds of {seconds:g} s)",
            f"{w:,.0f} chars/s (app saw step {max(step for step, _ in seen):,}; app CPU {cpu:.1%} of a core "
            "while watching)",
            f"alone {a:,.0f} chars/s (" + ", ".join(f"{x:,.0f}" for x in alone) + ")",
            f"{w / a:.2f}x (target >= 0.95; each: " + ", ".join(f"{x:,.0f}" for x in watched) + ")",
        )
    ]


async def watch(folder: str, timeout: float) -> tuple[int, float, float]:
    """The app watching `folder` until the run finishes: the last step it showed, and the CPU seconds the
    app's process used while watching over the seconds it watched (its start-up left out: the CPU a
    watcher takes from training, on a machine that both share)."""
    import resource

    from tui_gen.app.app import TuiGenApp
    from tui_gen.app.options import LaunchOptions
    from tui_gen.app.state import Status

    def no_training():
        raise SystemExit("watch_speed: the watching app tried to start a training process")

    deadline = time.monotonic() + timeout
    while not Path(folder).is_dir():  # --out is created before the first step
        if time.monotonic() > deadline:
            raise SystemExit(f"watch_speed: {folder} never appeared")
        await asyncio.sleep(0.1)
    app = TuiGenApp(LaunchOptions(watch=folder, device="cpu"), process_factory=no_training)
    async with app.run_test(size=(160, 48)):
        while not app.state.started:  # from the run's first line on
            if time.monotonic() > deadline:
                raise SystemExit("watch_speed: the watched run never started")
            await asyncio.sleep(0.1)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, t0 = usage.ru_utime + usage.ru_stime, time.monotonic()
        while not (app.state.status == Status.FINISHED and app.state.started):
            if time.monotonic() > deadline:
                raise SystemExit("watch_speed: the watched run did not finish in time")
            await asyncio.sleep(0.25)
        step = app.state.step
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu, wall = usage.ru_utime + usage.ru_stime - cpu0, time.monotonic() - t0
        app.exit()
    return step, cpu, wall


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--app", metavar="FOLDER", help="(internal) be the watching app for FOLDER")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    if a.app:
        print(*asyncio.run(watch(a.app, a.timeout)))
    else:
        for row in run(a.seconds, a.rounds):
            print("  ".join(row))
