"""Training configuration: plain values with defaults that learn fast on a small CPU.

The lecture's recipe (one-hot input, Adam 3e-4, batch 64, staircase decay) is kept as the
`lecture` preset; the defaults are what reached the lowest validation bits/char on the tweets in
6 minutes on a 2-core CPU (1.66 held-out bits/char in 2,306 steps; see bench/): two GRU layers of
256, a 64-wide embedding, AdamW at 6e-3 with beta2 0.99, a line's windows carrying the state.

TrainConfig's dataclass defaults are the only place a default is written. What each setting is to a
person (its flag, kind, choices, help) is its row in the settings table (tui_gen.core.settings), which
this module stands on: validate names a setting as the table says (setting_name), and check_types
takes each setting's type from its row. The value sets and naming helpers of that table are
re-exported here (`X as X`) for the modules that check values against them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from tui_gen.core import gate
from tui_gen.core.errors import ConfigError
from tui_gen.core.gate import MAX_COUNT
from tui_gen.core.model_size import MAX_PARAMETERS, parameter_count
from tui_gen.core.settings import CELLS as CELLS
from tui_gen.core.settings import DEVICES as DEVICES
from tui_gen.core.settings import FLAG_NAMES as FLAG_NAMES
from tui_gen.core.settings import FRAMINGS as FRAMINGS
from tui_gen.core.settings import NO_FLAG as NO_FLAG
from tui_gen.core.settings import PRECISIONS as PRECISIONS
from tui_gen.core.settings import SCHEDULES as SCHEDULES
from tui_gen.core.settings import SETTINGS, Kind
from tui_gen.core.settings import setting_name as setting_name

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


def _span(lo: float, hi: float, low_open: bool) -> str:
    return f"above {_figure(lo)} and at most {_figure(hi)}" if low_open else f"{_figure(lo)} to {_figure(hi)}"


def _figure(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass
class TrainConfig:
    # data
    framing: str | None = None  # None: the corpus's own default
    seq_len: int = 50
    overlap: int = 0  # lines framing: 0 carries the state from a line's window to the next
    val_fraction: float = 0.05
    min_char_count: int = 2  # rarer characters become "unknown", so that id gets trained too
    state_reset_every: int = 8  # stream framing: windows between hidden-state resets
    # model
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    cell: str = "gru"
    embedding_dim: int = 64
    dropout: float = 0.0
    # optimisation
    batch_size: int = 128
    lr: float = 6e-3
    lr_schedule: str = "cosine"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    decay_steps: int = 1000  # exp schedule: multiply by decay_rate every decay_steps
    decay_rate: float = 0.96
    weight_decay: float = 0.0
    adam_beta2: float = 0.99  # 0.999 (AdamW's own) reached 0.007 bits/char less in 6 minutes on the tweets
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
    precision: str = "auto"
    threads: int | None = None
    max_nan_steps: int = 10

    def validate(self) -> None:
        """Every setting of the right type and within its range, floats finite: each bound below is
        what training can take, so nothing out of range gets as far as the run folder. Messages name a
        setting by its flag, or by its name where it has none (setting_name, from the settings table)."""
        flag = setting_name  # how a message names a setting: its flag, or its field where it has none

        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ConfigError(msg)

        def within(name: str, lo: float, hi: float, low_open: bool = False, say: str | None = None) -> None:
            # gate.number compares before converting: a float setting given as a 400-digit int fails
            # here instead of overflowing in float() mid-training.
            v = getattr(self, name)
            ok = v is None or (gate.number(v, lo, hi) is not None and not (low_open and v == lo))
            shown = f"{v:g}" if isinstance(v, float) else _shown(v)
            need(ok, f"{flag(name)} must be {say or _span(lo, hi, low_open)}, got {shown}")

        check_types(self)
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float):
                need(math.isfinite(v), f"{flag(f.name)} must be a finite number, got {v}")
        need(self.framing in (None, *FRAMINGS), f"framing must be one of {', '.join(FRAMINGS)}")
        within("seq_len", 1, 10_000)
        need(
            0 <= self.overlap < self.seq_len,
            f"{flag('overlap')} must be 0 to {flag('seq_len').lstrip('-')} - 1, got {_shown(self.overlap)}",
        )
        within("val_fraction", 0, 0.5, low_open=True, say="between 0 and 0.5")
        need(self.val_fraction < 0.5, f"{flag('val_fraction')} must be between 0 and 0.5, got {self.val_fraction}")
        within("min_char_count", 1, MAX_COUNT)
        within("state_reset_every", 1, MAX_STEPS)
        within("batch_size", 1, 65_536)
        within("lr", 0, MAX_LR, low_open=True, say=f"a positive number up to {MAX_LR:g}")
        need(self.lr_schedule in SCHEDULES, f"{flag('lr_schedule')} must be one of {', '.join(SCHEDULES)}")
        within("warmup_steps", 0, MAX_STEPS)
        within("min_lr_ratio", 0, 1)
        within("decay_steps", 1, MAX_STEPS)
        within("decay_rate", 0, 1, low_open=True)
        within("weight_decay", 0, MAX_WEIGHT_DECAY)
        within("adam_beta2", 0, 1, say="0 to 1 (not 1)")
        need(self.adam_beta2 < 1, f"{flag('adam_beta2')} must be 0 to 1 (not 1), got {self.adam_beta2:g}")
        within("grad_clip", 0, MAX_GRAD_CLIP, low_open=True)
        within("max_steps", 1, MAX_STEPS)
        within("max_minutes", 0, MAX_MINUTES, low_open=True)
        within("eval_every", 1, MAX_STEPS)
        within("first_eval", 0, MAX_STEPS, say=f"0 to {MAX_STEPS:,} (0: no early evaluation)")
        within("sample_length", 1, 100_000)
        within("sample_temperature", 0, MAX_SAMPLE_TEMPERATURE, low_open=True)
        need(self.device in DEVICES, f"{flag('device')} must be one of {', '.join(DEVICES)}, got {_shown(self.device)}")
        need(
            self.precision in PRECISIONS,
            f"{flag('precision')} must be one of {', '.join(PRECISIONS)}, got {_shown(self.precision)}",
        )
        need(self.cell in CELLS, f"{flag('cell')} must be one of {', '.join(CELLS)}, got {_shown(self.cell)}")
        within("threads", 1, 1024)
        within("max_nan_steps", 1, MAX_STEPS)
        within("seed", 0, 2**63 - 1, say="0 to 2**63 - 1")
        need(0 <= self.dropout < 1, f"{flag('dropout')} must be in [0, 1), got {self.dropout}")
        within("embedding_dim", 0, 4096, say="0 (one-hot) to 4096")
        need(
            bool(self.hidden_sizes)
            and len(self.hidden_sizes) <= MAX_LAYERS
            and all(1 <= h <= 8192 for h in self.hidden_sizes),
            f"hidden sizes must be 1 to 8192 per layer, at most {MAX_LAYERS} layers, got "
            f"{_shown(self.hidden_sizes)}: try {flag('hidden_sizes')} 128,256",
        )
        # The vocabulary is not known yet: the smallest one counts here, and the Trainer checks again
        # with the corpus's own, before anything is built.
        self.check_model_size(MIN_VOCAB)

    def check_model_size(self, vocab_size: int) -> None:
        """A model too big to load is refused before any work, not trained into checkpoints that can
        never be loaded or resumed."""
        size = parameter_count(vocab_size, self.hidden_sizes, self.cell, self.embedding_dim)
        if size > MAX_PARAMETERS:
            raise ConfigError(
                f"a model of {size:,} parameters is more than the {MAX_PARAMETERS:,} a checkpoint "
                f"can hold: give smaller {setting_name('hidden_sizes')} sizes or fewer layers"
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        """A configuration from outside (a checkpoint's header, already through gate.load_json):
        unknown keys are ignored, the rest validated."""
        if not isinstance(data, dict):
            raise ConfigError(f"a training configuration must be a JSON object, got {_shown(data)}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "precision" not in data:  # saved before --precision: its run trained in fp32 on a CPU, so it resumes so
            values["precision"] = "bf16" if data.get("bf16") is True else "fp32"
        if "overlap" not in data:  # from before overlap was saved: its windows overlapped by 25, each from zero
            values["overlap"] = 25
        if "adam_beta2" not in data:  # from before adam_beta2: AdamW's own 0.999, which its moments were built with
            values["adam_beta2"] = 0.999
        cfg = cls(**values)
        cfg.validate()
        return cfg


def _shown(v: object) -> str:
    if isinstance(v, int) and v.bit_length() > 64:  # repr() of a 5,000-digit int raises
        return f"a whole number of {len(str(v)) if v.bit_length() < 14_000 else 'thousands of'} digits"
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def check_types(cfg: TrainConfig) -> None:
    """Each setting has the type its row in the settings table gives it (ints are not floats, bools are
    not numbers). Values come from flags, but also from JSON (TUI_GEN_OVERRIDES, a checkpoint's stored
    configuration), where 50.5 or "50" or [[[]]] can stand anywhere; a range check alone lets them
    through to fail later, mid-training, as a TypeError. Kinds are checked in this order, so that the
    first of several wrong values named is always of the same kind."""
    for kind in (Kind.WHOLE, Kind.NUMBER, Kind.WORD, Kind.SIZES):
        for s in SETTINGS:
            v = getattr(cfg, s.name)
            if s.kind is not kind or (v is None and s.optional) or _is(kind, v):
                continue
            match kind:
                case Kind.SIZES:  # typed as 128,256: named in words, "hidden sizes", as validate names it too
                    raise ConfigError(f"{s.name.replace('_', ' ')} must be {kind.value}, got {_shown(v)}")
                case _:
                    raise ConfigError(f"{setting_name(s.name)} must be {kind.value}, got {_shown(v)}")


def _is(kind: Kind, v: object) -> bool:
    """Whether v is a value of this kind."""
    match kind:
        case Kind.WHOLE:
            return _whole(v)
        case Kind.NUMBER:
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        case Kind.WORD:
            return isinstance(v, str)
        case Kind.SIZES:
            return isinstance(v, list) and all(_whole(x) for x in v)


def _whole(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # Stanford CS20 lecture 11, as published: one-hot, [128, 256], windows of 50 with overlap 25,
    # batch 64, Adam 3e-4, staircase decay, no dropout.
    "lecture": dict(
        hidden_sizes=[128, 256],
        embedding_dim=0,
        lr=3e-4,
        lr_schedule="exp",
        warmup_steps=0,
        decay_steps=1000,
        decay_rate=0.96,
        batch_size=64,
        seq_len=50,
        overlap=25,
        dropout=0.0,
        min_char_count=1,
        adam_beta2=0.999,  # TF1's Adam default
    ),
}


def preset(name: str, **overrides: Any) -> TrainConfig:
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
