"""The training process itself: what runs in the child that tui_gen.process.parent.TrainingProcess starts.

It points its stdout and stderr (file descriptors 1 and 2, so C libraries too) at a log file, never at
the terminal the UI draws on; builds the run with the shared set-up (tui_gen.training.setup); and drives the
trainer, answering the parent's commands (tui_gen.core.commands) between its events. It sends the trainer's
events plus its own (Snapshot, Progress, Failed, Paused, Resumed) over a pipe; Step events are
coalesced to at most about 20 a second (the latest is always sent), nothing else is dropped.

Signals: Ctrl+C and a closed terminal's hangup reach the whole process group and are ignored here (the
UI decides). SIGTERM (systemd's KillMode=control-group, `docker stop`, a process group's kill) finishes
the step, saves `last`, sends Finished(reason=terminated) and exits cleanly; before training has
started it ends the set-up at once (a download's partial file is removed) and dies by the signal. A
second SIGTERM ends the process at once.

torch is only imported inside the child (in _run), so the parent can import this module for its
entry point without paying for torch.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from multiprocessing import connection as mp_connection
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, assert_never

from tui_gen.core import events as ev
from tui_gen.core import gate
from tui_gen.core.budget import Budget
from tui_gen.core.commands import Command, ProcessCommand, SetBudget, as_command
from tui_gen.core.errors import TuiGenError
from tui_gen.core.events import FinishReason
from tui_gen.training.snapshot import make_snapshot

if TYPE_CHECKING:
    from tui_gen.process.spec import TrainingSpec
    from tui_gen.training.trainer import Trainer

STEP_INTERVAL = 0.05  # at most ~20 Step events a second cross the pipe
PROGRESS_INTERVAL = 0.1
WAIT_POLL_SECONDS = 0.2  # while paused: how often a blocked wait for a command looks for SIGTERM

# The training process's priority: the UI's own. At nice 10 it got a twentieth of a core beside any other
# busy process (bench/priority.py: 0.05x `tui-gen train`'s speed; 0.64x at nice 0), while the UI's keys
# answer within 25 ms (p95) either way, its own work being light.
TRAINING_NICENESS = 0
NICENESS_ENV = "TUI_GEN_TRAINING_NICE"  # 0..19: a lower priority, for a machine where the UI must come first


def training_niceness(environ: Mapping[str, str] | None = None) -> int:
    """TRAINING_NICENESS, or NICENESS_ENV when it holds a whole number from 0 to 19."""
    value = (os.environ if environ is None else environ).get(NICENESS_ENV, "")
    try:  # through the gate: '²'.isdigit() is true, and int('²') would end the process
        return gate.parse_int(value, 0, 19, NICENESS_ENV)
    except gate.OutsideValueError:
        return TRAINING_NICENESS


def default_threads() -> int:
    """All CPUs this process may use: the UI's work is light, and the scheduler gives its thread a core
    the moment it wakes (keys p95 under 25 ms, bench/priority.py); on 2 cores, keeping one back for the
    UI trained at 0.71x `tui-gen train`'s speed."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 2
    return max(1, n)


# ---- the channel to the parent -------------------------------------------------------------------


class _Cancelled(Exception):
    """Stop asked for before training started."""


class _Channel:
    """The child's two pipe ends. If the parent goes away, commands read as "stop" and events are
    dropped, so training still ends the clean way (saving `last`)."""

    def __init__(self, events: mp_connection.Connection, commands: mp_connection.Connection):
        self.events = events
        self.commands = commands
        self.gone = False

    def send(self, obj: ev.ProcessEvent) -> None:
        if self.gone:
            return
        try:
            self.events.send(obj)
        except (OSError, EOFError):
            self.gone = True

    def poll(self) -> list[ProcessCommand]:
        """Commands waiting now, without blocking."""
        out: list[ProcessCommand] = []
        while not self.gone and self.commands.poll(0):
            command = self._recv()
            if command is not None:
                out.append(command)
        return out

    def wait(self, interrupted: Callable[[], bool] = lambda: False) -> ProcessCommand:
        """The next command; STOP once interrupted() says so (checked a few times a second, since a
        signal handler cannot wake a blocked read)."""
        while not self.gone:
            if interrupted():
                return Command.STOP
            if self.commands.poll(WAIT_POLL_SECONDS):
                command = self._recv()
                if command is not None:
                    return command
        return Command.STOP

    def _recv(self) -> ProcessCommand | None:
        try:
            obj = self.commands.recv()
        except (EOFError, OSError):
            self.gone = True
            return Command.STOP
        except Exception:  # noqa: BLE001 - a command that does not unpickle: skip it, as the parent skips events
            return None
        try:
            return as_command(obj)
        except ValueError:
            _log(f"ignored an unknown command: {str(obj)[:60]!r}")
            return None


# ---- output: the log ------------------------------------------------------------------------------


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
    return _LogStream(
        io.BufferedWriter(io.FileIO(fd, "w", closefd=False)),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )


def _redirect_output(log_path: str) -> str | None:
    """Point fds 1 and 2 at the log (dup2, so C code's output goes there too). Returns an error
    message if the log cannot be opened; the output then goes to /dev/null, never the terminal."""
    error = None
    try:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        # O_NONBLOCK: a FIFO at that name with nobody reading it is an error (ENXIO), not a wait for ever
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_NOCTTY
        fd = os.open(log_path, flags, 0o644)  # file-access: the app's own log, in its models folder
        os.set_blocking(fd, True)
    except OSError as e:
        error = f"cannot write the training log {log_path}: {e.strerror or e}"
        fd = os.open(os.devnull, os.O_WRONLY)  # file-access: os.devnull
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


# ---- signals ----------------------------------------------------------------------------------------


class _Terminated(BaseException):
    """SIGTERM before training has started, raised in the child's main thread so that every `finally`
    runs: a download's .part file and a save's temp file are removed, not left behind."""


class _Sigterm:
    """SIGTERM to the training process. Before training starts it raises _Terminated (nothing to save,
    and a stalled download must not hold the process). Once the trainer runs, it asks the trainer to
    stop, which finishes the step and saves `last` the clean way, and the run ends as TERMINATED.
    The same signal again ends the process at once."""

    def __init__(self) -> None:
        self.trainer: Trainer | None = None
        self.received = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        self.received = True
        if self.trainer is None:
            raise _Terminated
        self.trainer.request_stop(FinishReason.TERMINATED)  # just a flag: safe at any instant


# ---- the process ------------------------------------------------------------------------------------


def child_main(spec: TrainingSpec, events: mp_connection.Connection, commands: mp_connection.Connection) -> None:
    """The training process's entry point (TrainingProcess.start spawns it)."""
    log_error = _redirect_output(spec.log_path or os.devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole process group; the UI decides
    if hasattr(signal, "SIGHUP"):  # so does a closed terminal's hangup: the UI then asks this process to save
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        os.nice(training_niceness())  # TRAINING_NICENESS, or the one the environment asks for
    except (AttributeError, OSError):  # not POSIX, or not allowed: train at the same priority
        pass
    sigterm = _Sigterm()
    sigterm.install()
    import faulthandler

    faulthandler.enable(file=sys.stderr, all_threads=True)  # a segfault in native code leaves a trace
    if hasattr(faulthandler, "register") and hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)  # kill -USR1: dump stacks
    chan = _Channel(events, commands)
    _log(f"--- tui-gen training process, pid {os.getpid()}, {time.strftime('%Y-%m-%d')} ---")
    code = 0
    terminated = False
    try:
        if log_error:
            raise TuiGenError(log_error)
        _run(spec, chan, sigterm)
    except _Terminated:
        terminated = True
        _log("terminated (SIGTERM) before training started")
    except TuiGenError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        chan.send(ev.Failed(str(e), spec.log_path, e.kind, e.reason))
        code = 1
    except Exception as e:  # noqa: BLE001 - a bug: one line to the UI, everything to the log
        traceback.print_exc(file=sys.stderr)
        summary = " ".join(str(e).split())[:200]
        chan.send(
            ev.Failed(
                f"training crashed: {type(e).__name__}"
                + (f": {summary}" if summary else "")
                + (f" (details in {spec.log_path})" if spec.log_path else ""),
                spec.log_path,
            )
        )
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    if terminated:  # cleaned up, nothing to save: now die by the signal, so the app says "killed by signal 15"
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    if code:
        sys.exit(code)


def _run(spec: TrainingSpec, chan: _Channel, sigterm: _Sigterm) -> None:
    import torch

    threads = spec.threads or default_threads()
    torch.set_num_threads(threads)
    from tui_gen.training.setup import prepare_run

    early: list[ProcessCommand] = []  # commands that arrive before training starts, replayed once it has

    def check_cancel() -> None:
        early.extend(chan.poll())
        if Command.STOP in early:
            raise _Cancelled

    last_progress = [0.0]

    def progress(message: str, done: int = 0, total: int | None = None, force: bool = True) -> None:
        check_cancel()
        now = time.monotonic()
        if force or now - last_progress[0] >= PROGRESS_INTERVAL or (total and done >= total):
            last_progress[0] = now
            chan.send(ev.Progress(message, done, total))

    name = spec.corpus or "the default corpus"
    try:
        trainer = prepare_run(
            spec.run_request(),
            progress=progress,
            download_progress=lambda done, total: progress(f"downloading {name}", done, total, force=False),
        ).trainer
        check_cancel()
    except _Cancelled:
        _log("stopped before training started")
        chan.send(ev.Finished(0, FinishReason.STOPPED, "stopped before training started", None, None, None))
        return
    sigterm.trainer = trainer  # from now on SIGTERM finishes the step, saves and stops
    _Driver(trainer, chan, early, lambda: sigterm.received).run()


class _Driver:
    """Runs the trainer in the training process: forwards its events to the parent and acts on the
    parent's commands between them. A command means the same whether the run is training or paused,
    so one handler (handle) serves both; pause() is that handler's loop while paused."""

    def __init__(
        self, trainer: Trainer, chan: _Channel, early_commands: list[ProcessCommand], terminated: Callable[[], bool]
    ) -> None:
        """terminated(): whether SIGTERM has arrived (it has asked the trainer to stop already; a pause
        must end too)."""
        self.trainer = trainer
        self.chan = chan
        self.terminated = terminated
        self.inbox = deque(early_commands)  # commands read but not acted on yet, oldest first
        self.paused = False
        self.finished = False  # the trainer's Finished has been sent: nothing more is acted on
        self.held = ev.StepMeans()  # the Steps not sent yet
        self.last_sent = 0.0  # when a Step was last sent (time.monotonic())

    def run(self) -> None:
        for event in self.trainer.run():
            self.forward(event)
            while not self.finished and (command := self.next_waiting()) is not None:
                self.handle(command)
        self.flush()
        if not self.finished:  # the trainer had nothing to do; the stream still ends with Finished
            step = self.trainer.step
            self.chan.send(
                ev.Finished(
                    step, FinishReason.COMPLETED, f"nothing to train at step {step}", self.trainer.best_bpc, None, None
                )
            )

    # ---- events -----------------------------------------------------------------------------------
    def forward(self, event: ev.Event) -> None:
        """One of the trainer's events to the parent. Steps are coalesced (the newest is held, and sent
        before anything else goes); every other event goes at once."""
        match event:
            case ev.Step():
                self.held.add(event)
                now = time.monotonic()
                if now - self.last_sent >= STEP_INTERVAL:
                    self.flush()
                    self.last_sent = now
            case ev.Eval():
                self.send(event)
                self.chan.send(make_snapshot(self.trainer))  # the playground generates from each evaluation
            case ev.Finished():
                self.send(event)
                self.finished = True
            case _:
                self.send(event)

    def send(self, event: ev.Event) -> None:
        """An event other than a Step: after the held Step (so the order holds), and noted in the log."""
        self.flush()
        _note(event)
        self.chan.send(event)

    def flush(self) -> None:
        step = self.held.take()
        if step is not None:
            self.chan.send(step)

    # ---- commands ---------------------------------------------------------------------------------
    def next_waiting(self) -> ProcessCommand | None:
        """The next command if one is there (an early one first), without blocking."""
        if not self.inbox:
            self.inbox.extend(self.chan.poll())
        return self.inbox.popleft() if self.inbox else None

    def next_command(self) -> ProcessCommand:
        """The next command, waiting for it (STOP once SIGTERM has arrived or the parent is gone)."""
        return self.inbox.popleft() if self.inbox else self.chan.wait(self.terminated)

    def handle(self, command: ProcessCommand) -> None:
        """Act on one command, training or paused. While paused, the commands that end the pause (resume,
        stop, a budget already spent) clear self.paused; the others leave the run paused."""
        trainer = self.trainer
        match command:
            case Command.PAUSE:
                if not self.paused and not trainer.stop_requested:  # stopping (SIGTERM): no pause on the way out
                    self.pause()
            case Command.RESUME:  # while training: nothing to do
                if self.paused:
                    self.paused = False
                    self.chan.send(ev.Resumed(trainer.step))
                    _log(f"resumed at step {trainer.step}")
            case Command.STOP:  # ends the clean way: the trainer evaluates and saves `last`
                if not trainer.stop_requested:  # once SIGTERM has asked, its reason (terminated) stands
                    trainer.request_stop()
                self.paused = False
            case Command.SAVE:
                if self.paused:  # at once: the user is looking at a paused run
                    for event in trainer.save_now("last"):
                        self.send(event)
                else:
                    trainer.request_save()  # at the next step boundary
            case Command.EVAL:
                trainer.request_eval()  # at the next step boundary (once resumed, if paused)
            case Command.SNAPSHOT:
                self.flush()
                self.chan.send(make_snapshot(trainer))
            case SetBudget(budget=budget):
                self.set_budget(budget)
                if trainer.budget_spent:  # shortened below what is trained: finish now, not on resume
                    self.paused = False
            case _:
                assert_never(command)

    def pause(self) -> None:
        """Paused until a command ends it: commands are waited for (the trainer's loop is not running)."""
        self.flush()
        self.chan.send(ev.Paused(self.trainer.step))
        _log(f"paused at step {self.trainer.step}")
        self.paused = True
        while self.paused:
            self.handle(self.next_command())

    def set_budget(self, budget: Budget) -> None:
        event: ev.Event
        try:
            event = self.trainer.set_budget(budget)
        except TuiGenError as e:  # the app checks budgets first; a bad one is said, never fatal
            event = ev.RunWarning(self.trainer.step, f"the budget was not changed: {e}")
        self.send(event)


def _note(event: ev.Event) -> None:
    """One line in the log for each event that matters."""
    match event:
        case ev.Started():
            _log(
                f"started: {event.corpus} ({event.framing}), {event.parameters:,} parameters on {event.device}, "
                f"run folder {event.run_dir}" + (f", resuming at step {event.step}" if event.step else "")
            )
            for w in event.warnings:
                _log(f"warning: {w}")
        case ev.Eval():
            _log(f"step {event.step}: validation {event.val_bpc:.4f} bits/char" + (" (best)" if event.is_best else ""))
        case ev.Saved():
            _log(f"step {event.step}: saved {event.kind} to {event.path}")
        case ev.RunWarning():
            _log(f"warning: {event.message}")
        case ev.BudgetChanged():
            _log(f"step {event.step}: the budget is now {event.budget}")
        case ev.Finished():
            _log(f"finished ({event.reason}): {event.message}")
        case ev.Step() | ev.Samples():  # too many, or too long, for the log
            pass
