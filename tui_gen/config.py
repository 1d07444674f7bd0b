"""Training configuration: plain values with defaults that learn fast on a small CPU.

The lecture's recipe (one-hot input, Adam 3e-4, batch 64, staircase decay) is kept as the
`lecture` preset; the defaults are what reached the lowest validation bits/char on the tweets in
6 minutes on a 2-core CPU (see bench/).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from .errors import ConfigError

FRAMINGS = ("lines", "stream")
SCHEDULES = ("cosine", "exp", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
LECTURE_SEEDS = ["Hillary", "I", "R", "T", "@", "N", "M", ".", "G", "A", "W"]


@dataclass
class TrainConfig:
    # data
    framing: str | None = None  # None: the corpus's own default
    seq_len: int = 50
    overlap: int = 25
    val_fraction: float = 0.05
    min_char_count: int = 2  # rarer characters become "unknown", so that id gets trained too
    state_reset_every: int = 8  # stream framing: windows between hidden-state resets
    # model
    hidden_sizes: list[int] = field(default_factory=lambda: [128, 256])
    cell: str = "gru"
    embedding_dim: int = 32
    dropout: float = 0.0
    # optimisation
    batch_size: int = 128
    lr: float = 3e-3
    lr_schedule: str = "cosine"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    decay_steps: int = 1000  # exp schedule: multiply by decay_rate every decay_steps
    decay_rate: float = 0.96
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    # run
    max_steps: int | None = None
    max_minutes: float | None = 6.0
    eval_every: int = 300
    first_eval: int = 50  # one early evaluation (and samples) at this step, ~20 s in on a CPU; 0: none
    sample_length: int = 160
    sample_temperature: float = 0.8
    seed: int = 1234
    device: str = "auto"
    bf16: bool = False
    threads: int | None = None
    max_nan_steps: int = 10

    def validate(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ConfigError(msg)

        check_types(self)
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float):
                need(math.isfinite(v), f"--{f.name.replace('_', '-')} must be a finite number, got {v}")
        need(self.framing in (None, *FRAMINGS), f"framing must be one of {', '.join(FRAMINGS)}")
        need(1 <= self.seq_len <= 10_000, f"--seq-len must be 1 to 10000, got {self.seq_len}")
        need(0 <= self.overlap < self.seq_len, f"--overlap must be 0 to seq-len - 1, got {self.overlap}")
        need(0 < self.val_fraction < 0.5, f"--val-fraction must be between 0 and 0.5, got {self.val_fraction}")
        need(self.min_char_count >= 1, f"--min-char-count must be at least 1, got {self.min_char_count}")
        need(self.state_reset_every >= 1, "--state-reset-every must be at least 1")
        need(1 <= self.batch_size <= 65_536, f"--batch-size must be 1 to 65536, got {self.batch_size}")
        need(0 < self.lr <= 10, f"--lr must be a positive number up to 10, got {self.lr}")
        need(self.lr_schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}")
        need(self.warmup_steps >= 0, "--warmup-steps must not be negative")
        need(0 <= self.min_lr_ratio <= 1, "--min-lr-ratio must be in [0, 1]")
        need(self.decay_steps >= 1, "--decay-steps must be at least 1")
        need(0 < self.decay_rate <= 1, "--decay-rate must be in (0, 1]")
        need(self.weight_decay >= 0, "--weight-decay must not be negative")
        need(self.grad_clip > 0, f"--clip must be positive, got {self.grad_clip}")
        need(self.max_steps is None or self.max_steps >= 1, f"--steps must be at least 1, got {self.max_steps}")
        need(
            self.max_minutes is None or 0 < self.max_minutes <= 60 * 24 * 365,
            f"--minutes must be positive, got {self.max_minutes}",
        )
        need(self.eval_every >= 1, "--eval-every must be at least 1")
        need(self.first_eval >= 0, "--first-eval must not be negative (0: no early evaluation)")
        need(1 <= self.sample_length <= 100_000, "--sample-length must be 1 to 100000")
        need(self.sample_temperature > 0, "sample temperature must be positive")
        need(self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        need(self.threads is None or 1 <= self.threads <= 1024, "--threads must be 1 to 1024")
        need(self.max_nan_steps >= 1, "--max-nan-steps must be at least 1")
        need(0 <= self.seed < 2**63, f"--seed must be 0 to 2**63 - 1, got {self.seed}")
        need(0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}")
        need(0 <= self.embedding_dim <= 4096, f"--embedding must be 0 (one-hot) to 4096, got {self.embedding_dim}")
        need(
            bool(self.hidden_sizes) and all(1 <= h <= 8192 for h in self.hidden_sizes),
            f"hidden sizes must be 1 to 8192 per layer, got {self.hidden_sizes}: try --hidden 128,256",
        )

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in data.items() if k in known})
        cfg.validate()
        return cfg


# What each setting must be. Values come from flags, but also from JSON (TUI_GEN_OVERRIDES, a
# checkpoint's stored configuration), where 50.5 or "50" or [[[]]] can stand anywhere; a range check
# alone lets them through to fail later, mid-training, as a TypeError.
_WHOLE = ("seq_len", "overlap", "min_char_count", "state_reset_every", "embedding_dim", "batch_size",
          "warmup_steps", "decay_steps", "eval_every", "first_eval", "sample_length", "seed", "max_nan_steps")
_OPTIONAL_WHOLE = ("max_steps", "threads")
_NUMBER = ("val_fraction", "dropout", "lr", "min_lr_ratio", "decay_rate", "weight_decay", "grad_clip",
           "sample_temperature")
_OPTIONAL_NUMBER = ("max_minutes",)
_TEXT = ("cell", "lr_schedule", "device")
_OPTIONAL_TEXT = ("framing",)


def _shown(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def check_types(cfg: "TrainConfig") -> None:
    """Each setting has the type it must have (ints are not floats, bools are not numbers)."""
    def whole(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def flag(name: str) -> str:
        return "--" + name.replace("_", "-")

    for name in _WHOLE + _OPTIONAL_WHOLE:
        v = getattr(cfg, name)
        if not (whole(v) or (v is None and name in _OPTIONAL_WHOLE)):
            raise ConfigError(f"{flag(name)} must be a whole number, got {_shown(v)}")
    for name in _NUMBER + _OPTIONAL_NUMBER:
        v = getattr(cfg, name)
        if not (number(v) or (v is None and name in _OPTIONAL_NUMBER)):
            raise ConfigError(f"{flag(name)} must be a number, got {_shown(v)}")
    for name in _TEXT + _OPTIONAL_TEXT:
        v = getattr(cfg, name)
        if not (isinstance(v, str) or (v is None and name in _OPTIONAL_TEXT)):
            raise ConfigError(f"{flag(name)} must be a word, got {_shown(v)}")
    if not isinstance(cfg.bf16, bool):
        raise ConfigError(f"bf16 must be true or false, got {_shown(cfg.bf16)}")
    h = cfg.hidden_sizes
    if not (isinstance(h, list) and all(whole(x) for x in h)):
        raise ConfigError(f"hidden sizes must be a list of whole numbers like 128,256, got {_shown(h)}")


PRESETS: dict[str, dict] = {
    "default": {},
    # Stanford CS20 lecture 11, as published: one-hot, [128, 256], windows of 50 with overlap 25,
    # batch 64, Adam 3e-4, staircase decay, no dropout.
    "lecture": dict(
        embedding_dim=0, lr=3e-4, lr_schedule="exp", warmup_steps=0, decay_steps=1000, decay_rate=0.96,
        batch_size=64, seq_len=50, overlap=25, dropout=0.0, min_char_count=1,
    ),
}


def preset(name: str, **overrides) -> TrainConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    cfg = replace(TrainConfig(), **PRESETS[name])
    given = {k: v for k, v in overrides.items() if v is not None}
    seq_len = given.get("seq_len")
    if isinstance(seq_len, int) and "overlap" not in given and cfg.overlap >= seq_len:
        given["overlap"] = max(0, seq_len // 2)  # the preset's overlap was for its own seq_len
    cfg = replace(cfg, **given)
    cfg.validate()
    return cfg


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    """The learning rate at a step; progress in [0, 1] is how far the run is (steps or time)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "exp":
        return cfg.lr * cfg.decay_rate ** (step // cfg.decay_steps)
    p = min(max(progress, 0.0), 1.0)
    floor = cfg.min_lr_ratio
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))
