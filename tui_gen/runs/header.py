"""Reading a checkpoint's header without torch: finding a run folder's checkpoint, and checking the
header (sizes, offsets, dtypes, format version) against the file before anything trusts it.

Both JSON parts are read through the gate (tui_gen.core.gate.load_json): a header holding NaN, 1e999, a
400-digit number or nesting 100,000 deep is refused here as not a checkpoint, so the values a caller
reads from it are at least finite numbers of at most 19 digits; their ranges are the caller's to
check (gate.number, gate.whole), as for any value from outside.

tui_gen.training.checkpoint loads and saves checkpoints with torch and re-exports all of this; listings (the
runs screen, tui_gen.runs.listing) read headers through here alone, so they never import torch.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import IO, TypedDict

from tui_gen.core import gate
from tui_gen.core.errors import CheckpointError
from tui_gen.core.files import open_regular
from tui_gen.core.model_size import MAX_FILE_BYTES, MAX_PARAMETERS  # noqa: F401 (re-exported)

FORMAT_VERSION = 1
SUFFIX = ".safetensors"
MAX_HEADER_BYTES = 16 * 2**20
DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


PLAY_ORDER = ("best", "last")  # generating, evaluating: the best weights
RESUME_ORDER = ("last", "best")  # resuming: where training stopped


class TensorEntry(TypedDict):
    """One tensor in a checkpoint's header table, as safetensors writes it and _read_header checks it."""

    dtype: str  # a key of DTYPES
    shape: list[int]  # each size a whole number >= 0
    data_offsets: list[int]  # [start, end): its bytes, counted from where the tensor data starts


TensorTable = dict[str, TensorEntry]  # the header's tensors, by name ("model.*", "optim.*", ...)


def resolve_checkpoint(path: str | Path, prefer: tuple[str, ...] = PLAY_ORDER) -> Path:
    """A run folder means its best checkpoint (or last, before the first evaluation); resuming
    passes RESUME_ORDER to take up where training stopped."""
    p = Path(path)
    try:
        if p.is_dir():
            for name in prefer:
                if (p / (name + SUFFIX)).is_file():
                    return p / (name + SUFFIX)
            raise CheckpointError(f"{p} has no best{SUFFIX} or last{SUFFIX}: is it a tui-gen run folder?")
        if not p.exists():
            if p.with_suffix(SUFFIX).is_file():
                return p.with_suffix(SUFFIX)
            raise CheckpointError(f"{p} does not exist: give a run folder under models/ or a .safetensors file")
    except (OSError, ValueError) as e:  # a name too long, a NUL byte, ...
        raise CheckpointError(
            f"cannot use {str(p)[:200]!r} as a checkpoint: {getattr(e, 'strerror', None) or e}"
        ) from None
    return p


def read_header(path: Path) -> tuple[TensorTable, gate.JsonObject]:
    """The tensor table and the tui-gen metadata, after checking the header against the file."""
    try:
        with open_regular(path) as f:
            header, meta, _ = _read_header(f, os.fstat(f.fileno()).st_size, path)
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    return header, meta


def _read_header(f: IO[bytes], size: int, label: object) -> tuple[TensorTable, gate.JsonObject, int]:
    """read_header's table and metadata, and where the tensor data starts, from a checkpoint's bytes
    (a file, or a snapshot in memory) of `size` bytes; `label` is what the messages call it."""
    path = label  # the messages say "{path} is ...": a file's path, or "the training snapshot of step N"
    head = f.read(8)
    if len(head) < 8:
        raise CheckpointError(f"{path} is truncated or not a checkpoint ({size} bytes)")
    (n,) = struct.unpack("<Q", head)
    if n > MAX_HEADER_BYTES or 8 + n > size:
        raise CheckpointError(f"{path} is not a tui-gen checkpoint (bad header: it may be truncated or another format)")
    raw = f.read(n)
    if size > MAX_FILE_BYTES:
        raise CheckpointError(f"{path} is {size / 2**30:.1f} GiB, larger than any tui-gen checkpoint")
    try:
        header = gate.load_json(raw)
    except gate.OutsideValueError:  # not UTF-8, not JSON, absurd numbers or nesting
        raise CheckpointError(f"{path} is not a tui-gen checkpoint (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not a tui-gen checkpoint (malformed header)")
    meta_raw = header.pop("__metadata__", None)
    data_len = size - 8 - n
    for name, info in header.items():
        try:
            dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
            if not isinstance(shape, list):  # a string iterates too: "" would pass as a scalar's shape
                raise ValueError
            count = 1
            for d in shape:
                if type(d) is not int or d < 0:  # a bool is an int to isinstance
                    raise ValueError
                count *= d
            ok = dtype in DTYPES and isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= data_len
            ok = ok and end - start == count * DTYPES[dtype]
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise CheckpointError(f"{path} is corrupted: tensor {str(name)[:60]!r} does not fit the file")
    # The tensors tile the data exactly, as safetensors writes them: no overlaps, no gaps, and nothing
    # after the last one (a file longer than its header says was overwritten or appended to).
    cursor = 0
    for start, end in sorted(tuple(info["data_offsets"]) for info in header.values()):
        if start != cursor:
            raise CheckpointError(f"{path} is corrupted: its tensors overlap or leave gaps")
        cursor = end
    if cursor != data_len:
        raise CheckpointError(f"{path} is corrupted: it has {data_len - cursor} bytes after its last tensor")
    if not isinstance(meta_raw, dict) or "tui_gen" not in meta_raw:
        raise CheckpointError(f"{path} is a safetensors file but not a tui-gen checkpoint (no tui-gen metadata)")
    try:
        meta = gate.load_json(meta_raw["tui_gen"])
    except gate.OutsideValueError:
        raise CheckpointError(f"{path} is corrupted: its metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is corrupted: its metadata is not a JSON object")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path} is corrupted: it has no format version")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer tui-gen (format {version}, this one reads {FORMAT_VERSION}): "
            "upgrade tui-gen"
        )
    return header, meta, 8 + n


def read_meta(path: str | Path) -> gate.JsonObject:
    """Only the JSON part (cheap: no tensor is read). For listings."""
    return read_header(resolve_checkpoint(path))[1]
