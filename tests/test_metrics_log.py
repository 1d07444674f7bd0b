"""The metrics log every run folder gets (tui_gen.runs.metrics_log): what the trainer writes, and the reader
that tails it, whatever state the file is in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.data import TINY_FLAGS, tiny_text
from support.processes import child_env
from support.waiting import wait_until
from tui_gen.core import events as ev
from tui_gen.runs.metrics_log import (
    FILE_NAME,
    MAX_LINE_BYTES,
    MetricsReader,
    MetricsWriter,
    decode,
    encode,
    read_log,
)

STEP = ev.Step(step=1, epoch=0, train_bpc=4.0, lr=1e-3, chars_per_sec=100.0, elapsed=0.1, progress=0.1, chars_seen=64)


def kinds(pairs) -> list[str]:
    return [type(e).__name__ for e, _ in pairs]


@pytest.fixture
def corpus(tmp_path) -> Path:
    p = tmp_path / "c.txt"
    p.write_text(tiny_text(200), encoding="utf-8")
    return p


def train(corpus: Path, out: Path, *flags: str, wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    args = [
        sys.executable,
        "-m",
        "tui_gen",
        "train",
        str(corpus),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--quiet",
        *TINY_FLAGS,
        *flags,
    ]
    # in the run's own temporary folder: its data folder (the corpus cache) is the `data/` of its working one
    where = dict(cwd=out.parent, env=child_env())
    if wait:
        return subprocess.run(args, capture_output=True, text=True, timeout=300, **where)
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **where)


# ---- what a run writes --------------------------------------------------------------------------------


def test_a_short_run_logs_its_events_in_order_one_parsable_line_each(corpus, tmp_path):
    done = train(corpus, tmp_path / "run", "--steps", "30", "--eval-every", "10")
    assert done.returncode == 0, done.stderr
    log = tmp_path / "run" / FILE_NAME
    lines = log.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # every line is JSON on its own
    types = [r["type"] for r in records]
    assert types[0] == "start" and types[-1] == "finished"
    assert types.count("eval") == 3 and types.count("samples") == 3
    assert {r["kind"] for r in records if r["type"] == "saved"} == {"best", "last"}
    assert all(r["time"] > 1.7e9 for r in records)
    start = records[0]
    assert start["config"]["hidden_sizes"] == [16, 16] and start["format"] == 1 and start["step"] == 0
    # steps: in order, never past an evaluation that follows them, and accounting for every step
    steps = [r for r in records if r["type"] == "step"]
    assert [r["step"] for r in steps] == sorted({r["step"] for r in steps})
    assert sum(r["steps"] for r in steps) == 30
    assert steps[-1]["chars_seen"] > steps[0]["chars_seen"] > 0
    evals = [r for r in records if r["type"] == "eval"]
    assert [r["step"] for r in evals] == [10, 20, 30]
    assert all(r["chars_seen"] > 0 and r["elapsed"] > 0 for r in evals)
    # the reader gives back the trainer's own event types, nothing skipped
    pairs, skipped = read_log(log)
    assert skipped == 0 and len(pairs) == len(lines)
    assert kinds(pairs)[0] == "Started" and isinstance(pairs[-1][0], ev.Finished)
    assert pairs[-1][0].reason == ev.FinishReason.COMPLETED
    samples = next(e for e, _ in pairs if isinstance(e, ev.Samples))
    assert samples.samples and all(isinstance(s, tuple) and len(s) == 2 for s in samples.samples)


def test_steps_are_coalesced_to_a_few_lines_a_second_and_their_mean_is_kept(tmp_path):
    now = [1000.0]
    writer = MetricsWriter(tmp_path / FILE_NAME, clock=lambda: now[0])
    for i in range(1, 101):  # 100 steps in 1 s of wall time
        writer.record(ev.Step(**{**STEP.__dict__, "step": i, "train_bpc": float(i)}))
        now[0] += 0.01
    writer.record(ev.Eval(step=100, val_bpc=2.0, best_bpc=2.0, is_best=True, seconds=0.1))
    writer.close()
    pairs, _ = read_log(tmp_path / FILE_NAME)
    steps = [(e, x) for e, x in pairs if isinstance(e, ev.Step)]
    assert 4 <= len(steps) <= 6  # 4 a second, and the one pending before the evaluation
    assert sum(x["steps"] for _, x in steps) == 100
    assert steps[-1][0].step == 100 and isinstance(pairs[-1][0], ev.Eval)  # order kept: the step came first
    total = sum(e.train_bpc * x["steps"] for e, x in steps)
    assert total == pytest.approx(sum(range(1, 101)))  # each line is the mean of the steps it stands for


def test_a_log_that_cannot_be_written_is_one_warning_and_the_run_goes_on(corpus, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / FILE_NAME).mkdir()  # where the log should go, something that is not a file
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_gen",
            "train",
            str(corpus),
            "--out",
            str(run),
            "--device",
            "cpu",
            *TINY_FLAGS,
            "--steps",
            "10",
            "--eval-every",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=child_env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("metrics log") == 1 and "training goes on" in done.stderr
    assert (run / "last.safetensors").is_file()


def test_non_finite_figures_are_written_as_null():
    line = encode(ev.Eval(step=3, val_bpc=float("nan"), best_bpc=float("inf"), is_best=False, seconds=0.0), 1.0)
    assert "NaN" not in line and "Infinity" not in line
    assert decode(line) is None  # val_bpc must be a number: such a line is skipped, not shown as "nan"


# ---- a killed run, a resumed run -----------------------------------------------------------------------


def test_after_sigkill_the_reader_yields_every_complete_line_and_a_resume_appends(corpus, tmp_path):
    run = tmp_path / "run"
    log = run / FILE_NAME
    proc = train(corpus, run, "--steps", "100000", "--eval-every", "20", wait=False)

    def four_saves() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"train exited ({proc.returncode}) before its fourth save:\n{proc.stderr.read()}")
        return log.exists() and log.read_bytes().count(b'"type":"saved"') >= 4

    try:
        wait_until(four_saves, 240, "four saves in the metrics log", every=0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Whatever the kill cut: a write of its own is one line, so make the cut mid-line ourselves too.
    data = log.read_bytes()
    complete = data[: data.rindex(b"\n") + 1].splitlines()
    with open(log, "ab") as f:
        f.write(b'{"type":"step","step":99999,"train_')  # a line the killed writer never finished
    pairs, skipped = read_log(log)
    assert len(pairs) == len(complete) and skipped == 0  # the partial line: not yielded, still pending
    assert [json.loads(line)["type"] for line in complete] == [
        {"Started": "start", "Step": "step", "Eval": "eval", "Samples": "samples", "Saved": "saved"}[k]
        for k in kinds(pairs)
    ]

    resumed = train(corpus, run, "--resume", str(run), "--steps", "10")
    assert resumed.returncode == 0, resumed.stderr
    pairs2, skipped2 = read_log(log)
    assert skipped2 == 1  # the partial line became a line of its own, which the reader skips
    assert pairs2[: len(pairs)] == pairs  # appended: the first run's lines are all still there
    starts = [e for e, _ in pairs2 if isinstance(e, ev.Started)]
    assert len(starts) == 2 and starts[1].step > 0
    assert isinstance(pairs2[-1][0], ev.Finished) and pairs2[-1][0].step == starts[1].step + 10


# ---- reading a file that grows, and files that are not what they should be --------------------------


def test_a_growing_file_yields_each_event_exactly_once(tmp_path):
    path = tmp_path / FILE_NAME
    lines = [encode(ev.Step(**{**STEP.__dict__, "step": i}), 1.0) + "\n" for i in range(1, 301)]
    blob = "".join(lines).encode()
    reader = MetricsReader(path)
    assert reader.read() == []  # no file yet
    seen = []
    with open(path, "wb", buffering=0) as f:
        # The writer's bytes arrive in pieces that cut lines anywhere; reads come in between, each taking
        # at most a few bytes, so lines are also cut by the reader's own chunks.
        pos = 0
        sizes = [1, 7, 50, 3, 200, 13, 1000, 2]
        i = 0
        while pos < len(blob):
            n = sizes[i % len(sizes)]
            f.write(blob[pos : pos + n])
            pos += n
            i += 1
            seen.extend(reader.read(max_bytes=sizes[(i * 3) % len(sizes)] + 5))
    while True:
        more = reader.read(max_bytes=64)
        if not more and reader.offset == len(blob):
            break
        seen.extend(more)
    assert [e.step for e, _ in seen] == list(range(1, 301))
    assert reader.skipped == 0


def test_garbage_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / FILE_NAME
    good = encode(STEP, 1.0)
    bad = [
        "not json at all",
        "[1, 2, 3]",
        '{"type": "step"}',  # fields missing
        '{"type": "nuke", "step": 1}',  # no such type
        json.dumps({**json.loads(good), "step": "1"}),  # a string where a number goes
        json.dumps({**json.loads(good), "step": True}),  # a bool is not a step
        json.dumps(
            {
                "type": "finished",
                "step": 1,
                "reason": "exploded",
                "message": "x",
                "best_bpc": None,
                "last_path": None,
                "best_path": None,
            }
        ),  # no such finish reason
        json.dumps({"type": "samples", "step": 1, "temperature": 1.0, "samples": [["a"]]}),  # not (seed, text)
        "[" * 100_000,  # nesting deep enough to break a recursive parser
        "\x00\xff\x1b[2J",
    ]
    path.write_text("\n".join([good, *bad, good]) + "\n", encoding="utf-8", errors="surrogateescape")
    pairs, skipped = read_log(path)
    assert len(pairs) == 2 and skipped == len(bad)


def test_hostile_strings_come_back_as_data(tmp_path):
    path = tmp_path / FILE_NAME
    evil = "\x1b]2;PWNED\x07[reverse]x"
    path.write_text(encode(ev.RunWarning(step=1, message=evil), 1.0) + "\n", encoding="utf-8")
    ((event, _),) = read_log(path)[0]
    assert event.message == evil  # kept as it is: the app and CLI make it visible (textsafe) when shown


def test_an_endless_line_is_read_past_in_bounded_memory(tmp_path):
    path = tmp_path / FILE_NAME
    good = encode(STEP, 1.0) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(good)
        chunk = "x" * (1 << 20)
        for _ in range(8):  # 8 MiB without a newline
            f.write(chunk)
        f.write("\n" + good)
    reader = MetricsReader(path)
    seen = []
    largest = 0
    while True:
        before = reader.offset
        seen.extend(reader.read(max_bytes=1 << 20))
        largest = max(largest, len(reader._partial))
        if reader.offset == before:
            break
    assert len(seen) == 2 and reader.skipped == 1
    assert largest <= MAX_LINE_BYTES + (1 << 20)


def test_a_replaced_or_truncated_log_is_read_anew(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_text(encode(STEP, 1.0) + "\n" + encode(STEP, 2.0) + "\n", encoding="utf-8")
    reader = MetricsReader(path)
    assert len(reader.read()) == 2 and not reader.replaced
    other = tmp_path / "other"
    other.write_text(encode(ev.RunWarning(step=5, message="new run"), 3.0) + "\n", encoding="utf-8")
    os.replace(other, path)  # a new run in the same folder (--overwrite)
    ((event, _),) = reader.read()
    assert reader.replaced and isinstance(event, ev.RunWarning)


def test_a_missing_or_unreadable_log_reads_as_nothing(tmp_path):
    assert MetricsReader(tmp_path / "nowhere" / FILE_NAME).read() == []
    assert read_log(tmp_path / "nowhere" / FILE_NAME) == ([], 0)
    folder = tmp_path / FILE_NAME
    folder.mkdir()
    assert MetricsReader(folder).read() == []


def test_reading_from_the_middle_skips_the_cut_line(tmp_path):
    path = tmp_path / FILE_NAME
    lines = [encode(ev.Step(**{**STEP.__dict__, "step": i}), 1.0) + "\n" for i in range(1, 11)]
    path.write_text("".join(lines), encoding="utf-8")
    reader = MetricsReader(path)
    reader.start_at(len(lines[0]) + 5)  # inside the second line
    assert [e.step for e, _ in reader.read()] == list(range(3, 11)) and reader.skipped == 0
