"""What a training run reports, as plain picklable values.

The trainer yields the first group (Event); the CLI prints them, and the app's training process forwards
them over a pipe together with the second group (ProcessEvent adds them), which only the training process
sends (tui_gen.process.parent and tui_gen.process.child).

The first group is also read back from metrics logs (tui_gen.runs.metrics_log), from outside: each field's
range is written once here, as gate.bounds metadata, and the reader checks every field against it. A
field without it gets gate.DEFAULT (numbers 0 to gate.MAX_COUNT, short lists, strings cut), so a new
field is never read unbounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tui_gen.core.config import LECTURE_SEEDS, MAX_LR, MAX_SAMPLE_TEMPERATURE
from tui_gen.core.gate import MAX_BPC, bounds

BPC = bounds(hi=MAX_BPC)  # bits per character
SHARE = bounds(hi=1.0)  # progress: 0..1 of the budget
# The trainer samples once from each of the lecture's seeds; a continuation is cut here (the samples
# panel shows 2,000 characters of one), so a hostile log's samples cost kilobytes, not gigabytes.
SAMPLES = bounds(items=len(LECTURE_SEEDS), chars=2048)


class FinishReason(StrEnum):
    """Why a run ended (Finished.reason). A StrEnum: it crosses the pipe and may be written as JSON."""

    COMPLETED = "completed"  # its budget is used up
    STOPPED = "stopped"  # asked to stop (a key, quitting, another run starting)
    TERMINATED = "terminated"  # SIGTERM to the training process (systemd, docker stop): saved, then ended
    DIVERGED = "diverged"  # the loss stopped being finite
    FAILED = "failed"  # its end could not be saved

    @property
    def is_failure(self) -> bool:
        return self in (FinishReason.DIVERGED, FinishReason.FAILED)


@dataclass
class Started:
    device: str
    framing: str
    corpus: str
    vocab_size: int
    parameters: int
    train_chars: int
    val_chars: int
    steps_per_epoch: int
    step: int  # non-zero when resuming
    max_steps: int | None
    max_seconds: float | None
    run_dir: str | None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth saying, not problems: settings changed on resume
    model: str = ""  # the model in words: "GRU 128,256", "LSTM 64 one-hot"
    elapsed: float = 0.0  # seconds trained before this run started (non-zero when resuming)
    framing_reason: str = ""  # why this framing: "given", "built-in corpus", what the guess saw in the text
    # Characters each evaluation during training scores: val_chars, or a fixed sample's (fewer) when the
    # held-out split is big. None: a log from before this was said, whose evaluations scored all val_chars.
    eval_chars: int | None = None
    # The clipping threshold (--clip) and the window trained on (--seq-len): truncated back-propagation
    # through time reaches seq_len characters back. None: a log from before they were said.
    grad_clip: float | None = None
    seq_len: int | None = None


@dataclass
class Step:
    step: int
    epoch: int
    train_bpc: float = field(metadata=BPC)  # bits per character on this batch
    lr: float = field(metadata=bounds(hi=MAX_LR))
    chars_per_sec: float
    elapsed: float  # seconds spent training, pauses excluded
    progress: float | None = field(metadata=SHARE)  # 0..1 of the run's step or time budget
    chars_seen: int = 0  # characters trained on so far, over the whole run (a resumed run's past too)
    # The gradient's global norm before clipping, and whether clipping scaled it down (0 or 1 for one
    # step; a log line's are means over its steps, so `clipped` is the share clipped). None: an old log.
    grad_norm: float | None = None
    clipped: float | None = field(default=None, metadata=SHARE)


class StepMeans:
    """Steps held back to be sent or written as one: the newest step, with train_bpc, grad_norm and
    clipped the means over all of them (so a coalesced line's `clipped` is the share of its steps that
    were clipped). The metrics log's step lines and the steps the app's training process forwards
    both coalesce this way."""

    MEANS = ("train_bpc", "grad_norm", "clipped")  # Step's fields that are averaged

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.newest: Step | None = None
        self.count = 0
        self._sums = dict.fromkeys(self.MEANS, 0.0)

    def add(self, step: Step) -> None:
        for name in self.MEANS:
            value = getattr(step, name)
            self._sums[name] += math.nan if value is None else value  # one without it: the mean is None
        self.newest, self.count = step, self.count + 1

    def take(self) -> Step | None:
        """The held steps as one (None if none are held), and nothing held after."""
        if self.newest is None:
            return None

        def mean(name: str) -> float | None:
            total = self._sums[name]
            return None if math.isnan(total) else total / self.count

        train_bpc = mean("train_bpc")
        step = replace(
            self.newest,
            train_bpc=self.newest.train_bpc if train_bpc is None else train_bpc,
            grad_norm=mean("grad_norm"),
            clipped=mean("clipped"),
        )
        self._clear()
        return step


@dataclass
class Eval:
    step: int
    val_bpc: float = field(metadata=BPC)
    best_bpc: float = field(metadata=BPC)
    is_best: bool
    seconds: float
    elapsed: float = 0.0  # the run's training time at this evaluation (Step.elapsed)
    chars_seen: int = 0  # and the characters it had trained on (Step.chars_seen)


@dataclass
class Samples:
    step: int
    temperature: float = field(metadata=bounds(hi=MAX_SAMPLE_TEMPERATURE))
    samples: list[tuple[str, str]] = field(metadata=SAMPLES)  # (seed, continuation)


@dataclass
class Saved:
    step: int
    kind: str  # "best" or "last"
    path: str


@dataclass
class RunWarning:
    """Something went wrong that the run survives (a skipped update, a log that cannot be written).

    Named RunWarning, not Warning, so that it never shadows the built-in exception class; a metrics log
    still calls it "warning" (tui_gen.runs.metrics_log.TYPE_OF names every event's line)."""

    step: int
    message: str


@dataclass
class Finished:
    step: int
    reason: FinishReason
    message: str
    best_bpc: float | None = field(metadata=BPC)
    last_path: str | None
    best_path: str | None


@dataclass
class BudgetChanged:
    """The run's budget was changed while it trains (Trainer.set_budget): the new one, absolute like
    Started's (a resumed run's includes its past), and where that leaves the run."""

    step: int
    max_steps: int | None
    max_seconds: float | None
    progress: float | None = field(metadata=SHARE)
    budget: str  # as the user gave it, counted from where this run started: "20 minutes", "2000 steps"


Event = Started | Step | Eval | Samples | Saved | RunWarning | BudgetChanged | Finished


# ---- sent only by the app's training process ----------------------------------------------------------


@dataclass
class Snapshot:
    """The model's weights right now, for the UI to generate from (tui_gen.training.snapshot.model_from_snapshot).

    blob: a safetensors file's bytes in the checkpoint format (weights as "model.*", the tui-gen
    metadata in its header), without optimizer state. meta: that metadata (vocab, model_config,
    framing, end_marker, step, val_bpc, best_val_bpc, corpus) plus stop_strings.
    """

    step: int
    blob: bytes
    meta: dict[str, Any]  # JSON values, read by key (model_from_snapshot)


@dataclass
class Progress:
    """Work before training starts: loading a checkpoint or a corpus, a download (done/total in bytes)."""

    message: str
    done: int = 0
    total: int | None = None


@dataclass
class Failed:
    """The training process gave up: a TuiGenError's message, or a one-line summary of a crash (traceback
    in the log).

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
    """Added by the parent (TrainingProcess) when the child's channel closes: always the last event."""

    exitcode: int | None
    reason: str | None  # None for a clean exit; else what TrainingProcess.death_reason() says


ProcessEvent = Event | Snapshot | Progress | Failed | Paused | Resumed | Exited  # what the training process sends


# ---- sent only by tui_gen.runs.watch.RunWatcher, about a run another process trains --------------------------


@dataclass
class WatchNotice:
    """What a watcher has to say about the run folder it follows, besides the run's own events.

    kind: "missing" (no such folder), "no-log" (no metrics log yet), "log" (the log is there now),
    "no-checkpoint" (nothing to generate from yet), "catch-up" (a big log: only its start line and its
    tail are read), "skipped" (unreadable lines, `count` in all), "stale" (the log has not grown for a
    long time), "growing" (it grows again), "deleted" (the run folder is gone), "replaced" (the log was
    truncated or replaced: a new run in the folder; read anew), "not-a-file" (the log is a FIFO, a device:
    never opened for reading, since that could block for ever). What the app does is decided by kind,
    never by the message's words."""

    kind: str
    message: str
    count: int = 0
