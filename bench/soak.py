"""Soak: `tui-gen train` for a long while, saving about every 30 s, its memory sampled throughout.

    python -m bench.soak                    # 30 minutes, the default model on the tweets
    python -m bench.soak --minutes 2        # a quick one
    python -m bench.soak --tiny --minutes 1 --save-every 5   # a tiny model (what the test runs)

It first times a few training steps and one evaluation in this process to pick --eval-every so that
saves come about --save-every seconds apart, then runs the real CLI in a child process and samples
the child's resident memory (/proc/PID/status) and the run folder every --sample-every seconds.
Prints start / after-first-save / peak / end RSS, the saves seen and the files in the run folder,
which must stay two (best and last). Exit status 1 if the run failed or the folder held anything
else at the end; --json writes the figures for a test to check.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOG = "metrics.jsonl"  # the run's metrics log, beside its checkpoints

TINY = ["--hidden", "16,16", "--seq-len", "16", "--overlap", "4", "--batch-size", "8", "--embedding", "8"]


def _rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def calibrate(corpus: str, flags: list[str], save_every: float, threads: int | None) -> tuple[int, float, float]:
    """(eval_every, steps per second, seconds per evaluation + save), timed in this process."""
    from tui_gen.cli.main import build_parser
    from tui_gen.core.config import preset
    from tui_gen.data.sources import open_corpus
    from tui_gen.training.trainer import Trainer

    args = build_parser().parse_args(["train", corpus, *flags])
    knobs = {
        k: getattr(args, k)
        for k in ("seq_len", "overlap", "batch_size", "hidden_sizes", "embedding_dim", "lr", "framing")
        if getattr(args, k) is not None
    }
    cfg = preset("default", **knobs, threads=threads, max_minutes=None, max_steps=10**9)
    text, _ = open_corpus(corpus, framing=cfg.framing)
    with tempfile.TemporaryDirectory() as d:
        trainer = Trainer(text, cfg, run_dir=Path(d))
        for _ in range(10):  # warm-up
            trainer._train_step()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 3.0:
            trainer._train_step()
            n += 1
        rate = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in trainer._evaluate_and_save():
            pass
        eval_s = time.perf_counter() - t0
    del trainer
    return max(1, round(max(save_every - eval_s, save_every / 4) * rate)), rate, eval_s


def soak(
    minutes: float,
    corpus: str,
    flags: list[str],
    save_every: float,
    sample_every: float,
    threads: int | None,
    out: Path,
) -> dict:
    eval_every, rate, eval_s = calibrate(corpus, flags, save_every, threads)
    print(
        f"calibration: {rate:.1f} steps/s, {eval_s:.2f} s per evaluation and save -> --eval-every {eval_every}",
        flush=True,
    )
    run = out / "run"
    cmd = [
        sys.executable,
        "-m",
        "tui_gen",
        "train",
        corpus,
        "--minutes",
        str(minutes),
        "--eval-every",
        str(eval_every),
        "--out",
        str(run),
        "--quiet",
        *flags,
    ]
    if threads:
        cmd += ["--threads", str(threads)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    samples = []  # (seconds, rss, safetensors files, other files)
    saves = []  # (seconds, mtime of last.safetensors) when it changed
    last_mtime = None
    try:
        while proc.poll() is None:
            rss = _rss(proc.pid)
            try:
                names = os.listdir(run)
            except FileNotFoundError:
                names = []
            try:
                m = (run / "last.safetensors").stat().st_mtime
            except OSError:
                m = None
            now = time.monotonic() - t0
            if m is not None and m != last_mtime:
                saves.append(now)
                last_mtime = m
            if rss and now >= 1.0:  # not in its first second (not yet the interpreter), nor gone
                samples.append(
                    (
                        round(now, 1),
                        rss,
                        sum(n.endswith(".safetensors") for n in names),
                        [n for n in names if not n.endswith(".safetensors") and n != LOG],
                    )
                )
            time.sleep(sample_every)
        stdout, stderr = proc.communicate()
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    final = sorted(os.listdir(run)) if run.exists() else []
    after_first_save = next((s[1] for s in samples if saves and s[0] >= saves[0]), None)
    rss = [s[1] for s in samples]
    intervals = [b - a for a, b in zip(saves, saves[1:], strict=False)]
    result = {
        "minutes": minutes,
        "eval_every": eval_every,
        "exit": proc.returncode,
        "seconds": round(time.monotonic() - t0, 1),
        "samples": len(samples),
        "rss_start": rss[0] if rss else None,
        "rss_after_first_save": after_first_save,
        "rss_peak": max(rss) if rss else None,
        "rss_end": rss[-1] if rss else None,
        "saves_seen": len(saves),
        "mean_save_interval": round(sum(intervals) / len(intervals), 1) if intervals else None,
        "max_checkpoint_files": max((s[2] for s in samples), default=0),
        "other_files_seen": sorted({n for s in samples for n in s[3]}),
        "final_files": final,
        "stdout": stdout.decode(errors="replace")[-500:],
        "stderr": stderr.decode(errors="replace")[-2000:],
    }
    result["ok"] = (
        proc.returncode == 0
        and final == ["best.safetensors", "last.safetensors", LOG]
        and result["max_checkpoint_files"] <= 2
    )
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--corpus", help="text file (default: the tweets)")
    p.add_argument("--save-every", type=float, default=30.0, help="seconds between saves, roughly")
    p.add_argument("--sample-every", type=float, default=2.0, help="seconds between memory samples")
    p.add_argument("--threads", type=int)
    p.add_argument("--tiny", action="store_true", help="a tiny model instead of the default one")
    p.add_argument("--out", type=Path, help="where the run folder goes (default: a temporary folder)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)

    from .common import tweets_path

    corpus = args.corpus or tweets_path()
    flags = TINY if args.tiny else []
    with tempfile.TemporaryDirectory(prefix="tui-gen-soak-") as tmp:
        out = args.out or Path(tmp)
        r = soak(args.minutes, corpus, flags, args.save_every, args.sample_every, args.threads, out)
    mib = lambda b: f"{b / 2**20:.0f} MiB" if b is not None else "-"  # noqa: E731
    print(
        f"soak: {r['seconds']} s, exit {r['exit']}, --eval-every {r['eval_every']}, {r['saves_seen']} saves seen "
        f"(every {r['mean_save_interval']} s)"
    )
    print(
        f"RSS: start {mib(r['rss_start'])}, after the first save {mib(r['rss_after_first_save'])}, "
        f"peak {mib(r['rss_peak'])}, end {mib(r['rss_end'])} ({r['samples']} samples)"
    )
    print(
        f"run folder: at most {r['max_checkpoint_files']} checkpoints at a time; at the end {r['final_files']}"
        + (f"; also seen in passing: {r['other_files_seen']}" if r["other_files_seen"] else "")
    )
    if not r["ok"]:
        print("FAILED\n" + r["stderr"], file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(r, indent=1))
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
