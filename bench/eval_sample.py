"""One evaluation during training on a big corpus: the bounded sample (data.corpus.validation_sample)
against the whole held-out split, which is what every evaluation scored before (and `tui-gen eval`
still scores).

The corpus is the tweets repeated to `size` bytes in a temporary folder, encoded into its own cache
there, framed as a stream (or lines). The default model is trained for a few steps first, so that the
two figures are those of a model that has learned something and their difference says how far the
sample's estimate is from the whole split's figure. Timings: the median of a few rounds of the sample,
one before the whole split and the others after it, and one round of the whole split (it takes
minutes), in this process on `threads` threads. Both are the same batches (pieces of the same length)
at the same cost per character, so the time saved is the ratio of characters, shown beside the measured
one; a machine busy with other work slows one more than the other (on 2 cores, torch's two threads
wait for each other when a third process runs): say what else ran.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from .common import median

MB = 10**6


def run(
    size: int = 50 * MB, framing: str = "stream", threads: int = 2, steps: int = 30, rounds: int = 3
) -> list[tuple]:
    import torch

    from tui_gen.core.config import TrainConfig
    from tui_gen.data.corpus import load_corpus, validation_batches
    from tui_gen.model.evaluate import score_batches
    from tui_gen.training.trainer import Trainer

    from .memory import generate_corpus

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="tui-gen-bench-eval-") as tmp:
        big = Path(tmp) / "big.txt"
        generate_corpus(big, size)
        t0 = time.perf_counter()
        corpus = load_corpus(big, framing=framing, data_dir=Path(tmp))
        build = time.perf_counter() - t0
        cfg = replace(TrainConfig(), device="cpu", threads=threads, max_minutes=None, max_steps=steps)
        t0 = time.perf_counter()
        trainer = Trainer(corpus, cfg)
        setup = time.perf_counter() - t0
        for _ in range(steps):
            trainer._train_step()
        sample_times, bpc = [], math.nan

        def sample_round() -> None:
            nonlocal bpc
            t0 = time.perf_counter()
            bpc = trainer.evaluate()
            sample_times.append(time.perf_counter() - t0)

        sample_round()  # rounds before and after the whole split: a load that comes and goes hits both
        trainer.model.eval()
        t0 = time.perf_counter()
        whole = score_batches(
            trainer.model,
            validation_batches(trainer.val_part, trainer.vocab, cfg.seq_len, cfg.state_reset_every),
            trainer.device,
        )
        whole_time = time.perf_counter() - t0
        for _ in range(rounds - 1):
            sample_round()
    whole_bpc = whole.nll / max(whole.chars, 1) / math.log(2)
    s = median(sample_times)
    name = f"{size / MB:,.0f} MB corpus ({framing})"
    return [
        (
            f"{name}: one evaluation during training, default model (bounded sample)",
            f"{s:.1f} s for {trainer.eval_chars:,} characters ({trainer.eval_chars / s:,.0f}/s)",
            f"whole split: {whole_time:.1f} s for {whole.chars:,} ({whole.chars / whole_time:,.0f}/s)",
            f"{whole_time / s:.1f}x ({whole.chars / trainer.eval_chars:.1f}x the characters)",
        ),
        (
            f"{name}: the sample's estimate after {steps} steps",
            f"{bpc:.4f} bits/char",
            f"whole split: {whole_bpc:.4f} bits/char",
            f"{bpc - whole_bpc:+.4f}",
        ),
        (
            f"{name}: setting up (cache {build:.1f} s, then split and sample)",
            f"{setup:.1f} s",
            "",
            "",
        ),
    ]
