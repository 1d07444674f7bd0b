"""The training settings, one row each: what every TrainConfig field is to a person. Torch-free, Textual-free.

A row says, once, a setting's TrainConfig field name, its `tui-gen train` flag (or that it has none),
its kind (how its text is parsed and what type its value must be), its choices, what its default of
None means, its help text, its label and hint in the app's new-run form, and what happens to it on
`--resume`. Everything else reads these rows instead of spelling the facts again:

- tui_gen.core.config: how a message names a setting (setting_name) and what type each must be
  (check_types), so a message names a flag that exists;
- tui_gen.cli.main: the run flags of `train` and `launch`, made from the rows (name, type, choices,
  metavar, help and the default shown);
- tui_gen.app.screens.new_run: each field's label, hint, parser and choices;
- tui_gen.training.setup: which settings may change on resume, and which make up the budget;
- README.md: its table of training options (markdown_table; tests/test_settings_table.py checks it).

Contracts:
- One row per TrainConfig field, no more (tests/test_settings_table.py checks both ways, and that each
  row's kind is its field's type). Rows stand in the order `tui-gen train --help` lists their flags;
  the settings without a flag come last.
- The default is not a column: it is TrainConfig's own dataclass default, written once there. This
  module stands below tui_gen.core.config (config names settings by it, and no import may close a
  cycle), so whoever shows a default passes TrainConfig's values in (default_text, markdown_table).
- The value sets (FRAMINGS, SCHEDULES, DEVICES, CELLS) are defined here because the rows hold them;
  config re-exports them for the modules that check values.

Adding a setting: its TrainConfig field (type and default) and validate's range, a row here, and the
code that uses it. The flag, its help, the README's line, the form's field (if the row has a label and
new_run.SECTIONS places it), the resume rule and the names in messages follow from the row.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tui_gen.core.flag_values import hidden_sizes, number
from tui_gen.core.model_size import CELL_TYPES

FRAMINGS = ("lines", "stream")
SCHEDULES = ("cosine", "exp", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "bf16", "fp32")
CELLS = tuple(CELL_TYPES)  # the cell types, written once in model_size.CELL_TYPES


class Kind(enum.Enum):
    """What a setting's value is; the value is the words a message says it must be."""

    WHOLE = "a whole number"  # an int, never a bool; typed as digits
    NUMBER = "a number"  # an int or a float, never a bool
    WORD = "a word"  # a str, one of the row's choices
    SIZES = "a list of whole numbers like 128,256"  # one int per layer, typed as 128,256


class OnResume(enum.Enum):
    """What `--resume` (and the app's "train more") does with a setting given again."""

    FIXED = "fixed"  # the checkpoint's weights, vocabulary or held-out split depend on it: another value is refused
    NOTED = "noted"  # applied, and the run's notes list the change
    QUIET = "quiet"  # applied without a note: where or how long it trains, not what it learns


@dataclass(frozen=True, kw_only=True)
class Setting:
    name: str  # the TrainConfig field (and the key in TUI_GEN_OVERRIDES and a checkpoint's configuration)
    kind: Kind
    help: str  # what it does, for --help and the README; the default is added from TrainConfig
    flag: str | None = None  # None: set only by name (TUI_GEN_OVERRIDES, a checkpoint's stored configuration)
    metavar: str | None = None  # None: argparse's own (the name in capitals)
    optional: bool = False  # None is a value too
    unset: str = ""  # what a default of None means, shown as the default
    choices: tuple[str, ...] = ()
    label: str = ""  # the new-run form's label; "": the form does not show it
    hint: str = ""  # the form's hint beside the field
    on_resume: OnResume = OnResume.NOTED
    depends: str = ""  # FIXED: what depends on it, for the message that refuses a change
    budget: bool = False  # the run's length: the flag sets the request's steps or minutes, on top of a resumed run's

    @property
    def dest(self) -> str:
        """Where argparse puts the flag's value: the field, or for a budget flag the request's
        `steps` / `minutes` (tui_gen.training.setup.RunRequest), which count from where a resumed run stopped."""
        if self.budget and self.flag:
            return self.flag.removeprefix("--").replace("-", "_")
        return self.name

    @property
    def parse(self) -> Callable[[str], object] | None:
        """How typed text becomes the value, the same for the flag and the form's box; None where the
        text is the value (a choice) or there is no text (a switch)."""
        match self.kind:
            case Kind.WHOLE:
                return number(int)
            case Kind.NUMBER:
                return number(float)
            case Kind.SIZES:
                return hidden_sizes
            case Kind.WORD:
                return None


SETTINGS: tuple[Setting, ...] = (
    # the budget: `--minutes` and `--steps` exclude each other
    Setting(
        name="max_minutes",
        flag="--minutes",
        kind=Kind.NUMBER,
        optional=True,
        budget=True,
        on_resume=OnResume.QUIET,
        unset="no time limit",
        help="train for this many minutes, counted from where a resumed run stopped",
    ),
    Setting(
        name="max_steps",
        flag="--steps",
        kind=Kind.WHOLE,
        optional=True,
        budget=True,
        on_resume=OnResume.QUIET,
        unset="no step limit",
        help="train for this many steps instead, counted from where a resumed run stopped",
    ),
    # data
    Setting(
        name="framing",
        flag="--framing",
        kind=Kind.WORD,
        optional=True,
        choices=FRAMINGS,
        unset="the corpus's own",
        label="Framing",
        on_resume=OnResume.FIXED,
        depends="how the text is cut into samples",
        help="lines: each line a sample; stream: continuous text, truncated BPTT",
    ),
    Setting(name="seq_len", flag="--seq-len", kind=Kind.WHOLE, help="window length, in characters"),
    Setting(
        name="overlap",
        flag="--overlap",
        kind=Kind.WHOLE,
        help="lines framing: 0 carries the state from a long line's window to its next; N > 0 starts "
        "every window from zero, repeating the last N characters of the one before",
    ),
    Setting(
        name="batch_size",
        flag="--batch-size",
        kind=Kind.WHOLE,
        label="Batch size",
        help="windows per step, of all processes together under torchrun",
    ),
    # model
    Setting(
        name="hidden_sizes",
        flag="--hidden",
        metavar="SIZES",
        kind=Kind.SIZES,
        label="Hidden sizes",
        hint="per layer, like 128,256",
        on_resume=OnResume.FIXED,
        depends="the model's shape",
        help="hidden size of each recurrent layer",
    ),
    Setting(
        name="cell",
        flag="--cell",
        kind=Kind.WORD,
        choices=CELLS,
        label="Cell",
        on_resume=OnResume.FIXED,
        depends="the model's cell",
        help="the recurrent cell",
    ),
    Setting(
        name="embedding_dim",
        flag="--embedding",
        metavar="SIZE",
        kind=Kind.WHOLE,
        label="Embedding",
        hint="0: one-hot",
        on_resume=OnResume.FIXED,
        depends="the model's shape",
        help="character embedding size, 0: one-hot",
    ),
    Setting(
        name="dropout",
        flag="--dropout",
        kind=Kind.NUMBER,
        label="Dropout",
        hint="0 to <1",
        help="dropout on each recurrent layer's output, 0 to <1",
    ),
    # optimisation
    Setting(
        name="lr",
        flag="--lr",
        kind=Kind.NUMBER,
        label="Learning rate",
        hint="peak, like 3e-3",
        help="AdamW's peak learning rate",
    ),
    Setting(
        name="lr_schedule",
        flag="--schedule",
        kind=Kind.WORD,
        choices=SCHEDULES,
        label="Schedule",
        help="cosine: after the warm-up, down to min_lr_ratio of --lr; exp: the lecture's staircase "
        "(decay_rate every decay_steps); constant",
    ),
    Setting(
        name="warmup_steps",
        flag="--warmup-steps",
        kind=Kind.WHOLE,
        label="Warm-up",
        hint="steps",
        help="steps of linear warm-up",
    ),
    Setting(
        name="weight_decay",
        flag="--weight-decay",
        kind=Kind.NUMBER,
        label="Weight decay",
        hint="AdamW",
        help="AdamW's weight decay",
    ),
    Setting(
        name="grad_clip",
        flag="--clip",
        metavar="NORM",
        kind=Kind.NUMBER,
        label="Clipping",
        hint="global norm",
        help="gradient clipping by global norm",
    ),
    # the split, evaluations and the seed
    Setting(
        name="val_fraction",
        flag="--val-fraction",
        kind=Kind.NUMBER,
        on_resume=OnResume.FIXED,
        depends="the held-out split",
        help="share of the corpus held out for validation",
    ),
    Setting(
        name="min_char_count",
        flag="--min-char-count",
        kind=Kind.WHOLE,
        on_resume=OnResume.FIXED,
        depends="the vocabulary",
        help="rarer characters are one 'unknown' character",
    ),
    Setting(
        name="eval_every",
        flag="--eval-every",
        kind=Kind.WHOLE,
        help="steps between evaluations; each saves last, and best when it improves",
    ),
    Setting(
        name="first_eval",
        flag="--first-eval",
        kind=Kind.WHOLE,
        help="one early evaluation (and samples) at this step, about 20 s in on a CPU; 0: none",
    ),
    Setting(
        name="seed",
        flag="--seed",
        kind=Kind.WHOLE,
        label="Seed",
        hint="split, init, order",
        on_resume=OnResume.FIXED,
        depends="the held-out split",
        help="fixes the validation split, initialisation and batch order",
    ),
    # where it runs
    Setting(
        name="device",
        flag="--device",
        kind=Kind.WORD,
        choices=DEVICES,
        label="Device",
        on_resume=OnResume.QUIET,
        help="auto: CUDA, else Apple MPS, else CPU",
    ),
    Setting(
        name="precision",
        flag="--precision",
        kind=Kind.WORD,
        choices=PRECISIONS,
        help="training's matrix products: auto is bf16 where the CPU or GPU does bf16 natively, else fp32 "
        "(weights, state and sums stay fp32)",
    ),
    Setting(
        name="threads",
        flag="--threads",
        kind=Kind.WHOLE,
        optional=True,
        unset="torch's own; the app's training process: every core",
        on_resume=OnResume.QUIET,
        help="CPU threads for torch",
    ),
    # no flag: TUI_GEN_OVERRIDES or a preset sets them
    Setting(
        name="state_reset_every", kind=Kind.WHOLE, help="stream framing: windows between resets of the hidden state"
    ),
    Setting(name="min_lr_ratio", kind=Kind.NUMBER, help="cosine schedule: the last learning rate, as a share of --lr"),
    Setting(
        name="adam_beta2",
        kind=Kind.NUMBER,
        help="AdamW's beta2, how slowly its estimate of each gradient's size forgets (0.999 before 2026-12)",
    ),
    Setting(name="decay_steps", kind=Kind.WHOLE, help="exp schedule: steps between decays"),
    Setting(name="decay_rate", kind=Kind.NUMBER, help="exp schedule: what each decay multiplies the learning rate by"),
    Setting(name="sample_length", kind=Kind.WHOLE, help="characters of each sample drawn at an evaluation"),
    Setting(name="sample_temperature", kind=Kind.NUMBER, help="the temperature of those samples"),
    Setting(
        name="max_nan_steps",
        kind=Kind.WHOLE,
        help="steps in a row with a loss that is not a number before the run stops as diverged",
    ),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
FLAGGED = tuple(s for s in SETTINGS if s.flag)  # `tui-gen train`'s (and `launch`'s) run flags, in order
BUDGET_KEYS = tuple(s.name for s in SETTINGS if s.budget)  # the TrainConfig fields that make up the budget
RESUME_FIXED = {s.name: s.depends for s in SETTINGS if s.on_resume is OnResume.FIXED}  # name -> what depends on it
NO_FLAG = tuple(s.name for s in SETTINGS if not s.flag)
# Flags spelled otherwise than "--" + the field's name with dashes (--hidden for hidden_sizes).
FLAG_NAMES = {s.name: s.flag for s in SETTINGS if s.flag and s.flag != "--" + s.name.replace("_", "-")}


def setting_name(name: str) -> str:
    """How a message names a setting: its flag (--clip), or, without one, its own name, as
    TUI_GEN_OVERRIDES and a checkpoint's configuration write it. A name outside the table is itself."""
    row = BY_NAME.get(name)
    return row.flag if row is not None and row.flag else name


def shown(value: object) -> str:
    """A value as a person types it: 128,256 for a list, 0.003 and 6 for floats."""
    match value:
        case float():
            return f"{value:g}"
        case list() | tuple():
            return ",".join(str(v) for v in value)
        case _:
            return str(value)


def default_text(setting: Setting, default: object) -> str:
    """The default as --help and the README show it: the value, or what None means ("" if nothing)."""
    match default:
        case None:
            return setting.unset
        case bool():  # a switch: given or not
            return "on" if default else "off"
        case _:
            return shown(default)


def help_text(setting: Setting, default: object) -> str:
    """A flag's --help line: what it does, and its default (TrainConfig's, passed in)."""
    shown_default = default_text(setting, default)
    if not shown_default:
        return setting.help
    return f"{setting.help} (default{':' if default is None else ''} {shown_default})"


def markdown_table(defaults: Mapping[str, object]) -> str:
    """The README's table of training options: one line per setting, its flag, TrainConfig field,
    default (from `defaults`: TrainConfig's), meaning and what --resume does with it."""
    lines = ["| flag | setting | default | meaning | on `--resume` |", "| --- | --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = defaults[s.name]
        flag = f"`{s.flag}`" if s.flag else "–"
        value = default_text(s, default)
        value = (f"`{value}`" if _typed(default) else value) or "–"
        meaning = s.help.replace("|", "\\|")
        if s.choices:
            meaning += "; one of " + ", ".join(f"`{c}`" for c in s.choices)
        match s.on_resume:
            case OnResume.FIXED:
                resume = f"fixed ({s.depends})"
            case OnResume.NOTED:
                resume = "can change (noted)"
            case OnResume.QUIET:
                resume = "can change"
        lines.append(f"| {flag} | `{s.name}` | {value} | {meaning} | {resume} |")
    return "\n".join(lines) + "\n"


def _typed(default: object) -> bool:
    """Whether a default is shown as the text one would type (code), not in words (None, a switch's off)."""
    return default is not None and not isinstance(default, bool)
