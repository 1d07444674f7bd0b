"""What a training run reports, as plain picklable values.

The trainer yields these; the CLI prints them, the app's worker process forwards them over a queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    model: str = ""  # the model in words: "GRU 128,256", "LSTM 64 one-hot"  # worth saying, not problems: settings changed on resume
    framing_reason: str = ""  # why this framing: "given", "built-in corpus", what the guess saw in the text


@dataclass
class Step:
    step: int
    epoch: int
    train_bpc: float  # bits per character on this batch
    lr: float
    chars_per_sec: float
    elapsed: float  # seconds spent training, pauses excluded
    progress: float | None  # 0..1 of the run's step or time budget


@dataclass
class Eval:
    step: int
    val_bpc: float
    best_bpc: float
    is_best: bool
    seconds: float


@dataclass
class Samples:
    step: int
    temperature: float
    samples: list[tuple[str, str]]  # (seed, continuation)


@dataclass
class Saved:
    step: int
    kind: str  # "best" or "last"
    path: str


@dataclass
class Warning:
    step: int
    message: str


@dataclass
class Finished:
    step: int
    reason: str  # "completed", "stopped", "diverged", "failed"
    message: str
    best_bpc: float | None
    last_path: str | None
    best_path: str | None


Event = Started | Step | Eval | Samples | Saved | Warning | Finished
