"""Shared helpers for the benchmarks: where the tweets are, and a result table."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
TWEETS = Path(os.environ.get("TUI_GEN_BENCH_CORPUS", REPO.parent / "shared" / "data" / "trump_tweets.txt"))


def tweets_path() -> str:
    if TWEETS.exists():
        return str(TWEETS)
    from tui_gen.data.sources import cached_path, fetch

    return str(cached_path("trump-tweets") or fetch("trump-tweets"))


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def print_table(title: str, rows: list[tuple], columns: tuple[str, ...]) -> None:
    table = Table(*columns, title=title, title_justify="left")
    for r in rows:
        table.add_row(*(str(c) for c in r))
    Console().print(table)


def frame_times(app) -> list[float]:
    """A list that gets time.perf_counter() each time `app` puts a frame on screen (the one place the
    benches reach into Textual's private App._display)."""
    import time

    frames: list[float] = []
    display = app._display

    def timed_display(screen, renderable):
        if renderable is not None:
            frames.append(time.perf_counter())
        return display(screen, renderable)

    app._display = timed_display
    return frames
