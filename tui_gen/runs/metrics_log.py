"""Every run folder's live log: models/<run>/metrics.jsonl, one JSON object a line.

    {"type": "start", "time": 1764640000.1, "format": 1, "step": 0, "device": "cpu", ..., "config": {...}}
    {"type": "step", "time": ..., "step": 40, "train_bpc": 3.91, "steps": 12, "chars_seen": 256000, ...}
    {"type": "eval", "time": ..., "step": 200, "val_bpc": 2.71, "best_bpc": 2.71, "is_best": true, ...}
    {"type": "samples" | "saved" | "warning" | "budget" | "finished", "time": ..., "step": ..., ...}

The trainer writes it (MetricsWriter): the CLI's runs, the app's and rank 0 of a distributed run alike.
Each line holds one event's fields (tui_gen.core.events) plus the wall-clock `time`. Step lines are coalesced
to at most STEP_LINES_PER_SECOND: a step line's train_bpc, grad_norm and clipped are the means over the `steps` steps
it stands for. Every line is flushed as it is written, so a reader sees it within a second. A resumed run appends
a new `start` line and goes on; a run killed mid-write leaves at most one partial last line, which the
next writer closes off with a newline and readers skip. tui-gen never needs the log to load or resume
a checkpoint: a log that cannot be written is a warning, never the end of a run.

MetricsReader reads a log incrementally (a growing one too) and gives back the same typed events the
trainer yields, so the app folds a run it watches with the code that folds its own. Every field is
checked against the event's type and range (tui_gen.core.gate, the ranges in tui_gen.core.events): a line that
does not fit is skipped and counted, never shown raw.

Engine code: no torch, no textual.
"""

from __future__ import annotations

import json
import math
import os
import time
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, TextIO, TypeGuard

from tui_gen.core import events as ev
from tui_gen.core import gate
from tui_gen.core.files import NotRegularFile, open_regular
from tui_gen.runs.folder import RunFolder

FILE_NAME = "metrics.jsonl"
FORMAT = 1
STEP_LINES_PER_SECOND = 4
MAX_LINE_BYTES = 1 << 20  # a longer "line" is not ours: skipped, read past in bounded memory
READ_CHUNK_BYTES = 4 << 20  # read() takes at most this much of the file per call

# Each event type's "type" in a line, written out rather than derived from the class names, so that a
# class can be renamed (Warning became RunWarning) while old logs still read and new ones stay the same.
TYPE_OF: dict[type[ev.Event], str] = {
    ev.Started: "start",
    ev.Step: "step",
    ev.Eval: "eval",
    ev.Samples: "samples",
    ev.Saved: "saved",
    ev.RunWarning: "warning",
    ev.BudgetChanged: "budget",
    ev.Finished: "finished",
}
EVENT_OF = {name: cls for cls, name in TYPE_OF.items()}

Extra = dict[str, Any]  # a line's fields besides its event's (time, steps, config, ...): JSON values


def log_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / FILE_NAME


def _is_logged(event: object) -> TypeGuard[ev.Event]:
    """Whether the event is one a log holds: the trainer's (exactly their types), not the process's own."""
    return type(event) in TYPE_OF


def _clean(value: object) -> object:
    """JSON has no NaN or infinity: those become null, as the checkpoint header does."""
    match value:
        case float() if not math.isfinite(value):
            return None
        case dict():
            return {k: _clean(v) for k, v in value.items()}
        case list() | tuple():
            return [_clean(v) for v in value]
    return value


def encode(event: ev.Event, when: float, extra: Extra | None = None) -> str:
    """One line (without its newline) for an event of the trainer's."""
    record = {"type": TYPE_OF[type(event)], "time": round(when, 3), **asdict(event), **(extra or {})}
    return json.dumps(_clean(record), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class MetricsWriter:
    """Appends a run's events to its log. Never raises: a failed write (a full disk, a folder gone) is
    reported once, as a message from record(), and the log is then closed.

    folder: the run folder the trainer holds (tui_gen.runs.folder): the log is opened through it, so it
    stays with the folder if that is moved. Either way the log is never opened through a symbolic link
    (it would be written outside the run folder) nor as anything but a regular file: such a log is not
    written, and that is the one message."""

    def __init__(
        self, path: str | os.PathLike[str], clock: Callable[[], float] = time.time, folder: RunFolder | None = None
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._file: TextIO | None = None
        self.problem: str | None = None
        self._told = False  # the problem has been returned by record() once
        self._pending = ev.StepMeans()  # the steps not written yet
        self._step_written_at = -math.inf
        try:
            if folder is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)  # a Trainer's run folder may not exist yet
            fd = (folder or RunFolder(self.path.parent, None)).open_append(self.path.name)
            ends_open = self._ends_without_newline(fd)
            self._file = open(fd, "a", encoding="utf-8", newline="\n")  # file-access: wraps the runs.folder descriptor
            if ends_open:
                self._file.write("\n")  # a killed writer's partial line stays a line of its own
                self._file.flush()
        except OSError as e:
            self._fail(e)

    @staticmethod
    def _ends_without_newline(fd: int) -> bool:
        """Whether the file open as fd is not empty and its last byte is not a newline (read through
        the same descriptor: the name may be another file by now)."""
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                return False
            os.lseek(fd, size - 1, os.SEEK_SET)  # appending (O_APPEND) writes at the end whatever this says
            return os.read(fd, 1) != b"\n"
        except BaseException:
            os.close(fd)
            raise

    def record(self, event: object, extra: Extra | None = None) -> str | None:
        """Log one event (others than the trainer's are ignored). Returns a message the first time the
        log cannot be written, else None."""
        if not _is_logged(event):
            return None
        if self._file is None:  # could not be opened, or a write failed: say so once
            if self.problem and not self._told:
                self._told = True
                return self.problem
            return None
        if isinstance(event, ev.Step):
            self._pending.add(event)
            if self._clock() - self._step_written_at >= 1 / STEP_LINES_PER_SECOND:
                return self._write_pending()
            return None
        problem = self._write_pending()
        return problem or self._write(event, extra)

    def _write_pending(self) -> str | None:
        count = self._pending.count
        step = self._pending.take()
        if step is None:
            return None
        self._step_written_at = self._clock()
        return self._write(step, {"steps": count})

    def _write(self, event: ev.Event, extra: Extra | None) -> str | None:
        if self._file is None:  # closed by a failure, which has been said: nothing more is written
            return None
        try:
            self._file.write(encode(event, self._clock(), extra) + "\n")
            self._file.flush()
        except (OSError, ValueError) as e:
            self._told = True
            return self._fail(e)
        return None

    def _fail(self, e: Exception) -> str:
        self.problem = (
            f"the metrics log {self.path} cannot be written ({getattr(e, 'strerror', None) or e}); "
            "training goes on, and the checkpoints are not affected"
        )
        self._close_file()
        return self.problem

    def close(self) -> None:
        if self._file is not None:
            self._write_pending()  # the last steps (a failure here closes the file itself)
            self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None


# ---- reading ---------------------------------------------------------------------------------------

_HINTS = {cls: typing.get_type_hints(cls, vars(ev)) for cls in TYPE_OF}


def decode(line: str | bytes) -> tuple[ev.Event, Extra] | None:
    """(event, the line's other fields: time, steps, config, ...) from one line, or None if the line is
    not a valid record of a known type. Through the gate (tui_gen.core.gate): the JSON as a whole (no NaN,
    no 400-digit number, no nesting too deep), then each field against its type and the range
    events.py gives it (bits/char up to MAX_BPC, progress 0..1, at most 11 samples, ...)."""
    try:
        record = gate.load_json(line, MAX_LINE_BYTES)
    except gate.OutsideValueError:
        return None
    if not isinstance(record, dict):
        return None
    kind = record.get("type")
    cls = EVENT_OF.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    hints = _HINTS[cls]
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in record:
            if f.default is MISSING and f.default_factory is MISSING:
                return None  # a field the event cannot do without
            continue  # one added after this line was written: its default
        try:
            values[f.name] = gate.typed(record[f.name], hints[f.name], gate.bounds_of(f))
        except gate.OutsideValueError:
            return None
    extra = {k: v for k, v in record.items() if k not in values and k != "type"}
    extra["time"] = gate.number(extra.get("time"))
    return cls(**values), extra


class MetricsReader:
    """Reads a metrics log from where the last read stopped: only complete lines, each exactly once,
    however the file grows meanwhile. Lines that do not decode are skipped and counted (`skipped`).
    Memory stays bounded: at most READ_CHUNK_BYTES a call, and a "line" over MAX_LINE_BYTES is read
    past, not held."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.offset = 0  # bytes consumed: everything before it has been read
        self.skipped = 0  # lines that were not valid records
        self.lines = 0  # valid records read
        self._identity: tuple[int, int] | None = None
        self._partial = b""  # the start of a line whose newline has not been written yet
        self._discarding = False  # inside an over-long line: drop bytes until its newline
        self.replaced = False  # the file was truncated or replaced since the last read (read anew from 0)
        self.not_regular: str | None = None  # what the path is when it is not a file (a FIFO...): never read

    def size(self) -> int | None:
        try:
            return self.path.stat().st_size
        except OSError:
            return None

    def start_at(self, offset: int) -> None:
        """Read from `offset` on (the part before is not wanted); the line it falls in is skipped."""
        self.offset = offset
        self._partial = b""
        self._discarding = offset > 0

    def read(self, max_bytes: int = READ_CHUNK_BYTES) -> list[tuple[ev.Event, Extra]]:
        """New (event, extra) pairs since the last call; [] if there is nothing new or no file.
        Raises nothing for a missing or unreadable file: `size()` says whether it is there, and
        `not_regular` what it is when it is there but not a file (a FIFO would block an open() for ever)."""
        try:
            with open_regular(self.path) as f:
                self.not_regular = None
                st = os.fstat(f.fileno())
                identity = (st.st_dev, st.st_ino)
                if self._identity is not None and (identity != self._identity or st.st_size < self.offset):
                    self.replaced = True  # truncated, or another file renamed into place: start over
                    self.offset, self._partial, self._discarding = 0, b"", False
                self._identity = identity
                if st.st_size <= self.offset:
                    return []
                f.seek(self.offset)
                data = f.read(min(max_bytes, st.st_size - self.offset))
        except NotRegularFile as e:
            self.not_regular = e.what
            return []
        except OSError:
            return []
        self.offset += len(data)
        return self._lines(data)

    def _lines(self, data: bytes) -> list[tuple[ev.Event, Extra]]:
        out = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            piece = data[start:end]
            start = end + 1
            if self._discarding:
                self._discarding = False
                self._partial = b""
                continue
            line = self._partial + piece
            self._partial = b""
            if not line.strip():
                continue
            decoded = decode(line)
            if decoded is None:
                self.skipped += 1
            else:
                self.lines += 1
                out.append(decoded)
        if not self._discarding:
            self._partial += data[start:]
            if len(self._partial) > MAX_LINE_BYTES:
                self._partial = b""
                self._discarding = True
                self.skipped += 1
        return out


def read_log(path: str | os.PathLike[str]) -> tuple[list[tuple[ev.Event, Extra]], int]:
    """A whole log at once, ([(event, extra)], lines skipped): for logs known to be small."""
    reader = MetricsReader(path)
    out: list[tuple[ev.Event, Extra]] = []
    while True:
        before = reader.offset
        out.extend(reader.read())
        if reader.offset == before:  # the end, or a file that cannot be read
            return out, reader.skipped
