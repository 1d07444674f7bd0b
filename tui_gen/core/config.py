"""Training configuration: plain values with defaults that learn fast on a small CPU.

The lecture's recipe (one-hot input, Adam 3e-4, batch 64, staircase decay) is kept as the
`lecture` preset; the defaults are what reached the lowest validation bits/char on the tweets in
6 minutes on a 2-core CPU (see bench/).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from tui_gen.core import gate
from tui_gen.core.errors import ConfigError
from tui_gen.core.gate import MAX_COUNT
from tui_gen.core.model_size import GATES, MAX_PARAMETERS, parameter_count

FRAMINGS = ("lines", "stream")
SCHEDULES = ("cosine", "exp", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
CELLS = tuple(GATES)  # the cell types, from model_size.GATES: each with its gate count, written once
LECTURE_SEEDS = ["Hillary", "I", "R", "T", "@", "N", "M", ".", "G", "A", "W"]

# Upper bounds of the settings (validate), also what a metrics log's fields may hold (tui_gen.core.events)
# and what a budget dialog takes (tui_gen.core.budget).
MAX_STEPS = 10**9  # a budget, and every setting counted in steps
MAX_MINUTES = 60 * 24 * 365
MAX_LR = 10.0
MAX_SAMPLE_TEMPERATURE = 100.0  # any temperature's (sample.check_temperature)
MAX_WEIGHT_DECAY = 100.0
MAX_GRAD_CLIP = 1e9
MAX_LAYERS = 64
MIN_VOCAB = 3  # padding, unknown and one character: the smallest vocabulary a corpus gives

# The flag that sets a TrainConfig field where it is not "--" + the field's name with dashes
# (cli.add_run_flags); NO_FLAG fields are set only by name (TUI_GEN_OVERRIDES, a checkpoint's stored
# configuration), so a message names them as they are written there.
FLAG_NAMES = {"hidden_sizes": "--hidden", "embedding_dim": "--embedding", "lr_schedule": "--schedule",
              "grad_clip": "--clip", "max_steps": "--steps", "max_minutes": "--minutes"}
NO_FLAG = ("state_reset_every", "min_lr_ratio", "decay_steps", "decay_rate", "sample_length",
           "sample_temperature", "max_nan_steps")


def setting_name(name: str) -> str:
    """How a message names a setting: its flag (--clip), or its own name if it has no flag."""
    if name in NO_FLAG:
        return name
    return FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def _span(lo: float, hi: float, low_open: bool) -> str:
    return f"above {_figure(lo)} and at most {_figure(hi)}" if low_open else f"{_figure(lo)} to {_figure(hi)}"


def _figure(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


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
        """Every setting of the right type and within its range, floats finite: each bound below is
        what training can take, so nothing out of range gets as far as the run folder. Messages name a
        setting by its flag, or by its name where it has none (setting_name)."""
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ConfigError(msg)

        def within(name: str, lo: float, hi: float, low_open: bool = False, say: str | None = None) -> None:
            # gate.number compares before converting: a float setting given as a 400-digit int fails
            # here instead of overflowing in float() mid-training.
            v = getattr(self, name)
            ok = v is None or (gate.number(v, lo, hi) is not None and not (low_open and v == lo))
            shown = f"{v:g}" if isinstance(v, float) else _shown(v)
            need(ok, f"{setting_name(name)} must be {say or _span(lo, hi, low_open)}, got {shown}")

        check_types(self)
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float):
                need(math.isfinite(v), f"{setting_name(f.name)} must be a finite number, got {v}")
        need(self.framing in (None, *FRAMINGS), f"framing must be one of {', '.join(FRAMINGS)}")
        within("seq_len", 1, 10_000)
        need(0 <= self.overlap < self.seq_len, f"--overlap must be 0 to seq-len - 1, got {_shown(self.overlap)}")
        within("val_fraction", 0, 0.5, low_open=True, say="between 0 and 0.5")
        need(self.val_fraction < 0.5, f"--val-fraction must be between 0 and 0.5, got {self.val_fraction}")
        within("min_char_count", 1, MAX_COUNT)
        within("state_reset_every", 1, MAX_STEPS)
        within("batch_size", 1, 65_536)
        within("lr", 0, MAX_LR, low_open=True, say=f"a positive number up to {MAX_LR:g}")
        need(self.lr_schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}")
        within("warmup_steps", 0, MAX_STEPS)
        within("min_lr_ratio", 0, 1)
        within("decay_steps", 1, MAX_STEPS)
        within("decay_rate", 0, 1, low_open=True)
        within("weight_decay", 0, MAX_WEIGHT_DECAY)
        within("grad_clip", 0, MAX_GRAD_CLIP, low_open=True)
        within("max_steps", 1, MAX_STEPS)
        within("max_minutes", 0, MAX_MINUTES, low_open=True)
        within("eval_every", 1, MAX_STEPS)
        within("first_eval", 0, MAX_STEPS, say=f"0 to {MAX_STEPS:,} (0: no early evaluation)")
        within("sample_length", 1, 100_000)
        within("sample_temperature", 0, MAX_SAMPLE_TEMPERATURE, low_open=True)
        need(self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}, got {_shown(self.device)}")
        need(self.cell in GATES, f"--cell must be one of {', '.join(GATES)}, got {_shown(self.cell)}")
        within("threads", 1, 1024)
        within("max_nan_steps", 1, MAX_STEPS)
        within("seed", 0, 2**63 - 1, say="0 to 2**63 - 1")
        need(0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}")
        within("embedding_dim", 0, 4096, say="0 (one-hot) to 4096")
        need(
            bool(self.hidden_sizes) and len(self.hidden_sizes) <= MAX_LAYERS
            and all(1 <= h <= 8192 for h in self.hidden_sizes),
            f"hidden sizes must be 1 to 8192 per layer, at most {MAX_LAYERS} layers, got "
            f"{_shown(self.hidden_sizes)}: try --hidden 128,256",
        )
        # The vocabulary is not known yet: the smallest one counts here, and the Trainer checks again
        # with the corpus's own, before anything is built.
        self.check_model_size(MIN_VOCAB)

    def check_model_size(self, vocab_size: int) -> None:
        """A model too big to load is refused before any work, not trained into checkpoints that can
        never be loaded or resumed."""
        size = parameter_count(vocab_size, self.hidden_sizes, self.cell, self.embedding_dim)
        if size > MAX_PARAMETERS:
            raise ConfigError(f"a model of {size:,} parameters is more than the {MAX_PARAMETERS:,} a checkpoint "
                              "can hold: give smaller --hidden sizes or fewer layers")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        """A configuration from outside (a checkpoint's header, already through gate.load_json):
        unknown keys are ignored, the rest validated."""
        if not isinstance(data, dict):
            raise ConfigError(f"a training configuration must be a JSON object, got {_shown(data)}")
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
    if isinstance(v, int) and v.bit_length() > 64:  # repr() of a 5,000-digit int raises
        return f"a whole number of {len(str(v)) if v.bit_length() < 14_000 else 'thousands of'} digits"
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def check_types(cfg: TrainConfig) -> None:
    """Each setting has the type it must have (ints are not floats, bools are not numbers)."""
    def whole(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    flag = setting_name
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
