"""The loss plot with 10 runs of 100,000 steps overlaid (train and validation curves): how long a redraw
takes (decimating every curve to the width, and the frame Textual then renders), next to a redraw of
this app's run alone. `python -m bench --compare` (or `python -m bench.compare_plot`)."""

from __future__ import annotations

import asyncio
import math
import time

RUNS, STEPS, EVAL_EVERY = 10, 100_000, 100


def synthetic_runs():
    """Ten runs as their logs would give them (one point a step: the worst case, before coalescing)."""
    from tui_gen.runs.listing import RunCurves

    out = []
    for r in range(RUNS):
        c = RunCurves(f"run-{r}", f"models/run-{r}")
        for s in range(1, STEPS + 1):
            bpc = 1.5 + r * 0.05 + 3.0 * math.exp(-s / 8000) + 0.1 * math.sin(s * 0.37)
            c.train.add(float(s), s * 1024.0 * (r + 1), s * 0.01 * (r + 1), bpc)
            if s % EVAL_EVERY == 0:
                c.val.add(float(s), s * 1024.0 * (r + 1), s * 0.01 * (r + 1), bpc + 0.1)
        out.append(c)
    return out


def measure(size=(160, 48), rounds: int = 20) -> tuple[float, float, int]:
    """(median ms per redraw with the runs overlaid, without them, points stored per overlaid curve)."""
    from textual.app import App

    from tui_gen.app.widgets import LossPlot

    runs = synthetic_runs()

    class PlotApp(App):
        def compose(self):
            yield LossPlot(redraw_interval=3600)

    async def body():
        app = PlotApp()
        async with app.run_test(size=size) as pilot:
            plot = app.query_one(LossPlot)
            for s in range(1, 20_001):
                plot.add_train(s, 2.0 + math.exp(-s / 3000), s * 1000.0, s * 0.01)
                if s % 300 == 0:
                    plot.add_val(s, 2.1 + math.exp(-s / 3000), s * 1000.0, s * 0.01)

            async def timed() -> float:
                times = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    plot.redraw_now()
                    await pilot.pause()  # the frame Textual renders from it
                    times.append(time.perf_counter() - t0)
                times.sort()
                return times[len(times) // 2] * 1000

            alone = await timed()
            plot.set_overlays(runs)
            val_only = await timed()
            plot.set_overlay_train(True)
            plot.set_smoothing(0.97)  # every EMA computed once, cached after
            everything = await timed()
            return val_only, everything, alone

    val_only, everything, alone = asyncio.run(body())
    return val_only, everything, alone, len(runs[0].train)


def run() -> list[tuple]:
    val_only, everything, alone, stored = measure()
    what = f"loss plot redraw (160x48), {RUNS} runs x {STEPS:,} steps overlaid ({stored:,} points kept a curve)"
    base = f"{alone:.0f} ms (this run alone)"
    return [
        (what + ": validation curves", f"{val_only:.0f} ms", base, f"{val_only / alone:.1f}x"),
        (what + ": and train curves, raw under EMA", f"{everything:.0f} ms", base, f"{everything / alone:.1f}x"),
    ]


if __name__ == "__main__":
    from .common import print_table

    print_table("loss plot with overlaid runs", run(), ("what", "tui-gen", "baseline (same run)", "ratio"))
