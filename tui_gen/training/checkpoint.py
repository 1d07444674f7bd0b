"""Checkpoints: one self-contained safetensors file each, never pickle.

A run folder holds `best.safetensors` (lowest validation bits/char) and `last.safetensors`. Each file
holds the weights, the optimizer state, the RNG state and (stream framing) the carried hidden state
as tensors, and everything else (format version, configs, vocabulary, step, metric history, data
position) as JSON in the safetensors header's metadata. One file per checkpoint makes a save atomic:
write a temporary file, fsync, rename. A checkpoint is untrusted input: the header is checked by hand
(size, offsets, dtypes) before any tensor is read, and nothing in it is ever executed. The same
checks read a checkpoint from bytes (the training process's snapshots), without a file.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save as st_save
from torch.overrides import TorchFunctionMode

from tui_gen.core import gate
from tui_gen.core.atomic import write_atomic
from tui_gen.core.errors import CheckpointError, ConfigError
from tui_gen.core.files import open_regular
from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CharRNN, ModelConfig
from tui_gen.runs.folder import PROBE_PATTERN, RunFolder
from tui_gen.runs.header import (  # noqa: F401 - re-exported: the header, read without torch
    DTYPES,
    FORMAT_VERSION,
    MAX_FILE_BYTES,
    MAX_HEADER_BYTES,
    MAX_PARAMETERS,
    PLAY_ORDER,
    RESUME_ORDER,
    SUFFIX,
    TensorEntry,
    TensorTable,
    _read_header,
    read_header,
    read_meta,
    resolve_checkpoint,
)
from tui_gen.runs.listing import SAVED_AT_FORMAT

TORCH_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


@dataclass
class Checkpoint:
    path: Path | None  # None: loaded from bytes (load_checkpoint_bytes)
    meta: gate.JsonObject  # the JSON part
    tensors: dict[str, torch.Tensor]  # everything, by name ("model.*", "optim.*", "rng.*", "state.*")
    model: CharRNN
    vocab: Vocab

    @property
    def step(self) -> int:
        return gate.whole(self.meta.get("step", 0)) or 0

    @property
    def val_bpc(self) -> float | None:
        """The header's figure if it is one (tui_gen.core.gate): the header is from outside."""
        return gate.bpc(self.meta.get("best_val_bpc"))

    @property
    def framing(self) -> str:
        return self.meta["framing"]

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return stop_strings(self.framing, self.meta.get("end_marker"))


def stop_strings(framing: str, end_marker: str | None) -> tuple[str, ...]:
    """Where generation stops: the end of a line (lines framing) or the corpus's end marker.
    In a stream a newline is just text."""
    return (("\n",) if framing == "lines" else ()) + ((end_marker,) if end_marker else ())


def save_checkpoint(
    path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, object], folder: RunFolder | None = None
) -> Path:
    """Write atomically: a crash at any instant leaves the previous file at `path` loadable.

    folder: the run folder a trainer holds (tui_gen.runs.folder); the file path.name is then written
    through it, wherever the folder is now (`path` only names it in messages), and never re-creates a
    deleted folder. Without it, `path` is written as a path (its folders created)."""
    path = Path(path)
    meta = {"format_version": FORMAT_VERSION, "saved_at": time.strftime(SAVED_AT_FORMAT), **meta}
    blob = st_save(
        {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()},
        metadata={"tui_gen": json.dumps(meta, allow_nan=False)},
    )
    try:
        if folder is not None:
            folder.write_atomic(path.name, blob)
        else:
            write_atomic(path, blob)
    except OSError as e:
        raise CheckpointError(
            f"could not save {path.name} in {path.parent}: {e.strerror or e}; the previous checkpoint is untouched "
            "(free some disk space, or train with --out on another disk)"
        ) from None
    return path


def remove_stale_temps(folder: str | Path | RunFolder) -> int:
    """Delete the temporary files of saves that were killed mid-write (SIGKILL, power loss), which
    nothing else would ever remove. Called when a run starts, when nothing else writes its folder
    (a held RunFolder: through it). Returns how many were removed."""
    if not isinstance(folder, RunFolder):
        folder = RunFolder(Path(folder), None)
    return sum(folder.remove_matching(pattern) for pattern in (f"*{SUFFIX}.*.tmp", PROBE_PATTERN))


_META_TYPES = {
    "step": (int,),
    "epoch": (int,),
    "batch_index": (int,),
    "elapsed": (int, float),
    "best_val_bpc": (int, float, type(None)),
    "last_val_bpc": (int, float, type(None)),
    "end_marker": (str, type(None)),
    "corpus": (str, type(None)),
    "corpus_digest": (str, type(None)),
}


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu", prefer: tuple[str, ...] = PLAY_ORDER
) -> Checkpoint:
    path = resolve_checkpoint(path, prefer)
    try:
        with open_regular(path) as f:
            return _load(f, os.fstat(f.fileno()).st_size, path, device)
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None


def load_checkpoint_bytes(blob: bytes, name: str, device: str | torch.device = "cpu") -> Checkpoint:
    """A checkpoint held in memory (the training process's snapshots), checked exactly as a file is;
    `name` is what error messages call it. Its Checkpoint.path is None."""
    return _load(io.BytesIO(blob), len(blob), name, device)


def _load(f: io.BufferedReader | io.BytesIO, size: int, label: Path | str, device: str | torch.device) -> Checkpoint:
    path = label  # in messages
    table, meta, data_start = _read_header(f, size, label)
    try:
        vocab = Vocab.from_json(meta["vocab"])
        mc = dict(meta["model_config"])
        model_config = ModelConfig(
            vocab_size=int(mc["vocab_size"]),
            hidden_sizes=[int(h) for h in mc["hidden_sizes"]],
            cell=str(mc["cell"]),
            embedding_dim=int(mc["embedding_dim"]),
            dropout=float(mc["dropout"]),
        )
        if meta["framing"] not in ("lines", "stream"):
            raise CheckpointError(f"{path} is corrupted: unknown framing {str(meta['framing'])[:40]!r}")
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise CheckpointError(f"{path} is corrupted: its metadata lacks or mangles {e}") from None
    for key, kinds in _META_TYPES.items():  # fields read straight off a Checkpoint, when present
        v = meta.get(key)
        if key in meta and (
            not isinstance(v, kinds) or isinstance(v, bool) or (isinstance(v, (int, float)) and not 0 <= v < math.inf)
        ):
            raise CheckpointError(f"{path} is corrupted: its {key} is {str(v)[:40]!r}")
    if model_config.vocab_size != len(vocab):
        raise CheckpointError(
            f"{path} is inconsistent: the vocabulary has {len(vocab)} ids "
            f"but the model expects {model_config.vocab_size}"
        )
    try:
        expected = _unfilled_model(model_config, "meta").state_dict()  # a hostile configuration allocates nothing
    except ConfigError as e:
        raise CheckpointError(f"{path} holds an unusable model configuration: {e}") from None
    n_params = sum(t.numel() for t in expected.values())
    if n_params > MAX_PARAMETERS:
        raise CheckpointError(
            f"{path} declares a model of {n_params:,} parameters, more than tui-gen loads ({MAX_PARAMETERS:,})"
        )
    _check_table(path, table, expected, model_config, meta)
    # Each tensor is read from its own byte range straight into its final home: the weights into
    # the model (built uninitialised), the training state into tensors of its own. So loading needs
    # about one model plus the training state, never the file's bytes besides.
    model = _unfilled_model(model_config, "cpu")
    tensors: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        info = table.get("model." + name)
        if info is None:
            raise CheckpointError(f"{path} is missing the weight {name!r}")
        _read_into(f, path, data_start, info, t)
        if not _all_finite(t):
            raise CheckpointError(f"{path} is corrupted: the weight {name} holds NaN or infinite values")
    for name, info in table.items():
        if not name.startswith("model."):
            tensors[name] = _read_into(
                f, path, data_start, info, torch.empty(info["shape"], dtype=TORCH_DTYPES[info["dtype"]])
            )
    model.to(device)
    model.eval()
    # The weights as "model.*" too, as they were saved: the model's own tensors, not copies.
    tensors.update({f"model.{k}": v for k, v in model.state_dict().items()})
    return Checkpoint(
        path=label if isinstance(label, Path) else None, meta=meta, tensors=tensors, model=model, vocab=vocab
    )


class _SkipInit(TorchFunctionMode):
    """torch.nn.init's functions leave the tensor as it is. A model built on the meta device has no values
    to fill, and torch's meta kernel of normal_ (nn.Embedding's initialiser) imports torch._dynamo: over a
    second of CPU, in the UI's process at its first checkpoint. On the CPU it saves filling what the file
    overwrites."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", None) == "torch.nn.init":
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)


def _unfilled_model(config: ModelConfig, device: str) -> CharRNN:
    """The model with its weights uninitialised: on "meta", shapes only (no memory); on "cpu", for the
    file to fill. (Not meta then to_empty: torch's meta empty_like imports sympy, half a second more.)"""
    with torch.device(device), _SkipInit():
        return CharRNN(config)


def _all_finite(t: torch.Tensor, chunk: int = 1 << 20) -> bool:
    """torch.isfinite(t).all(), a slice at a time: on a whole weight its temporaries cost about as
    much memory as the weight itself."""
    flat = t.reshape(-1)
    return all(bool(torch.isfinite(flat[a : a + chunk]).all()) for a in range(0, flat.numel(), chunk))


def _read_into(
    f: io.BufferedReader | io.BytesIO, path: object, data_start: int, info: TensorEntry, t: torch.Tensor
) -> torch.Tensor:
    """Fill the contiguous CPU tensor t with its bytes in the file (little-endian, as safetensors
    stores them and as torch holds them on every platform tui-gen runs on)."""
    start, end = info["data_offsets"]
    if end > start:
        f.seek(data_start + start)
        # ignore: numpy's stubs give ndarray __buffer__ only on Python >= 3.12 (mypy checks 3.11); an ndarray
        # is a buffer on every version
        if f.readinto(memoryview(t.reshape(-1).view(torch.uint8).numpy())) != end - start:  # type: ignore[arg-type]
            raise CheckpointError(f"{path} is truncated: it changed while it was read")
    if t.dtype == torch.bool and t.numel() and int(t.view(torch.uint8).max()) > 1:
        raise CheckpointError(f"{path} is corrupted: a true/false tensor holds other values")
    return t


def _check_table(
    path: object, table: TensorTable, expected: dict[str, torch.Tensor], config: ModelConfig, meta: gate.JsonObject
) -> None:
    """Before any tensor is read: every entry is one that a checkpoint of this model holds, and no
    bigger than it needs. A header may claim gigabytes that a sparse file "holds" at no cost on disk;
    those are refused here, unread."""
    model_bytes = 4 * sum(t.numel() for t in expected.values())
    batch = meta.get("train_config", {}).get("batch_size") if isinstance(meta.get("train_config"), dict) else None
    batch = batch if isinstance(batch, int) and 1 <= batch <= 65_536 else 65_536
    # Adam's two moments per weight, the RNG and step counters, a carried state per layer (LSTM: two)
    allowance = 2 * model_bytes + 2**20 + 2 * sum(config.hidden_sizes) * batch * 8
    other = 0
    for name, info in table.items():
        if name.startswith("model."):
            t = expected.get(name[len("model.") :])
            if t is None:
                raise CheckpointError(f"{path} has unexpected weights: {name[len('model.') :][:60]}")
            if tuple(info["shape"]) != tuple(t.shape) or info["dtype"] != "F32":
                raise CheckpointError(
                    f"{path} does not match its own configuration: {name[len('model.') :]} is "
                    f"{tuple(info['shape'])} {info['dtype']}, expected {tuple(t.shape)} F32"
                )
        elif name.startswith(("optim.", "rng.", "state.")):
            other += info["data_offsets"][1] - info["data_offsets"][0]
        else:
            raise CheckpointError(f"{path} holds a tensor no tui-gen checkpoint has: {str(name)[:60]!r}")
    if other > allowance:
        raise CheckpointError(
            f"{path} is corrupted: it holds {other / 2**20:.0f} MiB of training state, "
            f"more than a model of this size can have"
        )


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """The optimizer's state split into tensors and JSON, so no pickle is needed."""
    sd = opt.state_dict()
    tensors, plain = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v
            else:
                plain[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "plain": plain}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], saved: gate.JsonObject) -> None:
    try:  # all of it is read from the file: any shape of JSON may be there
        state: dict[int, dict] = {}
        for name, t in tensors.items():
            if name.startswith("optim."):
                _, number, key = name.split(".", 2)
                state.setdefault(int(number), {})[key] = t
        for name, v in saved.get("plain", {}).items():
            number, key = name.split(".", 1)
            state.setdefault(int(number), {})[key] = v
        # Checked here, or a mangled file fails later, inside optimizer.step(), as a traceback.
        params = [p for g in opt.param_groups for p in g["params"]]
        adam = isinstance(opt, (torch.optim.Adam, torch.optim.AdamW))
        for idx, st in state.items():
            if not 0 <= idx < len(params) or (adam and set(st) != {"step", "exp_avg", "exp_avg_sq"}):
                raise ValueError(f"the state of parameter {idx} is not what this optimizer keeps")
            for key, v in st.items():
                if torch.is_tensor(v):
                    ok = (
                        (v.dim() == 0 and v.is_floating_point())
                        if key == "step"
                        else (v.shape == params[idx].shape and v.dtype == params[idx].dtype)
                    )
                else:
                    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                if not ok:
                    raise ValueError(f"{key} of parameter {idx} has the wrong shape or type")
        # The hyperparameters are the live ones (the resumed configuration says them), not the file's.
        opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, RuntimeError) as e:
        raise CheckpointError(f"the checkpoint's optimizer state does not fit this model: {str(e)[:200]}") from None
