"""A synthesised, deterministic training run: the events a training process would send, for feeding the app."""

from __future__ import annotations

import math

from tui_gen.core import events as ev

RUN_DIR = "models/trump-tweets-20261128-101500"
LAST = f"{RUN_DIR}/last.safetensors"
BEST = f"{RUN_DIR}/best.safetensors"
SECONDS_PER_STEP = 0.3
BUDGET = 360.0


def started(step: int = 0) -> ev.Started:
    return ev.Started(
        device="cpu (1 threads)",
        framing="lines",
        corpus="trump-tweets",
        vocab_size=92,
        parameters=312_412,
        train_chars=2_015_731,
        val_chars=106_093,
        steps_per_epoch=1_250,
        step=step,
        max_steps=None,
        max_seconds=BUDGET,
        run_dir=RUN_DIR,
        warnings=[],
    )


def step(n: int) -> ev.Step:
    bpc = 1.9 + 3.0 * math.exp(-n / 120) + 0.08 * math.sin(n * 0.7)
    elapsed = n * SECONDS_PER_STEP
    return ev.Step(
        step=n,
        epoch=n // 1_250,
        train_bpc=bpc,
        lr=2e-3 * (0.5 + 0.5 * math.cos(math.pi * elapsed / BUDGET)),
        chars_per_sec=12_345.0,
        elapsed=elapsed,
        progress=min(1.0, elapsed / BUDGET),
    )  # as the trainer caps it


SAMPLE_TEXTS = [
    ("Hillary", " Clinton is a disaster. The people know it! [bold]not markup[/bold] _E_"),
    ("I", " will be on @foxandfriends at 7:00. Enjoy!\x1b[31m _E_"),
    ("R", "epublicans must win the Senate. #MAGA _E_"),
]


def evaluation(n: int, val: float, best: float, is_best: bool) -> list:
    out = [
        ev.Eval(step=n, val_bpc=val, best_bpc=best, is_best=is_best, seconds=1.2),
        ev.Samples(step=n, temperature=0.8, samples=[(s, f"{t} (step {n})") for s, t in SAMPLE_TEXTS]),
    ]
    if is_best:
        out.append(ev.Saved(step=n, kind="best", path=BEST))
    out.append(ev.Saved(step=n, kind="last", path=LAST))
    return out


def run(until: int = 600, eval_every: int = 300) -> list:
    """Started, then a Step each step, an evaluation (Eval, Samples, Saved) every eval_every."""
    events: list = [ev.Progress("loading trump-tweets"), started()]
    best = None
    for n in range(1, until + 1):
        events.append(step(n))
        if n % eval_every == 0:
            val = 2.0 + 2.5 * math.exp(-n / 200)
            is_best = best is None or val < best
            best = val if is_best else best
            events.extend(evaluation(n, val, best, is_best))
    return events
