"""What the app knows about the training run, folded from events. Pure: no Textual, no torch.

`TrainingState.apply(event)` takes any event the training process sends (tui_gen.core.events: the trainer's,
and Snapshot, Progress, Failed, Paused, Resumed, Exited) and updates plain fields; the training panel
renders those fields. Times come from the events (Step.elapsed), never from a clock, so the same
events always give the same screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from tui_gen.core import events as ev
from tui_gen.core.budget import Budget


class Status(StrEnum):
    """The run's state, as shown in the training panel (the value is the word shown)."""

    IDLE = "idle"  # no training process (a checkpoint is loaded, or nothing was started)
    STARTING = "starting"  # the process is loading data / building the model
    RUNNING = "running"
    PAUSING = "pausing"  # asked to pause, waiting for the training process to say so
    PAUSED = "paused"
    STOPPING = "stopping"  # asked to stop (quitting, or switching runs): it evaluates and saves first
    FINISHED = "finished"
    FAILED = "failed"


ACTIVE = (Status.STARTING, Status.RUNNING, Status.PAUSING, Status.PAUSED, Status.STOPPING)
MAX_WARNINGS = 50  # the newest warnings kept (warning_count counts them all)


@dataclass
class TrainingState:
    status: Status = Status.IDLE
    device: str | None = None
    corpus: str | None = None
    framing: str | None = None
    framing_reason: str = ""  # why this framing ("19,469 independent short lines"), from the Started event
    parameters: int | None = None
    model: str = ""  # "GRU 128,256"
    vocab_size: int | None = None
    run_dir: str | None = None
    step: int = 0
    start_step: int = 0  # where this process started (non-zero when resuming)
    start_elapsed: float = 0.0  # and its training time then: budgets set while training count from here
    max_steps: int | None = None  # the run's step budget (absolute), if it has one
    max_seconds: float | None = None  # or its time budget (absolute: a resumed run's includes its past)
    epoch: int = 0
    steps_per_epoch: int | None = None
    chars_per_sec: float | None = None
    elapsed: float | None = None
    progress: float | None = None  # 0..1 of the step or time budget
    lr: float | None = None
    train_bpc: float | None = None
    grad_norm: float | None = None  # the gradient's norm before clipping, at the newest step
    grad_clip: float | None = None  # the clipping threshold
    clipped_sum: float = 0.0  # clipped shares summed over this process's step events
    grad_steps: int = 0  # the step events that said them
    seq_len: int | None = None  # the window trained on (truncated back-propagation through time)
    val_bpc: float | None = None
    val_step: int | None = None
    best_bpc: float | None = None
    best_step: int | None = None
    saved_step: int | None = None  # step of the newest checkpoint on disk (best or last)
    last_path: str | None = None
    best_path: str | None = None
    message: str | None = None  # what it is doing now, or how it ended
    download: tuple[int, int | None] | None = None  # bytes done / total while fetching a corpus
    error: str | None = None  # why it failed or died
    error_kind: str | None = None  # what kind of failure (events.Failed.kind): "download", "config", "crash", ...
    error_reason: str | None = None  # its short why, if it has one
    exit_reason: str | None = None  # death_reason(): signal / exit code
    log_path: str | None = None
    warnings: list[str] = field(default_factory=list)  # the newest MAX_WARNINGS
    warning_count: int = 0  # all of this process's warnings
    started: bool = False  # a Started event arrived from this process
    budget: str | None = None  # the budget set while training (BudgetChanged), as the user gave it
    finish_reason: ev.FinishReason | None = None  # why this process's run ended (its Finished)
    watching: str | None = None  # the run folder the app watches (trained by another process), if any

    # ---- derived -------------------------------------------------------------------------------
    @property
    def eta(self) -> float | None:
        """Seconds of training left, from the budget and the elapsed time the events report."""
        p, t = self.progress, self.elapsed
        if p is None or t is None or p <= 0 or not math.isfinite(t):
            return None
        if p >= 1:
            return 0.0
        return t * (1 - p) / p

    @property
    def clipped_share(self) -> float | None:
        """The share of steps whose gradient was clipped, since this process started (each event
        weighs the same: a coalesced one's `clipped` is already its steps' share)."""
        return self.clipped_sum / self.grad_steps if self.grad_steps else None

    @property
    def unsaved_steps(self) -> int:
        """Steps trained since the newest checkpoint on disk (0 before training starts)."""
        if not self.started:
            return 0
        base = self.saved_step if self.saved_step is not None else self.start_step
        return max(0, self.step - base)

    @property
    def budget_from_start(self) -> Budget | None:
        """The run's budget counted from where this process started, as the budget dialog asks for it."""
        if self.max_steps:
            return Budget(steps=max(1, self.max_steps - self.start_step))
        if self.max_seconds:
            return Budget(minutes=max(0.1, round((self.max_seconds - self.start_elapsed) / 60, 1)))
        return None

    @property
    def resume_path(self) -> str | None:
        """The checkpoint a restart continues from: the newest of last and best."""
        return self.last_path or self.best_path

    # ---- folding events --------------------------------------------------------------------------
    def reset_for_new_process(self, log_path: str | None) -> None:
        """A new training process is starting: keep what is on disk, forget the old process."""
        self.status = Status.STARTING
        self.message = "starting the training process"
        self.error = self.exit_reason = self.error_kind = self.error_reason = None
        self.download = None
        self.started = False
        self.budget = None
        self.finish_reason = None
        self.warnings = []
        self.warning_count = 0
        self.log_path = log_path

    def apply(self, e: object) -> None:
        """Fold one event in: any the training process or a watcher sends (tui_gen.core.events). Samples,
        Snapshot and WatchNotice change nothing shown here, and neither does anything else."""
        match e:
            case ev.Step():
                self.step, self.epoch = e.step, e.epoch
                self.train_bpc, self.lr = e.train_bpc, e.lr
                if e.grad_norm is not None and e.clipped is not None:
                    self.grad_norm = e.grad_norm
                    self.clipped_sum += e.clipped
                    self.grad_steps += 1
                self.chars_per_sec, self.elapsed, self.progress = e.chars_per_sec, e.elapsed, e.progress
                if self.status == Status.STARTING:
                    self.status = Status.RUNNING
            case ev.Eval():
                self.step = max(self.step, e.step)
                self.val_bpc, self.val_step = e.val_bpc, e.step
                self.best_bpc = e.best_bpc
                if e.is_best:
                    self.best_step = e.step
            case ev.Saved():
                self.saved_step = e.step
                if e.kind == "best":
                    self.best_path = e.path
                else:
                    self.last_path = e.path
            case ev.Started():
                self._started(e)
            case ev.Progress():
                self.message = e.message
                self.download = (e.done, e.total) if e.total or e.done else None
            case ev.RunWarning():
                self._warn([e.message])
            case ev.BudgetChanged():
                self.max_steps, self.max_seconds = e.max_steps, e.max_seconds
                self.progress, self.budget = e.progress, e.budget
                self.step = max(self.step, e.step)
            case ev.Paused():
                self.status = Status.PAUSED
                self.step = max(self.step, e.step)
            case ev.Resumed():
                self.status = Status.RUNNING
            case ev.Finished():
                self._finished(e)
            case ev.Failed():
                self.status = Status.FAILED
                self.error = e.message
                self.error_kind, self.error_reason = e.kind, e.reason
                self.log_path = e.log_path or self.log_path
            case ev.Exited():
                self.exit_reason = e.reason
                if self.status in ACTIVE:  # it went without saying why: it died
                    self.status = Status.FAILED
                    self.error = e.reason or "the training process ended without a word"

    def _started(self, e: ev.Started) -> None:
        """The process has built its run: everything about the model and the budget starts here."""
        self.started = True
        self.status = Status.RUNNING
        self.message = None
        self.download = None
        self.device, self.corpus, self.framing = e.device, e.corpus, e.framing
        self.framing_reason = e.framing_reason
        self.parameters, self.vocab_size = e.parameters, e.vocab_size
        self.model = e.model
        self.run_dir = e.run_dir
        self.step = self.start_step = e.step
        self.start_elapsed = e.elapsed
        self.max_steps, self.max_seconds = e.max_steps, e.max_seconds
        self.steps_per_epoch = e.steps_per_epoch
        self.grad_clip, self.seq_len = e.grad_clip, e.seq_len
        self.grad_norm, self.clipped_sum, self.grad_steps = None, 0.0, 0
        if e.step:  # resuming: what is on disk is where we are
            self.saved_step = e.step
        self._warn(e.warnings)

    def _finished(self, e: ev.Finished) -> None:
        """The run ended and said why: a failure only if it diverged or could not save its end."""
        self.step = max(self.step, e.step)
        self.last_path = e.last_path or self.last_path
        self.best_path = e.best_path or self.best_path
        if e.best_bpc is not None:
            self.best_bpc = e.best_bpc
        self.message = e.message
        self.finish_reason = ev.FinishReason(e.reason)
        if self.finish_reason.is_failure:
            self.status, self.error = Status.FAILED, e.message
        else:  # completed, stopped, or stopped and saved on SIGTERM: not a crash
            self.status = Status.FINISHED

    def _warn(self, messages: list[str]) -> None:
        self.warnings.extend(messages)
        self.warning_count += len(messages)
        del self.warnings[:-MAX_WARNINGS]


# ---- formatting, shared by the panels ---------------------------------------------------------------


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = int(round(max(0.0, seconds)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_bpc(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.3f}"


def fmt_count(n: float | None) -> str:
    return "–" if n is None or not math.isfinite(n) else f"{n:,.0f}"


def fmt_lr(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.2e}"
