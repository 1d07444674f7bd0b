"""The sweep and the neuron explorer with the default model (GRU 128,256), on one thread as the app's
process uses: how long a reading of 20,000 characters and a sweep take (in their thread), and how
quickly the explorer's keys answer (key -> frame at 160x48), recolouring a 20,000-character text and
while a reading runs in its thread. `python -m bench --lens` (or `python -m bench.lens_speed`)."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from .common import frame_times

CHARS = 20_000
KEYS = 40


def sample_text() -> str:
    rng = np.random.default_rng(0)
    words = [
        "great",
        "people",
        '"America"',
        "(jobs)",
        "the",
        "big",
        "win",
        "#fake",
        "news",
        "@realDonaldTrump",
        "http://t.co/x",
    ]
    text = " ".join(rng.choice(words, size=CHARS // 4))
    return "\n".join(text[a : a + 120] for a in range(0, len(text), 121))[:CHARS]


def default_model():
    import torch

    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.data.vocab import Vocab
    from tui_gen.model.network import CharRNN, ModelConfig

    torch.manual_seed(0)
    vocab = Vocab([chr(c) for c in range(32, 127)] + ["\n"])
    model = CharRNN(ModelConfig(vocab_size=len(vocab))).eval()
    return PlaygroundModel(model, vocab, "lines", ("\n",), "checkpoint", step=0, path="bench.safetensors")


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def engine_seconds(pm, text: str) -> tuple[float, float, float, float]:
    """(explore, its activations alone, a sweep of 8 temperatures x 400 characters, one sample of 400)."""
    import torch

    from tui_gen.model.neurons import collect_activations, explore
    from tui_gen.model.sweep import sweep

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    explore(pm.model, pm.vocab, pm.framing, text, 5)
    t1 = time.perf_counter()
    collect_activations(pm.model, pm.vocab, pm.framing, text)
    t2 = time.perf_counter()
    stops = ()  # no line end: every sample is the full 400 characters
    sweep(
        pm.model,
        pm.vocab,
        pm.framing,
        "The ",
        [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0],
        400,
        stops,
        generator=torch.Generator().manual_seed(0),
    )
    t3 = time.perf_counter()
    sweep(pm.model, pm.vocab, pm.framing, "The ", [0.8], 400, stops, generator=torch.Generator().manual_seed(0))
    t4 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, t4 - t3


def key_latencies(pm, text: str) -> tuple[list[float], list[float]]:
    """Key -> frame in ms, as bench/app_latency.py measures it (a key posted as the terminal driver
    would; the time until the screen has changed and the next frame is composed, App._display):
    `]` (the next unit: the text recoloured), and up/down in the list while a reading of the text runs
    in its thread."""
    from textual import events
    from textual.widgets import DataTable

    from tui_gen.app.app import TuiGenApp
    from tui_gen.app.options import LaunchOptions
    from tui_gen.app.screens.neurons import NeuronScreen

    app = TuiGenApp(LaunchOptions(train=False, models_dir="models-bench-unused"), model=pm, warm_up=False)
    frames = frame_times(app)

    async def until(condition, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit("lens_speed: timed out")
            await asyncio.sleep(0.02)

    async def body():
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            app.push_screen(NeuronScreen(app.playground, text))
            await until(lambda: isinstance(app.screen, NeuronScreen) and app.screen.result is not None)
            screen = app.screen
            table = screen.query_one(DataTable)
            await until(lambda: app.focused is table)

            async def timed(key: str, character: str | None, changed) -> float:
                t0 = time.perf_counter()
                app.post_message(events.Key(key, character))
                while not changed() or not frames or frames[-1] < t0:
                    await asyncio.sleep(0.0005)
                    if time.perf_counter() - t0 > 10:
                        break
                dt = (frames[-1] - t0) * 1000 if frames and frames[-1] >= t0 else 10_000.0
                await asyncio.sleep(0.03)  # a person pressing keys, not a flood
                return dt

            recolour = []
            for _ in range(KEYS):
                unit = screen.unit
                recolour.append(await timed("right_square_bracket", "]", lambda u=unit: screen.unit != u))
            during = []
            screen.action_explore()  # a reading of the same 20,000 characters, in its thread
            while screen.exploring and len(during) < KEYS:
                row = table.cursor_row
                key = "down" if len(during) % 8 < 4 else "up"
                during.append(await timed(key, None, lambda r=row: table.cursor_row != r or not screen.exploring))
            await until(lambda: not screen.exploring)
            return recolour, during

    return asyncio.run(body())


def run() -> list[tuple]:
    pm = default_model()
    text = sample_text()
    explore_s, acts_s, sweep_s, one_s = engine_seconds(pm, text)
    recolour, during = key_latencies(pm, text)
    rows = [
        (
            f"neuron explorer: explore() over {CHARS:,} characters (1 thread)",
            f"{explore_s:.2f} s",
            f"{acts_s:.2f} s (activations alone)",
            f"{explore_s / acts_s:.1f}x",
        ),
        (
            "sweep: 8 temperatures x 400 characters, one batch (1 thread)",
            f"{sweep_s:.2f} s",
            f"{one_s:.2f} s (one sample of 400)",
            f"{sweep_s / one_s:.1f}x",
        ),
        (
            f"explorer key ] -> frame, recolouring {CHARS:,} characters (p50 / p95 of {KEYS})",
            f"{percentile(recolour, 0.5):.0f} / {percentile(recolour, 0.95):.0f} ms",
            "p95 < 100 ms",
            "",
        ),
    ]
    if during:
        rows.append(
            (
                f"explorer key up/down -> frame while a reading runs (p50 / p95 of {len(during)})",
                f"{percentile(during, 0.5):.0f} / {percentile(during, 0.95):.0f} ms",
                "p95 < 100 ms",
                "",
            )
        )
    return rows


if __name__ == "__main__":
    from .common import print_table

    print_table("tui-gen: the sweep and the neuron explorer", run(), ("what", "tui-gen", "baseline", "ratio"))
