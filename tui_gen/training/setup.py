"""One run set-up for the CLI and the app's training process.

    request = RunRequest(corpus="book.txt", settings={"cell": "lstm"}, steps=2000)
    config = new_run_config(request)            # torch-free: a bad value fails before anything starts
    run = prepare_run(request)                  # loads, checks the run folder, builds the Trainer
    for event in run.trainer.run(): ...

What it guarantees, for `tui-gen train` and the app alike:
- A new run never lands in a folder that holds another run, unless asked to (`overwrite`); a default
  run folder is claimed atomically, so two runs started in the same second get two folders.
- The run folder is created and written to before the first step, so a bad `--out` fails at once.
- A resume continues from `last`; what each setting given again does is its row's in the settings
  table (tui_gen.core.settings): those that define the model or its data (RESUME_FIXED) cannot
  change, the others are applied, and those that change what it learns are listed in the run's notes.
- Resuming from a checkpoint older than its folder's `last` continues in a new folder beside it, so
  the newer checkpoint is never overwritten.
"""

from __future__ import annotations

import argparse
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_gen.core.config import MAX_MINUTES, TrainConfig, preset
from tui_gen.core.errors import ConfigError, RunFolderError
from tui_gen.core.settings import BUDGET_KEYS, BY_NAME, FLAGGED, RESUME_FIXED, OnResume, setting_name, shown
from tui_gen.runs.lock import RunLock, lock_run_folder
from tui_gen.runs.metrics_log import FILE_NAME as LOG_NAME

if TYPE_CHECKING:
    from tui_gen.runs.folder import RunFolder
    from tui_gen.training.checkpoint import Checkpoint
    from tui_gen.training.distributed import World
    from tui_gen.training.trainer import Trainer


def _default_minutes() -> float:
    """TrainConfig.max_minutes's default, read rather than written again: the budget of a new run, of
    "train more", and of a finished run resumed without one."""
    minutes = TrainConfig().max_minutes
    if minutes is None:  # those three would have no budget to give
        raise ValueError("TrainConfig.max_minutes must have a default: it is a new run's budget and train more's")
    return minutes


DEFAULT_MINUTES = _default_minutes()
# The TrainConfig fields that `tui-gen train` and `tui-gen launch` take as flags (cli.add_run_flags), as
# the settings table says; the budget's flags go to RunRequest.steps / minutes instead.
TRAIN_SETTINGS = tuple(s.name for s in FLAGGED if not s.budget)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings flags that were given (argparse leaves the others None)."""
    return {k: getattr(args, k) for k in TRAIN_SETTINGS if getattr(args, k, None) is not None}


CHECKPOINT_NAMES = ("best.safetensors", "last.safetensors")
RUN_FILES = (*CHECKPOINT_NAMES, LOG_NAME)  # what a run leaves in its folder


@dataclass
class RunRequest:
    """What to train, as the CLI's flags or the app's form say it.

    settings: TrainConfig fields given explicitly (the CLI leaves out flags not given; None is a real
    value, so {"max_minutes": None} removes the time budget). steps / minutes: the run's length,
    counted on top of the checkpoint's step / training time when resuming.
    """

    corpus: str | None = None  # built-in name or a path; None: the default (or the checkpoint's own)
    resume: str | None = None  # a run folder (continues from its last) or a checkpoint file
    preset: str = "default"
    settings: dict = field(default_factory=dict)
    steps: int | None = None
    minutes: float | None = None
    out: str | None = None  # the run folder; None: <models_dir>/<corpus>-<time>, or the checkpoint's folder
    models_dir: str = "models"
    overwrite: bool = False  # let a new run replace the run in `out`
    data_dir: str | None = None  # where built-in corpora are cached; None: core.paths.default_data_dir()


@dataclass
class PreparedRun:
    trainer: Trainer
    checkpoint: Checkpoint | None
    notes: list[str]


def check_setting_names(settings: dict) -> None:
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(str(k) for k in settings if k not in known)
    if unknown:
        raise ConfigError(f"unknown training setting {', '.join(repr(k) for k in unknown)}")


def _check_budget(request: RunRequest) -> None:
    # 0 must not read as "not given" (that would train for the default budget), nor a negative
    # step count shorten a resumed run.
    steps, minutes = request.steps, request.minutes
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ConfigError(f"{setting_name('max_steps')} must be a whole number of at least 1, got {steps}")
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 < minutes <= MAX_MINUTES
    ):
        raise ConfigError(f"{setting_name('max_minutes')} must be a positive number, got {minutes}")


def new_run_config(request: RunRequest) -> TrainConfig:
    """The validated configuration of a new run. No torch: call it before starting anything."""
    check_setting_names(request.settings)
    _check_budget(request)
    given = {k: v for k, v in request.settings.items() if v is not None}
    cfg = preset(request.preset, **given)
    unset: dict[str, Any] = {k: v for k, v in request.settings.items() if v is None}  # None given on purpose
    cfg = replace(cfg, **unset)
    if request.steps:
        cfg = replace(cfg, max_steps=request.steps, max_minutes=None)
    elif request.minutes:
        cfg = replace(cfg, max_minutes=request.minutes, max_steps=None)
    cfg.validate()
    return cfg


def setting_problems(request: RunRequest) -> dict[str, str]:
    """What new_run_config refuses in `request`, by setting, for a form that shows each message next
    to its field: {TrainConfig field, "preset", "steps" or "minutes": message}. Each setting is checked
    alone (on the request's preset), then all together, under "" when only the combination is
    refused. The rules are new_run_config's own; nothing here repeats them."""
    problems: dict[str, str] = {}

    def check(key: str, alone: RunRequest) -> None:
        try:
            new_run_config(alone)
        except ConfigError as e:
            problems[key] = str(e)

    bare = replace(request, settings={}, steps=None, minutes=None)
    check("preset", bare)
    if problems:  # every setting would be refused for it
        return problems
    for key, value in request.settings.items():
        check(key, replace(bare, settings={key: value}))
    if request.steps is not None:
        check("steps", replace(bare, steps=request.steps))
    if request.minutes is not None:
        check("minutes", replace(bare, minutes=request.minutes))
    if not problems:
        check("", request)
    return problems


def resume_run_config(request: RunRequest, ck: Checkpoint) -> tuple[TrainConfig, list[str]]:
    """The checkpoint's own configuration with the request's settings applied, and a note of each
    one that changed (OnResume.NOTED ones). Settings in RESUME_FIXED that differ from the checkpoint's
    are refused."""
    from tui_gen.training.trainer import resume_config

    check_setting_names(request.settings)
    _check_budget(request)
    base = resume_config(ck)
    actual = {
        "hidden_sizes": list(ck.model.config.hidden_sizes),
        "cell": ck.model.config.cell,
        "embedding_dim": ck.model.config.embedding_dim,
        "framing": ck.framing,
    }
    changes, notes = {}, []
    for key, value in request.settings.items():
        old = actual.get(key, getattr(base, key))
        if key in RESUME_FIXED:
            if value is not None and value != old:
                raise ConfigError(
                    f"{setting_name(key)} cannot change when resuming ({RESUME_FIXED[key]} depends on it): the "
                    f"checkpoint has {shown(old)}, asked for {shown(value)}; start a new run to use another value"
                )
            continue
        if value != old:
            changes[key] = value
            if BY_NAME[key].on_resume is OnResume.NOTED:
                notes.append(f"{setting_name(key)} {shown(value)} (was {shown(old)})")
    cfg = replace(base, **changes)
    elapsed = float(ck.meta.get("elapsed", 0) or 0)
    if request.steps:  # more steps on top of where it stopped
        cfg = replace(cfg, max_steps=ck.step + request.steps, max_minutes=None)
    elif request.minutes:
        cfg = replace(cfg, max_minutes=elapsed / 60 + request.minutes, max_steps=None)
    elif not any(k in request.settings for k in BUDGET_KEYS) and budget_spent(cfg, ck.step, elapsed):
        cfg = replace(cfg, max_minutes=elapsed / 60 + DEFAULT_MINUTES, max_steps=None)  # a finished run: more
    try:
        cfg.validate()
    except ConfigError as e:
        raise ConfigError(f"resuming {ck.path}: {e}") from None
    if notes:
        notes = ["changed on resume: " + ", ".join(notes)]
    return cfg, notes


def budget_spent(cfg: TrainConfig, step: int, elapsed: float) -> bool:
    return bool((cfg.max_steps and step >= cfg.max_steps) or (cfg.max_minutes and elapsed >= cfg.max_minutes * 60))


# ---- run folders ------------------------------------------------------------------------------------


def holds_run(folder: Path, names: tuple[str, ...] = RUN_FILES) -> bool:
    """Whether `folder` holds a run: a checkpoint, or the metrics log of a run (one killed before its
    first save leaves only that). A link there counts too: a new run must not take over any of these
    names. A folder by such a name is not a run's (a run leaves none)."""
    return any(_run_file(folder / name) for name in names)


def _run_file(path: Path) -> bool:
    try:
        return not stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def check_run_folder(folder: Path, *, overwrite: bool = False, own_run: bool = False) -> RunLock:
    """Create `folder` if needed, take its writer's lock (runs.lock) and prove it can be written, before
    any training. A folder that holds another run is refused unless overwrite or it is the run being
    resumed (own_run). Overwriting happens later, in prepare_run, once the new run is built (its corpus
    read, its model made): a new run that fails to start leaves the old one whole."""
    try:
        if folder.exists() and not folder.is_dir():
            raise RunFolderError(f"the run folder {folder} is a file, not a folder: give --out a folder path")
        if holds_run(folder) and not own_run and not overwrite:
            if holds_run(folder, CHECKPOINT_NAMES):
                raise RunFolderError(
                    f"{folder} already holds a run: continue it with --resume {folder}, choose another --out, "
                    "or pass --overwrite to replace it"
                )
            raise RunFolderError(
                f"{folder} holds the metrics log of a run that saved no checkpoint: choose another --out, "
                "or pass --overwrite to replace it"
            )
        folder.mkdir(parents=True, exist_ok=True)
        lock = lock_run_folder(folder)  # before anything in it is touched: another trainer may be at work
        try:
            lock.held.probe()  # a temporary file, named as one
        except BaseException:
            lock.release()
            raise
    except RunFolderError:
        raise
    except OSError as e:
        raise RunFolderError(
            f"cannot write the run folder {folder}: {e.strerror or e}; choose another --out (or --models-dir)"
        ) from None
    return lock


def remove_run(folder: RunFolder) -> None:
    """Overwriting: remove what a run leaves in its folder (RUN_FILES: its checkpoints and metrics log,
    through the locked folder; the trainer removes temporary files of saves when it starts), nothing
    else, so the new run sees nothing of the old one. Raises RunFolderError if one cannot be removed: a
    new run must not go on beside the old one's checkpoints or log."""
    try:
        for name in RUN_FILES:
            if _run_file(folder.path / name):  # a folder by that name is not the run's: left alone
                folder.unlink(name)
    except OSError as e:
        raise RunFolderError(f"cannot replace the run in {folder.path}: {e.strerror or e}") from None


def claim_run_folder(parent: Path, name: str) -> tuple[Path, RunLock]:
    """Create a new run folder <parent>/<name>, or <name>-2, -3, ... if taken, and lock it. mkdir is
    atomic, so two runs started at the same moment never share one."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            folder = parent / (name if n == 1 else f"{name}-{n}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return folder, check_run_folder(folder, own_run=True)
    except OSError as e:
        raise RunFolderError(
            f"cannot create a run folder in {parent}: {e.strerror or e}; choose another --models-dir (or --out)"
        ) from None
    raise RunFolderError(f"{parent} has no free run folder name for {name}: choose --out")


def resume_target(path: str | Path) -> str:
    """What "train on from this checkpoint" means for a checkpoint opened to play with: its run folder,
    which resumes from `last` (where training stopped), not from the `best` the playground shows."""
    p = Path(path)
    if p.name in CHECKPOINT_NAMES and p.parent != Path(""):
        return str(p.parent)
    return str(p)


def default_run_name(corpus_ref: str) -> str:
    """<corpus>-<date>-<time>, the corpus's name cut down to letters, digits, '.', '_' and '-': a file
    name may hold escape sequences, spaces or markup, and the folder's name is shown and typed."""
    stem = re.sub(r"[^\w.-]+", "-", Path(corpus_ref).stem).strip("-.")[:60] or "run"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _newer_last(path: Path, step: int) -> int | None:
    """The step of the `last` checkpoint beside the checkpoint `path` (at `step`) when that is a
    different, newer file; else None."""
    from tui_gen.core.errors import CheckpointError
    from tui_gen.training.checkpoint import read_meta

    last = path.parent / "last.safetensors"
    try:
        if not last.is_file() or last.resolve() == path.resolve():
            return None
        last_step = read_meta(last).get("step")
    except (OSError, CheckpointError):
        return None
    return last_step if isinstance(last_step, int) and last_step > step else None


def _file_of(ck: Checkpoint) -> Path:
    """The file a checkpoint to resume was loaded from (load_checkpoint reads a file, never bytes)."""
    if ck.path is None:
        raise ConfigError("a checkpoint read from memory cannot be resumed: give its run folder or file")
    return ck.path


# ---- the whole set-up --------------------------------------------------------------------------------


def prepare_run(
    request: RunRequest,
    progress: Callable[[str], None] | None = None,
    download_progress: Callable[[int, int | None], None] | None = None,
    build_progress: Callable[[int, int | None], None] | None = None,
    world: World | None = None,
) -> PreparedRun:
    """Load the checkpoint and corpus, settle the run folder and build the Trainer.

    progress(message) is called before each slow part (the training process sends it on and checks for a stop
    there); download_progress(done, total) during a download. world: one of several processes under
    torchrun (distributed.py); only its rank 0 has a run folder (and its lock)."""
    from tui_gen.data.sources import open_corpus
    from tui_gen.training.checkpoint import RESUME_ORDER, load_checkpoint
    from tui_gen.training.device import pick_device
    from tui_gen.training.distributed import SINGLE
    from tui_gen.training.trainer import Trainer

    world = world or SINGLE

    say = progress or (lambda message: None)
    notes: list[str] = []
    ck = None
    ck_file: Path | None = None  # the file ck was loaded from
    if request.resume:
        say(f"loading checkpoint {request.resume}")
        ck = load_checkpoint(request.resume, prefer=RESUME_ORDER)
        ck_file = _file_of(ck)
        cfg, notes = resume_run_config(request, ck)
    else:
        cfg = new_run_config(request)
    # the step of a newer `last` beside ck, if any
    newer = _newer_last(ck_file, ck.step) if ck is not None and ck_file is not None else None
    out = Path(request.out) if request.out else None
    lock: RunLock | None = None
    own = False
    if out is not None and world.is_main:  # a bad --out fails now, not after the whole budget
        own = ck_file is not None and out.resolve() == ck_file.parent.resolve() and newer is None
        lock = check_run_folder(out, overwrite=request.overwrite, own_run=own)
    pick_device(cfg.device)  # no GPU: say so before reading the corpus
    corpus_arg = request.corpus or (ck.meta.get("corpus") if ck is not None else None)
    say(f"loading {corpus_arg or 'the default corpus'}")
    with world.local_first():  # one download (or cache build) per machine, not one per process
        corpus, ref = open_corpus(
            corpus_arg,
            data_dir=Path(request.data_dir) if request.data_dir else None,
            framing=cfg.framing,
            progress=download_progress,
            build_progress=build_progress,
        )
    say("preparing training")
    trainer = Trainer(corpus, cfg, run_dir=None, resume=ck, corpus_ref=ref, world=world)
    if not world.is_main:  # only trains: rank 0 evaluates, saves and holds the run folder
        trainer.notes.extend(notes)
        return PreparedRun(trainer, ck, notes)
    if out is not None:
        run_dir = out
        if request.overwrite and lock is not None and not own:
            remove_run(lock.held)  # only now that the new run is built
    elif ck is not None and ck_file is not None:
        if newer is None:
            run_dir = ck_file.parent
            lock = check_run_folder(run_dir, own_run=True)
        else:
            run_dir, lock = claim_run_folder(ck_file.parent.parent, f"{ck_file.parent.name}-from-step-{ck.step}")
            notes.append(
                f"resuming from {ck_file.name} at step {ck.step}, while {ck_file.parent / 'last.safetensors'} "
                f"is at step {newer}: this run continues in {run_dir}, so that step {newer} is kept"
            )
    else:
        run_dir, lock = claim_run_folder(Path(request.models_dir), default_run_name(ref))
    trainer.set_run_dir(run_dir, resumed_here=ck_file is not None and run_dir.resolve() == ck_file.parent.resolve())
    trainer.run_lock = lock  # held while it trains, dropped when its run ends (or the process does)
    trainer.notes.extend(notes)
    return PreparedRun(trainer, ck, notes)
