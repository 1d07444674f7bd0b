"""`python -m bench` (or `make bench`): every figure next to its baseline, measured in the same run.

python -m bench                 # throughput, generation and scoring (about 3 minutes)
python -m bench --quality 6     # plus validation after 6 minutes of training, ours vs the lecture (12 more)
python -m bench --mingru 6      # plus held-out bits/char after 6 minutes: the GRU vs three minGRUs (25 more)
python -m bench --app           # plus the app's key latency and streaming speed while training
python -m bench --watch         # plus `tui-gen train` with and without an app watching it (about 10 more)
python -m bench --score-app     # plus the key latency of the playground's score mode while it scores
python -m bench --flood         # plus a minute of events flooding the app (memory, key latency)
python -m bench --compare       # plus the loss plot's redraw with 10 runs of 100,000 steps overlaid
python -m bench --memory        # plus peak memory of priming, eval and loading on huge inputs (~3 more)
                                # and of a generated 1 GB corpus: cache build and training (--corpus-mb)
python -m bench --eval-sample   # plus one evaluation on a 50 MB corpus: the bounded sample against the
                                # whole held-out split (--eval-mb; about 3 more minutes)
"""

from __future__ import annotations

import argparse
import platform

import torch

from .common import print_table


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("--seconds", type=float, default=15, help="seconds per throughput measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quality", type=float, metavar="MINUTES", help="also train for MINUTES with each recipe")
    p.add_argument("--mingru", type=float, metavar="MINUTES", help="also train the GRU and minGRUs for MINUTES each")
    p.add_argument("--app", action="store_true", help="also measure the app while training")
    p.add_argument("--watch", action="store_true", help="also measure tui-gen train with and without a watching app")
    p.add_argument("--score-app", action="store_true", help="also time keys in the score mode while it scores")
    p.add_argument("--flood", action="store_true", help="also flood the app with events for a minute")
    p.add_argument("--compare", action="store_true", help="also redraw the loss plot with 10 long runs overlaid")
    p.add_argument("--lens", action="store_true", help="also time the sweep and the neuron explorer (and its keys)")
    p.add_argument("--memory", action="store_true", help="also measure peak memory on a 1 MB seed and a 10 MB line")
    p.add_argument(
        "--corpus-mb",
        type=float,
        default=1000,
        help="with --memory: size of the generated corpus for the corpus-cache rows (MB)",
    )
    p.add_argument(
        "--eval-sample",
        action="store_true",
        help="also time one evaluation during training on a big corpus: the bounded sample vs the whole split",
    )
    p.add_argument("--eval-mb", type=float, default=50, help="with --eval-sample: the corpus's size (MB)")
    args = p.parse_args()

    from . import generate_speed, score_speed, train_speed

    rows = []
    rows += train_speed.run(args.seconds, args.rounds, args.threads)
    rows += generate_speed.run(threads=args.threads)
    rows += score_speed.run(threads=args.threads)
    if args.quality:
        from . import quality

        rows += quality.run(args.quality)
    if args.mingru:
        from . import mingru

        rows += mingru.run(args.mingru, args.threads)
    if args.app:
        from . import app_latency

        rows += app_latency.run()
    if args.watch:
        from . import watch_speed

        rows += watch_speed.run()
    if args.score_app:
        from . import score_latency

        rows += score_latency.run()
    if args.flood:
        from . import app_flood

        rows += app_flood.run()
    if args.compare:
        from . import compare_plot

        rows += compare_plot.run()
    if args.lens:
        from . import lens_speed

        rows += lens_speed.run()
    if args.memory:
        from . import memory

        rows += memory.run(threads=args.threads)
        rows += memory.corpus_rows(int(args.corpus_mb * memory.MB), threads=args.threads)
    if args.eval_sample:
        from . import eval_sample

        rows += eval_sample.run(int(args.eval_mb * eval_sample.MB), threads=args.threads)
    title = (
        f"tui-gen benchmarks — torch {torch.__version__}, {args.threads} threads, "
        f"{platform.processor() or platform.machine()}"
    )
    print_table(title, rows, ("what", "tui-gen", "baseline (same run)", "ratio"))


if __name__ == "__main__":
    main()
