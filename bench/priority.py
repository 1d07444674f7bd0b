"""The app's training priority: keys and training speed at each niceness, alone and beside a busy process.

    python -m bench.priority [--nice 10 0] [--keys 40]

For each niceness of the app's training process (TUI_GEN_TRAINING_NICE) and each neighbour (none, or a
process spinning on every core, as another trainer would), runs bench/app_latency.py's scenario (the app
headless at 160x48, a real training process on the tweets, a typist in the playground) and prints:
key -> frame p95 while training, training chars/s while typing, and `tui-gen train`'s own chars/s in
the same conditions (its step, in this process, at nice 0 as a shell runs it), each pair from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from contextlib import contextmanager

from .common import print_table, tweets_path

SPIN = "import os\nwhile True: pass"


@contextmanager
def neighbour(busy: bool):
    """One spinning process per core (a busy machine), or nothing."""
    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(os.cpu_count() or 2)] if busy else []
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def measure(nice: int, busy: bool, keys: int) -> tuple:
    import torch

    from tui_gen.core.config import TrainConfig
    from tui_gen.data.sources import open_corpus
    from tui_gen.training.trainer import Trainer

    from . import app_latency
    from .train_speed import engine_rate

    os.environ["TUI_GEN_TRAINING_NICE"] = str(nice)
    threads = torch.get_num_threads()
    corpus, _ = open_corpus(tweets_path())
    app_latency.typing_rates.clear()  # module-level: it would mix in the previous measurement's samples
    with neighbour(busy):
        args = argparse.Namespace(tweets=app_latency.DEFAULT_TWEETS, keys=keys, chars=500, watch=10.0)
        r = asyncio.run(app_latency.main(args))
        torch.set_num_threads(threads)  # the playground set this process to one thread
        alone = engine_rate(Trainer(corpus, TrainConfig(max_minutes=None, max_steps=10**9)), 15)
    p95 = app_latency.percentile(r["idle"], 0.95)
    typing = r["train_chars_per_s"]
    return (
        f"nice {nice}, {'beside a busy process' if busy else 'alone'}",
        f"key p95 {p95:.0f} ms",
        f"app trains {typing:,.0f} chars/s while typing",
        f"tui-gen train {alone:,.0f} chars/s",
        f"{typing / alone:.2f}x",
    )


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.priority")
    p.add_argument("--nice", type=int, nargs="+", default=[10, 0])
    p.add_argument("--keys", type=int, default=40)
    args = p.parse_args()
    rows = [measure(nice, busy, args.keys) for busy in (False, True) for nice in args.nice]
    print_table("the app's training priority", rows, ("policy", "keys", "app", "baseline", "ratio"))


if __name__ == "__main__":
    main()
