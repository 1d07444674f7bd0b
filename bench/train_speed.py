"""Training throughput: tui-gen's Trainer against a bare PyTorch loop over the same model and the same
batches (nn.GRU in fp32, as you would write it yourself), taken step by step in turn so that machine noise hits
every contender alike.

Rows, for the default model and the lecture's preset:
- tui-gen as a user runs it (--precision auto: bf16 products where the CPU has them natively);
- tui-gen with --precision fp32 (window_gru alone, what a CPU without bf16 gets);
- the bare loop under CPU bf16 autocast (the simplest bf16 there is, for comparison).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import torch

from tui_gen.core.config import TrainConfig, preset
from tui_gen.data.sources import open_corpus
from tui_gen.model.network import CharRNN, masked_nll
from tui_gen.training.device import matmul_dtype
from tui_gen.training.trainer import Trainer

from .common import median, tweets_path

Step = Callable[[], int]  # one training step; the characters it trained on


def bare_step(trainer: Trainer, autocast: bool = False) -> Step:
    """The same model, optimizer and batches, with nothing but forward, backward, clip and step."""
    cfg = trainer.config
    model = CharRNN(trainer.model_config)
    model._trains_window_gru = lambda: False  # type: ignore[method-assign]  # nn.GRU, as written by hand
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    data = trainer.data
    i = 0

    def step() -> int:
        nonlocal i
        b = data.batch(0, i % data.steps_per_epoch)
        i += 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits, _ = model(b.inputs)
            nll, n = masked_nll(logits, b.targets, b.mask)
        opt.zero_grad(set_to_none=True)
        (nll / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        return b.real_chars

    return step


def engine_step(trainer: Trainer) -> Step:
    """tui-gen's own step (the one `tui-gen train` runs)."""
    return lambda: trainer._train_step()[1]


def engine_rate(trainer: Trainer, seconds: float) -> float:
    """tui-gen's own step, chars/s over `seconds` (the app's benches compare with it)."""
    return rate(engine_step(trainer), seconds)


def rate(step: Step, seconds: float) -> float:
    for _ in range(5):  # warm-up
        step()
    chars, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        chars += step()
    return chars / (time.perf_counter() - start)


def gradient_statistics_row(trainer: Trainer, step_seconds: float) -> tuple:
    """What the gradient statistics add to a step: the norm is clip_grad_norm_'s own return value, so
    what is added is reading it (float) and comparing it, and coalescing it with the step's others
    (StepMeans, in the metrics log and the app's training process): timed here on the model's norm."""
    from tui_gen.core import events as ev

    norm = torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), float("inf"))
    held, n = ev.StepMeans(), 10_000
    start = time.perf_counter()
    for i in range(n):
        value = float(norm)
        held.add(ev.Step(i, 0, 2.0, 1e-3, 1.0, 1.0, None, i, value, 1.0 if value > 5.0 else 0.0))
        if i % 4 == 0:
            held.take()
    cost = (time.perf_counter() - start) / n
    return (
        "gradient statistics (issue 24)",
        f"{cost * 1e6:.1f} µs a step",
        f"a training step {step_seconds * 1e3:.0f} ms",
        f"{cost / step_seconds:.2%}",
    )


def run(seconds: float = 20, rounds: int = 3, threads: int = 2) -> list[tuple]:
    torch.set_num_threads(threads)
    corpus, _ = open_corpus(tweets_path())
    auto = "bf16" if matmul_dtype(torch.device("cpu"), "auto") == torch.bfloat16 else "fp32"
    rows = []
    for name, cfg in [("defaults", TrainConfig()), ("lecture preset", preset("lecture"))]:
        cfg = replace(cfg, max_minutes=None, max_steps=10**9, threads=threads)
        ours = Trainer(corpus, replace(cfg, precision="auto"))
        ours_fp32 = Trainer(corpus, replace(cfg, precision="fp32"))
        contenders = {
            f"tui-gen (--precision auto: {auto})": engine_step(ours),
            "tui-gen --precision fp32": engine_step(ours_fp32),
            "bare loop + CPU bf16 autocast": bare_step(ours, autocast=True),
            "bare loop": bare_step(ours),
        }
        # Step by step in turn, and the median of each contender's per-step rates: a burst of load from
        # elsewhere lands on a few steps of every contender, not on one contender's whole measurement.
        rates: dict[str, list[float]] = {k: [] for k in contenders}
        for step in contenders.values():
            for _ in range(3):  # warm-up
                step()
        start = time.perf_counter()
        while time.perf_counter() - start < seconds * rounds * len(contenders):
            for k, step in contenders.items():
                t0 = time.perf_counter()
                chars = step()
                rates[k].append(chars / (time.perf_counter() - t0))
        bare = median(rates["bare loop"])
        if name == "defaults":
            step_chars = sum(ours._train_step().chars for _ in range(3)) / 3
            gradient_row = gradient_statistics_row(ours, step_chars / median(rates[next(iter(contenders))]))
        for k in list(contenders)[:-1]:
            r = median(rates[k])
            rows.append(
                (
                    f"train, {name} (batch {cfg.batch_size}): {k}",
                    f"{r:,.0f} chars/s",
                    f"bare nn.GRU loop, fp32 {bare:,.0f} chars/s",
                    f"{r / bare:.2f}x",
                )
            )
    return rows + [gradient_row]
