"""RunWatcher: following a run folder's metrics log as another process writes it."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tui_gen.core import events as ev
from tui_gen.runs.lock import lock_run_folder
from tui_gen.runs.metrics_log import encode, log_path
from tui_gen.runs.watch import RunWatcher, newest_checkpoint


def started(step: int = 0) -> ev.Started:
    return ev.Started(
        device="cpu",
        framing="lines",
        corpus="tiny",
        vocab_size=20,
        parameters=1234,
        train_chars=1000,
        val_chars=100,
        steps_per_epoch=10,
        step=step,
        max_steps=100,
        max_seconds=None,
        run_dir="elsewhere/run",
        model="GRU 16",
    )


def step(n: int) -> ev.Step:
    return ev.Step(n, 0, 3.0 / (1 + n / 1000), 3e-3, 5000.0, n / 10, min(1.0, n / 100), n * 128)  # progress: 0..1


WALL = 1_780_000_000.5  # a fixed wall time: a line's length must not depend on when it is written


def line(event) -> str:
    return encode(event, WALL) + "\n"


def append(run, text: str | bytes) -> None:
    with open(log_path(run), "ab") as f:
        f.write(text.encode() if isinstance(text, str) else text)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def notices(batch, kind: str | None = None) -> list[ev.WatchNotice]:
    return [e for e in batch if isinstance(e, ev.WatchNotice) and (kind is None or e.kind == kind)]


def run_events(batch) -> list:
    return [e for e in batch if not isinstance(e, ev.WatchNotice)]


@pytest.fixture
def run(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    return d


def test_a_growing_log_yields_each_event_once_in_order(run):
    append(run, line(started()) + line(step(1)))
    w = RunWatcher(run, poll_seconds=0.01)
    seen = run_events(w.poll())
    assert [type(e) for e in seen] == [ev.Started, ev.Step]
    assert w.poll() == []  # nothing new: nothing again
    # a line written in two pieces: yielded once, when its newline is there
    whole = line(step(2))
    append(run, whole[:10])
    assert run_events(w.poll()) == []
    append(run, whole[10:] + line(ev.Eval(2, 2.5, 2.5, True, 0.1)))
    more = run_events(w.poll())
    assert [type(e) for e in more] == [ev.Step, ev.Eval] and more[0].step == 2
    # many appends between polls, read through get()
    for n in range(3, 200):
        append(run, line(step(n)))
    got = []
    while len(got) < 197:
        batch = w.get(timeout=5)
        assert batch, "the watcher stopped yielding before every line was read"
        got += run_events(batch)
    assert [e.step for e in got] == list(range(3, 200))
    assert w.get(timeout=0.05) == []


def test_no_log_and_no_checkpoint_yet_are_said_once_then_the_log_is_followed(run):
    w = RunWatcher(run, poll_seconds=0.01)
    first = w.poll()
    assert {n.kind for n in notices(first)} == {"no-log", "no-checkpoint"}
    assert w.poll() == []  # said once, not at every poll
    append(run, line(started()))
    batch = w.poll()
    assert [n.kind for n in notices(batch)] == ["log"]
    assert [type(e) for e in run_events(batch)] == [ev.Started]


def test_a_run_with_a_checkpoint_says_nothing_about_checkpoints(run):
    (run / "last.safetensors").write_bytes(b"x")
    append(run, line(started()))
    assert notices(RunWatcher(run).poll(), "no-checkpoint") == []


def test_newest_checkpoint_is_the_folders_own_newest_file(run, tmp_path):
    assert newest_checkpoint(run) is None
    (run / "best.safetensors").write_bytes(b"b")
    os.utime(run / "best.safetensors", ns=(10**18, 10**18))
    (run / "last.safetensors").write_bytes(b"l")
    os.utime(run / "last.safetensors", ns=(10**18 - 10**9, 10**18 - 10**9))
    assert newest_checkpoint(run) == run / "best.safetensors"
    os.utime(run / "last.safetensors", ns=(10**18, 10**18))  # as new: last, where training stopped
    assert newest_checkpoint(run) == run / "last.safetensors"


def test_garbage_and_truncated_lines_are_skipped_and_counted(run):
    append(
        run,
        line(started())
        + "not json\n"
        + '{"type": "step", "step": "ten"}\n'
        + "\x00\xff garbage\n"
        + line(step(5))
        + '{"type": "eval", "st',
    )
    w = RunWatcher(run)
    batch = w.poll()
    assert [type(e) for e in run_events(batch)] == [ev.Started, ev.Step]
    (skipped,) = notices(batch, "skipped")
    assert skipped.count == 3 and "3 lines" in skipped.message
    assert notices(w.poll(), "skipped") == []  # the partial last line is not counted: it may yet be finished


def test_a_deleted_run_folder_is_said_once(run):
    append(run, line(started()))
    w = RunWatcher(run)
    assert run_events(w.poll())
    shutil.rmtree(run)
    batch = w.poll()
    assert [n.kind for n in notices(batch)] == ["deleted"] and "deleted" in batch[0].message
    assert w.poll() == [] and w.poll() == []
    assert w.alive  # still watching, in case it comes back


def test_a_missing_folder_is_a_notice(tmp_path):
    batch = RunWatcher(tmp_path / "nope").poll()
    assert [n.kind for n in notices(batch)] == ["missing"]


def test_a_replaced_log_is_read_anew(run):
    append(run, line(started()) + line(step(1)) + line(step(2)))
    w = RunWatcher(run)
    assert len(run_events(w.poll())) == 3
    tmp = run / "new.jsonl"
    tmp.write_text(line(started()) + line(step(7)))
    os.replace(tmp, log_path(run))
    batch = w.poll()
    assert notices(batch, "replaced")
    assert [getattr(e, "step", None) for e in run_events(batch)] == [0, 7]


def test_a_log_that_stops_growing_is_stale_and_says_who_holds_the_folder(run):
    clock = Clock()
    append(run, line(started()) + line(step(1)))
    w = RunWatcher(run, stale_seconds=60, clock=clock)
    w.poll()
    clock.now += 59
    assert notices(w.poll(), "stale") == []
    clock.now += 2
    (stale,) = notices(w.poll(), "stale")
    assert "1 minute" in stale.message and "no process is training" in stale.message
    assert notices(w.poll(), "stale") == []  # once
    append(run, line(step(2)))
    batch = w.poll()
    assert notices(batch, "growing") and run_events(batch)[0].step == 2

    lock = lock_run_folder(run)  # a trainer holds the folder: the notice names it
    try:
        clock.now += 61
        (stale,) = notices(w.poll(), "stale")
        assert f"process {os.getpid()}" in stale.message
    finally:
        lock.release()


def test_a_finished_run_is_never_stale(run):
    clock = Clock()
    append(
        run,
        line(started()) + line(ev.Finished(5, ev.FinishReason.COMPLETED, "finished at step 5", 2.0, "last", "best")),
    )
    w = RunWatcher(run, stale_seconds=60, clock=clock)
    assert isinstance(run_events(w.poll())[-1], ev.Finished)
    clock.now += 600
    assert w.poll() == []


def test_a_big_log_is_caught_up_on_from_its_start_line_and_its_tail(run):
    tail = 64 << 10
    written = {}  # step -> the bytes its line took in the file
    with open(log_path(run), "w") as f:
        f.write(line(started()))
        n = 0
        while f.tell() < 2 << 20:
            n += 1
            text = line(step(n))
            written[n] = len(text.encode())
            f.write(text)
    w = RunWatcher(run, catch_up_bytes=tail)
    batch = w.poll()
    events = run_events(batch)
    assert isinstance(events[0], ev.Started)
    steps = [e.step for e in events[1:]]
    assert steps == list(range(steps[0], n + 1))  # the tail, in order, to the last line
    assert 0 < sum(written[s] for s in steps) <= tail and steps[0] > n // 2  # the tail alone
    (catch_up,) = notices(batch, "catch-up")
    assert "2 MiB" in catch_up.message


def test_a_huge_line_of_garbage_is_read_past_in_bounded_memory(run):
    append(run, line(started()))
    append(run, b"x" * (8 << 20))  # one 8 MiB "line", no newline yet
    w = RunWatcher(run, catch_up_bytes=1 << 20)
    batch = w.poll()
    assert [type(e) for e in run_events(batch)] == [ev.Started]
    assert len(w.reader._partial) <= 1 << 20  # not held
    append(run, b"\n" + line(step(3)).encode())
    assert [e.step for e in run_events(w.poll())] == [3]


def test_the_training_process_interface(run):
    w = RunWatcher(run, poll_seconds=0.01)
    assert w.spec is None and w.pid is None and w.death_reason() is None
    assert w.send("pause") is False
    assert w.alive
    w.shutdown()
    assert not w.alive
    assert [type(e) for e in w.get(timeout=1)] == [ev.Exited]  # a listening loop ends on it
    t0 = time.monotonic()
    assert w.get(timeout=0.1) == []  # then nothing, without spinning
    assert time.monotonic() - t0 >= 0.05


def test_a_log_that_never_appears_is_stale_too(run):
    clock = Clock()
    w = RunWatcher(run, stale_seconds=60, clock=clock)
    assert notices(w.poll(), "no-log")
    clock.now += 61
    (stale,) = notices(w.poll(), "stale")
    assert stale.message.startswith("no metrics log has appeared in 1 minute")
