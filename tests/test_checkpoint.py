"""Checkpoints: exact round trips, and every kind of bad file gives CheckpointError, nothing else."""

from __future__ import annotations

import errno
import itertools
import json
import os
import pickle
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as st_save

from tui_gen.core.config import TrainConfig
from tui_gen.core.errors import CheckpointError
from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CharRNN, ModelConfig
from tui_gen.training.checkpoint import (
    FORMAT_VERSION,
    RESUME_ORDER,
    load_checkpoint,
    read_header,
    read_meta,
    resolve_checkpoint,
    save_checkpoint,
)

VOCAB = Vocab.build(["Hello world, make it great _E_\n"])


def payload(seed: int = 0, step: int = 7, cell: str = "gru"):
    torch.manual_seed(seed)
    model = CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden_sizes=[8, 6], cell=cell, embedding_dim=4))
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors["optim.0.exp_avg"] = torch.randn(3, 4)
    tensors["optim.0.step"] = torch.tensor(5.0)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["state.0"] = torch.randn(1, 2, 8, dtype=torch.float64)
    meta = {
        "kind": "best",
        "framing": "lines",
        "end_marker": "_E_",
        "vocab": VOCAB.to_json(),
        "model_config": model.config.to_json(),
        "train_config": TrainConfig().to_json(),
        "step": step,
        "best_val_bpc": 3.25,
        "history": {"train": [[10, 4.5], [20, 4.0]], "val": [[20, 3.25]]},
        "corpus": "tiny",
        "unicode": "ありがとう \u2028 \U0001f389",
    }
    return tensors, meta


@pytest.fixture
def good(tmp_path) -> Path:
    return save_checkpoint(tmp_path / "run" / "best.safetensors", *payload())


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory) -> bytes:
    d = tmp_path_factory.mktemp("good")
    return save_checkpoint(d / "x.safetensors", *payload()).read_bytes()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def raw_file(header, data: bytes = b"") -> bytes:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def header_length(data: bytes) -> int:
    return struct.unpack("<Q", data[:8])[0]


def resave_with_meta(path: Path, meta_text, tensors=None) -> Path:
    """A well-formed safetensors file with the given tui_gen metadata string."""
    tensors = tensors if tensors is not None else payload()[0]
    metadata = {"tui_gen": meta_text} if meta_text is not None else None
    path.write_bytes(st_save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))
    return path


def full_meta(**changes) -> dict:
    meta = {"format_version": FORMAT_VERSION, **payload()[1]}
    meta.update(changes)
    return meta


# ---- round trip ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_save_load_round_trip_is_exact(tmp_path, cell):
    tensors, meta = payload(cell=cell)
    path = save_checkpoint(tmp_path / "a" / "b" / "last.safetensors", tensors, meta)
    assert path == tmp_path / "a" / "b" / "last.safetensors"
    ck = load_checkpoint(path)
    assert set(ck.tensors) == set(tensors)
    for k, v in tensors.items():
        assert ck.tensors[k].dtype == v.dtype, k
        assert torch.equal(ck.tensors[k], v), k
    saved = dict(ck.meta)
    assert saved.pop("format_version") == FORMAT_VERSION
    assert isinstance(saved.pop("saved_at"), str)
    assert saved == meta
    assert ck.vocab.chars == VOCAB.chars
    assert ck.model.config == ModelConfig(**meta["model_config"])
    for k, v in ck.model.state_dict().items():
        assert torch.equal(v, tensors["model." + k]), k
    assert (ck.step, ck.val_bpc, ck.framing, ck.stop_strings) == (7, 3.25, "lines", ("\n", "_E_"))
    assert not ck.model.training
    # the header alone
    table, m = read_header(path)
    assert set(table) == set(tensors)
    assert m == ck.meta == read_meta(path) == read_meta(path.parent)


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_load_onto_cpu(good, device):
    ck = load_checkpoint(good, device=device)
    assert all(p.device.type == "cpu" for p in ck.model.parameters())
    logits, _ = ck.model(torch.tensor([[2, 3, 4]]))
    assert logits.shape == (1, 3, len(VOCAB)) and torch.isfinite(logits).all()


def test_run_folder_prefers_best_then_last(tmp_path):
    run = tmp_path / "run"
    save_checkpoint(run / "last.safetensors", *payload(step=9))
    assert resolve_checkpoint(run) == run / "last.safetensors"
    assert load_checkpoint(run).step == 9  # no best yet: falls back to last
    save_checkpoint(run / "best.safetensors", *payload(step=5))
    assert load_checkpoint(run).step == 5
    # a path without the suffix finds the file
    assert load_checkpoint(run / "last").step == 9
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("hi")
    with pytest.raises(CheckpointError, match="best"):
        load_checkpoint(empty)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "does-not-exist")


def test_resuming_a_run_folder_takes_last(tmp_path):
    """Resuming continues where training stopped, not from the (older) best step."""
    run = tmp_path / "run"
    save_checkpoint(run / "best.safetensors", *payload(step=5))
    save_checkpoint(run / "last.safetensors", *payload(step=9))
    assert load_checkpoint(run, prefer=RESUME_ORDER).step == 9
    (run / "last.safetensors").unlink()
    assert load_checkpoint(run, prefer=RESUME_ORDER).step == 5


def test_saved_files_are_readable_by_others(tmp_path):
    path = save_checkpoint(tmp_path / "best.safetensors", *payload())
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("name", ["x" * 5000, "a/" * 3000 + "b", "bad\x00name"], ids=["long", "deep", "nul"])
def test_absurd_paths_are_checkpoint_errors(tmp_path, name):
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / name)


# ---- truncated, random and flipped bytes ---------------------------------------------------------


def test_truncated_files(tmp_path, good_bytes):
    n = header_length(good_bytes)
    cuts = sorted(
        {
            0,
            1,
            4,
            7,
            8,
            9,
            8 + n // 2,
            8 + n - 1,
            8 + n,
            8 + n + 1,
            len(good_bytes) // 2,
            len(good_bytes) - 4,
            len(good_bytes) - 1,
        }
    )
    for cut in cuts:
        with pytest.raises(CheckpointError):
            load_checkpoint(write(tmp_path / f"t{cut}.safetensors", good_bytes[:cut]))


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path, seed):
    rng = random.Random(seed)
    data = rng.randbytes(rng.choice([3, 8, 100, 5000]))
    with pytest.raises(CheckpointError):
        load_checkpoint(write(tmp_path / "r.safetensors", data))


def test_appended_garbage(tmp_path, good_bytes):
    with pytest.raises(CheckpointError):
        load_checkpoint(write(tmp_path / "g.safetensors", good_bytes + b"\x00" * 3))


def test_bytes_flipped_in_the_header_json(tmp_path, good_bytes):
    n = header_length(good_bytes)
    path = tmp_path / "f.safetensors"
    for pos in range(8, 8 + n, 7):
        data = bytearray(good_bytes)
        data[pos] ^= 0xFF  # the header is ASCII: this is never valid UTF-8, let alone JSON
        with pytest.raises(CheckpointError):
            load_checkpoint(write(path, bytes(data)))


def test_small_flips_anywhere_give_checkpoint_error_or_a_valid_load(tmp_path, good_bytes):
    rng = random.Random(1)
    path = tmp_path / "s.safetensors"
    outcomes = set()
    for _ in range(150):
        data = bytearray(good_bytes)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        try:
            load_checkpoint(write(path, bytes(data)))
            outcomes.add("ok")
        except CheckpointError:
            outcomes.add("error")
    assert "error" in outcomes


# ---- hand-made headers --------------------------------------------------------------------------

META = {"tui_gen": json.dumps(full_meta())}


@pytest.mark.parametrize(
    "header,data",
    [
        # a tensor claiming far more bytes than the file has
        (
            {
                "__metadata__": META,
                "model.head.weight": {"dtype": "F32", "shape": [10**9, 10**9], "data_offsets": [0, 4 * 10**18]},
            },
            b"\x00" * 16,
        ),
        # offsets that fit, a shape whose product does not match them
        ({"__metadata__": META, "x": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 16]}}, b"\x00" * 16),
        ({"__metadata__": META, "x": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"\x00" * 16),
        ({"__metadata__": META, "x": {"dtype": "F32", "shape": [4.0], "data_offsets": [0, 16]}}, b"\x00" * 16),
        ({"__metadata__": META, "x": {"dtype": "F32", "shape": [4], "data_offsets": [8, 0]}}, b"\x00" * 16),
        ({"__metadata__": META, "x": {"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]}}, b"\x00" * 16),
        ({"__metadata__": META, "x": {"dtype": "Q99", "shape": [4], "data_offsets": [0, 16]}}, b"\x00" * 16),
        ({"__metadata__": META, "x": {"dtype": ["F32"], "shape": [4], "data_offsets": [0, 16]}}, b"\x00" * 16),
        ({"__metadata__": META, "x": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}}, b"\x00" * 16),
        ({"__metadata__": META, "x": {"dtype": "F32", "shape": [4], "data_offsets": "0,16"}}, b"\x00" * 16),
        ({"__metadata__": META, "x": {"dtype": "F32", "shape": [4]}}, b"\x00" * 16),
        ({"__metadata__": META, "x": [1, 2, 3]}, b""),
        ({"__metadata__": META, "x": "F32"}, b""),
        # two tensors sharing bytes
        (
            {
                "__metadata__": META,
                "x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "y": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
            },
            b"\x00" * 16,
        ),
        # no tensors at all, a valid tui-gen header
        ({"__metadata__": META}, b""),
        # metadata that is not a dict of strings
        ({"__metadata__": {"tui_gen": {"step": 1}}}, b""),
        ({"__metadata__": {"tui_gen": 5}}, b""),
        ({"__metadata__": ["tui_gen"]}, b""),
        ({"__metadata__": {"other": "x"}}, b""),
        ({}, b""),
        ([], b""),
        ("string", b""),
        (None, b""),
        (b"", b""),
        (b"{", b""),
        (b"[" * 100_000 + b"]" * 100_000, b""),  # deep nesting
        (b'{"x": ' + b"1" * 5000 + b"}", b""),  # an integer longer than Python will parse
        (b'{"__metadata__": {"tui_gen": "{\\"format_version\\": 1, \\"x\\": ' + b"9" * 5000 + b'}"}}', b""),
    ],
    ids=lambda v, n=itertools.count(): f"h{next(n)}",  # noqa: B008 - one counter for all the ids, on purpose
)
def test_hand_made_headers(tmp_path, header, data):
    with pytest.raises(CheckpointError):
        load_checkpoint(write(tmp_path / "h.safetensors", raw_file(header, data)))


@pytest.mark.parametrize("shape", ["", "4", [True] * 2, [[4]], {"0": 4}])
def test_a_header_whose_shape_is_not_a_list_of_sizes_is_refused_without_torch(tmp_path, shape):
    """read_header (the runs listing's reader) checks shapes itself: a string iterated as a shape, or
    True counted as a size, would pass a 4-byte tensor as a scalar."""
    path = write(
        tmp_path / "s.safetensors",
        raw_file({"__metadata__": META, "x": {"dtype": "F32", "shape": shape, "data_offsets": [0, 4]}}, b"\x00" * 4),
    )
    with pytest.raises(CheckpointError, match="does not fit the file"):
        read_header(path)


@pytest.mark.parametrize("length", [2**64 - 1, 2**63, 16 * 2**20 + 1, 10**6])
def test_header_length_beyond_the_file(tmp_path, length):
    with pytest.raises(CheckpointError):
        load_checkpoint(write(tmp_path / "l.safetensors", struct.pack("<Q", length) + b"{}" + b" " * 50))


# ---- well-formed files with the wrong contents ---------------------------------------------------


def test_wrong_tensor_shape(tmp_path):
    tensors, meta = payload()
    tensors["model.head.weight"] = torch.zeros(len(VOCAB), 7)
    with pytest.raises(CheckpointError, match="head.weight"):
        load_checkpoint(save_checkpoint(tmp_path / "w.safetensors", tensors, meta))


@pytest.mark.parametrize("change", ["missing", "extra", "dtype", "nan", "inf", "rank"])
def test_wrong_weights(tmp_path, change):
    tensors, meta = payload()
    name = "model.layers.0.weight_hh_l0"
    if change == "missing":
        del tensors[name]
    elif change == "extra":
        tensors["model.layers.9.weight"] = torch.zeros(2)
    elif change == "dtype":
        tensors[name] = tensors[name].double()
    elif change == "nan":
        tensors[name] = tensors[name].clone()
        tensors[name][0, 0] = float("nan")
    elif change == "inf":
        tensors[name] = tensors[name].clone()
        tensors[name][1, 1] = float("-inf")
    else:
        tensors[name] = tensors[name].flatten()
    with pytest.raises(CheckpointError):
        load_checkpoint(save_checkpoint(tmp_path / "w.safetensors", tensors, meta))


@pytest.mark.parametrize(
    "meta_text",
    [
        None,  # no metadata at all
        "{not json",
        "[1, 2]",
        "null",
        '"text"',
        json.dumps({k: v for k, v in full_meta().items() if k != "format_version"}),
        json.dumps(full_meta(format_version=0)),
        json.dumps(full_meta(format_version="1")),
        json.dumps(full_meta(format_version=1.5)),
        json.dumps(full_meta(format_version=FORMAT_VERSION + 1)),
        json.dumps({k: v for k, v in full_meta().items() if k != "vocab"}),
        json.dumps({k: v for k, v in full_meta().items() if k != "model_config"}),
        json.dumps({k: v for k, v in full_meta().items() if k != "framing"}),
        json.dumps(full_meta(framing="sideways")),
        json.dumps(full_meta(framing=["lines"])),
        json.dumps(full_meta(vocab="abc")),
        json.dumps(full_meta(vocab=VOCAB.to_json() + ["H"])),  # duplicate
        json.dumps(full_meta(vocab=VOCAB.to_json() + ["zz"])),
        json.dumps(full_meta(vocab=VOCAB.to_json()[:-1])),  # one id short of the model
        json.dumps(full_meta(model_config="gru")),
        json.dumps(full_meta(model_config=[1, 2])),
        json.dumps(full_meta(model_config={**full_meta()["model_config"], "hidden_sizes": [0]})),
        json.dumps(full_meta(model_config={**full_meta()["model_config"], "hidden_sizes": 8})),
        json.dumps(full_meta(model_config={**full_meta()["model_config"], "hidden_sizes": ["a"]})),
        json.dumps(full_meta(model_config={**full_meta()["model_config"], "hidden_sizes": [float("inf")]})),
        json.dumps(full_meta(model_config={**full_meta()["model_config"], "vocab_size": float("inf")})),
        json.dumps(full_meta(model_config={**full_meta()["model_config"], "vocab_size": float("nan")})),
        json.dumps(full_meta(model_config={**full_meta()["model_config"], "embedding_dim": None})),
        json.dumps(full_meta(model_config={**full_meta()["model_config"], "dropout": float("nan")})),
        json.dumps(full_meta(model_config={**full_meta()["model_config"], "cell": "transformer"})),
        json.dumps(full_meta(model_config={**full_meta()["model_config"], "hidden_sizes": [8, 7]})),
    ],
    ids=lambda v, n=itertools.count(): f"m{next(n)}",  # noqa: B008 - one counter for all the ids, on purpose
)
def test_bad_metadata(tmp_path, meta_text):
    with pytest.raises(CheckpointError):
        load_checkpoint(resave_with_meta(tmp_path / "m.safetensors", meta_text))


def test_newer_format_version_says_upgrade(tmp_path):
    path = resave_with_meta(tmp_path / "n.safetensors", json.dumps(full_meta(format_version=FORMAT_VERSION + 1)))
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(path)


def test_a_hostile_model_config_is_rejected_without_building_it(tmp_path):
    # A tiny file claiming a model of ~25 GB: it must be rejected before anything that size is
    # allocated. The check runs in a child process whose address space is capped at 3 GiB.
    cfg = {**full_meta()["model_config"], "hidden_sizes": [8192] * 16, "embedding_dim": 4096}
    path = resave_with_meta(tmp_path / "big.safetensors", json.dumps(full_meta(model_config=cfg)))
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from tui_gen.training.checkpoint import load_checkpoint\n"
        "from tui_gen.core.errors import CheckpointError\n"
        "try:\n"
        "    load_checkpoint(sys.argv[1])\n"
        "except CheckpointError as e:\n"
        "    print('CheckpointError:', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("CheckpointError:"), (r.stdout, r.stderr[-2000:])


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_payload_is_never_unpickled(tmp_path):
    # The payload works: unpickling it creates its marker file...
    probe = tmp_path / "probe-marker"
    pickle.loads(pickle.dumps(_Evil(probe))).close()
    assert probe.exists()
    # ...but loading it as a checkpoint does not.
    marker = tmp_path / "pwned-marker"
    blob = pickle.dumps({"model": _Evil(marker)})
    for name in ("evil.safetensors", "best.safetensors"):
        with pytest.raises(CheckpointError):
            load_checkpoint(write(tmp_path / name, blob))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path)  # as a run folder: best.safetensors
    # torch.save's zip format, renamed
    torch.save({"model": _Evil(marker)}, tmp_path / "zip.safetensors")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "zip.safetensors")
    assert not marker.exists()


# ---- fuzzing: arbitrary bytes only ever give CheckpointError --------------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "f.safetensors"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)
tensor_entries = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(["F32", "F64", "I64", "U8", "BOOL", "X"]) | json_values,
        "shape": st.lists(st.integers(-2, 2**40), max_size=3) | json_values,
        "data_offsets": st.lists(st.integers(-4, 2**40), min_size=2, max_size=2) | json_values,
    }
)
meta_fuzz = st.dictionaries(
    st.sampled_from(["format_version", "vocab", "model_config", "framing", "step", "best_val_bpc"]),
    json_values,
    max_size=3,
).map(lambda d: json.dumps(full_meta(**d)))
headers = st.dictionaries(
    st.text(max_size=12),
    tensor_entries | json_values,
    max_size=3,
).flatmap(
    lambda h: st.one_of(
        st.just(h),
        meta_fuzz.map(lambda m: {**h, "__metadata__": {"tui_gen": m}}),
    )
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.builds(lambda n, body: struct.pack("<Q", n) + body, st.integers(0, 2**64 - 1), st.binary(max_size=300)),
        st.builds(lambda h, data: raw_file(h, data), headers, st.binary(max_size=64)),
    )
)
def test_arbitrary_bytes_only_raise_checkpoint_error(scratch, data):
    with pytest.raises(CheckpointError):
        load_checkpoint(write(scratch, data))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=4), st.integers(0, 10**9))
def test_mutated_checkpoints_load_or_raise_checkpoint_error(scratch, good_bytes, edits, cut):
    data = bytearray(good_bytes)
    for pos, byte in edits:
        data[pos % len(data)] = byte
    data = bytes(data[: max(len(data) - cut % 64, 0)] if cut % 3 == 0 else data)
    try:
        ck = load_checkpoint(write(scratch, data))
    except CheckpointError:
        return
    assert isinstance(ck.model, CharRNN)


# ---- atomic saves -------------------------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("where", ["replace", "fsync", "write"])
def test_a_failed_save_leaves_the_previous_file_loadable(tmp_path, monkeypatch, where):
    path = save_checkpoint(tmp_path / "run" / "last.safetensors", *payload(step=1))
    before = path.read_bytes()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "replace":
        monkeypatch.setattr(os, "replace", no_space)
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", no_space)
    else:
        real_fdopen = os.fdopen

        class Full:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, b):
                self.f.write(b[: len(b) // 2])
                no_space()

        monkeypatch.setattr(os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
    with pytest.raises(CheckpointError, match="untouched"):
        save_checkpoint(path, *payload(step=2))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path).step == 1
    assert _leftovers(path.parent) == ["last.safetensors"]


def test_an_interrupted_save_leaves_no_temp_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.safetensors", *payload(step=1))

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, *payload(step=2))
    monkeypatch.undo()
    assert load_checkpoint(path).step == 1
    assert _leftovers(tmp_path) == ["last.safetensors"]


def test_saving_where_a_file_blocks_the_folder(tmp_path):
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(CheckpointError):
        save_checkpoint(tmp_path / "blocker" / "last.safetensors", *payload())


def test_a_save_replaces_the_previous_file(tmp_path):
    path = save_checkpoint(tmp_path / "last.safetensors", *payload(step=1))
    save_checkpoint(path, *payload(seed=3, step=2))
    ck = load_checkpoint(path)
    assert ck.step == 2
    assert torch.equal(ck.tensors["model.head.weight"], payload(seed=3)[0]["model.head.weight"])
    assert _leftovers(tmp_path) == ["last.safetensors"]
