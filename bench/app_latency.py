"""How responsive the app is while the real training process trains on the tweets.

    python bench/app_latency.py [--tweets PATH] [--keys 60] [--chars 2000]

Runs the app headless (Textual's test driver, 160x48) with a real TrainingProcess on the tweets, then:
- key press -> screen update: a key event is posted to the app as the terminal driver would; the time
  until the seed box holds the new text AND the next frame has been composed (App._display) is one sample;
- the same while the playground streams;
- playground streaming speed while training: characters per second, at the app's pace and unpaced;
- how many training events arrive, and how many UI messages carry them (one per drain).

Prints a small table. Not a test: numbers depend on the machine (2 slow shared cores here).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import frame_times  # noqa: E402  (run as a script too)

DEFAULT_TWEETS = REPO.parent / "shared/data/trump_tweets.txt"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[k]


async def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"app_latency: timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.02)


typing_rates: list[float] = []


async def sample_rate(app, during) -> float:
    """The trainer's chars/s (time in training steps only, as `tui-gen train` measures it), sampled twice a
    second while `during` runs (None: until cancelled, into typing_rates); the median."""
    rates = typing_rates if during is None else []
    task = asyncio.ensure_future(during) if during is not None else None
    try:
        while task is None or not task.done():
            await asyncio.sleep(0.5)
            if app.state.chars_per_sec:
                rates.append(app.state.chars_per_sec)
    except asyncio.CancelledError:
        pass
    return statistics.median(rates) if rates else 0.0


async def key_latencies(app, n: int, frames: list[float]) -> list[float]:
    """Type n characters into the seed box, one at a time; ms from key to the next composed frame."""
    from textual import events
    from textual.widgets import Input

    seed = app.query_one("#seed", Input)
    seed.focus()
    await asyncio.sleep(0.1)
    seed.value = ""
    out = []
    for i in range(n):
        ch = "abcdefghij"[i % 10]
        expected = seed.value + ch
        before = len(frames)
        t0 = time.perf_counter()
        app.post_message(events.Key(ch, ch))
        while seed.value != expected or len(frames) == before or frames[-1] < t0:
            await asyncio.sleep(0.0005)
            if time.perf_counter() - t0 > 5:
                break
        out.append((frames[-1] - t0) * 1000 if frames and frames[-1] >= t0 else 5000.0)
        await asyncio.sleep(0.03)  # a typist, not a flood
    seed.value = ""
    return out


async def stream(app, chars: int, pace: float | None) -> tuple[int, float]:
    """Generate `chars` characters (no stop strings matter: the length is the limit); chars/s."""
    from textual.widgets import Input

    pg = app.playground
    pg.pace = pace
    app.query_one("#length", Input).value = str(chars)
    app.query_one("#seed", Input).value = "Hillary"
    t0 = time.perf_counter()
    assert pg.generate()
    await wait_until(lambda: pg.last_end is not None, 120, "the generation to end")
    dt = time.perf_counter() - t0
    return pg.generated, pg.generated / dt


async def main(args) -> None:
    from tui_gen.app.app import TuiGenApp
    from tui_gen.app.options import LaunchOptions

    tmp = tempfile.TemporaryDirectory(prefix="tui-gen-bench-")
    models = Path(tmp.name)
    options = LaunchOptions(corpus=str(args.tweets), device="cpu", models_dir=str(models), minutes=30)
    app = TuiGenApp(options, warm_up=True)

    frames = frame_times(app)
    counts = {"messages": 0, "events": 0}
    handle = app.handle_events  # each TrainingEvents message calls it once with its batch

    def counted(events: list) -> None:
        counts["messages"] += 1
        counts["events"] += len(events)
        handle(events)

    app.handle_events = counted

    async with app.run_test(size=(160, 48)) as pilot:
        t_start = time.perf_counter()
        await wait_until(lambda: app.state.started, 180, "training to start")
        startup = time.perf_counter() - t_start
        await wait_until(lambda: app.state.step >= 5, 120, "a few training steps")
        # First weights for the playground: Enter with no model asks training for a snapshot.
        pg = app.playground
        pg.pace = None
        app.query_one("#length").value = "10"
        app.query_one("#seed").value = "Hillary"
        pg.generate()
        await wait_until(lambda: pg.last_end is not None and pg.model is not None, 120, "the first weights")
        # Keep these weights, and let the length (not the end of a tweet) end each generation.
        pg._follow_training = False
        pg.model.stop_strings = ()
        await pilot.pause(0.5)

        # Training while the user watches (plot, samples and panel update; nothing typed), then while a
        # typist types: the app's own work takes CPU from training on a 2-core machine in the second.
        watching = await sample_rate(app, asyncio.sleep(args.watch))
        c0, e0, s0, t0 = counts["messages"], counts["events"], app.state.step, time.perf_counter()
        typing_rate_task = asyncio.ensure_future(sample_rate(app, None))
        idle = await key_latencies(app, args.keys, frames)
        typing_rate_task.cancel()
        t1 = time.perf_counter()
        rate_msgs = (counts["messages"] - c0) / (t1 - t0)
        rate_events = (counts["events"] - e0) / (t1 - t0)
        steps_per_s = (app.state.step - s0) / (t1 - t0)
        chars_per_s_training = statistics.median(typing_rates) if typing_rates else 0.0

        # keys while the playground streams: at the app's pace (500/s), and as fast as the model goes
        busy = {}
        for label, pace in (("paced", 500.0), ("unpaced", None)):
            pg.pace = pace
            app.query_one("#length").value = "10000"
            pg.generate()
            await wait_until(lambda: pg.generated > 50, 30, "streaming to start")
            busy[label] = await key_latencies(app, max(10, args.keys // 2), frames)
            pg.stop()
            await pilot.pause(0.3)

        paced_n, paced = await stream(app, args.chars, 500.0)
        free_n, free = await stream(app, args.chars, None)

        app.begin_quit(save=False)
        await wait_until(lambda: not app.is_running, 60, "the app to quit")

    rows = [
        ("startup: launch -> training started", f"{startup:.1f} s", ""),
        ("training while watching", f"{watching:,.0f} chars/s", ""),
        ("training while typing", f"{steps_per_s:.1f} steps/s", f"{chars_per_s_training:,.0f} chars/s"),
        ("training events -> UI messages", f"{rate_events:.1f} events/s", f"{rate_msgs:.1f} messages/s"),
        ("key -> frame, training", f"p50 {statistics.median(idle):.1f} ms", f"p95 {percentile(idle, 0.95):.1f} ms"),
        (
            "key -> frame, training + streaming 500/s",
            f"p50 {statistics.median(busy['paced']):.1f} ms",
            f"p95 {percentile(busy['paced'], 0.95):.1f} ms",
        ),
        (
            "key -> frame, training + streaming flat out",
            f"p50 {statistics.median(busy['unpaced']):.1f} ms",
            f"p95 {percentile(busy['unpaced'], 0.95):.1f} ms",
        ),
        (f"streaming {paced_n:,} chars, paced 500/s", f"{paced:,.0f} chars/s", ""),
        (f"streaming {free_n:,} chars, unpaced", f"{free:,.0f} chars/s", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\napp latency on {args.tweets.name} (real training process, headless 160x48)")
    for name, a, b in rows:
        print(f"  {name:<{width}}  {a:>18}  {b:>18}")
    print(f"  (keys: {len(idle)} + 2 x {len(busy['paced'])} samples)")
    tmp.cleanup()
    return {
        "idle": idle,
        "busy": busy,
        "paced": paced,
        "free": free,
        "train_chars_per_s": chars_per_s_training,
        "watching_chars_per_s": watching,
        "threads": app.event_source.spec.threads if app.event_source and app.event_source.spec else None,
    }


def run(keys: int = 60, chars: int = 2000) -> list[tuple]:
    """Rows for `python -m bench --app`: the app's figures next to their targets and baselines."""
    import torch

    from tui_gen.core.config import TrainConfig
    from tui_gen.data.sources import open_corpus
    from tui_gen.training.trainer import Trainer

    from .train_speed import engine_rate

    torch_default_threads = torch.get_num_threads()  # before the app changes it
    corpus, _ = open_corpus(str(DEFAULT_TWEETS))

    # The baseline is `tui-gen train` with its defaults (torch's own thread count), not a thread-matched run:
    # what a user compares is the app against the command line. Measured before and after the app, and
    # averaged: on this noisy machine one 15 s figure moves by 20% from run to run.
    def alone_rate() -> float:
        torch.set_num_threads(torch_default_threads)  # the playground sets this process to one thread
        return engine_rate(Trainer(corpus, TrainConfig(max_minutes=None, max_steps=10**9)), 15)

    before = alone_rate()
    args = argparse.Namespace(tweets=DEFAULT_TWEETS, keys=keys, chars=chars, watch=20.0)
    r = asyncio.run(main(args))
    threads = r["threads"] or 1
    after = alone_rate()
    alone = (before + after) / 2
    ours, watching = r["train_chars_per_s"], r["watching_chars_per_s"]
    baseline = f"tui-gen train alone, defaults: {alone:,.0f} chars/s (before {before:,.0f}, after {after:,.0f})"
    return [
        ("app: key -> frame p95, training", f"{percentile(r['idle'], 0.95):.0f} ms", "target < 100 ms", ""),
        (
            "app: key -> frame p95, training + streaming",
            f"{percentile(r['busy']['paced'], 0.95):.0f} ms",
            "target < 100 ms",
            "",
        ),
        (
            "app: playground streaming while training",
            f"{r['paced']:,.0f} chars/s (paced)",
            f"unpaced {r['free']:,.0f} chars/s",
            "target >= 200",
        ),
        (
            f"app: training in the app, watching ({threads} threads, niced)",
            f"{watching:,.0f} chars/s",
            baseline,
            f"{watching / alone:.2f}x (target >= 0.95)",
        ),
        ("app: training in the app, while typing", f"{ours:,.0f} chars/s", baseline, f"{ours / alone:.2f}x"),
    ]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tweets", type=Path, default=DEFAULT_TWEETS, help="the tweets file (default ../shared/data)")
    p.add_argument("--keys", type=int, default=60, help="key presses to time")
    p.add_argument("--chars", type=int, default=2000, help="characters to stream")
    p.add_argument("--watch", type=float, default=20.0, help="seconds of training watched, nothing typed")
    a = p.parse_args()
    if not a.tweets.is_file():
        raise SystemExit(f"app_latency: {a.tweets} is missing: pass --tweets PATH (or `tui-gen data get trump-tweets`)")
    asyncio.run(main(a))
