"""Training in a separate process, so the UI stays responsive and a crash in training cannot take it down.

    worker = TrainingWorker()
    worker.start(WorkerSpec(corpus="trump-tweets", minutes=6, log_path="models/worker.log"))
    while True:
        batch = worker.get(timeout=0.1)          # blocks for the first event, then drains the rest
        ...                                      # Started, Step, Eval, Snapshot, Samples, Saved, ...
        if any(isinstance(e, Exited) for e in batch):
            break
    worker.send("pause")                         # or resume, stop, save, eval, snapshot
    worker.shutdown()                            # always: stop, then terminate, then kill

The child is started with the "spawn" method and owns the device. Its stdout and stderr (file
descriptors 1 and 2, so C libraries too) go to a log file, never to the terminal the UI draws on.
It sends the trainer's events (tui_gen.events) plus the ones defined here over a pipe; Step events
are coalesced to at most about 20 a second (the latest is always sent), nothing else is dropped.
The stream from the child always ends with exactly one Finished or Failed unless the process dies;
either way the parent side then adds one Exited, so a UI loop has a single place to stop.

Events are pickled on this internal channel only; checkpoints on disk are never pickled, and a
Snapshot's weights travel as safetensors bytes.

Engine code: no textual or rich imports, and torch is only imported where it is needed, so the UI
can import this module without paying for torch.
"""

from __future__ import annotations

import atexit
import io
import json
import math
import multiprocessing
import os
import queue
import signal
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from multiprocessing import connection as mp_connection
from pathlib import Path
from typing import TYPE_CHECKING

from . import events as ev
from .errors import TuiGenError

if TYPE_CHECKING:
    from .model import CharRNN
    from .runsetup import RunRequest
    from .train import Trainer
    from .vocab import Vocab

COMMANDS = ("pause", "resume", "stop", "save", "eval", "snapshot")
STEP_INTERVAL = 0.05  # at most ~20 Step events a second cross the pipe
PROGRESS_INTERVAL = 0.1


TRAINING_NICENESS = 10  # the training process's priority: below the UI's, so a key press never waits


def default_threads() -> int:
    """All CPUs this process may use. The training process runs at a lower priority (TRAINING_NICENESS),
    so it has every core while the UI is idle, and the UI, at normal priority, gets one the moment
    it needs it: on 2 cores, keeping one back for the UI trained at 0.71x `tui-gen train`'s speed."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 2
    return max(1, n)


@dataclass
class WorkerSpec:
    """What to train. Plain values only: it is pickled into the child.

    It becomes a tui_gen.runsetup.RunRequest (run_request), the same set-up `tui-gen train` uses:
    `overrides` are its settings (TrainConfig field names; None is a real value, so {"max_minutes": None}
    removes the time budget), `steps` / `minutes` mean what the CLI's --steps / --minutes mean.
    """

    corpus: str | None = None  # built-in name or a path; None: the default (or the checkpoint's own)
    resume: str | None = None  # a checkpoint file or run folder to continue from
    preset: str = "default"
    overrides: dict = field(default_factory=dict)
    steps: int | None = None
    minutes: float | None = None
    run_dir: str | None = None  # None: <models_dir>/<corpus>-<time>, or the checkpoint's folder
    models_dir: str = "models"
    log_path: str | None = None  # None: <models_dir>/worker.log
    threads: int | None = None  # torch CPU threads; None: default_threads()
    data_dir: str | None = None  # where built-in corpora are cached; None: datasets.default_data_dir()


# ---- events this module adds to tui_gen.events --------------------------------------------------

@dataclass
class Snapshot:
    """The model's weights right now, for the UI to generate from (see model_from_snapshot).

    blob: a safetensors file's bytes in the checkpoint format (weights as "model.*", the tui-gen
    metadata in its header), without optimizer state. meta: that metadata (vocab, model_config,
    framing, end_marker, step, val_bpc, best_val_bpc, corpus) plus stop_strings.
    """

    step: int
    blob: bytes
    meta: dict


@dataclass
class Progress:
    """Work before training starts: loading a checkpoint or a corpus, a download (done/total in bytes)."""

    message: str
    done: int = 0
    total: int | None = None


@dataclass
class Failed:
    """The child gave up: a TuiGenError's message, or a one-line summary of a crash (traceback in the log).

    kind: the TuiGenError's kind ("download", "config", "corpus", ...), or "crash" for a bug; reason:
    its short why, if it has one. What happened is read from these, never from the message."""

    message: str
    log_path: str | None = None
    kind: str = "crash"
    reason: str | None = None


@dataclass
class Paused:
    step: int


@dataclass
class Resumed:
    step: int


@dataclass
class Exited:
    """Added by the parent when the child's channel closes: always the last event."""

    exitcode: int | None
    reason: str | None  # None for a clean exit; else what death_reason() says


WorkerEvent = ev.Event | Snapshot | Progress | Failed | Paused | Resumed | Exited


# ---- snapshots ------------------------------------------------------------------------------------

def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def make_snapshot(trainer: "Trainer") -> Snapshot:
    """Serialize the trainer's current weights (call between the trainer's events)."""
    from safetensors.torch import save as st_save

    from .checkpoint import FORMAT_VERSION

    tensors = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in trainer.model.state_dict().items()}
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "snapshot",
        "corpus": trainer.corpus_ref,
        "framing": trainer.framing,
        "end_marker": trainer.end_marker,
        "vocab": trainer.vocab.to_json(),
        "model_config": trainer.model_config.to_json(),
        "step": trainer.step,
        "val_bpc": _finite(trainer.last_bpc),
        "best_val_bpc": _finite(trainer.best_bpc),
    }
    blob = st_save(tensors, metadata={"tui_gen": json.dumps(meta, allow_nan=False)})
    return Snapshot(trainer.step, blob, {**meta, "stop_strings": list(trainer.stop_strings)})


def model_from_snapshot(snapshot: Snapshot, device: str = "cpu") -> tuple["CharRNN", "Vocab", str, tuple[str, ...]]:
    """(model in eval mode, vocabulary, framing, stop strings) from a Snapshot.

    The blob is checked exactly as a checkpoint file is (header, dtypes, shapes, finite weights):
    it goes through checkpoint.load_checkpoint via a private temporary file.
    """
    from .checkpoint import SUFFIX, load_checkpoint
    from .errors import CheckpointError

    if not isinstance(snapshot.blob, (bytes, bytearray)):
        raise CheckpointError("the training snapshot holds no weights")
    with tempfile.TemporaryDirectory(prefix="tui-gen-snapshot-") as tmp:
        path = Path(tmp) / ("snapshot" + SUFFIX)
        path.write_bytes(snapshot.blob)
        try:
            ck = load_checkpoint(path, device=device)
        except CheckpointError as e:
            raise CheckpointError(str(e).replace(str(path), f"the training snapshot of step {snapshot.step}")) from None
    return ck.model, ck.vocab, ck.framing, ck.stop_strings


# ---- the UI side ------------------------------------------------------------------------------------

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
def _real_stdio():
    """Inside a Textual app, sys.stdout/stderr are capture objects, whose fileno() is -1;
    multiprocessing's resource tracker passes sys.stderr.fileno() to the process it spawns and fails
    ("bad value(s) in fds_to_keep"). Lend it /dev/null for the moment a process is started: the
    terminal is Textual's, and the training process writes to its log anyway."""
    if _fileno_ok(sys.stderr) and _fileno_ok(sys.stdout):
        yield
        return
    saved = sys.stdout, sys.stderr
    with open(os.devnull, "w") as null:
        sys.stdout = sys.stderr = null
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved


def _fileno_ok(stream) -> bool:
    try:
        return stream is not None and stream.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


class TrainingWorker:
    """One training process, driven from the UI. Thread-safe: one thread may sit in get() while
    another calls send(), alive, death_reason() or shutdown()."""

    def __init__(self) -> None:
        self.spec: WorkerSpec | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._events: queue.Queue = queue.Queue()
        self._commands: mp_connection.Connection | None = None
        self._reader: threading.Thread | None = None
        self._reader_done = threading.Event()
        self._plock = threading.Lock()  # the Process object is not thread-safe
        self._slock = threading.Lock()  # nor is a Connection
        self._atexit = None

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self, spec: WorkerSpec) -> None:
        if self._process is not None:
            raise RuntimeError("this TrainingWorker has already been started: use a new one for another run")
        log = spec.log_path or str(Path(spec.models_dir) / "worker.log")
        spec = replace(spec, log_path=str(Path(log).resolve()), threads=spec.threads or default_threads(),
                       overrides=dict(spec.overrides))
        self.spec = spec
        ctx = multiprocessing.get_context("spawn")
        events_r, events_w = ctx.Pipe(duplex=False)
        commands_r, commands_w = ctx.Pipe(duplex=False)
        # daemon: multiprocessing's own exit handler terminates it if everything else fails
        process = ctx.Process(target=_child_main, args=(spec, events_w, commands_r),
                              name="tui-gen-training", daemon=True)
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
        self._reader = threading.Thread(target=self._read, args=(events_r, process.sentinel),
                                        name="tui-gen-training-events", daemon=True)
        self._reader.start()
        ref = weakref.ref(self)

        def at_exit() -> None:
            w = ref()
            if w is not None:
                w.shutdown(timeout=2.0)
        self._atexit = at_exit
        atexit.register(at_exit)

    def _read(self, conn: mp_connection.Connection, sentinel: int) -> None:
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
            if mp_connection.wait([sentinel], timeout=30):
                with self._plock:  # the sentinel fires a moment before the exit status can be reaped
                    self._process.join(timeout=5.0)
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
            self.send("stop")
            mp_connection.wait([process.sentinel], timeout=max(0.0, timeout))
        for escalate in (process.terminate, process.kill):
            if not self.alive:
                break
            with self._plock:
                try:
                    escalate()
                except (OSError, ValueError):
                    pass
            mp_connection.wait([process.sentinel], timeout=1.0)
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
    def send(self, command: str) -> bool:
        """One of COMMANDS. Returns False when the child is not there to hear it."""
        if command not in COMMANDS:
            raise ValueError(f"unknown worker command {command!r}; one of {', '.join(COMMANDS)}")
        with self._slock:
            if self._commands is None:
                return False
            try:
                self._commands.send(command)
                return True
            except (OSError, ValueError):
                return False

    def get(self, timeout: float | None = None) -> list:
        """Wait up to timeout (None: for ever) for an event, then return it with all others waiting.

        An empty list means nothing arrived in time. After the Exited event nothing more comes, and
        get returns [] at once."""
        if self._process is None:
            return []
        out = []
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


# ---- the child side ---------------------------------------------------------------------------------

class _Cancelled(Exception):
    """Stop asked for before training started."""


class _Channel:
    """The child's two pipe ends. If the parent goes away, commands read as "stop" and events are
    dropped, so training still ends the clean way (saving `last`)."""

    def __init__(self, events: mp_connection.Connection, commands: mp_connection.Connection):
        self.events = events
        self.commands = commands
        self.gone = False

    def send(self, obj) -> None:
        if self.gone:
            return
        try:
            self.events.send(obj)
        except (OSError, EOFError):
            self.gone = True

    def poll(self) -> list[str]:
        """Commands waiting now, without blocking."""
        out: list[str] = []
        while not self.gone and self.commands.poll(0):
            out.append(self._recv())
        return out

    def wait(self) -> str:
        if self.gone:
            return "stop"
        return self._recv()

    def _recv(self) -> str:
        try:
            return str(self.commands.recv())
        except (EOFError, OSError):
            self.gone = True
            return "stop"


class _LogStream(io.TextIOWrapper):
    """sys.stdout / sys.stderr of the training process: the log. A full disk (the log usually shares
    it with the run folder) must not end training: what cannot be written is dropped, and the
    events still reach the UI."""

    def write(self, s: str) -> int:
        try:
            return super().write(s)
        except OSError:
            return len(s)

    def flush(self) -> None:
        try:
            super().flush()
        except OSError:
            pass


def _log_stream(fd: int) -> _LogStream:
    return _LogStream(io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding="utf-8",
                      errors="backslashreplace", line_buffering=True)


def _redirect_output(log_path: str) -> str | None:
    """Point fds 1 and 2 at the log (dup2, so C code's output goes there too). Returns an error
    message if the log cannot be opened; the output then goes to /dev/null, never the terminal."""
    error = None
    try:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as e:
        error = f"cannot write the training log {log_path}: {e.strerror or e}"
        fd = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = _log_stream(1)
    sys.stderr = _log_stream(2)
    return error


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


class _Terminated(BaseException):
    """SIGTERM (TrainingWorker.shutdown's terminate()), raised in the child's main thread so that every
    `finally` runs: a download's .part file and a save's temp file are removed, not left behind."""


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
    raise _Terminated


def _child_main(spec: WorkerSpec, events: mp_connection.Connection, commands: mp_connection.Connection) -> None:
    log_error = _redirect_output(spec.log_path or os.devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole process group; the UI decides
    if hasattr(signal, "SIGHUP"):  # so does a closed terminal's hangup: the UI then asks this process to save
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        os.nice(TRAINING_NICENESS)  # below the UI: see default_threads
    except (AttributeError, OSError):  # not POSIX, or not allowed: train at the same priority
        pass
    signal.signal(signal.SIGTERM, _on_sigterm)
    import faulthandler

    faulthandler.enable(file=sys.stderr, all_threads=True)  # a segfault in native code leaves a trace
    if hasattr(faulthandler, "register") and hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)  # kill -USR1: dump stacks
    chan = _Channel(events, commands)
    _log(f"--- tui-gen training worker, pid {os.getpid()}, {time.strftime('%Y-%m-%d')} ---")
    code = 0
    terminated = False
    try:
        if log_error:
            raise TuiGenError(log_error)
        _run(spec, chan)
    except _Terminated:
        terminated = True
        _log("terminated (SIGTERM)")
    except TuiGenError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        chan.send(Failed(str(e), spec.log_path, e.kind, e.reason))
        code = 1
    except Exception as e:  # noqa: BLE001 - a bug: one line to the UI, everything to the log
        traceback.print_exc(file=sys.stderr)
        summary = " ".join(str(e).split())[:200]
        chan.send(Failed(f"training crashed: {type(e).__name__}" + (f": {summary}" if summary else "")
                         + (f" (details in {spec.log_path})" if spec.log_path else ""), spec.log_path))
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    if terminated:  # cleaned up: now die by the signal, as before, so the app says "killed by signal 15"
        os.kill(os.getpid(), signal.SIGTERM)
    if code:
        sys.exit(code)


def run_request(spec: WorkerSpec) -> "RunRequest":
    """The spec as the shared run set-up's request (tui_gen.runsetup, which the CLI uses too)."""
    from .runsetup import RunRequest

    return RunRequest(corpus=spec.corpus, resume=spec.resume, preset=spec.preset, settings=dict(spec.overrides),
                      steps=spec.steps, minutes=spec.minutes, out=spec.run_dir, models_dir=spec.models_dir,
                      data_dir=spec.data_dir)


def _run(spec: WorkerSpec, chan: _Channel) -> None:
    import torch

    threads = spec.threads or default_threads()
    torch.set_num_threads(threads)
    from .runsetup import prepare_run

    early: list[str] = []  # commands that arrive before training starts, replayed once it has

    def check_cancel() -> None:
        early.extend(chan.poll())
        if "stop" in early:
            raise _Cancelled

    last_progress = [0.0]

    def progress(message: str, done: int = 0, total: int | None = None, force: bool = True) -> None:
        check_cancel()
        now = time.monotonic()
        if force or now - last_progress[0] >= PROGRESS_INTERVAL or (total and done >= total):
            last_progress[0] = now
            chan.send(Progress(message, done, total))

    name = spec.corpus or "the default corpus"
    try:
        trainer = prepare_run(
            run_request(spec), progress=progress,
            download_progress=lambda done, total: progress(f"downloading {name}", done, total, force=False),
        ).trainer
        check_cancel()
    except _Cancelled:
        _log("stopped before training started")
        chan.send(ev.Finished(0, "stopped", "stopped before training started", None, None, None))
        return
    _drive(trainer, chan, early)


def _drive(trainer: "Trainer", chan: _Channel, early_commands: list[str]) -> None:
    inbox = deque(early_commands)
    last_sent = 0.0
    held: ev.Step | None = None  # the latest Step not sent yet
    finished = False

    def take(block: bool) -> str | None:
        if not inbox:
            if block:
                return chan.wait()
            inbox.extend(chan.poll())
        return inbox.popleft() if inbox else None

    def flush() -> None:
        nonlocal held
        if held is not None:
            chan.send(held)
            held = None

    def snapshot() -> None:
        flush()
        chan.send(make_snapshot(trainer))

    def pause() -> None:
        flush()
        chan.send(Paused(trainer.step))
        _log(f"paused at step {trainer.step}")
        while True:
            command = take(block=True)
            if command == "resume":
                chan.send(Resumed(trainer.step))
                _log(f"resumed at step {trainer.step}")
                return
            if command == "stop":  # ends the clean way: the trainer evaluates and saves `last`
                trainer.request_stop()
                return
            if command == "save":  # at once: the user is looking at a paused run
                for e in trainer._save("last"):
                    _note(e)
                    chan.send(e)
            elif command == "eval":
                trainer.request_eval()  # at the next step boundary, once resumed
            elif command == "snapshot":
                snapshot()

    for event in trainer.run():
        if isinstance(event, ev.Step):
            now = time.monotonic()
            if now - last_sent >= STEP_INTERVAL:
                held = None
                chan.send(event)
                last_sent = now
            else:
                held = event
        else:
            flush()
            _note(event)
            chan.send(event)
            if isinstance(event, ev.Eval):
                chan.send(make_snapshot(trainer))
            finished = finished or isinstance(event, ev.Finished)
        while not finished and (command := take(block=False)) is not None:
            if command == "pause":
                pause()
            elif command == "stop":
                trainer.request_stop()
            elif command == "save":
                trainer.request_save()
            elif command == "eval":
                trainer.request_eval()
            elif command == "snapshot":
                snapshot()
            # "resume" while running: nothing to do
    flush()
    if not finished:  # the trainer had nothing to do; the stream still ends with Finished
        chan.send(ev.Finished(trainer.step, "completed", f"nothing to train at step {trainer.step}",
                              trainer.best_bpc, None, None))


def _note(event) -> None:
    """One line in the log for each event that matters."""
    if isinstance(event, ev.Started):
        _log(f"started: {event.corpus} ({event.framing}), {event.parameters:,} parameters on {event.device}, "
             f"run folder {event.run_dir}" + (f", resuming at step {event.step}" if event.step else ""))
        for w in event.warnings:
            _log(f"warning: {w}")
    elif isinstance(event, ev.Eval):
        _log(f"step {event.step}: validation {event.val_bpc:.4f} bits/char" + (" (best)" if event.is_best else ""))
    elif isinstance(event, ev.Saved):
        _log(f"step {event.step}: saved {event.kind} to {event.path}")
    elif isinstance(event, ev.Warning):
        _log(f"warning: {event.message}")
    elif isinstance(event, ev.Finished):
        _log(f"finished ({event.reason}): {event.message}")
