"""The app under a flood of training events while someone types.

    python -m bench.app_flood [--seconds 60] [--idle-seconds 15]

A stand-in training process (FloodProcess: the TrainingProcess API, no real process) hands the app
every kind of event (Step, Eval, Samples with long and hostile text, Saved, RunWarning, Snapshot) as
fast as the UI takes them: the next batch is made as soon as the app has folded the previous one in,
so the figure is the UI's own throughput, and nothing piles up outside the app. Meanwhile a key is
pressed every ~50 ms (tab switches, letters typed into the seed box), headless at 80x24.

Measured: events/s folded in, the UI process's RSS (VmRSS) before and after, key -> screen-update
latency (from posting the key to the first composed frame at which its effect is in the app), and
how much the app keeps (plot points, sample blocks, notifications). The baseline is the same keys
on the same app with no events at all. tests/faults/test_faults_app.py runs the flood for 15 s and
asserts bounds; this prints the numbers and asserts nothing. run() gives `python -m bench` its rows.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import threading
import time
from dataclasses import dataclass, field

from tui_gen.core import events as ev

KEY_INTERVAL = 0.05  # seconds between key presses
BATCH = 100  # events per get(), ~4 evaluations among them (the real training process: <= 20 Steps/s, no batching)
EVAL_EVERY = 25  # steps between evaluations in the synthetic stream
SIZE = (80, 24)

# Text a model (or a corrupted checkpoint, or a hostile corpus) could put in a sample.
HOSTILE = [
    "[bold red]x[/] [link=https://example.com]x[/link] [/] [[ ]] [not a style",
    "\x1b[2J\x1b[H cleared? \x1b]0;title\x07 \x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\ \x1b[31mred",
    "NUL\x00 BEL\x07 BS\x08 CR\r VT\x0b FF\x0c DEL\x7f C1\x85\x9b tab\there",
    "bidi \u202eesrever\u202c zero\u200bwidth e\u0301\u0301\u0301 wide 中文字 emoji 🦜🏳️‍🌈 lone \ud800",
    "x" * 5_000,  # one long line, no spaces
    "line\n" * 300,  # many lines
    "$" + "{" * 50 + "}" * 50 + " %s %d {0} \\N{BULLET}",
]


def rss_bytes() -> int:
    """This process's resident set now (VmRSS), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


class EventSource:
    """An endless, deterministic training run: Started, then Steps, with an evaluation (Eval,
    Snapshot every 4th, Samples, Saved best/last, a RunWarning) every EVAL_EVERY steps."""

    def __init__(self, run_dir: str = "models/flood-run") -> None:
        self.run_dir = run_dir
        self.step = 0
        self.best = math.inf
        self.started = False
        self.counts: dict[str, int] = {}
        self.snapshot_blob = b"\0" * 65_536  # never built into a model: nobody generates during the flood

    def _count(self, e) -> None:
        name = type(e).__name__
        self.counts[name] = self.counts.get(name, 0) + 1

    def batch(self, n: int) -> list:
        out: list = []
        if not self.started:
            self.started = True
            out.append(
                ev.Started(
                    device="cpu (1 threads)",
                    framing="lines",
                    corpus="flood",
                    vocab_size=96,
                    parameters=1_234,
                    train_chars=10**6,
                    val_chars=10**5,
                    steps_per_epoch=1000,
                    step=0,
                    max_steps=None,
                    max_seconds=3600.0,
                    run_dir=self.run_dir,
                    warnings=["[bold]started[/] with \x1b[2J a hostile warning"],
                )
            )
        while len(out) < n:
            self.step += 1
            s = self.step
            bpc = 1.5 + 3.0 * math.exp(-s / 5_000) + 0.1 * math.sin(s)
            out.append(
                ev.Step(
                    step=s,
                    epoch=s // 1000,
                    train_bpc=bpc,
                    lr=1e-3,
                    chars_per_sec=50_000.0,
                    elapsed=s * 0.01,
                    progress=min(1.0, s * 0.01 / 3600),
                )
            )
            if s % EVAL_EVERY == 0:
                val = bpc + 0.05
                is_best = val < self.best
                self.best = min(self.best, val)
                out.append(ev.Eval(step=s, val_bpc=val, best_bpc=self.best, is_best=is_best, seconds=0.1))
                if s % (4 * EVAL_EVERY) == 0:
                    out.append(ev.Snapshot(s, self.snapshot_blob, {"vocab": list("abc"), "step": s}))
                k = (s // EVAL_EVERY) % len(HOSTILE)
                out.append(
                    ev.Samples(
                        step=s,
                        temperature=0.8,
                        samples=[
                            (HOSTILE[k][:20], HOSTILE[k]),
                            ("[b]", HOSTILE[(k + 1) % len(HOSTILE)]),
                            ("", "plain _E_"),
                        ],
                    )
                )
                if is_best:
                    out.append(ev.Saved(step=s, kind="best", path=f"{self.run_dir}/best.safetensors"))
                out.append(ev.Saved(step=s, kind="last", path=f"{self.run_dir}/[last].safetensors"))
                out.append(
                    ev.RunWarning(step=s, message=f"step {s}: [red]warning[/] \x1b]0;pwned\x07 {HOSTILE[k][:80]}")
                )
        for e in out:
            self._count(e)
        return out


class FloodProcess:
    """The TrainingProcess API the app uses, without a real process. get() hands out the next batch as soon
    as the app has handled the previous one (consumed() is called after each handle_events)."""

    def __init__(self, batch: int = BATCH) -> None:
        self.spec = None
        self.source = EventSource()
        self.batch_size = batch
        self.sent: list[str] = []
        self._ready = threading.Event()
        self._ready.set()
        self._stopped = threading.Event()
        self._exit_sent = False
        self._paused = threading.Event()  # while set, get() hands out nothing
        self.exitcode = None
        self.delivered = 0

    def start(self, spec) -> None:
        self.spec = spec

    def send(self, command: str) -> bool:
        self.sent.append(command)
        return not self._stopped.is_set()

    def consumed(self) -> None:
        self._ready.set()

    def pause_flood(self, paused: bool) -> None:
        (self._paused.set if paused else self._paused.clear)()
        self._ready.set()

    def get(self, timeout: float | None = None) -> list:
        if self._stopped.is_set():
            if self._exit_sent:
                return []
            self._exit_sent = True
            return [
                ev.Finished(self.source.step, ev.FinishReason.STOPPED, "stopped", None, None, None),
                ev.Exited(0, None),
            ]
        if not self.batch_size:
            time.sleep(timeout or 0.05)
            return []
        if not self._ready.wait(timeout) or self._paused.is_set():
            if self._paused.is_set():
                time.sleep(min(timeout or 0.05, 0.05))
            return []
        self._ready.clear()
        out = self.source.batch(self.batch_size)
        self.delivered += len(out)
        return out

    @property
    def alive(self) -> bool:
        return not self._stopped.is_set()

    @property
    def log_path(self) -> str | None:
        return None

    def death_reason(self) -> str | None:
        return None

    def shutdown(self, timeout: float = 5.0) -> int | None:
        self._stopped.set()
        self._ready.set()
        self.exitcode = 0
        return 0


@dataclass
class FloodResult:
    seconds: float = 0.0
    events: int = 0  # events folded in by handle_events during the measured flood
    batches: int = 0
    counts: dict = field(default_factory=dict)  # events delivered, by type
    rss_start: int = 0  # mounted, before any event
    rss_before: int = 0  # after the warm-up flood (caches filled), when the measured flood starts
    rss_after: int = 0
    latencies: dict = field(default_factory=dict)  # kind of key -> [ms]
    missed_keys: int = 0  # keys whose effect never showed within 5 s
    train_points: int = 0  # the loss plot's stored points at the end
    val_points: int = 0
    sample_blocks: int = 0  # SamplesPanel.blocks
    sample_widgets: int = 0
    notifications: int = 0  # live notifications at the end
    max_notifications: int = 0
    warnings_kept: int = 0  # TrainingState.warnings
    warning_count: int = 0  # TrainingState.warning_count
    detached_widgets: int = 0  # widgets alive (after a gc) but no longer in the app: a leak if it grows
    rss_trace: list = field(default_factory=list)  # (seconds into the measured flood, RSS bytes), every ~5 s
    max_frame_gap: float = 0.0  # the longest time without a composed frame, in ms

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else math.nan

    @property
    def all_latencies(self) -> list[float]:
        return [x for v in self.latencies.values() for x in v]


async def flood(
    seconds: float = 15.0,
    warmup: float = 2.0,
    key_interval: float = KEY_INTERVAL,
    size: tuple[int, int] = SIZE,
    inspect=None,
    batch: int = BATCH,
    min_steps: int = 0,
    max_seconds: float = 300.0,
) -> FloodResult:
    """Run the app under the flood for `seconds` (after `warmup` seconds of the same, not measured),
    and on until at least `min_steps` Step events were sent (a test's volume, whatever the machine's
    speed; at most `max_seconds`). inspect(app, result), if given, runs inside the app just before it
    quits. batch=0: no events at all (the same keys on an idle app: the baseline)."""
    from textual import events
    from textual.keys import _character_to_key
    from textual.widget import Widget
    from textual.widgets import Input

    from tui_gen.app.app import TuiGenApp
    from tui_gen.app.options import LaunchOptions
    from tui_gen.app.widgets import LossPlot
    from tui_gen.app.widgets.samples_panel import SamplesPanel

    processes: list[FloodProcess] = []

    def factory() -> FloodProcess:
        processes.append(FloodProcess(batch))
        return processes[-1]

    app = TuiGenApp(LaunchOptions(models_dir="models-flood-unused"), process_factory=factory, warm_up=False)
    res = FloodResult()
    counting = [False]
    handled = [0]  # events handed to handle_events, measured or not

    handle = app.handle_events

    def handle_and_ask_for_more(batch: list) -> None:
        try:
            handle(batch)
        finally:
            handled[0] += len(batch)
            if counting[0]:
                res.events += len(batch)
                res.batches += 1
            for w in processes:
                w.consumed()

    app.handle_events = handle_and_ask_for_more

    # key -> screen update: the first composed frame at which the key's effect is in the app
    pending: list[tuple[float, str, object]] = []
    done: list[tuple[str, float]] = []
    last_frame = [time.perf_counter()]
    display = app._display

    def timed_display(screen, renderable):
        if renderable is not None:
            now = time.perf_counter()
            if counting[0]:
                res.max_frame_gap = max(res.max_frame_gap, (now - last_frame[0]) * 1000)
                res.max_notifications = max(res.max_notifications, len(app.live_notices))
            last_frame[0] = now
            for item in list(pending):
                t0, kind, ok = item
                if ok():
                    done.append((kind, (now - t0) * 1000))
                    pending.remove(item)
        return display(screen, renderable)

    app._display = timed_display

    async def press(key: str, checks: list, character: str | None = None) -> bool:
        """Post one key as the terminal driver would; wait until each (kind, predicate) in checks has
        shown on screen (or 5 s), then until the next key is due. False: the flood is over, not posted."""
        if not going():
            return False
        t0 = time.perf_counter()
        items = [(t0, kind, ok) for kind, ok in checks]
        pending.extend(items)
        app.post_message(events.Key(key, character))
        while any(i in pending for i in items) and time.perf_counter() - t0 < 5:
            await asyncio.sleep(0.001)
        for i in items:
            if i in pending:  # never showed
                pending.remove(i)
                done.append((i[1], 5000.0))
                res.missed_keys += 1
        await asyncio.sleep(max(0.0, key_interval - (time.perf_counter() - t0)))
        return True

    until = [0.0, 0]  # the time, and the number of Step events, the flood goes on until
    t_start, t_mark = [0.0], [0.0]
    started = [time.perf_counter()]

    def going() -> bool:
        now = time.perf_counter()
        steps = processes[-1].source.step if processes else 0
        return now < until[0] or (steps < until[1] and now - started[0] < max_seconds)

    # How many characters have been typed: it carries on from the warm-up into the measured flood, so
    # the seed box always holds the pattern in order, wherever the warm-up stopped (restarting the
    # pattern there broke it when a slow machine ended the warm-up mid-pattern).
    typed_count = [0]

    async def type_and_switch(end: float, steps: int = 0) -> None:
        until[0], until[1] = end, steps
        seed = app.query_one("#seed", Input)
        typed = "[b]x[/b]é"  # typed literally: the Input never reads markup
        while going():
            if counting[0] and time.perf_counter() - t_mark[0] >= 5:
                t_mark[0] = time.perf_counter()
                res.rss_trace.append((t_mark[0] - t_start[0], rss_bytes()))
            await press(
                "f2",
                [
                    ("tab: playground", lambda: app.active_pane == "playground"),
                    ("f2 -> seed box focused", lambda: app.focused is seed),
                ],
            )
            if len(seed.value) > 40:  # kept short; never emptied: the flood may end before the next key
                seed.value = seed.value[-len(typed) :]
            for _ in range(3):
                ch = typed[typed_count[0] % len(typed)]
                expected = seed.value + ch
                if await press(_character_to_key(ch), [("type", lambda e=expected: seed.value == e)], ch):
                    typed_count[0] += 1
            await press("f3", [("tab: samples", lambda: app.active_pane == "samples")])
            await press("f1", [("tab: train", lambda: app.active_pane == "train")])

    async with app.run_test(size=size, notifications=True) as pilot:  # toasts drawn, as in the real app
        await pilot.pause()
        while not processes:
            await asyncio.sleep(0.01)
        gc.collect()
        res.rss_start = rss_bytes()
        await type_and_switch(time.perf_counter() + warmup)
        done.clear()
        res.missed_keys = 0
        gc.collect()
        res.rss_before = rss_bytes()
        counting[0] = True
        t0 = t_start[0] = t_mark[0] = time.perf_counter()
        await type_and_switch(t0 + seconds, min_steps)
        res.seconds = time.perf_counter() - t0
        counting[0] = False
        process = processes[-1]
        process.pause_flood(True)
        # the batch in flight is folded in (however slow the machine), then the samples' widgets mounted
        deadline = time.monotonic() + 60
        while handled[0] < process.delivered and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await pilot.pause()
        gc.collect()
        res.rss_after = rss_bytes()
        res.detached_widgets = sum(1 for o in gc.get_objects() if issubclass(type(o), Widget) and not o.is_attached)
        for kind, ms in done:
            res.latencies.setdefault(kind, []).append(ms)
        plot = app.query_one(LossPlot)
        res.train_points, res.val_points = len(plot.train_points), len(plot.val_points)
        samples = app.query_one(SamplesPanel)
        res.sample_blocks = len(samples.blocks)
        res.sample_widgets = len(samples.query(".sample-block"))
        res.notifications = len(app.live_notices)
        res.warnings_kept = len(app.state.warnings)
        res.warning_count = app.state.warning_count
        res.counts = dict(process.source.counts)
        if inspect is not None:
            inspect(app, res)
        process.pause_flood(False)  # quit in the middle of the flood: events keep coming while it closes
        await asyncio.sleep(0.1)
        app.begin_quit(save=False)
        deadline = time.monotonic() + 10
        while app.is_running and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    return res


def table_rows(r: FloodResult, idle: FloodResult) -> list[tuple]:
    """(what, ours, baseline, ratio): the flood beside the same keys on an idle app."""
    mib = 1024 * 1024
    lat, base = r.all_latencies, idle.all_latencies
    p50, p95 = percentile(lat, 0.5), percentile(lat, 0.95)
    b50, b95 = percentile(base, 0.5), percentile(base, 0.95)
    return [
        (
            "app flood: training events folded in",
            f"{r.rate:,.0f} events/s",
            "real training process: <= 20 Step/s + evaluations",
            f"{r.rate / 25:,.0f}x",
        ),
        (
            f"app flood: UI RSS after {r.seconds:.0f} s",
            f"{r.rss_after / mib:.1f} MiB",
            f"before {r.rss_before / mib:.1f} MiB",
            f"+{(r.rss_after - r.rss_before) / mib:.1f} MiB",
        ),
        ("app flood: key -> screen p50", f"{p50:.1f} ms", f"no events {b50:.1f} ms", f"{p50 / b50:.2f}x"),
        (
            "app flood: key -> screen p95",
            f"{p95:.1f} ms",
            f"no events {b95:.1f} ms (target < 250)",
            f"{p95 / b95:.2f}x",
        ),
    ]


def run(seconds: float = 60.0, idle_seconds: float = 15.0) -> list[tuple]:
    """Rows (what, ours, baseline, ratio) for `python -m bench`."""
    r = asyncio.run(flood(seconds))
    idle = asyncio.run(flood(idle_seconds, batch=0))
    return table_rows(r, idle)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--idle-seconds", type=float, default=15.0, help="the same keys without events: the baseline")
    p.add_argument("--interval", type=float, default=KEY_INTERVAL, help="seconds between key presses")
    a = p.parse_args()
    r = asyncio.run(flood(a.seconds, key_interval=a.interval))
    idle = asyncio.run(flood(a.idle_seconds, key_interval=a.interval, batch=0))
    mib = 1024 * 1024
    print(
        f"\napp flood, {r.seconds:.0f} s headless {SIZE[0]}x{SIZE[1]}, a key every {a.interval * 1000:.0f} ms "
        f"(baseline: the same keys, {idle.seconds:.0f} s, no events)"
    )
    rows = [
        ("events folded in", f"{r.events:,} in {r.batches:,} batches", f"{r.rate:,.0f} events/s"),
        ("  by type (delivered)", ", ".join(f"{k} {v:,}" for k, v in sorted(r.counts.items())), ""),
        (
            "UI RSS",
            f"start {r.rss_start / mib:.1f} / before {r.rss_before / mib:.1f} MiB",
            f"after {r.rss_after / mib:.1f} MiB (+{(r.rss_after - r.rss_before) / mib:.1f})",
        ),
        ("UI RSS every ~5 s", " ".join(f"{b / mib:.0f}" for _, b in r.rss_trace) + " MiB", ""),
    ]
    for kind, values in sorted(r.latencies.items()):
        b = idle.latencies.get(kind, [])
        rows.append(
            (
                f"key -> screen, {kind} ({len(values)})",
                f"p50 {percentile(values, 0.5):.1f} / p95 {percentile(values, 0.95):.1f} ms",
                f"no events: p50 {percentile(b, 0.5):.1f} / p95 {percentile(b, 0.95):.1f} ms",
            )
        )
    lat, base = r.all_latencies, idle.all_latencies
    rows += [
        (
            "key -> screen, all keys",
            f"p50 {percentile(lat, 0.5):.1f} / p95 {percentile(lat, 0.95):.1f} ms",
            f"no events: p50 {percentile(base, 0.5):.1f} / p95 {percentile(base, 0.95):.1f} ms",
        ),
        ("keys that never showed", str(r.missed_keys), ""),
        ("longest gap between frames", f"{r.max_frame_gap:.0f} ms", f"no events: {idle.max_frame_gap:.0f} ms"),
        ("kept: plot points (train / val)", f"{r.train_points:,} / {r.val_points:,}", ""),
        ("kept: sample blocks / widgets", f"{r.sample_blocks} / {r.sample_widgets}", ""),
        (
            "kept: notifications (most at once) / warnings",
            f"{r.notifications} ({r.max_notifications}) / {r.warnings_kept} of {r.warning_count:,}",
            "",
        ),
        ("widgets alive after removal", str(r.detached_widgets), ""),
    ]
    width = max(len(x[0]) for x in rows)
    for name, a_, b_ in rows:
        print(f"  {name:<{width}}  {a_:<36}  {b_}")


if __name__ == "__main__":
    main()
