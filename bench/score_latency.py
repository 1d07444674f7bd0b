"""How responsive the playground's score mode is while it scores: key press -> composed frame.

    python bench/score_latency.py [--keys 40] [--chars 10000]

Runs the app headless (160x48, no training) with the default model (GRU 128,256, untrained: speed does
not depend on the weights), puts a text of --chars characters in the score box, then types keys into
it. Before each key the scorer's cache is dropped and a full rescoring starts at once, so every key
lands while the whole text is being scored in the thread worker (the worst case: typing normally
rescores one line, after a 0.25 s pause). One sample: from posting the key (as the terminal driver
would) until the box holds it AND the next frame has been composed (App._display). Also: how long one
full scoring takes there, from the request to the coloured view.

Prints a small table. Not a test: numbers depend on the machine (2 slow shared cores here).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.app_latency import percentile, wait_until  # noqa: E402
from bench.common import frame_times  # noqa: E402  (run as a script too)
from bench.score_speed import sample_text  # noqa: E402


def default_model():
    import torch

    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.data.vocab import Vocab
    from tui_gen.model.network import CharRNN, ModelConfig

    torch.manual_seed(0)
    vocab = Vocab([chr(c) for c in range(32, 127)] + ["\n"])
    model = CharRNN(ModelConfig(vocab_size=len(vocab))).eval()
    return PlaygroundModel(model, vocab, "lines", ("\n",), "checkpoint", step=0, path="bench.safetensors")


async def main(args) -> dict:
    from textual import events

    from tui_gen.app.app import TuiGenApp
    from tui_gen.app.options import LaunchOptions

    app = TuiGenApp(LaunchOptions(train=False, models_dir="models-bench-unused"), model=default_model(), warm_up=False)
    frames = frame_times(app)
    async with app.run_test(size=(160, 48)):
        pg = app.playground
        pg.toggle_score()
        pane = pg.score_pane
        await wait_until(lambda: app.focused is pane.box, 30, "the score box")
        text = sample_text("lines")[: args.chars]
        pane.box.load_text(text)
        t0 = time.perf_counter()
        await wait_until(lambda: pane.result is not None and pane.result.text == text, 120, "the first scoring")
        first = time.perf_counter() - t0
        box = pane.box
        box.move_cursor(box.document.end)
        full, out = [], []
        for i in range(args.keys):
            ch = "abcdefghij"[i % 10]
            expected = box.text + ch
            done = pane.scored_requests
            ts = time.perf_counter()
            if not args.idle:
                pane._scorer = None  # a full rescoring (new weights, say), started now
                pane.rescore(now=True)
            await asyncio.sleep(0.01)  # let the thread worker start
            before = len(frames)
            t_key = time.perf_counter()
            app.post_message(events.Key(ch, ch))
            while box.text != expected or len(frames) == before or frames[-1] < t_key:
                await asyncio.sleep(0.0005)
                if time.perf_counter() - t_key > 5:
                    break
            out.append((frames[-1] - t_key) * 1000 if frames and frames[-1] >= t_key else 5000.0)
            if not args.idle:
                await wait_until(lambda done=done: pane.scored_requests > done, 120, "the rescoring")
            full.append(time.perf_counter() - ts)
            await asyncio.sleep(0.3)  # past the debounce: the typed key's own rescoring runs too
    rows = [
        (f"first scoring of {len(text):,} chars (request -> coloured view)", f"{first * 1000:.0f} ms", ""),
        (
            "full rescoring while keys come" if not args.idle else "(no rescoring: --idle)",
            f"p50 {statistics.median(full) * 1000:.0f} ms",
            f"max {max(full) * 1000:.0f} ms",
        ),
        (
            "key -> frame while scoring" if not args.idle else "key -> frame, not scoring",
            f"p50 {statistics.median(out):.1f} ms",
            f"p95 {percentile(out, 0.95):.1f} ms",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\nscore mode latency (default model GRU 128,256, headless 160x48, {args.keys} keys)")
    for name, a, b in rows:
        print(f"  {name:<{width}}  {a:>14}  {b:>14}")
    return {"keys": out, "full": full, "first": first}


def run(keys: int = 40, chars: int = 10_000) -> list[tuple]:
    """Rows for `python -m bench --score-app`."""
    r = asyncio.run(main(argparse.Namespace(keys=keys, chars=chars, idle=False)))
    return [
        (
            "app: key -> frame p95, while scoring 10,000 chars",
            f"{percentile(r['keys'], 0.95):.0f} ms",
            "target < 100 ms",
            "",
        ),
    ]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", type=int, default=40, help="key presses to time")
    p.add_argument("--chars", type=int, default=10_000, help="characters in the score box")
    p.add_argument("--idle", action="store_true", help="the same keys with no rescoring started (the baseline)")
    asyncio.run(main(p.parse_args()))
