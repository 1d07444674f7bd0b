"""How the app was launched: the `tui-gen launch` flags as plain values, and the training process
specs built from them. No torch, no Textual."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from tui_gen.core import gate
from tui_gen.core.errors import ConfigError, RunFolderError
from tui_gen.core.settings import setting_name
from tui_gen.data.catalogue import DEFAULT_CORPUS
from tui_gen.process.spec import PROCESS_LOG_NAME, TrainingSpec
from tui_gen.training.setup import DEFAULT_MINUTES, RunRequest, new_run_config, settings_from_args

OVERRIDES_ENV = "TUI_GEN_OVERRIDES"


@dataclass
class LaunchOptions:
    corpus: str | None = None  # None: the tweets if they can be had, else the offline corpus
    checkpoint: str | None = None  # load into the playground at once; training resumes from it on `r`
    device: str = "auto"
    preset: str = "default"
    minutes: float | None = None  # the training budget; None: DEFAULT_MINUTES (unless steps)
    steps: int | None = None  # or a budget in steps
    models_dir: str = "models"
    settings: dict = field(default_factory=dict)  # TrainConfig fields, e.g. from TUI_GEN_OVERRIDES
    threads: int | None = None  # the training process's torch threads; None: all CPUs but one
    train: bool = True  # start training at launch (tests set False and feed events themselves)
    watch: str | None = None  # a run folder another process trains: watch it, train nothing (--watch)

    @property
    def budget_minutes(self) -> float:
        return self.minutes if self.minutes else DEFAULT_MINUTES

    @property
    def until_stopped(self) -> bool:
        """No budget at all: the new-run form's "until stopped" (both budget settings given as None)."""
        return (
            not self.steps
            and not self.minutes
            and "max_minutes" in self.settings
            and self.settings["max_minutes"] is None
            and self.settings.get("max_steps") is None
        )

    @property
    def log_path(self) -> str:
        return str(Path(self.models_dir) / PROCESS_LOG_NAME)

    @classmethod
    def from_args(cls, args, environ: dict | None = None) -> LaunchOptions:
        env = os.environ if environ is None else environ
        if args.minutes is not None and not args.minutes > 0:
            raise ConfigError(f"{setting_name('max_minutes')} must be positive, got {args.minutes}")
        # The flags are `tui-gen train`'s (cli.add_run_flags); TUI_GEN_OVERRIDES is a layer under them.
        flags = settings_from_args(args)
        device = flags.pop("device", "auto")
        watch = getattr(args, "watch", None)
        if watch is not None:
            if args.corpus or args.checkpoint:
                raise ConfigError(
                    "--watch RUN follows a run another process trains: give it without a corpus or --checkpoint"
                )
            if not Path(watch).is_dir():
                raise RunFolderError(
                    f"--watch {watch}: {_not_a_run_folder(watch)}; give the folder `tui-gen "
                    "train` writes to (models/<run>, or its --out)"
                )
        options = cls(
            watch=str(watch) if watch is not None else None,
            corpus=args.corpus,
            checkpoint=str(args.checkpoint) if args.checkpoint else None,
            device=device,
            preset=args.preset,
            minutes=args.minutes,
            steps=getattr(args, "steps", None),
            models_dir=str(args.models_dir),
            settings={**parse_overrides(env.get(OVERRIDES_ENV)), **flags},
        )
        # The same checks as `tui-gen train`, here, before any process starts: a bad setting is one line.
        new_run_config(
            RunRequest(
                preset=options.preset,
                settings={**options.settings, "device": device},
                minutes=options.minutes,
                steps=options.steps,
            )
        )
        return options

    # ---- training process specs -----------------------------------------------------------------
    def new_run(self, corpus: str | None = None) -> TrainingSpec:
        """A fresh run on `corpus` (default: the launch's corpus, or the tweets)."""
        return TrainingSpec(
            corpus=corpus or self.corpus or DEFAULT_CORPUS,
            preset=self.preset,
            settings={**self.settings, "device": self.device},
            steps=self.steps,
            minutes=None if self.steps or self.until_stopped else self.budget_minutes,
            models_dir=self.models_dir,
            log_path=self.log_path,
            threads=self.threads,
        )

    def form_run(self, request: RunRequest) -> TrainingSpec:
        """A fresh run as the new-run form asked for it (its settings hold the device), built as new_run
        builds one: this launch's models folder, log and threads."""
        return TrainingSpec(
            corpus=request.corpus or DEFAULT_CORPUS,
            preset=request.preset,
            settings=dict(request.settings),
            steps=request.steps,
            minutes=request.minutes,
            models_dir=self.models_dir,
            log_path=self.log_path,
            threads=self.threads,
        )

    def with_request(self, request: RunRequest) -> LaunchOptions:
        """These options as if launched with the form's settings, so that restarting the run (r) or
        training it more starts what the form asked for, not the launch's run."""
        settings = dict(request.settings)
        device = settings.pop("device", self.device)
        return replace(
            self,
            corpus=request.corpus,
            checkpoint=None,
            device=device,
            preset=request.preset,
            minutes=request.minutes,
            steps=request.steps,
            settings=settings,
        )

    def request_for(self, spec: TrainingSpec | None) -> RunRequest:
        """What the form opens with: the running process's spec (a resumed one names its checkpoint;
        the form reads that run's settings from it), or a new run with this launch's settings."""
        if spec is None:
            spec = self.new_run()
        return replace(spec.run_request(), out=None)  # the form starts a run of its own, never in that folder

    def resume_run(
        self, checkpoint: str, minutes: float | None = None, corpus: str | None = None, steps: int | None = None
    ) -> TrainingSpec:
        """Continue from a checkpoint for `steps` or `minutes` more (default: the whole budget) with its
        own configuration, on `corpus` (default: its own); only the device and threads come from this launch."""
        return TrainingSpec(
            corpus=corpus,
            resume=checkpoint,
            settings={"device": self.device},
            steps=steps,
            minutes=None if steps else (minutes or self.budget_minutes),
            models_dir=self.models_dir,
            log_path=self.log_path,
            threads=self.threads,
        )


def _not_a_run_folder(path) -> str:
    """What is at `path`, which is not a folder: nothing, or a file (its metrics log, say), or a FIFO..."""
    import stat

    from tui_gen.core.files import describe_mode

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "there is no run folder there"
    return f"it is {'a file' if stat.S_ISREG(mode) else describe_mode(mode)}, not a run folder"


def parse_overrides(text: str | None) -> dict:
    """TUI_GEN_OVERRIDES: a JSON object of training settings, e.g. {"hidden_sizes": [32], "eval_every": 20},
    read through the gate (tui_gen.core.gate.load_json); each setting's type and range are then
    TrainConfig.validate's, before any process starts."""
    if not text:
        return {}
    try:
        data = gate.load_json(text)
    except gate.OutsideValueError as e:  # NaN, a number of hundreds of digits, nesting thousands deep
        raise ConfigError(
            f'{OVERRIDES_ENV} {e}: give a JSON object like {{"hidden_sizes": [64], "eval_every": 50}}'
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{OVERRIDES_ENV} must be a JSON object of training settings, like "
            '{"hidden_sizes": [64], "eval_every": 50}'
        )
    return data
