"""The training process's snapshots: the model's weights right now, as bytes in the checkpoint format,
for the app's playground to generate from while training goes on.

    snapshot = make_snapshot(trainer)                     # in the training process, between events
    model, vocab, framing, stops = model_from_snapshot(snapshot)   # in the app, in a thread

A snapshot crosses a process boundary, so it is untrusted input like any checkpoint: it is read with
the checkpoint's own checks (header, dtypes, shapes, finite weights), from memory, never unpickled.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from tui_gen.core.events import Snapshot

if TYPE_CHECKING:
    from tui_gen.data.vocab import Vocab
    from tui_gen.model.network import CharRNN
    from tui_gen.training.trainer import Trainer


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def make_snapshot(trainer: Trainer) -> Snapshot:
    """Serialize the trainer's current weights (call between the trainer's events)."""
    from safetensors.torch import save as st_save

    from tui_gen.training.checkpoint import FORMAT_VERSION

    tensors = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in trainer.model.state_dict().items()}
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "snapshot",
        "corpus": trainer.corpus_ref,
        "framing": trainer.framing,
        "end_marker": trainer.end_marker,
        "vocab": trainer.vocab.to_json(),
        "model_config": trainer.model_config.to_json(),
        "step": trainer.step,
        "val_bpc": _finite(trainer.last_bpc),
        "best_val_bpc": _finite(trainer.best_bpc),
    }
    blob = st_save(tensors, metadata={"tui_gen": json.dumps(meta, allow_nan=False)})
    return Snapshot(trainer.step, blob, {**meta, "stop_strings": list(trainer.stop_strings)})


def model_from_snapshot(snapshot: Snapshot, device: str = "cpu") -> tuple[CharRNN, Vocab, str, tuple[str, ...]]:
    """(model in eval mode, vocabulary, framing, stop strings) from a Snapshot, checked exactly as a
    checkpoint file is (checkpoint.load_checkpoint_bytes)."""
    from tui_gen.core.errors import CheckpointError
    from tui_gen.training.checkpoint import load_checkpoint_bytes

    if not isinstance(snapshot.blob, (bytes, bytearray)):
        raise CheckpointError("the training snapshot holds no weights")
    ck = load_checkpoint_bytes(bytes(snapshot.blob), f"the training snapshot of step {snapshot.step}", device=device)
    return ck.model, ck.vocab, ck.framing, ck.stop_strings
