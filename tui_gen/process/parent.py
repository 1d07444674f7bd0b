"""The app's side of its training process: start it, send it commands, read its events, end it.

    process = TrainingProcess()
    process.start(TrainingSpec(corpus="trump-tweets", minutes=6, log_path="models/worker.log"))
    while True:
        batch = process.get(timeout=0.1)         # blocks for the first event, then drains the rest
        ...                                      # Started, Step, Eval, Snapshot, Samples, Saved, ...
        if any(isinstance(e, Exited) for e in batch):
            break
    process.send("pause")                        # a Command (resume, stop, save, eval, snapshot), or
    process.send(SetBudget(Budget(minutes=20)))  # a new budget
    process.shutdown()                           # always: stop, then terminate, then kill

Training runs in a separate process (tui_gen.process.child), so the UI stays responsive and a
crash in training cannot take it down. The child is started with the "spawn" method and owns the
device; it sends the trainer's events and its own (tui_gen.core.events) over a pipe. The stream from the
child always ends with exactly one Finished or Failed unless the process dies; either way this side
then adds one Exited, so a UI loop has a single place to stop.

Events are pickled on this internal channel only; checkpoints on disk are never pickled, and a
Snapshot's weights travel as safetensors bytes.

Engine code: no textual or rich imports, and no torch, so the UI can import this module without paying
for torch.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import queue
import signal
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing import connection as mp_connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import IO

from tui_gen.core.commands import Command, ProcessCommand, as_command
from tui_gen.core.events import Exited, ProcessEvent
from tui_gen.process.child import child_main, default_threads
from tui_gen.process.spec import PROCESS_LOG_NAME, TrainingSpec

SIGTERM_GRACE_SECONDS = 3.0  # shutdown(): from SIGTERM to SIGKILL


def _signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def describe_exit(exitcode: int | None, log_path: str | None = None) -> str | None:
    """Why a training process ended, in words; None while running or after a clean exit."""
    if exitcode is None or exitcode == 0:
        return None
    see = f"; its log is {log_path}" if log_path else ""
    if exitcode < 0:
        n = -exitcode
        text = f"the training process was killed by signal {n} ({_signal_name(n)})"
        if n == signal.SIGKILL:
            text += " (if nobody killed it, the system may have run out of memory)"
        return text + see
    return f"the training process exited with code {exitcode}" + (f"; see {log_path}" if log_path else "")


@contextmanager
def _real_stdio() -> Iterator[None]:
    """Inside a Textual app, sys.stdout/stderr are capture objects, whose fileno() is -1;
    multiprocessing's resource tracker passes sys.stderr.fileno() to the process it spawns and fails
    ("bad value(s) in fds_to_keep"). Lend it /dev/null for the moment a process is started: the
    terminal is Textual's, and the training process writes to its log anyway."""
    if _fileno_ok(sys.stderr) and _fileno_ok(sys.stdout):
        yield
        return
    saved = sys.stdout, sys.stderr
    with open(os.devnull, "w") as null:  # file-access: os.devnull
        sys.stdout = sys.stderr = null
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved


def _fileno_ok(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


class TrainingProcess:
    """One training process, driven from the UI. Thread-safe: one thread may sit in get() while
    another calls send(), alive, death_reason() or shutdown()."""

    def __init__(self) -> None:
        self.spec: TrainingSpec | None = None
        self._process: BaseProcess | None = None
        # What the child sent, unchecked: it is this package's own code at the other end of the pipe.
        self._events: queue.Queue[ProcessEvent] = queue.Queue()
        self._commands: mp_connection.Connection | None = None
        self._reader: threading.Thread | None = None
        self._reader_done = threading.Event()
        self._plock = threading.Lock()  # the Process object is not thread-safe
        self._slock = threading.Lock()  # nor is a Connection
        self._atexit: Callable[[], None] | None = None

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self, spec: TrainingSpec) -> None:
        if self._process is not None:
            raise RuntimeError("this TrainingProcess has already been started: use a new one for another run")
        log = spec.log_path or str(Path(spec.models_dir) / PROCESS_LOG_NAME)
        spec = replace(
            spec,
            log_path=str(Path(log).resolve()),
            threads=spec.threads or default_threads(),
            settings=dict(spec.settings),
        )
        self.spec = spec
        ctx = multiprocessing.get_context("spawn")
        events_r, events_w = ctx.Pipe(duplex=False)
        commands_r, commands_w = ctx.Pipe(duplex=False)
        # daemon: multiprocessing's own exit handler terminates it if everything else fails
        process = ctx.Process(
            target=child_main, args=(spec, events_w, commands_r), name="tui-gen-training", daemon=True
        )
        try:
            with _real_stdio():
                process.start()
        finally:
            # Only the child holds these ends now: when it dies the parent reads EOF, and when the
            # parent dies the child does.
            events_w.close()
            commands_r.close()
        self._process = process
        self._commands = commands_w
        self._reader = threading.Thread(
            target=self._read, args=(events_r, process), name="tui-gen-training-events", daemon=True
        )
        self._reader.start()
        ref = weakref.ref(self)

        def at_exit() -> None:
            handle = ref()
            if handle is not None:
                handle.shutdown(timeout=2.0)

        self._atexit = at_exit
        atexit.register(at_exit)

    def _read(self, conn: mp_connection.Connection, process: BaseProcess) -> None:
        try:
            while True:
                try:
                    obj = conn.recv()
                except (EOFError, OSError):
                    break  # the child has gone (or closed its end on the way out)
                except Exception:  # noqa: BLE001 - an event that does not unpickle: skip it, keep in sync
                    continue
                self._events.put(obj)
        finally:
            conn.close()
            if mp_connection.wait([process.sentinel], timeout=30):
                with self._plock:  # the sentinel fires a moment before the exit status can be reaped
                    process.join(timeout=5.0)
            code = self.exitcode
            self._reader_done.set()
            self._events.put(Exited(code, describe_exit(code, self.spec.log_path if self.spec else None)))

    def shutdown(self, timeout: float = 5.0) -> int | None:
        """Stop the child and make sure it is gone: ask it to stop (it saves `last`), wait up to timeout,
        then SIGTERM, then SIGKILL. Returns its exit code. Safe to call more than once."""
        process = self._process
        if process is None:
            return None
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        if self.alive:
            self.send(Command.STOP)
            mp_connection.wait([process.sentinel], timeout=max(0.0, timeout))
        # SIGTERM gets a few seconds: the child cleans up (a download's partial file) or saves on it,
        # and at nice 10 on a busy machine that is slow. SIGKILL needs no grace.
        for escalate, grace in ((process.terminate, SIGTERM_GRACE_SECONDS), (process.kill, 1.0)):
            if not self.alive:
                break
            with self._plock:
                try:
                    escalate()
                except (OSError, ValueError):
                    pass
            mp_connection.wait([process.sentinel], timeout=grace)
        with self._plock:
            process.join(timeout=5.0)
        with self._slock:
            if self._commands is not None:
                self._commands.close()
                self._commands = None
        if self._reader is not None:
            self._reader.join(timeout=5.0)
        return self.exitcode

    # ---- talking to it ----------------------------------------------------------------------------
    def send(self, command: ProcessCommand | str) -> bool:
        """A Command (or its word, "pause") or a SetBudget. Returns False when the child is not there to
        hear it; ValueError for something that is not a command."""
        command = as_command(command)
        with self._slock:
            if self._commands is None:
                return False
            try:
                self._commands.send(command)
                return True
            except (OSError, ValueError):
                return False

    def get(self, timeout: float | None = None) -> list[ProcessEvent]:
        """Wait up to timeout (None: for ever) for an event, then return it with all others waiting.

        An empty list means nothing arrived in time. After the Exited event nothing more comes, and
        get returns [] at once."""
        if self._process is None:
            return []
        out: list[ProcessEvent] = []
        if self._reader_done.is_set() and self._events.empty():
            return out
        try:
            if timeout is not None and timeout <= 0:
                out.append(self._events.get_nowait())
            else:
                out.append(self._events.get(timeout=timeout))
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    # ---- state ------------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def alive(self) -> bool:
        if self._process is None:
            return False
        with self._plock:
            return self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        if self._process is None:
            return None
        with self._plock:
            return self._process.exitcode

    @property
    def log_path(self) -> str | None:
        return self.spec.log_path if self.spec else None

    def death_reason(self) -> str | None:
        """None while running (or never started) and after a clean exit; else why it ended."""
        return describe_exit(self.exitcode, self.log_path)
