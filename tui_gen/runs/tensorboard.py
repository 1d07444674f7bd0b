"""Runs in TensorBoard: event files written from a run's metrics log (`tui-gen export RUN --tensorboard
DIR`) or live from the trainer's events (`tui-gen train --tensorboard DIR`), without TensorFlow.

    results = export("models/book-20261128-101500", "tb")  # tb/book-20261128-101500/events.out.tfevents...
    for e in live(trainer.run(), "tb"): ...                  # the same, as the run trains

What goes in, each at its step: train and validation bits/char, the learning rate, chars/s (scalars),
and each evaluation's samples (text). SUMMARIES maps the trainer's events to them, once, for both ways.

Why no library. An event file is a TFRecord file (each record: its length, a CRC-32C of the length,
the bytes, a CRC-32C of the bytes) of `Event` protocol buffers, and the few messages used here
(Event, Summary, SummaryMetadata, TensorProto) take a few lines to encode by hand. tensorboardX, the
lightest maintained writer, would add protobuf (a C extension whose major versions other packages pin
against each other) for that; writing the records here keeps `tui-gen export` free of extra installs,
and keeps every file written through the run folder helpers (tui_gen.runs.folder). tests/test_tensorboard.py
reads every file back with TensorBoard's own reader (its EventAccumulator), CRCs checked.

Engine code: no torch, no textual.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tui_gen.core import events as ev
from tui_gen.core.errors import RunFolderError
from tui_gen.core.textsafe import one_line
from tui_gen.runs.folder import RunFolder
from tui_gen.runs.metrics_log import FILE_NAME as LOG_NAME
from tui_gen.runs.metrics_log import STEP_LINES_PER_SECOND, MetricsReader

# The tags, as TensorBoard groups them (by the part before the slash).
TRAIN_BPC = "bits_per_char/train"
VAL_BPC = "bits_per_char/validation"
LEARNING_RATE = "learning_rate"
CHARS_PER_SEC = "chars_per_sec"
SAMPLES = "samples"
SAMPLES_HELP = (
    "Each evaluation's samples (seed and continuation), as literal text: `__HTTP__` is not bold, `#` no heading"
)

EXPORT_NAME = "events.out.tfevents.tui-gen-export"  # one name: exporting again replaces the last export
FILE_VERSION = "brain.Event:2"
FLUSH_BYTES = 1 << 20  # an export writes in pieces of this size: memory stays bounded for any log


# ---- the records: TFRecord framing and the protocol buffers, by hand -----------------------------------


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli's polynomial, reflected
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord checks it (crc32c(b"123456789") == 0xE3069283)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tf_record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the data, its masked CRC."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


def _varint(n: int) -> bytes:
    if n < 0:
        raise ValueError(f"a varint here is never negative: {n}")  # a bug: steps and sizes are >= 0
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited field (a string, bytes, an embedded message)."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")  # a lone surrogate from a log cannot be encoded: U+FFFD's "?"


def event(wall_time: float, step: int, *, summary: bytes | None = None, file_version: str | None = None) -> bytes:
    """An Event message: wall_time (1, double), step (2, int64), file_version (3) or summary (5)."""
    out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3 | 0) + _varint(max(0, step))
    if file_version is not None:
        out += _field(3, _utf8(file_version))
    if summary is not None:
        out += _field(5, summary)
    return out


def scalar(tag: str, value: float) -> bytes:
    """A Summary.Value with simple_value (2, float): TensorBoard's scalars."""
    return _field(1, _utf8(tag)) + _varint(2 << 3 | 5) + struct.pack("<f", value)


def text(tag: str, texts: list[str], description: str = "") -> bytes:
    """A Summary.Value for TensorBoard's text plugin: metadata (9) naming the plugin, a 1-D tensor (8) of
    strings (dtype DT_STRING, 7)."""
    plugin = _field(1, b"text")  # PluginData.plugin_name; its content (TextPluginData, version 0) is empty
    metadata = _field(1, plugin) + (_field(3, _utf8(description)) if description else b"")
    shape = _field(2, _varint(1 << 3 | 0) + _varint(len(texts)))  # TensorShapeProto.dim: one Dim of that size
    tensor = _varint(1 << 3 | 0) + _varint(7) + _field(2, shape) + b"".join(_field(8, _utf8(t)) for t in texts)
    return _field(1, _utf8(tag)) + _field(9, metadata) + _field(8, tensor)


def summary(*values: bytes) -> bytes:
    """A Summary message: its values (1, repeated)."""
    return b"".join(_field(1, v) for v in values)


def literal(sample: str) -> str:
    """A sample as TensorBoard's text plugin shows it unchanged: a Markdown code block (each line indented
    by four spaces), since its Markdown would make `__HTTP__` bold and a leading `#` a heading."""
    return "\n".join("    " + line for line in sample.split("\n"))


def unliteral(shown: str) -> str:
    """literal's inverse: the sample itself."""
    return "\n".join(line.removeprefix("    ") for line in shown.split("\n"))


def summaries(e: object) -> list[bytes]:
    """The Summary.Values one of the trainer's events becomes (none for most kinds): the one mapping the
    export and the live writer share."""
    match e:
        case ev.Step():
            return [
                scalar(TRAIN_BPC, e.train_bpc),
                scalar(LEARNING_RATE, e.lr),
                scalar(CHARS_PER_SEC, e.chars_per_sec),
            ]
        case ev.Eval():
            return [scalar(VAL_BPC, e.val_bpc)]
        case ev.Samples() if e.samples:
            texts = [literal(seed + continuation.rstrip("\n")) for seed, continuation in e.samples]
            return [text(SAMPLES, texts, f"{SAMPLES_HELP}; temperature {e.temperature:g}")]
    return []


# ---- one event file ------------------------------------------------------------------------------------


class EventsFile:
    """An event file of `folder` (created with its parents if missing), appended through the folder's
    descriptor (tui_gen.runs.folder), its first record the file version. Writes are buffered up to
    `buffer` bytes (0: each write goes out at once, for a file read while it grows). Raises OSError."""

    def __init__(self, folder: str | os.PathLike[str], name: str, wall_time: float, buffer: int = 0) -> None:
        self._folder = RunFolder.open(Path(folder))
        try:
            self._fd: int | None = self._folder.open_append(name)
        finally:
            self._folder.close()  # the file's own descriptor is all that is needed from here on
        self.path = Path(folder) / name
        self._buffer = bytearray()
        self._limit = buffer
        self.records = 0
        self.write(event(wall_time, 0, file_version=FILE_VERSION))

    def write(self, record: bytes) -> None:
        """Append one Event message (framed here)."""
        self._buffer += tf_record(record)
        self.records += 1
        if len(self._buffer) > self._limit:
            self.flush()

    def flush(self) -> None:
        if self._fd is None:
            return
        data, self._buffer = bytes(self._buffer), bytearray()
        done = 0
        while done < len(data):
            done += os.write(self._fd, data[done:])

    def close(self) -> None:
        """Flush and close. Raises OSError if the last flush fails (the file is closed all the same)."""
        if self._fd is None:
            return
        try:
            self.flush()
        finally:
            os.close(self._fd)
            self._fd = None


# ---- export: a run's metrics log -------------------------------------------------------------------------


@dataclass
class Exported:
    """What exporting one run did: where to, how much, and what went wrong (None: nothing)."""

    run: Path
    folder: Path  # DIR/<run name>
    scalars: int = 0
    samples: int = 0  # evaluations whose samples were written
    first_step: int | None = None
    last_step: int | None = None
    skipped: int = 0  # lines of the log that were not valid records, left out
    problem: str | None = None


def run_folders(path: str | os.PathLike[str]) -> list[Path]:
    """`path` itself if it is a run folder (it has a metrics log), else the run folders in it (a models
    folder), in name order. Raises RunFolderError (one line) if there is none, or it cannot be read."""
    root = Path(path)
    if (root / LOG_NAME).exists():
        return [root]
    try:
        if not root.is_dir():
            raise RunFolderError(
                f"{one_line(str(root))} is not a folder: give a run folder (one with {LOG_NAME}) or a models folder"
            )
        found = sorted(p for p in root.iterdir() if p.is_dir() and (p / LOG_NAME).exists())
    except OSError as e:
        raise RunFolderError(f"cannot read {one_line(str(root))}: {e.strerror or e}") from None
    if not found:
        raise RunFolderError(
            f"{one_line(str(root))} holds no run with a metrics log ({LOG_NAME}): give a run folder or a models "
            "folder (runs trained before the metrics log existed cannot be exported)"
        )
    return found


def export_run(run: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Exported:
    """Write the run's metrics log as TensorBoard events into out_dir/<run name>/EXPORT_NAME, replacing an
    earlier export there. Never raises for a bad run or log: lines that cannot be read are left out and
    counted, and what went wrong is in `problem` (what could be read is written all the same)."""
    run = Path(run)
    done = Exported(run, Path(out_dir) / run.name)
    reader = MetricsReader(run / LOG_NAME)
    if reader.size() is None:
        done.problem = f"{one_line(str(run / LOG_NAME))} cannot be read (missing, or no permission)"
        return done
    file: EventsFile | None = None
    try:
        folder = RunFolder.open(done.folder)
        try:
            folder.unlink(EXPORT_NAME)  # the last export's: this one replaces it
        finally:
            folder.close()
        while True:
            before = reader.offset
            for e, extra in reader.read():
                values = summaries(e)
                if not values:
                    continue
                when = extra.get("time")
                wall_time = float(when) if isinstance(when, int | float) else 0.0
                if file is None:
                    file = EventsFile(done.folder, EXPORT_NAME, wall_time, buffer=FLUSH_BYTES)
                file.write(event(wall_time, e.step, summary=summary(*values)))
                done.first_step = e.step if done.first_step is None else min(done.first_step, e.step)
                done.last_step = e.step if done.last_step is None else max(done.last_step, e.step)
                if isinstance(e, ev.Samples):
                    done.samples += 1
                else:
                    done.scalars += len(values)
            if reader.offset == before:  # the end (or a file that stopped being readable)
                break
        if file is not None:
            file.close()
    except OSError as e:
        done.problem = f"cannot write {one_line(str(done.folder))}: {e.strerror or e}"
        if file is not None:
            try:
                file.close()
            except OSError:
                pass
    done.skipped = reader.skipped
    if done.problem is None and reader.not_regular:
        done.problem = f"{one_line(str(run / LOG_NAME))} is {reader.not_regular}, not a metrics log"
    elif done.problem is None and done.skipped:
        written = "the rest was exported" if file is not None else "nothing else could be read"
        done.problem = (
            f"{done.skipped:,} line{'s' if done.skipped != 1 else ''} of {one_line(str(run / LOG_NAME))} "
            f"could not be read (corrupt or cut short) and {'were' if done.skipped != 1 else 'was'} left out; "
            + written
        )
    elif done.problem is None and file is None:
        done.problem = f"{one_line(str(run / LOG_NAME))} has no steps, evaluations or samples yet: nothing to export"
    return done


def export(path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[Exported]:
    """Export a run folder, or every run of a models folder, one sub-folder of out_dir each. Raises
    RunFolderError if `path` holds no run; each run's own trouble is in its Exported.problem."""
    return [export_run(run, out_dir) for run in run_folders(path)]


# ---- live: a consumer of the trainer's events ----------------------------------------------------------


class LiveWriter:
    """Writes a training run's events into out_dir/<run name>/ as they come, as the metrics log's writer
    does: step lines coalesced to at most STEP_LINES_PER_SECOND (their train bits/char the mean of the
    steps they stand for), every record written at once so TensorBoard shows it while the run trains.

    Never raises: the first failure (a full disk, a folder that cannot be made) is returned once by
    record(), and nothing more is written."""

    def __init__(self, out_dir: str | os.PathLike[str], clock: Callable[[], float] = time.time) -> None:
        self.out_dir = Path(out_dir)
        self._clock = clock
        self.file: EventsFile | None = None
        self._failed = False
        self._pending = ev.StepMeans()
        self._step_written_at = -float("inf")

    def record(self, e: object) -> str | None:
        """Write what `e` holds; a message the first time something cannot be written, else None."""
        if self._failed:
            return None
        try:
            match e:
                case ev.Started():
                    self._open(e)
                case ev.Step():
                    self._pending.add(e)
                    if self._clock() - self._step_written_at >= 1 / STEP_LINES_PER_SECOND:
                        self._write_pending()
                case ev.Eval() | ev.Samples():
                    self._write_pending()  # the steps before an evaluation come before it
                    self._write(e)
                case ev.Finished():
                    self._write_pending()
        except OSError as error:
            return self._fail(error)
        return None

    def close(self) -> str | None:
        """Write the steps held back and close; a message if that fails."""
        if self._failed or self.file is None:
            return None
        try:
            self._write_pending()
            self.file.close()
        except OSError as error:
            return self._fail(error)
        return None

    def _open(self, started: ev.Started) -> None:
        if self.file is not None:  # one file per trainer.run(), which starts once
            return
        name = Path(started.run_dir).name if started.run_dir else "run"
        now = self._clock()
        # As TensorBoard's own writers name theirs: time, host and process, so runs never share a file.
        file_name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.tui-gen"
        self.file = EventsFile(self.out_dir / name, file_name, now)

    def _write_pending(self) -> None:
        step = self._pending.take()
        if step is not None:
            self._step_written_at = self._clock()
            self._write(step)

    def _write(self, e: ev.Step | ev.Eval | ev.Samples) -> None:
        values = summaries(e)
        if self.file is not None and values:
            self.file.write(event(self._clock(), e.step, summary=summary(*values)))

    def _fail(self, error: OSError) -> str:
        self._failed = True
        where = self.file.path.parent if self.file is not None else self.out_dir
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None
        return (
            f"the TensorBoard events in {one_line(str(where))} cannot be written ({error.strerror or error}); "
            "training goes on, and the checkpoints and the metrics log are not affected"
        )


def live(events: Iterable[ev.Event], out_dir: str | os.PathLike[str]) -> Iterator[ev.Event]:
    """The trainer's events, passed on unchanged, each written to TensorBoard on the way (LiveWriter). A
    failure to write is passed on too, once, as a RunWarning after the event it happened at (the metrics
    log does not hold it: it is this consumer's, not the run's)."""
    writer = LiveWriter(out_dir)
    step = 0
    try:
        for e in events:
            step = getattr(e, "step", step)
            problem = writer.record(e)
            yield e
            if problem:
                yield ev.RunWarning(step, problem)
    finally:
        problem = writer.close()
    if problem:
        yield ev.RunWarning(step, problem)
