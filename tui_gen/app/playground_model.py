"""The model the playground generates from: a loaded checkpoint or a snapshot of the training weights.

Everything here that touches torch imports it inside the function, and the app only calls these
functions from thread workers, so the first frame never waits for torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui_gen.core.events import Snapshot


@dataclass
class PlaygroundModel:
    model: Any  # a tui_gen.model.network.CharRNN in eval mode, on the CPU
    vocab: Any  # tui_gen.data.vocab.Vocab
    framing: str  # "lines" or "stream"
    stop_strings: tuple[str, ...]
    source: str  # "training" (a snapshot) or "checkpoint"
    step: int | None = None
    val_bpc: float | None = None
    path: str | None = None  # the checkpoint file, for source "checkpoint"
    resume_path: str | None = None  # what training on from it continues from (its run folder: its last)
    resume_step: int | None = None  # the step training would continue from

    @property
    def label(self) -> str:
        """One line for the playground: where the weights come from."""
        parts = []
        if self.source == "checkpoint":
            parts.append(f"checkpoint {self.path}")
        else:
            parts.append("training weights")
        if self.step is not None:
            parts.append(f"step {self.step:,}")
        if self.val_bpc is not None:
            parts.append(f"val {self.val_bpc:.3f} bits/char")
        return " · ".join(parts)

    @property
    def generation_stops(self) -> tuple[str, ...]:
        return self.stop_strings  # the engine's own: a line's end (lines framing) or the end marker


def use_one_thread() -> None:
    """The UI process generates on one thread: the training process has the other CPUs."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def warm_up() -> None:
    """Import what generating needs, so the first Enter does not pay for it. Call from a thread."""
    import tui_gen.model.sample  # noqa: F401  (torch, the model, the sampler)

    use_one_thread()


def from_checkpoint(path: str | Path) -> PlaygroundModel:
    """Load a run folder (its best) or a checkpoint file. Raises CheckpointError with a clear message."""
    from tui_gen.core.errors import CheckpointError
    from tui_gen.training.checkpoint import RESUME_ORDER, load_checkpoint, read_meta, resolve_checkpoint
    from tui_gen.training.setup import resume_target

    use_one_thread()
    ck = load_checkpoint(path, device="cpu")
    file = ck.path if ck.path is not None else Path(path)  # the file `path` resolved to: set by every load from disk
    target = resume_target(file)
    try:
        step = read_meta(resolve_checkpoint(target, RESUME_ORDER)).get("step")
    except CheckpointError:
        target, step = str(file), ck.step
    return PlaygroundModel(
        ck.model,
        ck.vocab,
        ck.framing,
        ck.stop_strings,
        "checkpoint",
        ck.step,
        ck.val_bpc,
        str(file),
        target,
        step if isinstance(step, int) else ck.step,
    )


def from_snapshot(snapshot: Snapshot) -> PlaygroundModel:
    """Build the model from a training Snapshot event. Raises CheckpointError if it is damaged."""
    from tui_gen.training.snapshot import model_from_snapshot

    use_one_thread()
    model, vocab, framing, stops = model_from_snapshot(snapshot, device="cpu")
    meta = snapshot.meta or {}
    stops = tuple(meta.get("stop_strings") or stops)
    # No validation figure: a snapshot taken between evaluations has not been scored.
    return PlaygroundModel(model, vocab, framing, stops, "training", snapshot.step)


def model_for(source: PlaygroundModel | Snapshot) -> tuple[PlaygroundModel, bool]:
    """The model for the playground's weights (Playground.weights): a PlaygroundModel as it is, a
    training Snapshot built here (call from a thread). The flag says whether it was built."""
    if isinstance(source, PlaygroundModel):
        use_one_thread()
        return source, False
    return from_snapshot(source), True
