"""Every run under a models folder, and a run's curves, for comparing runs (the app's runs screen).

A listing row comes from the run's checkpoint header (read without torch: tui_gen.runs.header)
and its metrics log (tui_gen.runs.metrics_log): a run with a log but no checkpoint yet is listed, and a run
with a corrupt checkpoint or log shows whatever the other part says, with the problem in one line.
A run's curves come from its metrics log (or, for runs older than the log, the history in its
checkpoint header), read incrementally and kept in evenly merged buckets: at most MAX_CURVE_POINTS
points a curve, however long the run or big the file.

Headers and logs are untrusted: every string is made safe to show (tui_gen.core.textsafe) and cut short,
every number checked (finite, in range: tui_gen.core.gate) before it is kept.

Engine code: no torch, no textual, no rich.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tui_gen.core import events as ev
from tui_gen.core import gate
from tui_gen.core.errors import CheckpointError, RunFolderError
from tui_gen.core.textsafe import one_line
from tui_gen.runs.header import RESUME_ORDER, SUFFIX, TensorTable, read_header, resolve_checkpoint
from tui_gen.runs.lock import folder_holder
from tui_gen.runs.metrics_log import FILE_NAME as LOG_NAME
from tui_gen.runs.metrics_log import MetricsReader

MAX_CURVE_POINTS = 4096  # per curve: far finer than any terminal's plot, even in braille
HEAD_BYTES = 256 << 10  # a listing reads the log's first lines (the start line) ...
TAIL_BYTES = 256 << 10  # ... and its last ones (the newest step, evaluation, end), never all of it
MAX_TEXT = 120  # characters of a header's or log's string shown in a listing
SAVED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # a header's saved_at, as checkpoint.save_checkpoint writes it


def safe_text(value: object, limit: int = MAX_TEXT) -> str | None:
    """A string from a header or a log, safe to show on one line and cut to `limit`; None if it is not
    a string."""
    cut = gate.text(value, limit * 2)
    return None if cut is None else gate.text(one_line(cut), limit)


# ---- bounded curves ------------------------------------------------------------------------------


class EvenBuckets:
    """Points of a few columns (step, characters seen, time, bits/char, ...), kept evenly spread: every
    point until there are `cap`, then means of `stride` points, the stride doubling (neighbours merged
    in pairs) whenever `cap` is passed. The newest point is always kept as it is (points())."""

    def __init__(self, columns: int, cap: int = MAX_CURVE_POINTS) -> None:
        self.cap = cap
        self.data: list[list[float]] = [[] for _ in range(columns)]
        self.stride = 1
        self._sum = [0.0] * columns  # the bucket being filled
        self._count = 0
        self._last: tuple[float, ...] | None = None

    def __len__(self) -> int:
        return len(self.data[0]) + (1 if self._count else 0)

    def add(self, *values: float) -> None:
        self._last = values
        self._count += 1
        acc = self._sum
        for i, v in enumerate(values):
            acc[i] += v
        if self._count < self.stride:
            return
        for column, total in zip(self.data, acc, strict=False):
            column.append(total / self._count)
        self._sum = [0.0] * len(acc)
        self._count = 0
        if len(self.data[0]) > self.cap:
            n = len(self.data[0]) // 2 * 2
            for column in self.data:
                column[:n] = [(a + b) / 2 for a, b in zip(column[0:n:2], column[1:n:2], strict=False)]
            self.stride *= 2

    def points(self) -> list[list[float]]:
        """Each column's stored points, and the newest point if its bucket is not full yet (a curve
        always ends at the latest value)."""
        if self._count and self._last is not None:
            return [column + [v] for column, v in zip(self.data, self._last, strict=False)]
        return [list(column) for column in self.data]

    def drop_after(self, column: int, limit: float) -> None:
        """Forget the newest points whose `column` is above `limit`: a run resumed from an earlier
        checkpoint than its log reached goes on from there, and its curve with it."""
        keep = len(self.data[column])
        while keep and self.data[column][keep - 1] > limit:
            keep -= 1
        for c in self.data:
            del c[keep:]
        if self._count and self._last is not None and self._last[column] > limit:
            self._sum = [0.0] * len(self._sum)
            self._count = 0
            self._last = None


# Columns of a curve's points.
STEP, CHARS, TIME, BPC = range(4)
NO_VALUE = math.nan  # a coordinate the source does not have (the old header history: steps only)


@dataclass
class RunCurves:
    """A run's train and validation points, each (step, characters seen, training time, bits/char)."""

    name: str
    run_dir: str
    train: EvenBuckets = field(default_factory=lambda: EvenBuckets(4))
    val: EvenBuckets = field(default_factory=lambda: EvenBuckets(4))
    lines_skipped: int = 0  # log lines that are not tui-gen records
    points_skipped: int = 0  # records whose numbers make no sense (a negative step, 1e300 bits/char)
    source: str = "log"  # "log", or "checkpoint" (the history in its header: no characters or time)
    problem: str | None = None  # why there is no curve, or less of one

    def train_points(self) -> list[list[float]]:
        return self.train.points()

    def val_points(self) -> list[list[float]]:
        return self.val.points()

    @property
    def skipped(self) -> int:
        """Everything left out: lines, and points."""
        return self.lines_skipped + self.points_skipped

    @property
    def empty(self) -> bool:
        return not len(self.train) and not len(self.val)

    def fold(self, event: object) -> None:
        """One event of the run's log into the curves; points with numbers out of range are skipped."""
        match event:
            case ev.Step():
                self._add(self.train, event.step, event.chars_seen, event.elapsed, event.train_bpc)
            case ev.Eval():
                self._add(self.val, event.step, event.chars_seen, event.elapsed, event.val_bpc)
            case ev.Started() if gate.whole(event.step) is not None:
                # A resumed run: it goes on from its checkpoint's step, so what the log holds after that
                # step was never saved (a kill after the last save) and is not part of the run any more.
                self.train.drop_after(STEP, event.step)
                self.val.drop_after(STEP, event.step)

    def _add(self, curve: EvenBuckets, step: object, chars: object, elapsed: object, bpc: object) -> None:
        step, bpc = gate.whole(step), gate.bpc(bpc)
        if step is None or bpc is None:
            self.points_skipped += 1
            return
        chars, elapsed = gate.whole(chars), gate.number(elapsed)
        curve.add(
            float(step), NO_VALUE if chars is None else float(chars), NO_VALUE if elapsed is None else elapsed, bpc
        )


class CurveReader:
    """A run's curves, read from its metrics log a bounded chunk at a time: update() again to follow a
    run that is still training."""

    def __init__(self, run_dir: str | os.PathLike[str], name: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.reader = MetricsReader(self.run_dir / LOG_NAME)
        self.curves = RunCurves(safe_text(name or self.run_dir.name) or "?", str(self.run_dir))

    def update(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Read what the log has gained since the last call (all of it the first time, chunk by chunk,
        until should_stop() says to stop). Returns whether anything new was read."""
        got = False
        while not should_stop():
            before = self.reader.offset
            if self.reader.replaced:  # truncated or replaced under us: the curve starts over
                self.reader.replaced = False
                self.curves.train, self.curves.val = EvenBuckets(4), EvenBuckets(4)
            for event, _extra in self.reader.read():
                self.curves.fold(event)
            if self.reader.offset == before:
                break
            got = True
        self.curves.lines_skipped = self.reader.skipped
        return got


def read_curves(
    run_dir: str | os.PathLike[str], should_stop: Callable[[], bool] = lambda: False, name: str | None = None
) -> RunCurves:
    """A run's curves from its log, or from its checkpoint's history when there is no log (a run from
    before the log existed). Never raises for a bad run: `problem` says what is wrong."""
    return open_curves(run_dir, should_stop, name).curves


def open_curves(
    run_dir: str | os.PathLike[str], should_stop: Callable[[], bool] = lambda: False, name: str | None = None
) -> CurveReader:
    """read_curves, as a CurveReader whose update() goes on from where this read stopped."""
    run_dir = Path(run_dir)
    reader = CurveReader(run_dir, name)
    curves = reader.curves
    if not run_dir.is_dir():
        curves.problem = f"{one_line(str(run_dir))} is not there any more"
        return reader
    log_size = reader.reader.size()
    if log_size is not None:
        reader.update(should_stop)
        if not curves.empty:
            return reader
    history_problem = _curves_from_header(run_dir, curves)
    if curves.empty:
        if log_size is None:
            curves.problem = history_problem or "it has no metrics log and no history in its checkpoint"
        elif reader.reader.not_regular:  # a FIFO, a device: never opened, since that could wait for ever
            curves.problem = f"its metrics log is {reader.reader.not_regular}, not a regular file" + (
                f", and {history_problem}" if history_problem else ""
            )
        elif reader.reader.skipped:
            curves.problem = (
                f"its metrics log has no readable points ({reader.reader.skipped:,} lines are not "
                "tui-gen records)" + (f", and {history_problem}" if history_problem else "")
            )
        else:
            curves.problem = "it has no training steps or evaluations yet"
    return reader


def _curves_from_header(run_dir: Path, curves: RunCurves) -> str | None:
    try:
        _, meta = read_header(resolve_checkpoint(run_dir, RESUME_ORDER))
    except CheckpointError as e:
        return one_line(str(e))
    history = meta.get("history")
    if not isinstance(history, dict):
        return "its checkpoint holds no history"
    curves.source = "checkpoint"
    for part, curve in (("train", curves.train), ("val", curves.val)):
        points = history.get(part)
        if not isinstance(points, list):
            continue
        for point in points:
            if not (isinstance(point, list) and len(point) == 2):
                curves.points_skipped += 1
                continue
            curves._add(curve, point[0], None, None, point[1])
    return None


# ---- the listing -----------------------------------------------------------------------------------


@dataclass
class RunInfo:
    """One row of the runs screen. Every string is safe to show; a figure nobody could tell is None."""

    name: str
    path: str
    corpus: str | None = None
    framing: str | None = None
    model: str | None = None  # "GRU 128,256", "LSTM 64 one-hot"
    parameters: int | None = None
    step: int | None = None
    best_bpc: float | None = None
    last_activity: float | None = None  # the newest modification time of its files (epoch seconds)
    training_pid: int | None = None  # the process training it right now, if any
    ended: str | None = None  # how the log says the run last ended: "completed", "stopped", ...
    has_checkpoint: bool = False
    has_log: bool = False
    problem: str | None = None  # what could not be read, in one line
    saved_at: str | None = None  # the header's, if save_checkpoint wrote it (gate.stamp): shown, not sorted by

    @property
    def training(self) -> bool:
        return self.training_pid is not None


def describe_model(model_config: object) -> str | None:
    """The model in words, as the trainer's start line says it: "GRU 128,256", "LSTM 64 one-hot"."""
    if not isinstance(model_config, dict):
        return None
    cell, hidden = model_config.get("cell"), model_config.get("hidden_sizes")
    if not isinstance(cell, str) or not isinstance(hidden, list) or not hidden or len(hidden) > 64:
        return None
    if any(gate.whole(h) is None for h in hidden):
        return None
    one_hot = model_config.get("embedding_dim") == 0
    return safe_text(f"{cell.upper()} {','.join(str(h) for h in hidden)}" + (" one-hot" if one_hot else ""))


def _parameters(table: TensorTable) -> int | None:
    """The model's size from the header's tensor table (the weights, "model.*"), no tensor read."""
    total = 0
    for name, info in table.items():
        if isinstance(name, str) and name.startswith("model."):
            n = 1
            for d in info.get("shape", []):  # the shapes were checked by read_header
                n *= d
            total += n
    return total or None


def _framing(value: object) -> str | None:
    return value if value in ("lines", "stream") else None


def _corpus(value: object) -> str | None:
    """A corpus reference as shown: a built-in's name, or a file's name (not its whole path)."""
    if not isinstance(value, str) or not value:
        return None
    return safe_text(Path(value[:4096]).name or value)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def is_run_folder(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (LOG_NAME, "best" + SUFFIX, "last" + SUFFIX))


def describe_run(folder: str | os.PathLike[str]) -> RunInfo:
    """One run's row. Never raises for a bad run: what cannot be read is in `problem`."""
    folder = Path(folder)
    info = RunInfo(name=safe_text(folder.name) or "?", path=str(folder))
    problems = []
    times = [t for t in (_mtime(folder / n) for n in (LOG_NAME, "best" + SUFFIX, "last" + SUFFIX)) if t]
    info.last_activity = max(times) if times else _mtime(folder)
    if (folder / ("last" + SUFFIX)).is_file() or (folder / ("best" + SUFFIX)).is_file():
        try:
            table, meta = read_header(resolve_checkpoint(folder, RESUME_ORDER))
            info.has_checkpoint = True
            info.corpus = _corpus(meta.get("corpus"))
            info.framing = _framing(meta.get("framing"))
            info.model = describe_model(meta.get("model_config"))
            info.parameters = _parameters(table)
            info.step = gate.whole(meta.get("step"))
            info.best_bpc = gate.bpc(meta.get("best_val_bpc"))
            info.saved_at = gate.stamp(meta.get("saved_at"), SAVED_AT_FORMAT)
        except CheckpointError as e:
            problems.append(one_line(str(e)))
    log = folder / LOG_NAME
    if log.is_file():
        info.has_log = True
        problem = _from_log(log, info)
        if problem:
            problems.append(problem)
    info.training_pid = folder_holder(folder)
    info.problem = "; ".join(problems) or None
    return info


def _from_log(log: Path, info: RunInfo) -> str | None:
    """Fill in what the checkpoint did not say (a run with no checkpoint yet) and what is newer than it
    (a run training now), from the log's head and tail only."""
    reader = MetricsReader(log)
    size = reader.size() or 0
    head = reader.read(HEAD_BYTES)
    tail = head
    if size > reader.offset:
        reader.start_at(max(reader.offset, size - TAIL_BYTES))
        tail = reader.read(TAIL_BYTES)
    for event, extra in head:
        if isinstance(event, ev.Started):  # the first start line: the run's corpus and model
            info.corpus = info.corpus or _corpus(event.corpus)
            info.framing = info.framing or _framing(event.framing)
            info.model = info.model or describe_model(extra.get("model_config")) or safe_text(event.model or None)
            if info.parameters is None:
                info.parameters = gate.whole(event.parameters) or None
            break
    for event, _extra in tail:
        step = gate.whole(getattr(event, "step", None))
        if step is not None and isinstance(event, (ev.Step, ev.Eval, ev.Finished, ev.Saved)):
            info.step = max(info.step or 0, step)
        match event:
            case ev.Eval():
                best = gate.bpc(event.best_bpc)
                if best is not None and (info.best_bpc is None or best < info.best_bpc):
                    info.best_bpc = best
            case ev.Finished():
                info.ended = event.reason.value
            case ev.Started():
                info.ended = None  # resumed after that end
    if reader.skipped and not reader.lines:
        return f"its metrics log has no readable lines ({reader.skipped:,} skipped)"
    return None


def list_runs(models_dir: str | os.PathLike[str]) -> list[RunInfo]:
    """Every run folder under models_dir, newest activity first; [] if the folder does not exist yet.
    Raises RunFolderError (one line) if it exists but cannot be read."""
    root = Path(models_dir)
    try:
        if not root.exists():
            return []
        entries = sorted(p for p in root.iterdir() if p.is_dir())
    except (OSError, ValueError) as e:
        raise RunFolderError(
            f"cannot read the models folder {one_line(str(root))}: {getattr(e, 'strerror', None) or e}"
        ) from None
    rows = []
    for folder in entries:
        try:
            if is_run_folder(folder):
                rows.append(describe_run(folder))
        except OSError as e:  # a folder that went away or became unreadable while we looked
            rows.append(
                RunInfo(
                    name=safe_text(folder.name) or "?",
                    path=str(folder),
                    problem=f"cannot read it: {one_line(e.strerror or str(e))}",
                )
            )
    rows.sort(key=lambda r: r.last_activity or 0.0, reverse=True)
    return rows
