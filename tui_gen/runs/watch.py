"""Watching a run that another process trains: follow its folder's metrics log, as the app follows its own.

    watcher = RunWatcher("models/book-20261128-101500")
    while True:
        batch = watcher.get(timeout=0.2)    # the run's events (Started, Step, Eval, Samples, Saved, ...)
        ...                                 # and WatchNotice: no log yet, lines skipped, the log is stale, ...
    watcher.shutdown()                      # then one Exited, and nothing more

RunWatcher has the small part of tui_gen.process.parent.TrainingProcess's interface that the app uses (get, send,
alive, shutdown, spec, pid, death_reason), so the app listens to a watched run with the thread and the
handle_events it uses for its own training process. It only reads: it never writes into the run folder,
takes no lock, and starts no process. Reading the log costs the trainer nothing but the page cache.

Memory stays bounded whatever the log holds: MetricsReader reads at most a few MiB per poll, and a log
bigger than CATCH_UP_BYTES is caught up on from its first line (the run's `start`) and its last
CATCH_UP_BYTES only, with a notice saying so.

Engine code: no torch, no textual.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tui_gen.core import events as ev
from tui_gen.core.commands import ProcessCommand
from tui_gen.core.files import describe_mode, open_regular
from tui_gen.runs.lock import folder_holder
from tui_gen.runs.metrics_log import MAX_LINE_BYTES, Extra, MetricsReader, decode, log_path

POLL_SECONDS = 0.25  # how often the log is looked at: the trainer flushes every line, so 0.25 s behind at most
STALE_SECONDS = 120.0  # a log that has not grown for this long is said to be stale
CATCH_UP_BYTES = 4 << 20  # a bigger log: only its first line and its last 4 MiB are read
SKIPPED_NOTICE_SECONDS = 10.0  # unreadable lines are reported at most this often
CHECKPOINT_NAMES = ("last", "best")  # the files a watcher's playground may load: inside the run folder only
SUFFIX = ".safetensors"  # checkpoint.SUFFIX (not imported: checkpoint pulls in torch)

WatchEvent = ev.Event | ev.WatchNotice | ev.Exited  # what RunWatcher.get hands out


def newest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The run folder's most recently written checkpoint (last or best; last when both are as new), or
    None. Only these two files of the folder are considered, never a path another file names."""
    found: list[tuple[int, int, Path]] = []
    for rank, name in enumerate(CHECKPOINT_NAMES):
        path = Path(run_dir) / (name + SUFFIX)
        try:
            st = path.stat()
        except OSError:
            continue
        if path.is_file():
            found.append((st.st_mtime_ns, -rank, path))
    return max(found)[2] if found else None


def checkpoint_identity(path: Path) -> tuple[str, int, int] | None:
    """What tells one save of a checkpoint file from the next (saves are atomic renames: a new inode)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return str(path), st.st_ino, st.st_mtime_ns


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return f"{seconds:.0f} s"
    if minutes < 120:
        return f"{minutes:.0f} minute{'s' if round(minutes) != 1 else ''}"
    return f"{minutes / 60:.1f} hours"


class RunWatcher:
    """Follows `run_dir`'s metrics log. Thread-safe as TrainingProcess is: one thread in get(), another
    calling shutdown()."""

    spec: None = None  # no TrainingSpec: nothing is trained here
    pid: None = None  # and no process of ours
    log_path: None = None

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        poll_seconds: float = POLL_SECONDS,
        stale_seconds: float = STALE_SECONDS,
        catch_up_bytes: int = CATCH_UP_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.poll_seconds = poll_seconds
        self.stale_seconds = stale_seconds
        self.catch_up_bytes = max(catch_up_bytes, 1)
        self._clock = clock
        self.reader = MetricsReader(log_path(self.run_dir))
        self._stopped = threading.Event()
        self._exited_sent = False
        self._polled_at = -float("inf")
        self._first_poll = True
        self._fresh = True  # the next read is the first of this file: catch up if it is big
        self._folder_gone = False
        self._log_missing_said = False
        self._not_regular_said: str | None = None  # reader.not_regular as last reported
        self._grew_at = clock()  # when the log last grew (or the watch began)
        self._size: int | None = None  # the log's size at the last poll (None: no log)
        self._stale_said = False
        self._finished = False  # the newest event is a Finished: a log that stops growing then is expected
        self._skipped_said = 0  # reader.skipped as last reported
        self._skipped_said_at = -float("inf")

    # ---- the TrainingProcess interface ---------------------------------------------------------------
    def start(self, spec: object = None) -> None:
        """Nothing to start: a watcher only reads."""

    def send(self, command: ProcessCommand | str) -> bool:
        return False  # nobody to hear it: the run belongs to another process

    @property
    def alive(self) -> bool:
        return not self._stopped.is_set()

    @property
    def exitcode(self) -> int | None:
        return None

    def death_reason(self) -> str | None:
        return None

    def shutdown(self, timeout: float = 0.0) -> int | None:
        """Stop watching. The next get() returns one Exited (so a listening loop ends), then nothing."""
        self._stopped.set()
        return None

    def get(self, timeout: float | None = None) -> list[WatchEvent]:
        """The events that arrived since the last call, waiting up to timeout (None: for ever) for one.
        An empty list means nothing arrived in time."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            if self._stopped.is_set():
                if not self._exited_sent:
                    self._exited_sent = True
                    return [ev.Exited(None, None)]
                # Nothing more will come: wait out the timeout, so that a caller's loop never spins.
                time.sleep(self.poll_seconds if deadline is None else max(0.0, deadline - time.monotonic()))
                return []
            wait = self._polled_at + self.poll_seconds - time.monotonic()
            if wait <= 0:
                self._polled_at = time.monotonic()
                out = self.poll()
                if out:
                    return out
                wait = self.poll_seconds
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                wait = min(wait, left)
            self._stopped.wait(wait)

    # ---- reading -------------------------------------------------------------------------------------
    def poll(self) -> list[WatchEvent]:
        """One look at the folder and its log: the new events and notices, in order."""
        out: list[WatchEvent] = []
        first, self._first_poll = self._first_poll, False
        if not self.run_dir.is_dir():
            if first:
                out.append(ev.WatchNotice("missing", self._not_a_folder()))
                self._folder_gone = True
            elif not self._folder_gone:
                self._folder_gone = True
                out.append(
                    ev.WatchNotice(
                        "deleted",
                        f"the run folder {self.run_dir} was deleted: there is "
                        "nothing more to watch (it is watched again if it comes back)",
                    )
                )
            return out
        self._folder_gone = False
        if first and newest_checkpoint(self.run_dir) is None:
            out.append(
                ev.WatchNotice(
                    "no-checkpoint",
                    f"{self.run_dir.name} has no checkpoint yet: the "
                    "playground can generate once its first evaluation saves one",
                )
            )
        size = self.reader.size()
        if size is None:
            if not self._log_missing_said:
                self._log_missing_said = True
                out.append(
                    ev.WatchNotice(
                        "no-log",
                        f"{self.run_dir.name} has no metrics log "
                        f"({self.reader.path.name}) yet: waiting for training to write "
                        "one (runs trained by older versions of tui-gen have none)",
                    )
                )
            return out + self._check_stale(size)
        if self._log_missing_said:
            self._log_missing_said = False
            out.append(ev.WatchNotice("log", f"the metrics log of {self.run_dir.name} is there now"))
        if self._fresh:
            self._fresh = False
            out.extend(self._catch_up(size))
        read = self.reader.read()
        out.extend(self._check_not_regular())
        if self.reader.replaced:  # truncated or renamed over: the lines read are the new file's, from 0
            self.reader.replaced = False
            self._finished = False
            out.append(
                ev.WatchNotice(
                    "replaced",
                    f"the metrics log of {self.run_dir.name} was replaced (a new "
                    "run in the same folder?): reading it anew",
                )
            )
            size = self.reader.size() or 0
            if size > self.catch_up_bytes:  # the new file is big: catch up on it too, as on a first read
                out.extend(self._catch_up(size))
                read = self.reader.read()
        for event, _extra in read:
            out.append(event)
        if read:
            self._finished = isinstance(read[-1][0], ev.Finished)
        out.extend(self._check_skipped())
        return out + self._check_stale(size)

    def _catch_up(self, size: int) -> list[WatchEvent]:
        """A log bigger than catch_up_bytes: the run's first line (its `start`: the model, the corpus)
        and the last catch_up_bytes; whatever lies between is never read."""
        if size <= self.catch_up_bytes:
            return []
        out: list[WatchEvent] = []
        first = self._first_line()
        if first is not None and isinstance(first[0], ev.Started):
            out.append(first[0])
        self.reader.start_at(size - self.catch_up_bytes)
        mib = self.catch_up_bytes / (1 << 20)
        out.append(
            ev.WatchNotice(
                "catch-up",
                f"the metrics log is {size / (1 << 20):,.0f} MiB: showing the run's "
                f"start and its last {mib:g} MiB of figures, then what comes",
            )
        )
        return out

    def _not_a_folder(self) -> str:
        """Why run_dir, which is not a folder, cannot be watched: it is missing, or it is something else."""
        try:
            st = os.stat(self.run_dir)
        except OSError:
            return (
                f"{self.run_dir} is not a run folder (it does not exist): check the path, or wait for "
                "training to create it"
            )
        if stat.S_ISREG(st.st_mode):  # its metrics log, say: the folder above it is the run
            return (
                f"{self.run_dir} is not a run folder (it is a file): give the folder a run trains in, "
                "models/<run>, not a file in it"
            )
        return (
            f"{self.run_dir} is not a run folder (it is {describe_mode(st.st_mode)}): give the folder a run trains in"
        )

    def _check_not_regular(self) -> list[WatchEvent]:
        """The log is there but is no file (a FIFO, a device): said once, and again when a file replaces it."""
        what = self.reader.not_regular
        if what == self._not_regular_said:
            return []
        self._not_regular_said = what
        if what is None:
            return [ev.WatchNotice("log", f"the metrics log of {self.run_dir.name} is there now")]
        return [
            ev.WatchNotice(
                "not-a-file",
                f"the metrics log {self.reader.path} is {what}, not a regular file: "
                "nothing is read from it (a run writes its log as a file)",
            )
        ]

    def _first_line(self) -> tuple[ev.Event, Extra] | None:
        try:
            with open_regular(self.reader.path) as f:
                line = f.readline(MAX_LINE_BYTES)
        except OSError:
            return None
        return decode(line) if line.endswith(b"\n") else None

    def _check_skipped(self) -> list[WatchEvent]:
        skipped = self.reader.skipped
        if skipped <= self._skipped_said:
            return []
        now = self._clock()
        if now - self._skipped_said_at < SKIPPED_NOTICE_SECONDS:
            return []  # reported a moment ago: the next report has the total
        self._skipped_said, self._skipped_said_at = skipped, now
        return [
            ev.WatchNotice(
                "skipped",
                f"{skipped:,} line{'s' if skipped != 1 else ''} of the metrics log of "
                f"{self.run_dir.name} could not be read and "
                f"{'were' if skipped != 1 else 'was'} "
                "skipped (not tui-gen's records, or cut short)",
                count=skipped,
            )
        ]

    def _check_stale(self, size: int | None) -> list[WatchEvent]:
        now = self._clock()
        if size != self._size:
            self._size, self._grew_at = size, now
            if self._stale_said:
                self._stale_said = False
                return [ev.WatchNotice("growing", f"the metrics log of {self.run_dir.name} grows again")]
            return []
        if self._stale_said or self._finished or now - self._grew_at < self.stale_seconds:
            return []
        self._stale_said = True
        holder = folder_holder(self.run_dir)
        quiet = _duration(now - self._grew_at)
        what = (
            f"the metrics log has not grown for {quiet}"
            if size is not None
            else f"no metrics log has appeared in {quiet}"
        )
        if holder:
            why = f"process {holder} still holds the run folder (evaluating a big corpus, or stuck?)"
        else:
            why = (
                "no process is training in the run folder now: it was stopped or killed before it finished "
                "(this app follows it again if training resumes)"
            )
        return [ev.WatchNotice("stale", f"{what}: {why}")]
