"""What the app's training process is to train: the spec the parent (tui_gen.process.parent) hands the child
(tui_gen.process.child). A module of its own so that both sides import it and neither imports the
other. Plain values, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui_gen.training.setup import RunRequest

# The training process's log, in the models folder. The file name is older than the class names
# (TrainingProcess, TrainingSpec) and is kept: the log stays where users, scripts and the README look.
PROCESS_LOG_NAME = "worker.log"


@dataclass
class TrainingSpec:
    """What to train. Plain values only: it is pickled into the child.

    It becomes a tui_gen.training.setup.RunRequest (run_request()), the same set-up `tui-gen train` uses:
    `settings` are TrainConfig field names (as in RunRequest; None is a real value, so {"max_minutes": None}
    removes the time budget), `steps` / `minutes` mean what the CLI's --steps / --minutes mean.
    """

    corpus: str | None = None  # built-in name or a path; None: the default (or the checkpoint's own)
    resume: str | None = None  # a checkpoint file or run folder to continue from
    preset: str = "default"
    settings: dict[str, Any] = field(default_factory=dict)  # JSON-like values, checked by the set-up
    steps: int | None = None
    minutes: float | None = None
    out: str | None = None  # the run folder; None: <models_dir>/<corpus>-<time>, or the checkpoint's folder
    models_dir: str = "models"
    log_path: str | None = None  # None: <models_dir>/PROCESS_LOG_NAME
    threads: int | None = None  # torch CPU threads; None: tui_gen.process.child.default_threads()
    data_dir: str | None = None  # where built-in corpora are cached; None: core.paths.default_data_dir()

    def run_request(self) -> RunRequest:
        """This spec as the shared run set-up's request (tui_gen.training.setup, which the CLI uses too)."""
        from tui_gen.training.setup import RunRequest

        return RunRequest(
            corpus=self.corpus,
            resume=self.resume,
            preset=self.preset,
            settings=dict(self.settings),
            steps=self.steps,
            minutes=self.minutes,
            out=self.out,
            models_dir=self.models_dir,
            data_dir=self.data_dir,
        )
