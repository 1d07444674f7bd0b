"""SIGKILL `tui-gen train` at random instants, most of them during saves: after every kill, each
checkpoint in the run folder loads and resumes, and killed saves' temporary files do not pile up."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from support.data import TINY_FLAGS, tiny_text
from support.processes import child_env
from tui_gen.core import events as ev
from tui_gen.runs.metrics_log import read_log
from tui_gen.training.checkpoint import load_checkpoint

# A process that pays torch's start-up once, then forks one `tui_gen.cli.main.main(argv)` per request:
# the forked child is a whole `tui-gen train` process in every way that matters here (its own
# memory, files and signal handlers), and a SIGKILL ends it as abruptly as any other.
ZYGOTE = textwrap.dedent("""
    import json, os, sys
    import torch, torch._dynamo, rich.progress, rich.console  # the optimizer imports dynamo: 2 s
    import tui_gen.cli.main, tui_gen.training.trainer, tui_gen.training.checkpoint
    import tui_gen.data.sources, tui_gen.data.corpus, tui_gen.model.sample
    log = sys.argv[1]
    print("ready", flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if "run" in req:
            pid = os.fork()
            if pid == 0:
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.close(0)
                try:
                    rc = tui_gen.cli.main.main(req["run"])
                except BaseException as e:
                    import traceback
                    traceback.print_exc()
                    rc = 99
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(rc)
            print(pid, flush=True)
        else:
            _, status = os.waitpid(req["wait"], 0)
            print(json.dumps(status), flush=True)
""")


class Zygote:
    def __init__(self, cwd: Path):
        self.log = cwd / "children.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, str(self.log)],
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def _ask(self, req: dict) -> str:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def start(self, argv: list[str]) -> int:
        return int(self._ask({"run": [str(a) for a in argv]}))

    def wait(self, pid: int) -> int:
        return int(self._ask({"wait": pid}))

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def temps(run: Path) -> list[Path]:
    return sorted(run.glob("*.tmp"))


def check_run_folder(run: Path) -> list[str]:
    """Every checkpoint there loads; returns their names."""
    names = []
    for p in sorted(run.glob("*.safetensors")):
        load_checkpoint(p)  # raises CheckpointError on a torn file
        names.append(p.name)
    return names


def _wait_for_temp(run: Path, pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(n.endswith(".tmp") for n in os.listdir(run)):
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.0005)
    return False


@pytest.mark.slow
def test_sigkill_during_saves(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(tiny_text(300))
    run = tmp_path / "run"
    fresh = ["train", corpus, "--out", run, "--steps", "100000", "--eval-every", "1", *TINY_FLAGS, "--quiet"]
    rng = random.Random(20261128)
    zygote = Zygote(tmp_path)
    stats = {"kills": 0, "kills_leaving_temp": 0, "finished_before_kill": 0, "max_temps": 0, "resumes": 0}
    t0 = time.monotonic()
    try:
        # 60 kills, and on until at least 5 have landed inside a save: whether a kill aimed at a save's
        # temporary file lands before the save's rename is up to the scheduler (a loaded machine lands
        # fewer), so the loop goes on until the case under test has happened, not for a fixed count.
        i = -1
        while (i := i + 1) < 60 or (stats["kills_leaving_temp"] < 5 and i < 300):
            existing = [p for p in (run / "last.safetensors", run / "best.safetensors") if p.is_file()]
            if existing:
                source = existing[i % len(existing)]  # alternate: every surviving checkpoint gets resumed
                argv = [
                    "train",
                    "--resume",
                    source,
                    "--steps",
                    "100000",
                    "--eval-every",
                    "1",
                    "--threads",
                    "1",
                    "--quiet",
                ]
                stats["resumes"] += 1
            elif run.exists():  # killed before its first save: its folder holds only its log, a run to replace
                argv = [*fresh, "--overwrite"]
            else:
                argv = fresh
            pid = zygote.start(argv)
            if i % 2 == 0:  # anywhere in a run's first 0.4 s: start-up, the corpus, dozens of steps and saves
                time.sleep(rng.uniform(0.02, 0.4))
            else:  # aim: kill as soon as a save has its temporary file open (the deadline is for a loaded machine)
                _wait_for_temp(run, pid, timeout=30)
                time.sleep(rng.uniform(0, 0.003))
            os.kill(pid, signal.SIGKILL)
            status = zygote.wait(pid)
            if os.WIFSIGNALED(status):
                stats["kills"] += 1
            else:
                stats["finished_before_kill"] += 1
                assert os.WEXITSTATUS(status) == 0, zygote.log.read_text()[-3000:]
            names = check_run_folder(run) if run.exists() else []
            assert set(names) <= {"best.safetensors", "last.safetensors"}, names
            left = temps(run) if run.exists() else []
            if left:
                stats["kills_leaving_temp"] += 1
            stats["max_temps"] = max(stats["max_temps"], len(left))
            # Each run removes the temporaries of earlier kills when it starts, so at most the ones of
            # runs killed before they got that far, plus the killed save's own, can be there.
            assert len(left) <= 3, [p.name for p in left]
            assert "Traceback" not in zygote.log.read_text()
        # The real entry point too: a kill of a whole `python -m tui_gen train` process group, from each
        # checkpoint (each start pays torch's import, so two: one from last, one from best).
        for k in range(2):
            source = run / ("last.safetensors" if k % 2 == 0 else "best.safetensors")
            if not source.is_file():
                source = run / "last.safetensors"
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tui_gen",
                    "train",
                    "--resume",
                    source,
                    "--steps",
                    "100000",
                    "--eval-every",
                    "1",
                    "--threads",
                    "1",
                    "--quiet",
                ],
                cwd=tmp_path,
                env=child_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            saw_temp = _wait_for_temp(run, proc.pid, timeout=180)  # a whole process starting torch, loaded
            time.sleep(rng.uniform(0, 0.003))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            assert saw_temp and proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
            stats["kills"] += 1
            check_run_folder(run)
            assert len(temps(run)) <= 3
        # A last run that is allowed to finish: it cleans up, and leaves exactly best and last.
        ck = load_checkpoint(run / "last.safetensors")
        pid = zygote.start(["train", "--resume", run / "last.safetensors", "--steps", "3", "--quiet"])
        status = zygote.wait(pid)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, zygote.log.read_text()[-3000:]
        assert sorted(os.listdir(run)) == ["best.safetensors", "last.safetensors", "metrics.jsonl"]
        assert load_checkpoint(run / "last.safetensors").step == ck.step + 3
        # the metrics log of all those killed runs: each cut line skipped, and the last run's end is there
        pairs, _ = read_log(run / "metrics.jsonl")
        assert isinstance(pairs[-1][0], ev.Finished) and pairs[-1][0].step == ck.step + 3
    finally:
        zygote.close()
    stats["seconds"] = round(time.monotonic() - t0, 1)
    print(stats)
    assert stats["kills"] >= 50
    assert stats["kills_leaving_temp"] >= 5, "too few kills landed inside a save to test anything"
    assert "Traceback" not in zygote.log.read_text()
